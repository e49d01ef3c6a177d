"""Complexity proxies of a fitted candidate: parameter count, FLOPs estimate, transform latency."""

import math
import time

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline

__all__ = ["complexity_proxies", "count_parameters"]

# fitted attributes that hold data, diagnostics or bookkeeping rather than learned numbers
_NOT_PARAMETERS = frozenset(
    {"X_fit_", "y_fit_", "classes_", "feature_names_in_", "band_frequencies_",
     "loss_curve_", "validation_loss_curve_", "segment_labels_", "history_",
     "margin_", "complexity_"}
)  # fmt: skip


def _is_module(value):
    return hasattr(value, "parameters") and hasattr(value, "state_dict")


def count_parameters(estimator):
    """Number of learned values of a fitted estimator (all steps of a Pipeline).

    Counts the parameters of fitted torch modules and the floating-point
    arrays among fitted attributes (components, edges, whitening matrices,
    band gains...), recursing into fitted sub-estimators; stored training data
    (``X_fit_``) and diagnostics (loss curves) are not parameters.

    Parameters
    ----------
    estimator : fitted estimator

    Returns
    -------
    n_params : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from skheatmap.search import count_parameters
    >>> pca = PCA(n_components=2).fit(np.random.default_rng(0).normal(size=(20, 5)))
    >>> count_parameters(pca)  # components 2x5, mean 5, 3 arrays of 2 per component, noise 1
    22
    """
    if isinstance(estimator, Pipeline):
        return sum(count_parameters(step) for _, step in estimator.steps if _fitted_step(step))
    total = 0
    for name, value in vars(estimator).items():
        if not name.endswith("_") or name.startswith("_") or name in _NOT_PARAMETERS:
            continue
        if _is_module(value):
            total += sum(int(p.numel()) for p in value.parameters())
        elif isinstance(value, BaseEstimator):
            total += count_parameters(value)
        elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
            total += value.size
        elif isinstance(value, float) and name not in ("best_loss_", "threshold_"):
            total += 1
    return total


def _fitted_step(step):
    return step is not None and not isinstance(step, str)


# ---------------------------------------------------------------- FLOPs, per stage


def _embedder_flops(step, shape_in, shape_out):
    T, pixels = shape_in[0], math.prod(shape_in[1:])
    K = shape_out[-1]
    per_frame = {
        "percentiles": pixels * math.log2(max(pixels, 2)),  # a sort
        "histogram": pixels * math.log2(K + 1),  # a binary search per pixel
        "eigenfaces": 2 * pixels * K,
        "moments": 20 * pixels,
    }.get(step.method, float("nan"))
    return T * per_frame


def _wavelet_flops(step, shape_in, shape_out):
    import pywt

    T, K = shape_in[0], math.prod(shape_in[1:])
    taps = pywt.Wavelet(step.wavelet).dec_len
    # analysis + synthesis, two filters each, 2 flops per tap; the decimated levels sum to < 2T
    per_channel = 8 * taps * T * (step.level_ if step.method == "swt" else 1)
    return K * per_channel


def _module_flops(step, shape_in, shape_out):
    """A frame-wise network: 2 flops per weight per output frame."""
    modules = [v for k, v in vars(step).items() if k.endswith("_") and _is_module(v)]
    n_weights = sum(int(p.numel()) for m in modules for p in m.parameters() if p.ndim > 1)
    return 2.0 * n_weights * shape_out[0]


def _soft_dtw_pair_flops(step, shape_in):
    """One soft-DTW comparison of two recordings: ``T²`` cells of distance + soft-min."""
    T, L = shape_in[0], math.prod(shape_in[1:])
    n_dtw = 3 if getattr(step, "distance", "divergence") == "divergence" else 1
    return n_dtw * T * T * (3 * L + 10)


_TRANSFORM_FLOPS = {
    "HeatmapEmbedder": _embedder_flops,
    "WaveletBandReconstructor": _wavelet_flops,
    "NonlinearICAEncoder": _module_flops,
}
_FINAL_FLOPS = {"SoftDTWPairClassifier": _soft_dtw_pair_flops}


def _recording(data):
    """Shape ``(T, ...)`` of one recording; 2-D data are recordings of one frame."""
    return data.shape[1:] if data.ndim >= 3 else (1, *data.shape[1:])


def complexity_proxies(estimator, X):
    """Parameter count, FLOPs per recording and transform latency of a fitted candidate.

    The transformer steps are run on ``X`` (timed) to learn each step's
    input and output shapes; FLOPs are nominal per-stage counts (a sort per
    frame for percentiles, a filter bank for wavelets, 2 flops per weight for
    networks) for one recording, plus one soft-DTW pair comparison for a
    soft-DTW final step. An unknown stage makes the FLOPs NaN.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
    X : ndarray of shape (n, T, ...)
        Recordings (e.g. a validation fold).

    Returns
    -------
    proxies : dict
        ``n_params``, ``flops`` (per recording) and ``transform_latency``
        (seconds per recording through the transformer steps).
    """
    if isinstance(estimator, Pipeline):
        steps = [s for _, s in estimator.steps if _fitted_step(s)]
    else:
        steps = [estimator]
    transformers, final = (steps, None) if hasattr(steps[-1], "transform") else (
        steps[:-1], steps[-1]
    )
    flops, elapsed, data = 0.0, 0.0, X
    for step in transformers:
        start = time.perf_counter()
        out = step.transform(data)
        elapsed += time.perf_counter() - start
        rule = _TRANSFORM_FLOPS.get(type(step).__name__)
        flops += float("nan") if rule is None else rule(step, _recording(data), _recording(out))
        data = out
    if final is not None:
        rule = _FINAL_FLOPS.get(type(final).__name__)
        flops += float("nan") if rule is None else rule(final, _recording(data))
    return {
        "n_params": count_parameters(estimator),
        "flops": flops,
        "transform_latency": elapsed / max(X.shape[0], 1),
    }
