"""Per-frame embedding of heatmaps into K channels (the stage ℰ).

:class:`HeatmapEmbedder` maps every frame ``x_t`` of a heatmap recording to a
vector of ``K`` channels: percentiles of its temperatures, histogram bin
heights, eigenface scores or spatial temperature moments. Frames are processed
in chunks of ``chunk_size`` by compiled kernels, so a memory-mapped ``.npy``
larger than memory is embedded with memory proportional to one chunk.

NaN conventions (see :mod:`skheatmap._validation`): a trailing frame that is
entirely NaN is *padding* and gives an all-NaN output frame; an isolated NaN
(a *dead pixel*) is ignored by every method; a frame with no finite value
inside the region of interest that is not padding also gives NaN channels and
a :class:`UserWarning`.
"""

import mmap
import numbers
import warnings
from typing import NamedTuple

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._embedding_kernels import (
    frame_status,
    histogram_kernel,
    in_frame_blocks,
    moment_kernel,
    percentile_kernel,
)
from ._validation import as_series, check_frame_shape, restore_ndim, validate_recordings

__all__ = ["HeatmapEmbedder"]

_MOMENT_NAMES = (
    "mean",
    "var",
    "skew",
    "kurtosis",
    "centroid_y",
    "centroid_x",
    "moment_yy",
    "moment_xx",
    "moment_xy",
)

# Fitted attributes that belong to one method only; ``fit`` forgets them so that
# refitting with another method leaves no stale state behind.
_METHOD_ATTRIBUTES = (
    "percentiles_",
    "bin_edges_",
    "pca_",
    "components_",
    "mean_",
    "explained_variance_",
    "explained_variance_ratio_",
    "n_components_",
    "feature_mean_",
    "feature_var_",
    "feature_scale_",
    "n_frames_seen_",
)


_AUTO_CHUNK_BYTES = 32 * 2**20  # chunk_size=None: frames per chunk fill this much

# --------------------------------------------------------------------------- helpers


def _trailing(all_nan):
    """Which all-NaN frames are trailing padding, from an ``(n, T)`` flag array."""
    return np.logical_and.accumulate(all_nan[:, ::-1], axis=1)[:, ::-1]


def _merge_moments(count, mean, var, batch):
    """Chan et al.'s update of a running mean and (ddof=0) variance with a batch."""
    n_batch = batch.shape[0]
    if n_batch == 0:
        return count, mean, var
    batch_mean = batch.mean(axis=0)
    batch_var = batch.var(axis=0)
    total = count + n_batch
    delta = batch_mean - mean
    new_mean = mean + delta * (n_batch / total)
    new_var = (count * var + n_batch * batch_var + delta**2 * count * n_batch / total) / total
    return total, new_mean, new_var


def _edge_labels(edges):
    """Fixed-point labels of the edges with one number of decimals for all.

    The fewest decimals (at least one, at most six) that write every edge
    exactly; edges learned from data rarely have such a form, and get the
    fewest decimals (at least two) that still tell them apart.
    """
    for decimals in range(1, 7):
        labels = [f"{e:.{decimals}f}" for e in edges]
        if all(float(label) == e for label, e in zip(labels, edges, strict=True)):
            return labels
    for decimals in range(2, 18):
        labels = [f"{e:.{decimals}f}" for e in edges]
        if len(set(labels)) == len(labels):
            return labels
    return [repr(float(e)) for e in edges]


class _Chunk(NamedTuple):
    """A block of consecutive frames, as :meth:`HeatmapEmbedder._chunks` yields it."""

    rows: slice
    pixels: np.ndarray  # (c, P) pixels inside the ROI
    keep: np.ndarray  # (c,) frames with a finite pixel inside the ROI
    dead: bool  # whether any pixel inside the ROI is NaN
    padding: np.ndarray  # (c,) frames that are entirely NaN

    @property
    def kept(self):
        """Pixels of the frames that have a finite pixel inside the ROI."""
        return self.pixels if self.keep.all() else self.pixels[self.keep]


def _read_only_mapping(array):
    """The read-only ``mmap`` under ``array`` (``np.load(..., mmap_mode="r")``), else None.

    Only a read-only mapping is returned: its pages can be dropped at any time
    and read again from the file, whereas a copy-on-write mapping holds changes.
    """
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    if not isinstance(base, mmap.mmap) or not hasattr(mmap, "MADV_DONTNEED"):
        return None
    with memoryview(base) as view:
        return base if view.readonly else None


def _reads_on_indexing(X):
    """Whether ``X`` is an array-like that reads its values when indexed (h5py, zarr).

    Such arrays are embedded a chunk of recordings at a time instead of being
    converted to one in-memory array.
    """
    return (
        not isinstance(X, np.ndarray)
        and hasattr(X, "__array__")
        and len(getattr(X, "shape", ())) >= 3
        and hasattr(X, "dtype")
        and not type(X).__module__.startswith(("torch", "pandas"))
    )


def _check_fitted_frames(shape, n_features, frame_shape, *, owner):
    """Raise a ValueError if recordings of ``shape`` do not hold the fitted frames.

    Shared by :meth:`HeatmapEmbedder.transform` and its torch twin. Frames must
    have ``n_features`` values and, for 4-D input when the fitted frame shape is
    known, that shape. Shapes of another number of dimensions are left to the
    input validation, which names the accepted layouts.

    Parameters
    ----------
    shape : tuple of int
        Shape of the input, ``(n, F)``, ``(n, T, F)`` or ``(n, T, I, J)``.
    n_features : int
        Number of values per fitted frame (``n_features_in_``).
    frame_shape : tuple of int or None
        The fitted frame shape ``(I, J)``, or None if only flattened frames were seen.
    owner : str
        The name the message gives the estimator or module.
    """
    if len(shape) not in (2, 3, 4):
        return
    received = tuple(int(s) for s in shape[2:]) if len(shape) > 2 else (int(shape[1]),)
    fitted = (n_features,) if frame_shape is None else tuple(frame_shape)
    n_received = int(np.prod(received))
    if n_received != n_features:
        # sklearn's wording first: its common checks match on it
        raise ValueError(
            f"X has {n_received} features, but {owner} is expecting {n_features} features as "
            f"input: the frames of X have {_describe_frame(received)}, but the fitted frames "
            f"had {_describe_frame(fitted)}. Pass frames of the fitted size (crop or resample "
            "them), or refit on frames like these."
        )
    if len(shape) == 4 and frame_shape is not None and received != fitted:
        raise ValueError(
            f"X has frames of shape {received}, but {owner} was fitted on frames of shape "
            f"{fitted} (the same {n_features} pixels, laid out differently). Pass frames of "
            f"shape {fitted} (transpose them if rows and columns are swapped), or refit on "
            f"frames of shape {received}."
        )


def _describe_frame(shape):
    """``shape (I, J)`` for a heatmap, ``F values (flattened)`` for a flat frame."""
    return f"shape {shape}" if len(shape) > 1 else f"{shape[0]} values (flattened)"


def _percentile_label(q):
    return f"p{int(q):02d}" if float(q).is_integer() else f"p{q:g}"


class HeatmapEmbedder(TransformerMixin, BaseEstimator):
    """Embed every heatmap frame into ``K`` channels (the stage ℰ).

    Each frame ``x_t`` (an ``I x J`` heatmap, optionally restricted to a region
    of interest) is mapped to a vector of ``K`` numbers; a recording of ``T``
    frames becomes a ``(T, K)`` channel series for the wavelet and ICA stages.

    Parameters
    ----------
    method : {"percentiles", "histogram", "eigenfaces", "moments"}, \
            default="percentiles"
        The channels:

        - ``"percentiles"``: temperature percentiles of the frame (linear
          interpolation, as :func:`numpy.nanpercentile`); ``K = len(percentiles)``.
        - ``"histogram"``: bin heights of the frame's temperatures on fixed
          edges (as :func:`numpy.histogram`, the last bin closed); ``K = bins``.
          Values outside the edges are not counted.
        - ``"eigenfaces"``: scores on the first ``n_components`` principal
          components of the training frames (PCA on frames); ``K = n_components``.
        - ``"moments"``: mean, variance, skewness, excess kurtosis (biased, as
          :mod:`scipy.stats`) and the geometry of the warm region (pixels
          warmer than the frame mean, weighted by the excess ``x - mean``):
          its centroid ``(centroid_y, centroid_x)`` in pixel units (row,
          column) and second central moments ``moment_yy, moment_xx,
          moment_xy``; ``K = 9``. Needs the frame shape.

    percentiles : array-like of float, default=(5, 25, 50, 75, 95)
        Percentiles in ``[0, 100]``, distinct, for ``method="percentiles"``.
    bins : int or array-like of float, default=10
        For ``method="histogram"``: the number of equal-width bins, or the
        increasing bin edges in the data's unit (°C). With an int, the edges
        span ``bin_range``, or the range of the training temperatures (inside
        the mask, over non-padding frames) learned in ``fit``.
    bin_range : tuple (low, high) or None, default=None
        Fixed range of the equal-width bins when ``bins`` is an int.
    density : bool, default=False
        If False, the histogram channels are pixel counts; if True, densities
        (counts divided by the number of counted pixels and the bin width, as
        ``np.histogram(..., density=True)``), which do not depend on the number
        of dead pixels or the ROI size.
    n_components : int, default=8
        Number of eigenfaces for ``method="eigenfaces"``.
    svd_solver : {"auto", "full", "covariance_eigh", "arpack", "randomized"}, \
            default="auto"
        Solver of the :class:`~sklearn.decomposition.PCA` fitted by ``fit``
        (``"randomized"`` for large data; ``"auto"`` chooses). ``partial_fit``
        always uses :class:`~sklearn.decomposition.IncrementalPCA`.
    frame_shape : tuple (I, J) or None, default=None
        Shape of one heatmap. Taken from 4-D input; needed with 2-D or 3-D
        (flattened) input for ``method="moments"``. A 2-D boolean ``mask``
        also defines it.
    mask : array-like of bool, callable or None, default=None
        Region of interest: a boolean array of shape ``(I, J)`` or ``(I*J,)``,
        True inside the ROI, or a callable that receives the mean training
        frame (NaN-aware, shape ``(I, J)`` when the frame shape is known, else
        ``(I*J,)``) and returns such an array, e.g. ``lambda mean: mean > 30``.
        None uses every pixel.
    standardize : bool, default=False
        Whether to standardize each channel to zero mean and unit variance
        over the training frames (population variance; channels with zero
        variance are only centred). For eigenfaces this is PCA whitening:
        scores are divided by ``sqrt(explained_variance_)``.
    chunk_size : int or None, default=None
        Number of frames processed at once; None takes as many frames as fit
        in 32 MiB (at least one). Memory beyond the input and output is
        proportional to ``chunk_size * I * J``, so a memory-mapped array is
        read chunk by chunk. Larger chunks help the eigenface matrix product;
        the other methods are insensitive to it. (``fit`` with
        ``method="eigenfaces"`` still holds the training frames in memory; use
        ``partial_fit`` out of core.)
    random_state : int, RandomState instance or None, default=None
        Seeds the randomized SVD of ``method="eigenfaces"``.

    Attributes
    ----------
    n_features_in_ : int
        Number of values per frame, ``I * J``.
    frame_shape_ : tuple of int or None
        Frame shape ``(I, J)``, or None when only flattened frames were seen.
    mask_ : ndarray of bool or None
        The region of interest (shape ``frame_shape_`` when known, else
        ``(I*J,)``), or None when every pixel is used.
    n_pixels_ : int
        Number of pixels inside the region of interest.
    percentiles_ : ndarray of shape (K,)
        The percentiles (``method="percentiles"``).
    bin_edges_ : ndarray of shape (K + 1,)
        The histogram edges (``method="histogram"``).
    pca_ : PCA or IncrementalPCA
        The fitted decomposition (``method="eigenfaces"``).
    components_ : ndarray of shape (n_components, ``n_pixels_``)
        The eigenfaces, over the pixels of the ROI in row-major order.
    mean_ : ndarray of shape (``n_pixels_``,)
        The mean training frame over the ROI (NaN-aware).
    explained_variance_, explained_variance_ratio_ : ndarray of shape (n_components,)
        As in :class:`~sklearn.decomposition.PCA`.
    n_components_ : int
        Number of eigenfaces.
    feature_mean_, feature_var_, feature_scale_ : ndarray of shape (K,)
        Channel statistics of the training frames (``standardize=True``).
    n_frames_seen_ : int
        Number of non-empty training frames used for the learned statistics.

    See Also
    --------
    skheatmap.to_dataset : Pad recordings of different lengths.

    Notes
    -----
    Dead pixels: percentiles, histograms and moments use the finite pixels of
    each frame only. Eigenfaces give a dead pixel the value of the mean face,
    so it contributes nothing to the scores; in ``fit``, a dead pixel is
    imputed with the pixel's mean over the training frames before the PCA.

    :meth:`to_torch` returns a differentiable ``nn.Module`` twin of the fitted
    transform.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.embedding import HeatmapEmbedder
    >>> rng = np.random.default_rng(0)
    >>> X = 33 + rng.normal(size=(4, 10, 8, 8))     # 4 recordings, 10 frames of 8x8
    >>> embedder = HeatmapEmbedder(percentiles=[5, 50, 95]).fit(X)
    >>> embedder.transform(X).shape
    (4, 10, 3)
    >>> embedder.get_feature_names_out()
    array(['p05', 'p50', 'p95'], dtype=object)
    >>> HeatmapEmbedder(method="moments").fit_transform(X).shape
    (4, 10, 9)
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"percentiles", "histogram", "eigenfaces", "moments"})],
        "percentiles": ["array-like"],
        "bins": [Interval(numbers.Integral, 1, None, closed="left"), "array-like"],
        "bin_range": [None, tuple, list],
        "density": ["boolean"],
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "svd_solver": [StrOptions({"auto", "full", "covariance_eigh", "arpack", "randomized"})],
        "frame_shape": [None, tuple, list],
        "mask": [None, "array-like", callable],
        "standardize": ["boolean"],
        "chunk_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        method="percentiles",
        *,
        percentiles=(5, 25, 50, 75, 95),
        bins=10,
        bin_range=None,
        density=False,
        n_components=8,
        svd_solver="auto",
        frame_shape=None,
        mask=None,
        standardize=False,
        chunk_size=None,
        random_state=None,
    ):
        self.method = method
        self.percentiles = percentiles
        self.bins = bins
        self.bin_range = bin_range
        self.density = density
        self.n_components = n_components
        self.svd_solver = svd_solver
        self.frame_shape = frame_shape
        self.mask = mask
        self.standardize = standardize
        self.chunk_size = chunk_size
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn the ROI, the histogram edges, the eigenfaces and channel statistics.

        Parameters
        ----------
        X : array-like of shape (n, F), (n, T, F) or (n, T, I, J)
            Heatmap recordings (NaN padding and dead pixels allowed).
        y : None
            Ignored.

        Returns
        -------
        self : HeatmapEmbedder
            The fitted embedder.
        """
        for name in _METHOD_ATTRIBUTES:
            self.__dict__.pop(name, None)
        X = self._validate(X, reset=True)
        series = as_series(X)
        self._set_geometry(X, series)
        if self.method == "percentiles":
            self.percentiles_ = self._checked_percentiles()
        elif self.method == "histogram":
            self.bin_edges_ = self._checked_edges(series)
        elif self.method == "eigenfaces":
            self._fit_eigenfaces(series)
        if self.standardize:
            self._learn_standardization(series)
        elif not self._reads_data(first_call=True):
            self._reject_infinity(series)
        return self

    def _reads_data(self, *, first_call):
        """Whether (partial) fitting passes over the frames anyway, checking them."""
        learned_edges = (
            self.method == "histogram"
            and isinstance(self.bins, numbers.Integral)
            and self.bin_range is None
        )
        set_up_from_data = first_call and (callable(self.mask) or learned_edges)
        return self.standardize or self.method == "eigenfaces" or set_up_from_data

    def _reject_infinity(self, series):
        for _ in self._chunks(series):  # _chunks raises on the first infinite value
            pass

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Update the embedder with a batch of recordings (out-of-core fitting).

        The first call fixes the ROI (a callable ``mask`` sees the mean frame
        of that batch) and the frame shape. Eigenfaces are updated with
        :class:`~sklearn.decomposition.IncrementalPCA` (the first batch must hold
        at least ``n_components`` non-empty frames); channel statistics for
        ``standardize`` are updated exactly. Histogram edges learned from the
        data (int ``bins`` without ``bin_range``) span the temperatures of the
        first batch; later values outside them are not counted, so prefer fixed
        edges (``bins`` as edges, or ``bin_range``) out of core. After
        :meth:`fit`, the eigenfaces restart from the batch: a batch PCA cannot
        be continued incrementally.

        Parameters
        ----------
        X : array-like of shape (n, F), (n, T, F) or (n, T, I, J)
            A batch of heatmap recordings.
        y : None
            Ignored.

        Returns
        -------
        self : HeatmapEmbedder
            The updated embedder.
        """
        first_call = not hasattr(self, "n_features_in_")
        X = self._validate(X, reset=first_call)
        series = as_series(X)
        if first_call:
            self._set_geometry(X, series)
            if self.method == "percentiles":
                self.percentiles_ = self._checked_percentiles()
            elif self.method == "histogram":
                self.bin_edges_ = self._checked_edges(series)
        if not self._reads_data(first_call=first_call):
            self._reject_infinity(series)
        if self.method == "eigenfaces":
            self._partial_fit_eigenfaces(series)
        if self.standardize:
            self._learn_standardization(series, update=not first_call)
        return self

    def _validate(self, X, *, reset):
        if not reset:
            if not hasattr(X, "ndim"):
                X = np.asarray(X)  # lists: their shape after conversion, as validation sees it
            _check_fitted_frames(
                X.shape, self.n_features_in_, self.frame_shape_, owner=type(self).__name__
            )
        # Infinity is looked for chunk by chunk in ``_chunks`` instead of over
        # the whole array, so that a memory-mapped input is never loaded at once.
        with config_context(assume_finite=True):
            return validate_recordings(self, X, reset=reset)

    def _set_geometry(self, X, series):
        """Fix ``frame_shape_``, ``mask_`` and the pixel index from the fit data."""
        n_features = self.n_features_in_
        shape = None
        if self.frame_shape is not None:
            shape = check_frame_shape(self.frame_shape, n_features)
        if X.ndim == 4:
            if shape is not None and shape != X.shape[2:]:
                raise ValueError(
                    f"frame_shape={shape} disagrees with the 4-D input, whose frames have "
                    f"shape {X.shape[2:]}; drop frame_shape or pass {X.shape[2:]}."
                )
            shape = tuple(int(s) for s in X.shape[2:])
        mask = self.mask
        if callable(mask):
            mask = mask(self._mean_frame(series, shape))
        if mask is not None:
            mask, shape = self._checked_mask(mask, shape)
        if self.method == "moments" and shape is None:
            raise ValueError(
                "method='moments' needs the frame geometry but X holds flattened frames: "
                "pass frame_shape=(I, J), a 2-D mask, or 4-D input of shape (n, T, I, J)."
            )
        self.frame_shape_ = shape
        self.mask_ = mask
        flat = None if mask is None else mask.ravel()
        self._pixel_index = None if flat is None or flat.all() else np.flatnonzero(flat)
        self.n_pixels_ = n_features if self._pixel_index is None else self._pixel_index.size

    def _mean_frame(self, series, shape):
        total, count = self._nan_sums(series, roi=False)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
        return mean if shape is None else mean.reshape(shape)

    def _nan_sums(self, series, *, roi):
        """Per-pixel sum and count of the finite values over all frames."""
        total = count = 0.0
        for chunk in self._chunks(series, roi=roi):
            finite = ~np.isnan(chunk.pixels)
            total = total + np.where(finite, chunk.pixels, 0.0).sum(axis=0, dtype=float)
            count = count + finite.sum(axis=0)
        return total, count

    def _checked_mask(self, mask, shape):
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise TypeError(
                f"mask must be a boolean array (True inside the region of interest), got "
                f"dtype {mask.dtype}; convert it with mask.astype(bool) if it is 0/1."
            )
        n_features = self.n_features_in_
        if mask.ndim == 2 and shape is None and mask.size == n_features:
            shape = tuple(int(s) for s in mask.shape)
        expected = [(n_features,)] + ([shape] if shape is not None else [])
        if mask.shape not in expected:
            raise ValueError(
                f"mask has shape {mask.shape} but the frames have shape "
                f"{shape if shape is not None else (n_features,)}; pass a boolean mask of "
                f"shape {' or '.join(str(s) for s in expected)}."
            )
        if not mask.any():
            raise ValueError(
                "mask is empty (no pixel is True), so no frame could be embedded; "
                "pass a mask with at least one True pixel."
            )
        if shape is not None:
            mask = mask.reshape(shape)
        return mask.copy(), shape

    def _checked_percentiles(self):
        return self._checked_levels(self.percentiles)

    @staticmethod
    def _checked_levels(percentiles):
        q = np.array(percentiles, dtype=float)
        if q.ndim != 1 or q.size == 0:
            raise ValueError(
                f"percentiles must be a non-empty 1-D list of numbers, got {percentiles!r}."
            )
        if not np.all(np.isfinite(q)) or q.min() < 0 or q.max() > 100:
            raise ValueError(f"percentiles must lie in [0, 100], got {percentiles!r}.")
        if np.unique(q).size != q.size:
            raise ValueError(f"percentiles must be distinct, got {percentiles!r}.")
        return q

    def _checked_edges(self, series):
        if not isinstance(self.bins, numbers.Integral):
            edges = np.array(self.bins, dtype=float)  # a C-contiguous copy for the kernel
            if self.bin_range is not None:
                raise ValueError(
                    "bin_range is only used when bins is an int; the edges in bins already "
                    "fix the range. Drop bin_range."
                )
            if edges.ndim != 1 or edges.size < 2 or not np.all(np.isfinite(edges)):
                raise ValueError(
                    f"bins must be an int or at least two finite edges, got {self.bins!r}."
                )
            if np.any(np.diff(edges) <= 0):
                raise ValueError(f"bins edges must increase strictly, got {self.bins!r}.")
            return edges
        if self.bin_range is not None:
            low, high = self._checked_range()
        else:
            low, high = self._data_range(series)
        return np.linspace(low, high, int(self.bins) + 1)

    def _checked_range(self):
        try:
            low, high = (float(v) for v in self.bin_range)
        except (TypeError, ValueError):
            raise ValueError(
                f"bin_range must be a pair (low, high) of numbers, got {self.bin_range!r}."
            ) from None
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"bin_range must satisfy low < high, got {self.bin_range!r}.")
        return low, high

    def _data_range(self, series):
        low, high = np.inf, -np.inf
        for chunk in self._chunks(series):
            if chunk.keep.any():
                low = min(low, float(np.nanmin(chunk.kept)))
                high = max(high, float(np.nanmax(chunk.kept)))
        if low > high:
            raise ValueError(
                "cannot learn histogram edges: no finite temperature inside the mask in the "
                "training frames. Pass bin_range=(low, high) or bins=[edges]."
            )
        if low == high:  # np.histogram's convention for a constant sample
            low, high = low - 0.5, high + 0.5
        return low, high

    def _training_pixels(self, series, fill=None):
        """Non-empty training frames over the ROI; dead pixels set to ``fill``."""
        dtype = series.dtype
        kept = []
        for chunk in self._chunks(series):
            block = np.array(chunk.kept, dtype=dtype)
            if fill is not None and chunk.dead:
                dead = np.isnan(block)
                block[dead] = np.broadcast_to(fill, block.shape)[dead]
            kept.append(block)
        return np.concatenate(kept) if kept else np.empty((0, self.n_pixels_), dtype)

    def _pixel_means(self, series):
        return self._filled_means(*self._nan_sums(series, roi=True))

    def _filled_means(self, total, count):
        never_seen = count == 0
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
        if never_seen.all():
            raise ValueError(
                "no finite pixel inside the mask in any training frame; nothing to learn."
            )
        if never_seen.any():
            warnings.warn(
                f"{int(never_seen.sum())} pixel(s) inside the mask are NaN in every training "
                "frame (dead sensor pixels); they get the mean temperature and no weight in "
                "the eigenfaces. Exclude them with `mask` to silence this warning.",
                UserWarning,
                stacklevel=4,
            )
            mean[never_seen] = mean[~never_seen].mean()
        return mean

    def _fit_eigenfaces(self, series):
        fill = self._pixel_means(series).astype(series.dtype)
        data = self._training_pixels(series, fill=fill)
        if data.shape[0] > 1 and not np.ptp(data, axis=0).any():
            raise ValueError(
                f"method='eigenfaces' found {data.shape[0]} training frame(s) that are all "
                "identical inside the mask, so there is no variation to find eigenfaces in. "
                "Fit on recordings whose frames vary, or use method='percentiles'."
            )
        self._check_n_components(data.shape[0], solver=self.svd_solver)
        pca = PCA(
            n_components=self.n_components,
            svd_solver=self.svd_solver,
            random_state=self.random_state,
            copy=False,
        )
        pca.fit(data)
        self._set_pca(pca, data.shape[0])

    def _partial_fit_eigenfaces(self, series):
        pca = getattr(self, "pca_", None)
        first_batch = not isinstance(pca, IncrementalPCA)
        if first_batch:
            # continuing a model built by ``fit`` would mix two estimators; start anew
            pca = IncrementalPCA(n_components=self.n_components)
            fill = self._pixel_means(series).astype(series.dtype)
            seen = 0
        else:
            fill = pca.mean_.astype(series.dtype)
            seen = self.n_frames_seen_
        data = self._training_pixels(series, fill=fill)
        if first_batch:  # later batches may be smaller: the components carry over
            self._check_n_components(data.shape[0], solver="incremental")
        pca.partial_fit(data)
        self._set_pca(pca, seen + data.shape[0])

    def _check_n_components(self, n_frames, *, solver):
        """Raise a ValueError if ``n_components`` exceeds what the training frames give.

        A PCA of ``n_frames`` frames of ``n_pixels_`` pixels has at most
        ``min(n_frames, n_pixels_)`` components; ARPACK finds strictly fewer.
        ``solver`` is the ``svd_solver`` used, or ``"incremental"`` for the
        first batch of ``partial_fit``.
        """
        arpack = solver == "arpack"
        limit = min(n_frames, self.n_pixels_) - int(arpack)
        if self.n_components <= limit:
            return
        source = "the first partial_fit batch has" if solver == "incremental" else "fit found"
        pixels = f"{self.n_pixels_} pixel(s){' inside the mask' if self.mask_ is not None else ''}"
        fixes = [f"set n_components <= {limit}"] if limit >= 1 else []
        if n_frames <= self.n_pixels_:
            fixes.append("fit on more frames")
        elif self.mask_ is not None:
            fixes.append("use a larger mask")
        if arpack:
            fixes.append("use svd_solver='full' (ARPACK needs n_components < min(frames, pixels))")
        raise ValueError(
            f"n_components={self.n_components} is too large for method='eigenfaces': {source} "
            f"{n_frames} non-empty training frame(s) of {pixels}, which give at most {limit} "
            f"eigenface(s). To fix it, {', or '.join(fixes)}."
        )

    def _set_pca(self, pca, n_frames):
        self.pca_ = pca
        # contiguous, as after unpickling: BLAS results may depend on the memory layout
        self.components_ = np.ascontiguousarray(pca.components_)
        self.mean_ = pca.mean_
        self.explained_variance_ = pca.explained_variance_
        self.explained_variance_ratio_ = pca.explained_variance_ratio_
        self.n_components_ = int(pca.n_components_)
        self.n_frames_seen_ = int(n_frames)

    def _learn_standardization(self, series, *, update=False):
        if self.method == "eigenfaces":
            variance = np.asarray(self.explained_variance_, dtype=float)
            self.feature_mean_ = np.zeros_like(variance)
            self.feature_var_ = variance
        else:
            if update:
                count, mean, var = self.n_frames_seen_, self.feature_mean_, self.feature_var_
            else:
                count, mean, var = 0, 0.0, 0.0
            for chunk in self._chunks(series):
                features = self._embed(chunk.kept, dead=chunk.dead)
                # a density with no pixel inside the edges is NaN: leave it out
                features = features[np.isfinite(features).all(axis=1)]
                count, mean, var = _merge_moments(count, mean, var, features)
            if count == 0:
                raise ValueError(
                    "standardize=True needs at least one training frame with finite channels; "
                    "every frame is empty inside the mask or, for a histogram density, has no "
                    "temperature inside the edges."
                )
            self.feature_mean_ = np.asarray(mean, dtype=float)
            self.feature_var_ = np.asarray(var, dtype=float)
            self.n_frames_seen_ = int(count)
        scale = np.sqrt(self.feature_var_)
        self.feature_scale_ = np.where(scale > 0, scale, 1.0)

    # ------------------------------------------------------------------ transform

    def transform(self, X):
        """Embed every frame into the ``K`` channels.

        Parameters
        ----------
        X : array-like of shape (n, F), (n, T, F) or (n, T, I, J)
            Heatmap recordings with the frame size seen in ``fit``. A
            ``numpy.memmap`` is read ``chunk_size`` frames at a time (pages of
            a read-only map are released after each chunk); an HDF5 dataset
            (``h5py.Dataset``, or another array-like that reads when indexed)
            is read as whole recordings, about ``chunk_size`` frames at a time.

        Returns
        -------
        channels : ndarray of shape (n, T, K), or (n, K) for 2-D input
            Same floating dtype as ``X``. Padding frames, and frames with no
            finite pixel inside the ROI, are NaN.

        Raises
        ------
        ValueError
            If the frames of ``X`` have another number of pixels than the
            fitted ones, or (4-D input) another shape; if ``X`` contains
            infinity (the message names the recording and frame).
        """
        check_is_fitted(self)
        if _reads_on_indexing(X):
            channels, empty, all_nan = self._embed_lazily(X)
        else:
            channels, empty, all_nan = self._embed_recordings(X)
        self._warn_empty(empty, all_nan)
        return channels

    def _embed_recordings(self, X):
        """Channels ``(n, T, K)`` (``(n, K)`` for 2-D input) of in-memory or memory-mapped
        recordings, and the ``(n, T)`` masks of frames without data and of all-NaN frames."""
        X = self._validate(X, reset=False)
        series = as_series(X)
        n_frames = series.shape[0] * series.shape[1]
        out = np.full((n_frames, self._n_channels()), np.nan, dtype=X.dtype)
        all_nan = np.zeros(n_frames, dtype=bool)
        empty = np.zeros(n_frames, dtype=bool)
        for chunk in self._chunks(series):
            all_nan[chunk.rows] = chunk.padding
            empty[chunk.rows] = ~chunk.keep
            out[chunk.rows] = self._standardized(self._embed(chunk.pixels, dead=chunk.dead))
        n_t = series.shape[:2]
        channels = restore_ndim(out.reshape(*n_t, -1), X)
        return channels, empty.reshape(n_t), all_nan.reshape(n_t)

    def _embed_lazily(self, X):
        """:meth:`_embed_recordings` over whole recordings read a chunk at a time.

        For array-likes that read from disk when indexed (an HDF5 dataset), so
        that only about one chunk of frames (at least one recording) is in memory.
        """
        per_chunk = self._chunk_frames(int(np.prod(X.shape[2:])), np.dtype(X.dtype).itemsize)
        step = max(1, per_chunk // max(X.shape[1], 1))  # whole recordings of T frames
        parts = [
            self._embed_recordings(np.asarray(X[start : start + step]))
            for start in range(0, X.shape[0], step)
        ]
        return tuple(np.concatenate(part) for part in zip(*parts, strict=True))

    def _standardized(self, features):
        if not self.standardize:
            return features
        return (features - self.feature_mean_) / self.feature_scale_

    def _embed(self, pixels, *, dead=True):
        """Channels of ROI pixels ``(c, P)`` as float64 ``(c, K)``; NaN for empty frames.

        ``dead=False`` promises that ``pixels`` has no NaN (skips NaN handling).
        """
        if self.method == "percentiles":
            return in_frame_blocks(percentile_kernel, pixels, self.percentiles_ / 100.0)
        if self.method == "moments":
            return in_frame_blocks(moment_kernel, pixels, *self._pixel_coordinates())
        if self.method == "histogram":
            return self._histogram(pixels)
        return self._eigenface_scores(pixels, dead=dead)

    def _histogram(self, pixels):
        counts, n_valid = in_frame_blocks(histogram_kernel, pixels, self.bin_edges_)
        counts[n_valid == 0] = np.nan
        if not self.density:
            return counts
        total = counts.sum(axis=1, keepdims=True)
        outside = (total[:, 0] == 0) & (n_valid > 0)
        if outside.any():
            warnings.warn(
                f"{int(outside.sum())} frame(s) have no temperature inside the histogram "
                f"edges [{self.bin_edges_[0]:g}, {self.bin_edges_[-1]:g}]; their density is "
                "NaN. Widen bin_range or the edges in bins.",
                UserWarning,
                stacklevel=5,
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            return counts / np.diff(self.bin_edges_) / total

    def _eigenface_scores(self, pixels, *, dead):
        # (x - mean) @ W.T as x @ W.T - mean @ W.T, as PCA.transform does: no centred copy
        offset = self.mean_ @ self.components_.T
        if not dead:
            return (pixels @ self.components_.T - offset).astype(np.float64)
        missing = np.isnan(pixels)
        # a dead pixel takes the mean face's value, so it adds nothing to the scores
        filled = np.where(missing, self.mean_, pixels)
        scores = (filled @ self.components_.T - offset).astype(np.float64)
        scores[missing.all(axis=1)] = np.nan
        return scores

    def _pixel_coordinates(self):
        """Rows and columns ``(2, P)`` of the ROI pixels, in the order of the pixel axis."""
        coords = np.indices(self.frame_shape_).reshape(2, -1).astype(float)
        return (
            coords
            if self._pixel_index is None
            else np.ascontiguousarray(coords[:, self._pixel_index])
        )

    def _chunks(self, series, *, roi=True):
        """Iterate over ``chunk_size`` frames of ``(n, T, F)`` series at a time.

        Yields :class:`_Chunk` records: the pixels (inside the ROI when
        ``roi``) of the next frames in row-major ``(recording, frame)`` order,
        which frames have a finite pixel there, whether any pixel there is NaN,
        and which frames are entirely NaN. Raises on the first infinite value.
        """
        index = self._pixel_index if roi else None
        n_features = series.shape[2]
        frames = series.reshape(-1, n_features)
        size = self._chunk_frames(n_features, frames.itemsize)
        mapping = _read_only_mapping(frames)
        for start in range(0, frames.shape[0], size):
            rows = slice(start, min(start + size, frames.shape[0]))
            block = np.ascontiguousarray(frames[rows])  # a plain C view (no copy) for the kernels
            n_nan, has_inf = in_frame_blocks(frame_status, block)
            if has_inf.any():
                bad = start + int(np.flatnonzero(has_inf)[0])
                recording, frame = divmod(bad, series.shape[1])
                raise ValueError(
                    f"X contains infinity (first in recording {recording}, frame {frame}); "
                    "only NaN is allowed, for padding frames and dead pixels. Replace "
                    "infinite values with NaN."
                )
            pixels = block if index is None else np.ascontiguousarray(block[:, index])
            n_nan_roi = n_nan if index is None else in_frame_blocks(frame_status, pixels)[0]
            keep = n_nan_roi < pixels.shape[1]
            yield _Chunk(rows, pixels, keep, bool(n_nan_roi.any()), n_nan == n_features)
            if mapping is not None:
                # pages of a mapped file stay resident until memory runs short; dropping
                # those read so far keeps the peak RSS at about one chunk, whatever the file
                mapping.madvise(mmap.MADV_DONTNEED)

    def _chunk_frames(self, frame_size, itemsize):
        """Frames per chunk: ``chunk_size``, or as many as fill 32 MiB."""
        if self.chunk_size is not None:
            return self.chunk_size
        return max(1, _AUTO_CHUNK_BYTES // (frame_size * itemsize))

    def _warn_empty(self, empty, all_nan):
        dropped = empty & ~_trailing(all_nan)
        if dropped.any():
            recording, frame = np.argwhere(dropped)[0]
            where = "inside the mask" if self._pixel_index is not None else ""
            warnings.warn(
                f"{int(dropped.sum())} frame(s) that are not padding have no finite pixel "
                f"{where}{' ' if where else ''}(first: recording {recording}, frame {frame}); "
                "their channels are NaN. Check the recording for dropped frames or the mask "
                "for a region of dead pixels.",
                UserWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------ outputs

    def _n_channels(self):
        if self.method == "percentiles":
            return self.percentiles_.size
        if self.method == "histogram":
            return self.bin_edges_.size - 1
        if self.method == "eigenfaces":
            return self.n_components_
        return len(_MOMENT_NAMES)

    def get_feature_names_out(self, input_features=None):
        """Names of the channels.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked for length (the channels do not depend on pixel names).

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``p05, p50, ...`` (percentiles), ``bin_30.0_30.5, ...`` (histogram),
            ``eig_0, eig_1, ...`` (eigenfaces) or ``mean, var, skew, kurtosis,
            centroid_y, centroid_x, moment_yy, moment_xx, moment_xy`` (moments).
        """
        check_is_fitted(self)
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            if input_features.shape != (self.n_features_in_,):
                raise ValueError(
                    "input_features should have length equal to number of features "
                    f"({self.n_features_in_}), got {len(input_features)}"
                )
            names_in = getattr(self, "feature_names_in_", None)
            if names_in is not None and not np.array_equal(input_features, names_in):
                raise ValueError("input_features is not equal to feature_names_in_")
        if self.method == "percentiles":
            names = [_percentile_label(q) for q in self.percentiles_]
        elif self.method == "histogram":
            labels = _edge_labels(self.bin_edges_)
            names = [f"bin_{a}_{b}" for a, b in zip(labels[:-1], labels[1:], strict=True)]
        elif self.method == "eigenfaces":
            names = [f"eig_{k}" for k in range(self.n_components_)]
        else:
            names = list(_MOMENT_NAMES)
        return np.asarray(names, dtype=object)

    def to_torch(self, *, temperature=None, straight_through=False, orthogonal=False, device="cpu"):
        """Differentiable ``torch.nn.Module`` twin of the fitted :meth:`transform`.

        The module takes a tensor of shape ``(n, F)``, ``(n, T, F)`` or
        ``(n, T, I, J)`` and returns the channels as :meth:`transform` does
        (float64: equal to 1e-10). It is built in float64 on ``device``; use
        ``.float()`` for float32. :meth:`from_torch` writes trained
        parameters back into the embedder.

        - percentiles: sort and gather, differentiable almost everywhere with
          respect to the input and to the percentile levels (parameter
          ``fractions`` = percentiles / 100).
        - histogram: with ``temperature=None`` the hard counts (equal to
          ``transform``, zero gradient almost everywhere). With a temperature
          ``tau > 0`` (°C) each pixel is counted in bin ``[a, b)`` with weight
          ``sigmoid((x - a) / tau) - sigmoid((x - b) / tau)``: smooth in the
          input and the ``edges`` parameter, and equal to the hard counts as
          ``tau -> 0`` except for values exactly on an edge (counted 1/2 in
          each neighbouring bin). Pixels further than about ``30 tau`` from
          every edge are counted exactly. ``straight_through=True`` returns
          the hard counts in the forward pass and the soft-count gradient.
        - eigenfaces: an affine map with parameters ``mean`` and ``weight``
          (the components); ``orthogonal=True`` keeps the rows of ``weight``
          orthonormal during training (``torch.nn.utils.parametrizations``).
        - moments: closed form.

        Standardization, the ROI and NaN handling are part of the module.

        Parameters
        ----------
        temperature : float or None, default=None
            Width of the soft-binning kernel (histogram only).
        straight_through : bool, default=False
            Hard forward, soft backward (histogram with a temperature only).
        orthogonal : bool, default=False
            Constrain the eigenfaces to orthonormal rows (eigenfaces only).
        device : str or torch.device, default="cpu"
            Where the module's parameters and buffers live.

        Returns
        -------
        module : skheatmap._embedding_torch.HeatmapEmbedding
            The twin (an ``nn.Module``; it has no train/eval-dependent layers).

        Examples
        --------
        >>> import numpy as np, torch
        >>> from skheatmap.embedding import HeatmapEmbedder
        >>> X = 33 + np.random.default_rng(0).normal(size=(2, 5, 4, 4))
        >>> embedder = HeatmapEmbedder(method="moments").fit(X)
        >>> twin = embedder.to_torch()
        >>> bool(np.allclose(twin(torch.from_numpy(X)).detach().numpy(), embedder.transform(X)))
        True
        """
        check_is_fitted(self)
        if temperature is not None and not (
            isinstance(temperature, numbers.Real) and temperature > 0
        ):
            raise ValueError(f"temperature must be a positive float or None, got {temperature!r}.")
        if straight_through and temperature is None:
            raise ValueError("straight_through=True needs a temperature > 0 for the gradient.")
        if (temperature is not None or straight_through) and self.method != "histogram":
            raise ValueError(
                f"temperature and straight_through apply to method='histogram', not "
                f"{self.method!r}."
            )
        if orthogonal and self.method != "eigenfaces":
            raise ValueError(f"orthogonal applies to method='eigenfaces', not {self.method!r}.")
        from ._embedding_torch import build_twin

        twin = build_twin(
            self, temperature=temperature, straight_through=straight_through, orthogonal=orthogonal
        )
        return twin.to(device)

    def from_torch(self, module):
        """Write the trained parameters of a :meth:`to_torch` twin back into the embedder.

        Percentile levels (``percentiles_``), histogram edges (``bin_edges_``)
        and eigenfaces (``mean_``, ``components_``) are copied from ``module``,
        so that :meth:`transform` computes what the trained twin computes.
        Moments have no parameters. Standardization statistics are not
        trained and stay as fitted.

        Parameters
        ----------
        module : skheatmap._embedding_torch.HeatmapEmbedding
            A twin built by this embedder's :meth:`to_torch`, possibly trained.

        Returns
        -------
        self : HeatmapEmbedder
            The embedder with the module's parameters.

        Examples
        --------
        >>> import numpy as np, torch
        >>> from skheatmap.embedding import HeatmapEmbedder
        >>> X = 33 + np.random.default_rng(0).normal(size=(2, 5, 4, 4))
        >>> embedder = HeatmapEmbedder(percentiles=[10, 90]).fit(X)
        >>> twin = embedder.to_torch()
        >>> with torch.no_grad():
        ...     twin.features.fractions[0] = 0.2
        >>> embedder.from_torch(twin).percentiles_
        array([20., 90.])
        """
        check_is_fitted(self)
        from ._embedding_torch import read_parameters

        for name, value in read_parameters(module, self.method).items():
            expected = getattr(self, name).shape
            if value.shape != expected:
                raise ValueError(
                    f"module's {name} has shape {value.shape}, but the embedder's has shape "
                    f"{expected}; pass a twin built by this embedder's to_torch()."
                )
            setattr(self, name, value.astype(getattr(self, name).dtype))
        if self.method == "percentiles":
            self.percentiles_ = self._checked_levels(self.percentiles_)
        elif self.method == "histogram" and np.any(np.diff(self.bin_edges_) <= 0):
            raise ValueError(
                f"the trained histogram edges are no longer increasing: {self.bin_edges_}; "
                "lower the learning rate of the edges or reparametrize them."
            )
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
