"""Torch twin of :class:`skheatmap.embedding.HeatmapEmbedder`.

Imported only by ``HeatmapEmbedder.to_torch`` so that the sklearn face never
imports torch. Every feature module maps ROI pixels ``(..., P)`` (NaN for dead
pixels) to channels ``(..., K)``; :class:`HeatmapEmbedding` adds the input
layouts, the ROI, standardization and the NaN output of empty frames.
"""

import math

import numpy as np
import torch
from torch import nn

from .embedding import _check_fitted_frames

__all__ = ["HeatmapEmbedding", "build_twin", "read_parameters"]


def _tensor(array):
    return torch.as_tensor(np.asarray(array, dtype=np.float64))


def _safe(values, bad):
    """``values`` with the entries flagged ``bad`` replaced by 1 (for divisions)."""
    return torch.where(bad, torch.ones_like(values), values)


class PercentileFeatures(nn.Module):
    """Linear-interpolation percentiles of the finite pixels (sort and gather).

    ``fractions`` (percentiles / 100) is a parameter: the output is
    differentiable in it and in the pixel values almost everywhere.
    """

    def __init__(self, percentiles):
        super().__init__()
        self.fractions = nn.Parameter(_tensor(percentiles) / 100.0)

    def forward(self, pixels):
        finite = ~torch.isnan(pixels)
        n_valid = finite.sum(dim=-1, keepdim=True)
        ordered, _ = torch.sort(torch.where(finite, pixels, math.inf), dim=-1)
        # beyond the finite values lie the +inf fillers: zero them so that empty
        # frames (masked later) carry no inf into the backward pass
        positions = torch.arange(pixels.shape[-1], device=pixels.device)
        ordered = torch.where(positions < n_valid, ordered, torch.zeros_like(ordered))
        last = (n_valid - 1).clamp(min=0)
        virtual = self.fractions * last.to(pixels.dtype)
        below = torch.floor(virtual).detach()
        gamma = virtual - below
        below = below.long()
        above = torch.minimum(below + 1, last)
        low = torch.gather(ordered, -1, below)
        high = torch.gather(ordered, -1, above)
        diff = high - low
        return torch.where(gamma >= 0.5, high - diff * (1.0 - gamma), low + diff * gamma)


class HistogramFeatures(nn.Module):
    """Histogram bin heights; hard counts, or soft counts with a logistic kernel.

    ``edges`` is a parameter (used by the soft counts). Hard counts follow
    ``np.histogram``: bins ``[e_k, e_{k+1})``, the last one closed.
    """

    def __init__(self, edges, *, density, temperature, straight_through):
        super().__init__()
        self.edges = nn.Parameter(_tensor(edges))
        self.density = bool(density)
        self.temperature = temperature
        self.straight_through = bool(straight_through)

    def forward(self, pixels):
        finite = ~torch.isnan(pixels)
        if self.temperature is None:
            counts = self._hard_counts(pixels, finite)
        elif self.straight_through:
            soft = self._soft_counts(pixels, finite)
            counts = self._hard_counts(pixels, finite) + (soft - soft.detach())
        else:
            counts = self._soft_counts(pixels, finite)
        if not self.density:
            return counts
        total = counts.sum(dim=-1, keepdim=True)
        widths = self.edges[1:] - self.edges[:-1]
        return counts / widths / total

    def _hard_counts(self, pixels, finite):
        edges = self.edges.detach()
        n_bins = edges.numel() - 1
        inside = finite & (pixels >= edges[0]) & (pixels <= edges[-1])
        values = torch.where(finite, pixels, edges[0])
        bins = torch.bucketize(values, edges[1:-1].contiguous(), right=True)
        bins = torch.where(inside, bins, torch.full_like(bins, n_bins))  # overflow slot
        counts = torch.zeros(*pixels.shape[:-1], n_bins + 1, dtype=pixels.dtype)
        counts = counts.to(pixels.device).scatter_add_(-1, bins, torch.ones_like(pixels))
        return counts[..., :n_bins]

    def _soft_counts(self, pixels, finite):
        values = torch.where(finite, pixels, torch.zeros_like(pixels))
        # mass of each pixel at or above each edge; bins are differences of it
        above = torch.stack(
            [
                torch.where(finite, torch.sigmoid((values - edge) / self.temperature), 0.0).sum(
                    dim=-1
                )
                for edge in self.edges
            ],
            dim=-1,
        )
        return above[..., :-1] - above[..., 1:]


class EigenfaceFeatures(nn.Module):
    """Eigenface scores ``(x - mean) @ weight.T``; dead pixels contribute nothing."""

    def __init__(self, mean, components, *, orthogonal):
        super().__init__()
        self.mean = nn.Parameter(_tensor(mean))
        self.projection = nn.Linear(components.shape[1], components.shape[0], bias=False)
        self.projection.to(torch.float64)
        if orthogonal:
            nn.utils.parametrizations.orthogonal(self.projection)
            self.projection.weight = _tensor(components)
        else:
            self.projection.weight = nn.Parameter(_tensor(components))

    def forward(self, pixels):
        centred = pixels - self.mean
        return self.projection(torch.where(torch.isnan(centred), 0.0, centred))


class MomentFeatures(nn.Module):
    """Temperature moments and warm-region geometry in closed form.

    Same definitions as the NumPy kernel: biased skewness and excess kurtosis
    (0 for a flat frame), centroid and second central moments of the weights
    ``relu(x - mean)`` (the ROI centre and 0 when no pixel exceeds the mean).
    """

    def __init__(self, coords):
        super().__init__()
        self.register_buffer("coords", _tensor(coords))

    def forward(self, pixels):
        finite = ~torch.isnan(pixels)
        count = finite.sum(dim=-1).to(pixels.dtype)
        count_safe = count.clamp(min=1.0)
        values = torch.where(finite, pixels, torch.zeros_like(pixels))
        mean = values.sum(dim=-1) / count_safe
        dev = torch.where(finite, values - mean[..., None], torch.zeros_like(values))
        m2 = (dev**2).sum(dim=-1) / count_safe
        m3 = (dev**3).sum(dim=-1) / count_safe
        m4 = (dev**4).sum(dim=-1) / count_safe
        eps = torch.finfo(torch.float64).eps
        flat = (m2 <= (eps * mean.abs()) ** 2) | (m2 == 0)
        m2_safe = _safe(m2, flat)
        skew = torch.where(flat, 0.0, m3 / m2_safe**1.5)
        kurtosis = torch.where(flat, 0.0, m4 / m2_safe**2 - 3.0)
        centroid, spread = self._warm_geometry(torch.relu(dev), finite, count_safe)
        return torch.cat([torch.stack([mean, m2, skew, kurtosis], dim=-1), centroid, spread], -1)

    def _warm_geometry(self, weights, finite, count_safe):
        y, x = self.coords[:, 0], self.coords[:, 1]
        total = weights.sum(dim=-1)
        cold = total == 0
        total_safe = _safe(total, cold)[..., None]
        moments = weights @ torch.stack([y, x, y * y, x * x, x * y], dim=-1) / total_safe
        cy, cx = moments[..., 0], moments[..., 1]
        spread = torch.stack(
            [moments[..., 2] - cy * cy, moments[..., 3] - cx * cx, moments[..., 4] - cx * cy], -1
        )
        centre = finite.to(weights.dtype) @ self.coords / count_safe[..., None]
        centroid = torch.where(cold[..., None], centre, torch.stack([cy, cx], dim=-1))
        spread = torch.where(cold[..., None], 0.0, spread)
        return centroid, spread


class HeatmapEmbedding(nn.Module):
    """Differentiable twin of a fitted ``HeatmapEmbedder``.

    Takes ``(n, F)``, ``(n, T, F)`` or ``(n, T, I, J)`` tensors and returns
    ``(n, K)`` or ``(n, T, K)`` channels; frames without a finite pixel in the
    ROI give NaN channels. Frames must have ``n_features`` values and, as 4-D
    input, the shape ``frame_shape`` when it is known, as in ``transform``.
    """

    def __init__(
        self, features, *, n_features, frame_shape=None, pixel_index=None, shift=None, scale=None
    ):
        super().__init__()
        self.features = features
        self.n_features = int(n_features)
        self.frame_shape = None if frame_shape is None else tuple(int(s) for s in frame_shape)
        self.register_buffer(
            "pixel_index", None if pixel_index is None else torch.as_tensor(pixel_index)
        )
        self.register_buffer("shift", None if shift is None else _tensor(shift))
        self.register_buffer("scale", None if scale is None else _tensor(scale))

    def forward(self, X):
        if X.ndim not in (2, 3, 4):
            raise ValueError(f"expected a 2-D, 3-D or 4-D tensor, got shape {tuple(X.shape)}.")
        _check_fitted_frames(
            tuple(X.shape), self.n_features, self.frame_shape, owner="the HeatmapEmbedder twin"
        )
        frames = X[:, None] if X.ndim == 2 else X.reshape(X.shape[0], X.shape[1], -1)
        pixels = frames if self.pixel_index is None else frames[..., self.pixel_index]
        empty = torch.isnan(pixels).all(dim=-1, keepdim=True)
        channels = self.features(pixels)
        if self.shift is not None:
            channels = (channels - self.shift) / self.scale
        channels = torch.where(empty, torch.full_like(channels, math.nan), channels)
        return channels[:, 0] if X.ndim == 2 else channels


def build_twin(embedder, *, temperature, straight_through, orthogonal):
    """Build the :class:`HeatmapEmbedding` of a fitted embedder (float64, CPU)."""
    method = embedder.method
    if method == "percentiles":
        features = PercentileFeatures(embedder.percentiles_)
    elif method == "histogram":
        features = HistogramFeatures(
            embedder.bin_edges_,
            density=embedder.density,
            temperature=temperature,
            straight_through=straight_through,
        )
    elif method == "eigenfaces":
        features = EigenfaceFeatures(embedder.mean_, embedder.components_, orthogonal=orthogonal)
    else:
        features = MomentFeatures(embedder._pixel_coordinates().T)
    standardize = embedder.standardize
    return HeatmapEmbedding(
        features,
        n_features=embedder.n_features_in_,
        frame_shape=embedder.frame_shape_,
        pixel_index=embedder._pixel_index,
        shift=embedder.feature_mean_ if standardize else None,
        scale=embedder.feature_scale_ if standardize else None,
    )


def read_parameters(module, method):
    """The fitted attributes of ``HeatmapEmbedder`` held by a (trained) twin, as arrays."""
    features = module.features
    if method == "percentiles":
        values = {"percentiles_": features.fractions * 100.0}
    elif method == "histogram":
        values = {"bin_edges_": features.edges}
    elif method == "eigenfaces":
        values = {"mean_": features.mean, "components_": features.projection.weight}
    else:
        values = {}
    return {name: value.detach().cpu().double().numpy() for name, value in values.items()}
