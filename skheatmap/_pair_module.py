"""Torch module of the pair classifier: encoder Φθ plus the logistic pair head.

Imported only when a :class:`~skheatmap.SoftDTWPairClassifier` is fitted, so
``import skheatmap`` does not import torch.
"""

import numpy as np
import torch

from .softdtw import soft_dtw_pairs, soft_dtw_pairwise


class FlattenFrames(torch.nn.Module):
    """Identity encoder: frames flattened to channels, ``(n, T, ...)`` → ``(n, T, F)``.

    2-D input ``(n, F)`` (recordings of one frame) becomes ``(n, 1, F)``.
    """

    def forward(self, X):
        return X.unsqueeze(1) if X.ndim == 2 else X.reshape(X.shape[0], X.shape[1], -1)


def standardize_recordings(Z):
    """Centre each channel of each recording and scale it to unit variance.

    Statistics run over the recording's frames only: NaN padding frames stay
    NaN and carry no gradient. A constant channel becomes 0. A recording of a
    single frame (2-D input) has no variance over time and is returned as it
    is. This removes what differs between subjects but carries no timing
    (baseline temperature, response gain), which is what a comparison across
    subjects needs.
    """
    frames = ~torch.isnan(Z).any(dim=-1, keepdim=True)
    count = frames.sum(dim=1, keepdim=True).clamp_min(1)
    filled = torch.where(frames, Z, torch.zeros((), dtype=Z.dtype, device=Z.device))
    mean = filled.sum(dim=1, keepdim=True) / count
    centred = torch.where(frames, filled - mean, torch.zeros((), dtype=Z.dtype, device=Z.device))
    variance = (centred**2).sum(dim=1, keepdim=True) / count
    positive = variance > 0
    scale = torch.sqrt(torch.where(positive, variance, torch.ones_like(variance)))
    scaled = torch.where(positive, centred / scale, torch.zeros_like(centred))
    scaled = torch.where(count > 1, scaled, Z)
    return torch.where(frames, scaled, torch.full_like(Z, float("nan")))


class PairModule(torch.nn.Module):
    """Encoder Φθ and the pair model ``p = σ(α − w·d/τ)``, ``w = exp(η)``, ``τ = exp(ζ)``.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps a batch of recordings to trajectories ``(n, T', L)``.
    gamma : float
        Initial soft-DTW smoothing.
    learn_gamma : bool
        Whether ``log γ`` is trained.
    distance : {"divergence", "soft_dtw"}
    band : int or None
    normalize : bool
    standardize : bool
        Whether each channel of each encoded recording is centred and scaled
        to unit variance over its frames (see :func:`standardize_recordings`).
    """

    def __init__(self, encoder, *, gamma, learn_gamma, distance, band, normalize, standardize):
        super().__init__()
        self.encoder = encoder
        self.alpha = torch.nn.Parameter(torch.tensor(1.0))
        self.log_w = torch.nn.Parameter(torch.tensor(0.0))
        self.log_tau = torch.nn.Parameter(torch.tensor(0.0))
        self.log_gamma = torch.nn.Parameter(
            torch.tensor(float(np.log(gamma))), requires_grad=learn_gamma
        )
        self.register_buffer("distance_scale", torch.tensor(1.0))
        self.divergence = distance == "divergence"
        self.band = band
        self.normalize = normalize
        self.standardize = standardize

    def head_parameters(self):
        """The trainable scalars of the pair model."""
        return [p for p in (self.alpha, self.log_w, self.log_tau, self.log_gamma)
                if p.requires_grad]  # fmt: skip

    def set_distance_scale(self, scale):
        """Set the distance unit (median training distance) and start ``τ`` there."""
        with torch.no_grad():
            self.distance_scale.fill_(scale)
            self.log_tau.fill_(float(np.log(scale)))

    def encode(self, X):
        return self.encoder(X)

    def _compared(self, Z):
        """The trajectories as the distance sees them."""
        return standardize_recordings(Z) if self.standardize else Z

    def logits(self, d):
        return self.alpha - torch.exp(self.log_w - self.log_tau) * d

    def rescale_logits(self, slope, intercept):
        """Fold the Platt map ``slope·logit + intercept`` into ``α`` and ``w``."""
        with torch.no_grad():
            self.alpha.mul_(slope).add_(intercept)
            self.log_w.add_(float(np.log(slope)))

    def _options(self):
        return {"gamma": torch.exp(self.log_gamma), "band": self.band,
                "normalize": self.normalize}  # fmt: skip

    def pairwise_distances(self, Z, Z_ref=None):
        """``(n, n)`` (or ``(n, m)`` against ``Z_ref``) distance matrix."""
        Z_ref = None if Z_ref is None else self._compared(Z_ref)
        return soft_dtw_pairwise(
            self._compared(Z), Z_ref, divergence=self.divergence, **self._options()
        )

    def pair_distances(self, Z, pairs):
        """Distances of the index pairs ``(Z[a], Z[b])``, differentiable."""
        return soft_dtw_pairs(
            self._compared(Z), pairs, divergence=self.divergence, **self._options()
        )
