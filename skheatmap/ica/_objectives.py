"""Training objectives of the nonlinear-ICA encoder: TCL, PCL and iVAE.

Each objective is a module holding its own head (classifier, discriminator or
decoder and prior) and computing a scalar loss from the shared encoder and a
batch. Batches are dicts of tensors:

- ``"inputs"`` ``(B, D)``: whitened, flattened windows;
- ``"segments"`` ``(B,)`` int: segment index (TCL, iVAE with a segment prior);
- ``"time"`` ``(B, 1)``: time in the recording scaled to [0, 1] (iVAE);
- ``"previous"`` and ``"contrast"`` ``(B, D)``: the window one step earlier
  and a window drawn at random from the data (PCL).
"""

import math

from .._torch import import_torch
from ._networks import make_mlp

torch = import_torch()
nn = torch.nn
F = torch.nn.functional

__all__ = ["TCLObjective", "PCLObjective", "IVAEObjective", "make_objective"]


class TCLObjective(nn.Module):
    """Time-contrastive learning: multinomial logistic regression of the segment.

    Hyvärinen & Morioka (2016). The logits are affine in the features, which
    is what makes the features identify the sources' log-density up to a linear
    map.
    """

    def __init__(self, n_components, n_segments):
        super().__init__()
        self.head = nn.Linear(n_components, n_segments)

    def forward(self, encoder, batch, *, freeze_encoder=False):
        with torch.set_grad_enabled(torch.is_grad_enabled() and not freeze_encoder):
            features = encoder.encode(batch["inputs"])
        return F.cross_entropy(self.head(features), batch["segments"])


class ComponentwiseRegression(nn.Module):
    """``r(h, h') = sum_i B_i(h_i, h'_i) + c`` with each ``B_i`` a sum of ``|affine|`` units.

    The component-wise form is the one PCL's identifiability theorem needs;
    absolute-value units represent Laplace-like log-densities such as
    ``-|s_t - rho s_{t-1}|`` exactly.
    """

    def __init__(self, n_components, n_units=8):
        super().__init__()
        self.pair_weights = nn.Parameter(torch.randn(n_components, 2, n_units) / math.sqrt(2.0))
        self.unit_bias = nn.Parameter(torch.zeros(n_components, n_units))
        self.unit_weights = nn.Parameter(torch.randn(n_components, n_units) / n_units)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, current, previous):
        units = (
            current[..., None] * self.pair_weights[:, 0]
            + previous[..., None] * self.pair_weights[:, 1]
            + self.unit_bias
        )
        return (units.abs() * self.unit_weights).sum(dim=(-2, -1)) + self.bias


class PCLObjective(nn.Module):
    """Permutation-contrastive learning: real lagged pairs versus time-shuffled pairs.

    Hyvärinen & Morioka (2017): logistic regression telling ``(x_t, x_{t-1})``
    from ``(x_t, x_{t*})`` with ``t*`` random.
    """

    def __init__(self, n_components):
        super().__init__()
        self.regression = ComponentwiseRegression(n_components)

    def forward(self, encoder, batch, **_):
        current = encoder.encode(batch["inputs"])
        real = self.regression(current, encoder.encode(batch["previous"]))
        shuffled = self.regression(current, encoder.encode(batch["contrast"]))
        return 0.5 * (F.softplus(-real).mean() + F.softplus(shuffled).mean())


class IVAEObjective(nn.Module):
    """Negative ELBO of an identifiable VAE with a conditionally factorial prior.

    Khemakhem et al. (2020). The prior is ``N(mu(u), diag(exp(logvar(u))))``
    with ``u`` the segment index (a lookup table) or the time in the recording
    (a small MLP). The posterior mean is the shared encoder's output and depends
    on ``x`` only, so ``transform`` needs no auxiliary variable.

    The posterior covariance is ``C C^T`` with ``C`` lower triangular (positive
    diagonal) from a second network of ``x``: diagonal, or full when
    ``posterior_covariance="full"``. Where the mixing saturates, the true
    posterior is strongly correlated; a diagonal posterior pays for that
    correlation in the ELBO, which then favours distorted unmixings.
    """

    def __init__(
        self,
        n_inputs,
        n_components,
        hidden_layer_sizes,
        activation,
        n_segments=None,
        posterior_covariance="diagonal",
    ):
        super().__init__()
        self.n_components = n_components
        self.full_covariance = posterior_covariance == "full"
        n_factor = n_components * (n_components + 1) // 2 if self.full_covariance else n_components
        self.scale = make_mlp(n_inputs, hidden_layer_sizes, n_factor, activation)
        self.decoder = make_mlp(
            n_components, tuple(reversed(hidden_layer_sizes)), n_inputs, activation
        )
        # a fixed, small observation noise on whitened (unit-variance) inputs: a learned
        # one lets the decoder explain structure away as noise (B3 MCC 0.61 against 0.74)
        self.register_buffer("noise_log_variance", torch.full((n_inputs,), math.log(0.01)))
        if n_segments is None:
            self.prior = make_mlp(1, (16,), 2 * n_components, "tanh")
        else:
            self.prior = nn.Embedding(n_segments, 2 * n_components)
            nn.init.zeros_(self.prior.weight)

    def posterior_factor(self, x):
        """Lower-triangular ``C`` ``(B, L, L)`` and ``log diag(C)`` of the posterior covariance."""
        L = self.n_components
        values = self.scale(x)
        # the first L outputs are log variances, as in the diagonal case
        log_diagonal = 0.5 * values[:, :L].clamp(-12.0, 8.0)
        factor = torch.diag_embed(torch.exp(log_diagonal))
        if self.full_covariance:
            rows, cols = torch.tril_indices(L, L, offset=-1, device=x.device)
            factor[:, rows, cols] = values[:, L:]
        return factor, log_diagonal

    def forward(self, encoder, batch, **_):
        x = batch["inputs"]
        mean = encoder.encode(x)
        factor, log_diagonal = self.posterior_factor(x)
        # the posterior mean is the code at evaluation, so validation is deterministic
        z = mean
        if self.training:
            z = mean + (factor @ torch.randn_like(mean)[..., None])[..., 0]
        noise = self.noise_log_variance
        residual = x - self.decoder(z)
        nll = 0.5 * (residual**2 * torch.exp(-noise) + noise + math.log(2 * math.pi)).sum(-1)
        aux = batch["segments"] if isinstance(self.prior, nn.Embedding) else batch["time"]
        prior_mean, prior_log_var = self.prior(aux).chunk(2, dim=-1)
        prior_log_var = prior_log_var.clamp(-12.0, 8.0)
        # KL(N(mean, C C^T) || N(prior_mean, diag)): log det(C C^T) = 2 sum(log diag(C))
        variance = (factor**2).sum(-1)
        kl = 0.5 * (
            prior_log_var + (variance + (mean - prior_mean) ** 2) * torch.exp(-prior_log_var) - 1.0
        ).sum(-1) - log_diagonal.sum(-1)
        return (nll + kl).mean()


def make_objective(
    objective,
    *,
    n_inputs,
    n_components,
    n_segments,
    hidden,
    activation,
    auxiliary,
    posterior_covariance="diagonal",
):
    """Build the head module of ``objective`` ("tcl", "pcl" or "ivae")."""
    if objective == "tcl":
        return TCLObjective(n_components, n_segments)
    if objective == "pcl":
        return PCLObjective(n_components)
    return IVAEObjective(
        n_inputs,
        n_components,
        hidden,
        activation,
        n_segments=n_segments if auxiliary == "segment" else None,
        posterior_covariance=posterior_covariance,
    )
