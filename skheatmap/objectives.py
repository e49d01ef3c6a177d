"""Losses and regularisers of the pair-learning objective.

Each function takes encoded trajectories or pair distances as NumPy arrays or
torch tensors and returns the same kind (a tensor carries autograd). Encoded
trajectories ``z`` have shape ``(n, T, L)`` (or ``(T, L)`` for one recording);
NaN-padded frames at the end of a recording are excluded, as everywhere in
skheatmap.

The pair model is ``p_ij = σ(α − w·d_ij/τ)``; the seed's combined objective
is ``λ_CE·L_CE + λ_ctr·L_ctr + λ_reg·R`` with the sums over pairs
:func:`pair_cross_entropy` and :func:`contrastive_margin_loss` and the
regulariser :func:`regularizer`. :class:`~skheatmap.SoftDTWPairClassifier`
trains on it with the two pair sums divided by the number of pairs of a
minibatch (its Notes give the exact loss).
"""

import numpy as np

from ._torch import import_torch

__all__ = [
    "complexity_penalty",
    "contrastive_margin_loss",
    "energy_floor",
    "energy_penalty",
    "pair_cross_entropy",
    "pair_logits",
    "parameter_count",
    "regularizer",
    "temporal_smoothness",
    "transient_sparsity",
]


def _as_tensor(x):
    """``(tensor, was_numpy)``; NumPy input is wrapped without copying."""
    torch = import_torch()
    if isinstance(x, torch.Tensor):
        return x, False
    return torch.as_tensor(np.asarray(x, dtype=float)), True


def _like_input(value, was_numpy):
    """A tensor result as the caller gave the input: a float or ndarray for NumPy input."""
    if not was_numpy:
        return value
    out = value.detach().numpy()
    return out.item() if out.ndim == 0 else out


def _trajectories(z):
    """``z`` as ``(n, T, L)`` with padding frames zeroed and the mask of valid frames."""
    z = z if z.ndim == 3 else z.unsqueeze(0)
    if z.ndim != 3:
        raise ValueError(
            f"z must have shape (n, T, L) or (T, L), got a tensor of shape {tuple(z.shape)}."
        )
    valid = ~z.isnan().all(dim=2)
    return z.nan_to_num(0.0), valid


def _check_nonnegative(value, name):
    """A weight, floor or margin must be a number >= 0 (a tensor may carry gradients)."""
    if not bool(value >= 0):
        raise ValueError(f"{name} must be >= 0, got {float(value)!r}.")


def _energy(zz, valid):
    """Mean squared norm per valid frame of each recording."""
    return (zz**2).sum(dim=(1, 2)) / valid.sum(dim=1).clamp(min=1)


def energy_penalty(z, epsilon):
    """Soft energy constraint ``max(0, ε − mean_t ||z(t)||²)``, averaged over recordings.

    Penalises collapse of the encoder to a constant output.

    Parameters
    ----------
    z : array-like or Tensor of shape (n, T, L) or (T, L)
        Encoded trajectories; trailing NaN frames are padding.
    epsilon : float
        The energy floor ``ε`` (mean squared norm per frame).

    Returns
    -------
    penalty : float or Tensor
        Zero when every recording has at least ``ε`` energy.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.objectives import energy_penalty
    >>> z = np.full((1, 4, 2), 0.5)  # energy 0.5 per frame
    >>> float(energy_penalty(z, epsilon=1.0))
    0.5
    """
    torch = import_torch()
    _check_nonnegative(epsilon, "epsilon")
    z, was_numpy = _as_tensor(z)
    energy = _energy(*_trajectories(z))
    return _like_input(torch.relu(epsilon - energy).mean(), was_numpy)


def energy_floor(z, epsilon):
    """Hard energy floor: rescale each recording whose energy is below ``ε`` up to ``ε``.

    Recordings with at least ``ε`` energy are returned unchanged; the rescaling
    is differentiable, so training can use it as a layer.

    Parameters
    ----------
    z : array-like or Tensor of shape (n, T, L) or (T, L)
    epsilon : float

    Returns
    -------
    z_floored : ndarray or Tensor, same shape as ``z``

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.objectives import energy_floor
    >>> energy_floor(np.full((1, 2, 1), 0.5), epsilon=1.0)[0, :, 0]
    array([1., 1.])
    """
    torch = import_torch()
    _check_nonnegative(epsilon, "epsilon")
    z, was_numpy = _as_tensor(z)
    energy = _energy(*_trajectories(z))
    tiny = torch.finfo(energy.dtype).tiny
    scale = torch.where(energy < epsilon, torch.sqrt(epsilon / energy.clamp(min=tiny)), 1.0)
    out = (z if z.ndim == 3 else z.unsqueeze(0)) * scale[:, None, None]
    return _like_input(out if z.ndim == 3 else out[0], was_numpy)


def _first_differences(z):
    """Differences between consecutive valid frames, zero where either frame is padding."""
    zz, valid = _trajectories(z)
    both = (valid[:, 1:] & valid[:, :-1]).unsqueeze(2)
    return (zz[:, 1:] - zz[:, :-1]) * both


def temporal_smoothness(z):
    """ℓ2 smoothness ``Σ_t ||z(t+1) − z(t)||²``, averaged over recordings.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.objectives import temporal_smoothness
    >>> float(temporal_smoothness(np.array([[0.0], [1.0], [3.0]])))
    5.0
    """
    z, was_numpy = _as_tensor(z)
    return _like_input((_first_differences(z) ** 2).sum(dim=(1, 2)).mean(), was_numpy)


def transient_sparsity(z):
    """ℓ1 penalty on first differences ``Σ_t ||z(t+1) − z(t)||₁``: favours sparse transients.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.objectives import transient_sparsity
    >>> float(transient_sparsity(np.array([[0.0, 0.0], [1.0, -2.0]])))
    3.0
    """
    z, was_numpy = _as_tensor(z)
    return _like_input(_first_differences(z).abs().sum(dim=(1, 2)).mean(), was_numpy)


def parameter_count(module):
    """Number of trainable scalars of a torch module.

    Examples
    --------
    >>> import torch
    >>> from skheatmap.objectives import parameter_count
    >>> parameter_count(torch.nn.Linear(3, 2))
    8
    """
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def complexity_penalty(
    *, n_params=0, flops=0.0, filter_length=0, per_param=1e-6, per_flop=1e-9, per_tap=1e-3
):
    """Complexity penalty ``C(c, θ_c)`` of a branch: parameters, FLOPs and filter taps.

    A weighted sum ``per_param·n_params + per_flop·flops + per_tap·filter_length``,
    used to prefer cheaper branches at equal validation scores.

    Parameters
    ----------
    n_params : int, default=0
        Trainable parameters (see :func:`parameter_count`).
    flops : float, default=0.0
        Estimated floating-point operations of one transform.
    filter_length : int, default=0
        Length of the wavelet filters (longer filters smear transients).
    per_param, per_flop, per_tap : float
        Weights of each term; all must be non-negative.

    Returns
    -------
    penalty : float

    Examples
    --------
    >>> from skheatmap.objectives import complexity_penalty
    >>> complexity_penalty(n_params=1000, filter_length=8)
    0.009
    """
    terms = {"n_params": n_params, "flops": flops, "filter_length": filter_length,
             "per_param": per_param, "per_flop": per_flop, "per_tap": per_tap}  # fmt: skip
    for name, value in terms.items():
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite non-negative number, got {value!r}.")
    return float(per_param * n_params + per_flop * flops + per_tap * filter_length)


def regularizer(
    z, *, smoothness=0.0, sparsity=0.0, energy=0.0, epsilon=0.0, floor=False, complexity=0.0
):
    """The regulariser ``R(θ)``: weighted temporal and energy penalties plus complexity.

    ``R = smoothness·temporal_smoothness(z) + sparsity·transient_sparsity(z)
    + energy·energy_penalty(z, epsilon) + complexity``; terms of weight 0 are
    not computed.

    Parameters
    ----------
    z : array-like or Tensor of shape (n, T, L) or (T, L)
        Encoded trajectories; trailing NaN frames are padding.
    smoothness, sparsity, energy : float, default=0.0
        Weights of the ℓ2 smoothness, the ℓ1 first-difference penalty and the
        soft energy penalty.
    epsilon : float, default=0.0
        The energy floor ``ε``.
    floor : bool, default=False
        The hard energy constraint: the temporal penalties are computed on
        ``energy_floor(z, epsilon)``, so they cannot decrease by shrinking
        ``z`` below ``ε``; the energy penalty, computed on ``z`` itself, is
        then the only term that changes with scale below ``ε`` and lifts ``z``
        back, whatever its weight (> 0).
    complexity : float, default=0.0
        The (weighted) complexity penalty ``C(c, θ_c)`` of the branch, see
        :func:`complexity_penalty`; constant while one branch trains.

    Returns
    -------
    R : float or Tensor

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.objectives import regularizer
    >>> z = np.array([[0.0], [1.0], [3.0]])  # smoothness 5, energy 10/3
    >>> round(float(regularizer(z, smoothness=0.5, energy=2.0, epsilon=4.0, complexity=0.1)), 6)
    3.933333
    >>> round(float(regularizer(z, smoothness=0.5, epsilon=4.0, floor=True)), 6)  # 0.5·5·4/(10/3)
    3.0
    """
    z, was_numpy = _as_tensor(z)
    _check_nonnegative(complexity, "complexity")
    seen = energy_floor(z, epsilon) if floor else z
    terms = (
        ("smoothness", smoothness, lambda: temporal_smoothness(seen)),
        ("sparsity", sparsity, lambda: transient_sparsity(seen)),
        ("energy", energy, lambda: energy_penalty(z, epsilon)),
    )
    R = z.new_tensor(complexity)
    for name, weight, penalty in terms:
        _check_nonnegative(weight, name)
        if weight:
            R = R + weight * penalty()
    return _like_input(R, was_numpy)


def pair_logits(distances, *, alpha=0.0, log_w=0.0, log_tau=0.0):
    """Logits ``α − w·d/τ`` of the pair model, with ``w = exp(η)``, ``τ = exp(ζ)``.

    Positivity of ``w`` and ``τ`` comes from the parametrisation, so every
    argument may be an unconstrained learnable tensor.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.objectives import pair_logits
    >>> pair_logits(np.array([0.0, 2.0]), alpha=1.0)
    array([ 1., -1.])
    """
    torch = import_torch()
    d, was_numpy = _as_tensor(distances)
    log_w, log_tau = (torch.as_tensor(v, dtype=d.dtype) for v in (log_w, log_tau))
    return _like_input(alpha - torch.exp(log_w - log_tau) * d, was_numpy)


def _check_pair_labels(labels, distances):
    labels, _ = _as_tensor(labels)
    if labels.shape != distances.shape:
        raise ValueError(
            f"pair labels have shape {tuple(labels.shape)} but distances have "
            f"{tuple(distances.shape)}; give one label per pair."
        )
    if not bool(((labels == 0) | (labels == 1)).all()):
        raise ValueError("pair labels must be 0 (different) or 1 (same).")
    return labels.to(distances.dtype) if labels.dtype != distances.dtype else labels


def pair_cross_entropy(distances, labels, *, alpha=0.0, log_w=0.0, log_tau=0.0):
    """Summed binary cross-entropy ``L_CE`` of the pair model ``σ(α − w·d/τ)``.

    Computed from logits (numerically stable for large distances).

    Parameters
    ----------
    distances : array-like or Tensor of shape (n_pairs,)
    labels : array-like or Tensor of shape (n_pairs,)
        1 for a positive (same-label) pair, 0 for a negative one.
    alpha, log_w, log_tau : float or Tensor
        Bias, log weight ``η`` and log temperature ``ζ``.

    Returns
    -------
    loss : float or Tensor

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.objectives import pair_cross_entropy
    >>> round(float(pair_cross_entropy(np.array([0.0]), np.array([1]))), 6)  # log 2
    0.693147
    """
    torch = import_torch()
    d, was_numpy = _as_tensor(distances)
    target = _check_pair_labels(labels, d)
    logits = pair_logits(d, alpha=alpha, log_w=log_w, log_tau=log_tau)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="sum")
    return _like_input(loss, was_numpy)


def contrastive_margin_loss(distances, labels, *, margin=1.0, negative_weight=1.0):
    """Contrastive loss ``L_ctr = Σ_P d + μ·Σ_N max(0, m − d)``.

    Parameters
    ----------
    distances : array-like or Tensor of shape (n_pairs,)
    labels : array-like or Tensor of shape (n_pairs,)
        1 for a positive pair, 0 for a negative one.
    margin : float, default=1.0
        ``m``: negatives farther than this cost nothing.
    negative_weight : float, default=1.0
        ``μ``.

    Returns
    -------
    loss : float or Tensor

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.objectives import contrastive_margin_loss
    >>> float(contrastive_margin_loss(np.array([0.5, 0.2, 3.0]), np.array([1, 0, 0])))
    1.3
    """
    torch = import_torch()
    _check_nonnegative(margin, "margin")
    _check_nonnegative(negative_weight, "negative_weight")
    d, was_numpy = _as_tensor(distances)
    target = _check_pair_labels(labels, d)
    loss = (target * d).sum() + negative_weight * ((1 - target) * torch.relu(margin - d)).sum()
    return _like_input(loss, was_numpy)
