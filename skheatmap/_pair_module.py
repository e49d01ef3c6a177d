"""Torch module of the pair classifier: encoder Φθ plus the logistic pair head.

Imported only when a :class:`~skheatmap.SoftDTWPairClassifier` is fitted, so
``import skheatmap`` does not import torch.
"""

import numpy as np
import torch

from .softdtw import soft_dtw, soft_dtw_divergence, soft_dtw_pairwise


class FlattenFrames(torch.nn.Module):
    """Identity encoder: frames flattened to channels, ``(n, T, ...)`` → ``(n, T, F)``.

    2-D input ``(n, F)`` (recordings of one frame) becomes ``(n, 1, F)``.
    """

    def forward(self, X):
        return X.unsqueeze(1) if X.ndim == 2 else X.reshape(X.shape[0], X.shape[1], -1)


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
    """

    def __init__(self, encoder, *, gamma, learn_gamma, distance, band, normalize):
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
        return soft_dtw_pairwise(Z, Z_ref, divergence=self.divergence, **self._options())

    def pair_distances(self, Z, pairs):
        """Distances of the index pairs ``(Z[a], Z[b])``, differentiable."""
        index = torch.as_tensor(pairs, device=Z.device)
        distance = soft_dtw_divergence if self.divergence else soft_dtw
        return distance(Z[index[:, 0]], Z[index[:, 1]], **self._options())
