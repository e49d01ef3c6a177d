"""Denoising scores without ground truth: inject known transients, measure their recovery.

Real recordings have no noise-free twin to compute :func:`band_snr` against.
Instead, :func:`inject_transients` adds raised-cosine bumps of known onset,
duration and amplitude to the recordings, and :func:`injection_recovery`
compares what a fitted transformer ``f`` makes of them, ``f(X + s) − f(X)``,
with the injection as a reference stage ``g`` sees it, ``g(X + s) − g(X)``
(``s`` itself without a reference). For a linear ``f`` the recording cancels
and the score is that of ``f`` on the injection alone; for a nonlinear one
(thresholding, an encoder) it depends on the recording the transient rides on.

Whether the transients can still be *found* in the output is the recall of
the injected events: :func:`injection_recall_scorer`, or
:func:`detect_transients` and :func:`event_detection_scores` on the injected
event table.
"""

import functools
import numbers

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from ._bumps import raised_cosine_bump
from ._denoising_metrics import band_mse, band_snr
from ._event_metrics import detect_transients, event_detection_scores
from ._metric_inputs import check_padded_recordings
from ._validation import lengths_of

__all__ = ["inject_transients", "injection_recall_scorer", "injection_recovery"]

_INJECTION_PARAMETERS = {
    "amplitude": [Interval(numbers.Real, None, None, closed="neither")],
    "fs": [Interval(numbers.Real, 0, None, closed="neither")],
    "n_events": [Interval(numbers.Integral, 1, None, closed="left")],
    "duration_s": [Interval(numbers.Real, 0, None, closed="neither")],
    "footprint": ["array-like", None],
    "random_state": ["random_state"],
}


@validate_params({"X": ["array-like"], **_INJECTION_PARAMETERS}, prefer_skip_nested_validation=True)
def inject_transients(
    X, *, amplitude, fs, n_events=2, duration_s=1.0, footprint=None, random_state=None
):
    """Add transients of known onset, duration and amplitude to recordings.

    Each recording gets ``n_events`` raised-cosine bumps
    ``amplitude · sin²(π (t + ½) / d)``, ``t = 0 … d − 1``, of ``d`` frames,
    weighted by a spatial footprint (the transients of
    :func:`~skheatmap.datasets.make_thermal_faces` have the same shape). The
    frames of a recording (padding excluded) are cut into ``n_events`` equal
    slots and each bump lies at a random place inside its own slot, so bumps
    never overlap.

    Parameters
    ----------
    X : array-like of shape (n, T, F) or (n, T, I, J)
        Recordings, NaN-padded at the end; NaN values (padding, dead pixels)
        stay NaN.
    amplitude : float
        Peak change in the units of ``X`` (°C for thermal recordings), reached
        exactly when ``d`` is odd; negative values cool.
    fs : float
        Frame rate in Hz.
    n_events : int, default=2
        Transients per recording.
    duration_s : float, default=1.0
        Length of each transient in seconds (at least 2 frames).
    footprint : array-like of shape ``X.shape[2:]`` or ``(n, *X.shape[2:])``, optional
        Weight of the bump at each value of a frame, shared by all recordings
        or one per recording (for example a facial-region mask). By default 1
        everywhere: the whole frame changes.
    random_state : int, RandomState instance or None, default=None
        Draws the onsets.

    Returns
    -------
    injected : :class:`~sklearn.utils.Bunch`
        - ``X`` : ndarray like ``X``, the recordings with the transients;
        - ``injection`` : ndarray like ``X``, what was added (0 on padding);
        - ``events`` : dict of ndarray, the table ``recording``, ``onset`` and
          ``duration`` (frames), ``amplitude``, ``onset_s`` and
          ``duration_s``, laid out as ``make_thermal_faces(...).events``.

    Raises
    ------
    ValueError
        If ``X`` holds an infinity, or a recording is too short for
        ``n_events`` transients of ``duration_s``.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.metrics import inject_transients
    >>> injected = inject_transients(np.zeros((1, 40, 3)), amplitude=0.5, fs=4.0,
    ...                              n_events=2, duration_s=1.25, random_state=0)
    >>> injected.events["onset"].tolist(), injected.events["duration"].tolist()
    ([12, 35], [5, 5])
    >>> injected.X[0, 14].tolist()  # the middle of the first bump, in every channel
    [0.5, 0.5, 0.5]
    """
    X = np.asarray(X, dtype=float)
    if X.ndim not in (3, 4):
        raise ValueError(f"X must have shape (n, T, F) or (n, T, I, J), got {X.shape}.")
    if np.isinf(X).any():
        i, t = np.argwhere(np.isinf(X.reshape(X.shape[0], X.shape[1], -1)).any(axis=2))[0]
        raise ValueError(
            f"X: recording {i} has an infinite value at frame {t}; remove or clip infinities "
            "before injecting."
        )
    weights = _footprint(footprint, X.shape)
    rng = check_random_state(random_state)
    d = max(2, int(round(duration_s * fs)))
    bump = amplitude * raised_cosine_bump(d)
    bump = bump.reshape(d, *[1] * (X.ndim - 2))
    injection = np.zeros_like(X)
    recordings, onsets = [], []
    for i, length in enumerate(lengths_of(X)):
        slot = length // n_events
        if slot < d:
            raise ValueError(
                f"recording {i} has {length} frames, too few for n_events={n_events} "
                f"transients of {d} frames (duration_s={duration_s} at fs={fs} Hz; needs >= "
                f"{n_events * d}); lower n_events or duration_s."
            )
        for k in range(n_events):
            onset = k * slot + int(rng.randint(slot - d + 1))
            injection[i, onset : onset + d] = bump * weights[i]
            recordings.append(i)
            onsets.append(onset)
    onset = np.array(onsets, dtype=np.intp)
    duration = np.full(onset.size, d, dtype=np.intp)
    events = {
        "recording": np.array(recordings, dtype=np.intp),
        "onset": onset,
        "duration": duration,
        "amplitude": np.full(onset.size, float(amplitude)),
        "onset_s": onset / fs,
        "duration_s": duration / fs,
    }
    return Bunch(X=X + injection, injection=injection, events=events)


def _footprint(footprint, shape):
    """The footprint as one weight array per recording, ``(n, *frame_shape)``."""
    n, frame = shape[0], shape[2:]
    if footprint is None:
        return np.ones((n, *frame))
    weights = np.asarray(footprint, dtype=float)
    if weights.shape not in (frame, (n, *frame)):
        raise ValueError(
            f"footprint must have the frame shape {frame} or one frame per recording "
            f"{(n, *frame)}, got {weights.shape}."
        )
    if not np.isfinite(weights).all():
        raise ValueError("footprint must be finite weights; got NaN or inf.")
    return np.broadcast_to(weights, (n, *frame))


def _response(step, X, X_injected):
    """What ``step`` makes of the injection, ``step(X_injected) − step(X)``, as (n, T, K)."""
    if step is None:
        change = X_injected - X
    else:
        change = np.asarray(step.transform(X_injected), dtype=float) - np.asarray(
            step.transform(X), dtype=float
        )
    return change.reshape(change.shape[0], change.shape[1], -1)


def injection_recovery(transformer, X, X_injected, *, fs, band, reference=None):
    """Band SNR and MSE with which a fitted transformer passes on injected transients.

    The recovered injection ``transformer(X_injected) − transformer(X)`` is
    scored with :func:`band_snr` and :func:`band_mse` against the target
    ``reference(X_injected) − reference(X)``.

    Parameters
    ----------
    transformer : fitted transformer
        Its ``transform`` output, of shape (n, T, K) (frames are flattened
        otherwise), is scored.
    X : array-like of shape (n, T, ...)
        Recordings without the injection.
    X_injected : array-like like X
        The same recordings with transients, ``inject_transients(X, ...).X``.
    fs : float
        Frame rate in Hz.
    band : tuple of float
        ``(low, high)`` in Hz, inclusive.
    reference : fitted transformer, optional
        The stages whose view of the injection is the target. By default the
        injection itself, ``X_injected − X``, which suits a transformer that
        keeps its input's layout (a
        :class:`~skheatmap.WaveletBandReconstructor` on channel series). To
        score the last stage of a pipeline, pass ``transformer=pipeline``
        and ``reference=pipeline[:-1]``.

    Returns
    -------
    scores : dict
        ``snr_db`` and ``mse``, ndarrays of shape (n, K): the band SNR in dB
        (``+inf`` for an exact recovery) and the band MSE of the recovered
        injection.

    Raises
    ------
    ValueError
        If the outputs differ in shape or padding, or hold NaN before their
        padding (a dead pixel compared without a ``reference`` that ignores
        it) or infinities.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from skheatmap.metrics import inject_transients, injection_recovery
    >>> X = np.random.default_rng(0).normal(size=(3, 64, 2))
    >>> injected = inject_transients(X, amplitude=1.0, fs=8.0, random_state=0)
    >>> halve = FunctionTransformer(lambda x: 0.5 * x)  # keeps half of each transient
    >>> scores = injection_recovery(halve, X, injected.X, fs=8.0, band=(0.1, 2.0))
    >>> np.unique(scores["snr_db"].round(2))  # 10·log10(1 / 0.5²)
    array([6.02])
    """
    X = np.asarray(X, dtype=float)
    X_injected = np.asarray(X_injected, dtype=float)
    if X.shape != X_injected.shape:
        raise ValueError(f"X has shape {X.shape} but X_injected has {X_injected.shape}.")
    target = _response(reference, X, X_injected)
    recovered = _response(transformer, X, X_injected)
    if target.shape != recovered.shape:
        raise ValueError(
            f"the transformer's output has shape {recovered.shape} but the reference's has "
            f"{target.shape}; pass as reference the stages whose output the transformer's "
            "should be compared with."
        )
    check_padded_recordings(target, "the injection as the reference sees it")
    check_padded_recordings(recovered, "the injection recovered by the transformer")
    return {
        "snr_db": band_snr(target, recovered, fs, band),
        "mse": band_mse(target, recovered, fs, band),
    }


def _encoded(estimator, X):
    """The estimator's output: ``transform`` of a pipeline, ``encode`` of a pair classifier."""
    transform = getattr(estimator, "transform", None) or estimator.encode
    return np.asarray(transform(X), dtype=float)


def _injection_recall(estimator, X, y=None, *, tolerance_s, detector, **injection):
    injected = inject_transients(X, **injection)
    encoded = _encoded(estimator, injected.X)
    if encoded.shape[1] != injected.X.shape[1]:
        raise ValueError(
            f"injection recall needs outputs on the recordings' time axis: {injected.X.shape[1]} "
            f"frames went in but {encoded.shape[1]} came out (temporal downsampling, e.g. an "
            "encoder's stride or window). Score a pipeline that keeps every frame."
        )
    found = detect_transients(encoded, injection["fs"], **detector)
    scores = event_detection_scores(
        injected.events, found, tolerance_s=tolerance_s, fs=injection["fs"]
    )
    return scores["recall"]


@validate_params(
    {**_INJECTION_PARAMETERS, "tolerance_s": [Interval(numbers.Real, 0, None, closed="left")],
     "detector": [dict, None]},
    prefer_skip_nested_validation=True,
)  # fmt: skip
def injection_recall_scorer(
    *, fs, amplitude, n_events=2, duration_s=1.0, footprint=None, tolerance_s=1.0,
    detector=None, random_state=0,
):  # fmt: skip
    """An sklearn scorer: recall of transients injected into ``X``, found in the output.

    ``scorer(estimator, X, y=None)`` adds transients with
    :func:`inject_transients`, runs the estimator's ``transform`` (a pipeline
    of stages) or ``encode`` (a pair classifier), detects transients with
    :func:`detect_transients` and returns the recall of the injected ones
    (:func:`event_detection_scores`). Greater is better. Precision is not
    scored: genuine transients of the recordings would count as false
    detections.

    Parameters
    ----------
    fs, amplitude, n_events, duration_s, footprint
        As in :func:`inject_transients`.
    tolerance_s : float, default=1.0
        Largest onset error in seconds of a detection.
    detector : dict, optional
        Keyword arguments of :func:`detect_transients`.
    random_state : int, RandomState instance or None, default=0
        Draws the onsets; an int gives every call (every candidate of a
        search) the same injections.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from skheatmap.metrics import injection_recall_scorer
    >>> X = np.random.default_rng(0).normal(scale=0.1, size=(4, 80, 2))
    >>> scorer = injection_recall_scorer(fs=4.0, amplitude=2.0, duration_s=1.5)
    >>> scorer(FunctionTransformer().fit(X), X)
    1.0
    """
    return functools.partial(
        _injection_recall, fs=fs, amplitude=amplitude, n_events=n_events, duration_s=duration_s,
        footprint=footprint, random_state=random_state, tolerance_s=tolerance_s,
        detector=detector or {},
    )  # fmt: skip
