"""Input checks and shape conventions shared by every estimator.

This is the only module that interprets array shapes. The conventions are
tslearn-compatible and channel-last:

========  ======================  =============================================
ndim      shape                   meaning
========  ======================  =============================================
2         ``(n, F)``              ``n`` recordings of length ``T = 1`` (frames)
3         ``(n, T, F)``           ``n`` recordings of ``T`` frames, ``F`` values
4         ``(n, T, I, J)``        ``n`` recordings of ``T`` heatmaps ``I x J``
========  ======================  =============================================

``n_features_in_`` is the number of values per frame, ``prod(X.shape[2:])``
(``X.shape[1]`` for 2-D input).

A frame whose values are all NaN is a *padding* frame: variable-length
recordings are NaN-padded at the end, as in tslearn. A NaN inside a frame that
has finite values is a *dead pixel*; the embedding stage ignores those.
"""

import numbers

import numpy as np
from sklearn.utils import assert_all_finite
from sklearn.utils.validation import check_array, validate_data

__all__ = [
    "check_frame_shape",
    "lengths_of",
    "padding_frames",
    "to_dataset",
    "validate_recordings",
    "as_series",
    "restore_ndim",
]

_ALLOWED_NDIM = (2, 3, 4)
# Whole-array checks on a memory-mapped input would allocate masks as large as
# the data; they run on blocks of at most this many bytes instead.
_BLOCK_BYTES = 1 << 24


def _frame_size(X):
    """Number of values in one frame of ``X`` (the sklearn ``n_features_in_``)."""
    return int(np.prod(X.shape[2:])) if X.ndim > 2 else int(X.shape[1])


def validate_recordings(
    estimator,
    X,
    *,
    reset=True,
    allowed_ndim=_ALLOWED_NDIM,
    dtype=(np.float64, np.float32),
    allow_nan=True,
    copy=False,
):
    """Validate recordings for ``estimator`` and set or check ``n_features_in_``.

    A wrapper around :func:`sklearn.utils.validation.validate_data` for the
    2-D case and :func:`~sklearn.utils.check_array` for N-D input, so that
    ``n_features_in_`` always counts the values of one frame rather than the
    time axis.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator being fitted or applied; ``n_features_in_`` is set on it
        when ``reset`` is true and checked against it otherwise.
    X : array-like of shape (n, F), (n, T, F) or (n, T, I, J)
        The recordings.
    reset : bool, default=True
        True in ``fit``; False in ``transform``/``predict``.
    allowed_ndim : tuple of int, default=(2, 3, 4)
        The numbers of dimensions the caller accepts.
    dtype : type or tuple of types, default=(np.float64, np.float32)
        Accepted dtypes; other inputs are converted to the first one.
    allow_nan : bool, default=True
        Whether NaN (padding frames, dead pixels) is accepted. Infinity never is.
    copy : bool, default=False
        Whether to force a copy.

    Returns
    -------
    X : ndarray
        The validated array, with its original number of dimensions.

    Raises
    ------
    ValueError
        If the number of dimensions is not allowed, the array is empty, has
        infinite values, or its frame size differs from the one seen in ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from skheatmap._validation import validate_recordings
    >>> est = BaseEstimator()
    >>> X = validate_recordings(est, np.zeros((3, 10, 4, 5)))
    >>> est.n_features_in_
    20
    """
    if not hasattr(X, "ndim"):
        X = np.asarray(X)  # lists and other array-likes: their ndim after conversion
    ndim = X.ndim
    if ndim not in allowed_ndim:
        expected = " or ".join(f"{d}-D" for d in allowed_ndim)
        raise ValueError(
            f"{type(estimator).__name__} expects {expected} input "
            f"({_describe_ndim(allowed_ndim)}), got an array with {ndim} dimension(s)"
            f"{' of shape ' + str(np.shape(X)) if ndim else ''}. "
            "Reshape your data, or use skheatmap.to_dataset to stack recordings."
        )
    if getattr(getattr(X, "dtype", None), "kind", "") == "c":
        # sklearn's own message would print the whole array
        raise ValueError(
            f"Complex data not supported: {type(estimator).__name__} got X of dtype "
            f"{X.dtype}; pass real temperatures (e.g. np.abs(X) or X.real)."
        )
    if ndim == 2:
        X = validate_data(
            estimator, X, reset=reset, dtype=dtype, ensure_all_finite=False, copy=copy
        )
        _check_finite_in_blocks(X, allow_nan, estimator)
        return X
    X = check_array(
        X,
        allow_nd=True,
        ensure_2d=False,
        dtype=dtype,
        ensure_all_finite=False,
        copy=copy,
        input_name="X",
        estimator=estimator,
    )
    if X.shape[1] == 0 or _frame_size(X) == 0:
        raise ValueError(
            f"Found array with shape {X.shape} while {type(estimator).__name__} needs at "
            "least one frame and one value per frame."
        )
    _check_finite_in_blocks(X, allow_nan, estimator)
    n_features = _frame_size(X)
    if reset:
        estimator.n_features_in_ = n_features
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif hasattr(estimator, "n_features_in_") and n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return X


def _check_finite_in_blocks(X, allow_nan, estimator):
    """sklearn's finiteness check (same messages), one bounded block at a time."""
    for _, _, block in _blocks(X):
        assert_all_finite(
            block, allow_nan=allow_nan, estimator_name=type(estimator).__name__, input_name="X"
        )


def _blocks(X):
    """Yield ``(rows, frames, X[rows, frames])`` blocks of at most ``_BLOCK_BYTES``.

    Blocks hold whole recordings when a recording fits in a block, else
    consecutive frames of one recording; frames are visited in time order.
    """
    n, T = X.shape[:2]
    frame_bytes = int(np.prod(X.shape[2:], dtype=np.int64)) * X.itemsize
    frames_per_block = max(1, _BLOCK_BYTES // max(frame_bytes, 1))
    if T <= frames_per_block:
        step = max(1, frames_per_block // max(T, 1))
        for start in range(0, n, step):
            rows = slice(start, min(start + step, n))
            yield rows, slice(0, T), X[rows]
        return
    for i in range(n):
        for start in range(0, T, frames_per_block):
            frames = slice(start, min(start + frames_per_block, T))
            yield slice(i, i + 1), frames, X[i : i + 1, frames]


def _describe_ndim(allowed_ndim):
    names = {2: "(n, F) frames", 3: "(n, T, F) series", 4: "(n, T, I, J) heatmaps"}
    return ", ".join(names[d] for d in allowed_ndim)


def as_series(X):
    """View validated recordings as ``(n, T, F)`` series, frames flattened.

    Parameters
    ----------
    X : ndarray of shape (n, F), (n, T, F) or (n, T, I, J)
        Validated recordings.

    Returns
    -------
    series : ndarray of shape (n, T, F)
        A view when possible; 2-D input becomes ``(n, 1, F)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap._validation import as_series
    >>> as_series(np.zeros((2, 5, 3, 4))).shape
    (2, 5, 12)
    >>> as_series(np.zeros((2, 7))).shape
    (2, 1, 7)
    """
    if X.ndim == 2:
        return X[:, np.newaxis, :]
    return X.reshape(X.shape[0], X.shape[1], -1)


def restore_ndim(series, X):
    """Give ``(n, T, K)`` output the layout of the input ``X``.

    2-D input (recordings of length one) gets 2-D output ``(n, K)``; any other
    input keeps the ``(n, T, K)`` series layout.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap._validation import restore_ndim
    >>> restore_ndim(np.zeros((4, 1, 3)), np.zeros((4, 9))).shape
    (4, 3)
    """
    if X.ndim == 2:
        return series[:, 0, :]
    return series


def padding_frames(X):
    """Boolean mask of the padding frames of each recording.

    A padding frame is one whose values are all NaN. Only trailing padding is
    padding; an all-NaN frame followed by a finite frame is a dropped frame
    inside the recording and is not marked here.

    Parameters
    ----------
    X : ndarray of shape (n, T, ...) with ndim >= 2

    Returns
    -------
    mask : ndarray of bool, shape (n, T)

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap._validation import padding_frames
    >>> X = np.ones((1, 4, 2))
    >>> X[0, 2:] = np.nan
    >>> padding_frames(X)
    array([[False, False,  True,  True]])
    """
    lengths = lengths_of(X)
    return np.arange(X.shape[1])[np.newaxis, :] >= lengths[:, np.newaxis]


def lengths_of(X):
    """Number of frames of each recording, trailing all-NaN padding excluded.

    The inverse of :func:`to_dataset`: ``X[i, :lengths_of(X)[i]]`` is the
    i-th recording that was padded. Equivalent to tslearn's ``ts_size``.

    Parameters
    ----------
    X : array-like of shape (n, T, ...)
        NaN-padded recordings (3-D series or 4-D heatmaps).

    Returns
    -------
    lengths : ndarray of int, shape (n,)

    Examples
    --------
    >>> from skheatmap import to_dataset, lengths_of
    >>> X = to_dataset([[1.0, 2.0, 3.0], [4.0, 5.0]])
    >>> lengths_of(X)
    array([3, 2])
    """
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(
            f"lengths_of expects recordings of shape (n, T, ...), got shape {X.shape}."
        )
    lengths = np.zeros(X.shape[0], dtype=np.intp)
    for rows, frames, block in _blocks(X):
        finite_frame = ~np.isnan(block.reshape(block.shape[0], block.shape[1], -1)).all(axis=2)
        # blocks come in time order, so a later block's last finite frame wins
        last = frames.stop - np.argmax(finite_frame[:, ::-1], axis=1)
        lengths[rows] = np.where(finite_frame.any(axis=1), last, lengths[rows])
    return lengths


def to_dataset(recordings, *, max_length=None, dtype=None):
    """Stack recordings of possibly different lengths into one NaN-padded array.

    Parameters
    ----------
    recordings : list of array-like
        Each of shape ``(T_i,)`` (univariate series), ``(T_i, F)`` or
        ``(T_i, I, J)``; every recording must share the shape after the time
        axis. An array already of shape ``(n, T, ...)`` is returned as an array.
    max_length : int, optional
        Length of the padded time axis; defaults to the longest recording.
        A recording longer than ``max_length`` is an error, never truncated.
    dtype : dtype, optional
        Output floating dtype; defaults to float32 when every recording is
        float32, else float64.

    Returns
    -------
    X : ndarray of shape (n, max_length, ...)
        Recordings padded at the end with all-NaN frames (tslearn layout).

    Examples
    --------
    >>> from skheatmap import to_dataset
    >>> to_dataset([[1.0, 2.0], [3.0]])[:, :, 0]
    array([[ 1.,  2.],
           [ 3., nan]])
    """
    if isinstance(recordings, np.ndarray) and recordings.ndim >= 3:
        recordings = list(recordings)
    if not isinstance(recordings, list | tuple) or len(recordings) == 0:
        raise TypeError(
            "recordings must be a non-empty list of arrays of shape (T_i, ...), got "
            f"{type(recordings).__name__}."
        )
    arrays = [np.asarray(r) for r in recordings]
    for i, a in enumerate(arrays):
        if a.dtype.kind not in "fiub":
            raise TypeError(f"recording {i} has non-numeric dtype {a.dtype}.")
        if a.ndim == 0 or a.shape[0] == 0:
            raise ValueError(f"recording {i} is empty (shape {a.shape}); remove it.")
    arrays = [a[:, np.newaxis] if a.ndim == 1 else a for a in arrays]
    frame_shape = arrays[0].shape[1:]
    for i, a in enumerate(arrays):
        if a.shape[1:] != frame_shape:
            raise ValueError(
                f"recording {i} has frames of shape {a.shape[1:]}, but recording 0 has "
                f"{frame_shape}; every recording must share the frame shape."
            )
    longest = max(a.shape[0] for a in arrays)
    if max_length is None:
        max_length = longest
    elif not isinstance(max_length, numbers.Integral) or max_length < longest:
        raise ValueError(
            f"max_length={max_length!r} is shorter than the longest recording ({longest} "
            "frames); recordings are never truncated. Use max_length >= "
            f"{longest} or None."
        )
    if dtype is None:
        all_float32 = all(a.dtype == np.float32 for a in arrays)
        dtype = np.float32 if all_float32 else np.float64
    X = np.full((len(arrays), int(max_length), *frame_shape), np.nan, dtype=dtype)
    for i, a in enumerate(arrays):
        X[i, : a.shape[0]] = a
    return X


def check_frame_shape(frame_shape, n_features, *, name="frame_shape"):
    """Validate a user-given ``(I, J)`` frame shape against a frame size.

    Examples
    --------
    >>> from skheatmap._validation import check_frame_shape
    >>> check_frame_shape((4, 5), 20)
    (4, 5)
    """
    try:
        shape = tuple(int(s) for s in frame_shape)
    except TypeError:
        raise TypeError(f"{name} must be a pair (I, J) of ints, got {frame_shape!r}.") from None
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"{name} must be a pair (I, J) of positive ints, got {frame_shape!r}.")
    if shape[0] * shape[1] != n_features:
        raise ValueError(
            f"{name}={shape} has {shape[0] * shape[1]} pixels but the frames have "
            f"{n_features} values; pass the frame shape the data was flattened from."
        )
    return shape
