"""The evaluation protocol in one call: :func:`evaluate`.

``evaluate`` fits a clone of a pipeline (stages ending in a pair classifier)
on some subjects and measures, on the recordings of the *other* subjects:

- pair classification (accuracy, precision, recall, ROC AUC, average
  precision, Brier score, ECE) of every pair of held-out recordings;
- alignment: mean soft-lag correlation of the encoded trajectories within and
  between segments, and their gap;
- event detection (when the true transients are given) with the documented
  detector of :func:`~skheatmap.metrics.detect_transients`;
- source recovery (when the true sources are given): the mean correlation
  coefficient;
- denoising (when the pipeline has a
  :class:`~skheatmap.wavelet.WaveletBandReconstructor`): with the clean
  recordings, band SNR and MSE of the channel series before and after the
  wavelet stage, in the emotion band and over all frequencies; without them,
  the same scores of transients injected into the held-out recordings
  (:func:`~skheatmap.metrics.inject_transients`) as recovered by the wavelet
  stage, and the recall of those transients in its output;
- generalisation: training and held-out pair ROC AUC and their gap, and,
  with ``cv``, cross-subject (and cross-session) cross-validation;
- complexity: :func:`~skheatmap.search.complexity_proxies` (learned values,
  FLOPs and transform latency per recording) and the fit time.

The result is an :class:`EvaluationReport`: a ``dict`` of sections of scalar
metrics (JSON-ready), with the arrays behind them in ``report.data`` for the
figures of :mod:`skheatmap.plotting`.
"""

import functools
import inspect
import json
import math
import numbers
import time

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GroupShuffleSplit
from sklearn.pipeline import Pipeline

from ._alignment_metrics import alignment_report
from ._denoising_metrics import band_mse, band_power, band_snr
from ._event_metrics import detect_transients, event_detection_scores
from ._generalisation_metrics import generalisation_report, validation_gap
from ._injection_metrics import inject_transients, injection_recovery
from ._metric_inputs import check_fs
from ._pair_metrics import pair_classification_report
from ._source_metrics import mean_correlation_coefficient
from .pairs import label_pairs

__all__ = ["EvaluationReport", "evaluate"]

# Transients injected when no clean recordings are given: the size (°C for
# thermal recordings) and length of make_thermal_faces' transients.
_DEFAULT_INJECTION = {"amplitude": 0.5, "n_events": 2, "duration_s": 1.0}
# A channel whose share of the injection has less band power than this
# fraction of the most reached channel's (an amplitude ratio of 1e-6) only
# holds round-off: its SNR would be noise over noise.
_UNREACHED = 1e-12


class EvaluationReport(dict):
    """Metrics of :func:`evaluate`: ``{section: {metric: value}}`` plus arrays in ``data``.

    A plain ``dict`` (so ``report["pairs"]["roc_auc"]`` works and it
    serialises to JSON) with tidy views: :meth:`to_records` gives one row per
    metric, :meth:`to_frame` the same as a pandas DataFrame (pandas is not
    required otherwise).

    Attributes
    ----------
    data : dict
        The arrays the metrics were computed from (pair labels and
        probabilities, encoded trajectories, detected events...), used by
        :mod:`skheatmap.plotting`.

    Examples
    --------
    >>> from skheatmap.evaluation import EvaluationReport
    >>> report = EvaluationReport({"pairs": {"roc_auc": 0.9, "accuracy": 0.8}})
    >>> report.to_records()[0]
    {'section': 'pairs', 'metric': 'roc_auc', 'value': 0.9}
    >>> print(report.summary())
    pairs
      roc_auc   0.9
      accuracy  0.8
    """

    def __init__(self, sections=(), data=None):
        super().__init__(sections)
        self.data = {} if data is None else data

    def __reduce__(self):
        return (type(self), (dict(self), self.data))

    def to_records(self):
        """One ``{"section", "metric", "value"}`` row per scalar metric."""
        return [
            {"section": section, "metric": metric, "value": value}
            for section, metrics in self.items()
            for metric, value in metrics.items()
            if _is_scalar(value)
        ]

    def to_frame(self):
        """The records as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "EvaluationReport.to_frame needs pandas; install it or use to_records()."
            ) from None
        return pd.DataFrame.from_records(self.to_records(), columns=["section", "metric", "value"])

    def to_json(self, **kwargs):
        """JSON text of the metrics; NaN and infinities become ``null``."""
        return json.dumps(_json_ready(dict(self)), allow_nan=False, **kwargs)

    def summary(self):
        """Aligned plain-text table of the scalar metrics, one section per block."""
        lines = []
        for section, metrics in self.items():
            scalars = {k: v for k, v in metrics.items() if _is_scalar(v)}
            if not scalars:
                continue
            width = max(map(len, scalars))
            lines.append(section)
            lines.extend(f"  {k:<{width}}  {_format(v)}" for k, v in scalars.items())
        return "\n".join(lines)


def _is_scalar(value):
    return isinstance(value, (numbers.Number, str, bool, type(None)))


def _format(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


# ---------------------------------------------------------------- the estimator's parts


def _final_step(estimator):
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def _check_pair_model(estimator):
    if not hasattr(_final_step(estimator), "predict_pair_proba"):
        raise TypeError(
            "evaluate needs a pair classifier (an estimator with predict_pair_proba, such as "
            "SoftDTWPairClassifier), alone or as the last step of a Pipeline; got "
            f"{type(_final_step(estimator)).__name__}."
        )


def _fit_params(estimator, groups):
    """Route ``groups`` to the final step's ``fit`` when it takes them."""
    final = _final_step(estimator)
    if "groups" not in inspect.signature(final.fit).parameters:
        return {}
    if isinstance(estimator, Pipeline):
        return {f"{estimator.steps[-1][0]}__groups": groups}
    return {"groups": groups}


def _classifier_input(fitted, X):
    """What the final step sees: ``X`` through every step before it."""
    return fitted[:-1].transform(X) if isinstance(fitted, Pipeline) else X


def _wavelet_index(fitted):
    from .wavelet import WaveletBandReconstructor

    if not isinstance(fitted, Pipeline):
        return None
    for index, (_, step) in enumerate(fitted.steps):
        if isinstance(step, WaveletBandReconstructor):
            return index
    return None


# ---------------------------------------------------------------- the sections


def _pair_section(model, Xc_test, y_test, Z_test):
    from .softdtw import soft_dtw_pairwise

    pairs, pair_labels = label_pairs(y_test)
    proba = model.predict_pair_proba(Xc_test, pairs)[:, 1]
    distances = soft_dtw_pairwise(
        Z_test, gamma=model.gamma, divergence=model.distance == "divergence",
        band=model.band, normalize=model.normalize,
    )[pairs[:, 0], pairs[:, 1]]  # fmt: skip
    report = pair_classification_report(
        pair_labels, proba, threshold=getattr(model, "threshold_", 0.5)
    )
    report["n_pairs"] = int(pair_labels.size)
    report["n_positive_pairs"] = int(pair_labels.sum())
    data = {"pairs": pairs, "pair_labels": pair_labels, "pair_proba": proba,
            "pair_distances": np.asarray(distances)}  # fmt: skip
    return report, data


def _events_of(events, rows):
    """The events of the recordings ``rows``, renumbered ``0 .. len(rows) - 1``."""
    recording = np.asarray(events["recording"])
    position = {int(r): k for k, r in enumerate(rows)}
    keep = np.isin(recording, rows)
    table = {name: np.asarray(column)[keep] for name, column in events.items()}
    table["recording"] = np.array([position[int(r)] for r in recording[keep]], dtype=np.intp)
    return table


def _stages_around_wavelet(fitted):
    """The stages before the wavelet stage (None if there are none) and the wavelet stage."""
    index = _wavelet_index(fitted)
    return (fitted[:index] if index else None), fitted.steps[index][1]


def _channels(before_stage, X):
    return X if before_stage is None else before_stage.transform(X)


def _channel_data(before_stage, channels_before, channels_after):
    data = {"channels_before": channels_before, "channels_after": channels_after}
    try:
        data["channel_names"] = list(before_stage.get_feature_names_out())
    except (AttributeError, ValueError, TypeError):  # no stage, or one without feature names
        pass
    return data


def _band_limits(band, fs):
    return {"band": band, "full": (0.0, fs / 2)}


def _mean_scores(snr, mse, key):
    """Mean SNR (dB) and MSE as ``snr_db_<key>`` and ``mse_<key>``, and the SNRs left out.

    An infinite SNR (a channel reproduced exactly, or one whose reference has
    no power in the band) would make the mean infinite; it is left out and
    counted. When every SNR is the same infinity, that is the mean.
    """
    finite = np.isfinite(snr)
    if finite.any():
        mean_db, dropped = float(snr[finite].mean()), int(snr.size - finite.sum())
    elif np.unique(snr).size == 1:
        mean_db, dropped = float(snr.flat[0]), 0
    else:  # exact channels and silent references, nothing finite to average
        mean_db, dropped = float("nan"), int(snr.size)
    return {f"snr_db_{key}": mean_db, f"mse_{key}": float(mse.mean())}, dropped


def _denoising_section(fitted, X_test, X_clean_test, fs, band):
    """Band SNR and MSE of the channels before and after Ω against the clean channels."""
    before_stage, wavelet = _stages_around_wavelet(fitted)
    reference = _channels(before_stage, X_clean_test)
    noisy = _channels(before_stage, X_test)
    denoised = wavelet.transform(noisy)
    section = {"ground_truth": "clean recordings", "band_low_hz": band[0],
               "band_high_hz": band[1], "n_infinite_snr": 0}  # fmt: skip
    for name, limits in _band_limits(band, fs).items():
        for stage, estimate in (("before", noisy), ("after", denoised)):
            scores, dropped = _mean_scores(band_snr(reference, estimate, fs, limits),
                                           band_mse(reference, estimate, fs, limits),
                                           f"{stage}_{name}")  # fmt: skip
            section.update(scores)
            section["n_infinite_snr"] += dropped
    data = {"channels_clean": reference, **_channel_data(before_stage, noisy, denoised)}
    return section, data


def _central_footprint(frame_shape):
    """A Gaussian warming centred on a heatmap frame (σ: a sixth of its smaller side).

    Unlike a change of the whole frame, it moves every moment of the frame
    (variance, skewness...), not only its mean. Frames given flat, as
    ``(n, T, F)``, have no geometry and change as a whole (``None``).
    """
    if len(frame_shape) != 2:
        return None
    rows, columns = np.indices(frame_shape)
    centre_row, centre_column = (np.asarray(frame_shape) - 1) / 2
    sigma = min(frame_shape) / 6
    return np.exp(-((rows - centre_row) ** 2 + (columns - centre_column) ** 2) / (2 * sigma**2))


def _injected_denoising_section(fitted, X_test, fs, band, injection, random_state, detect, score):
    """Band SNR and MSE with which Ω recovers injected transients, and their detection recall.

    The injection is compared as the stages before Ω see it, so Ω is scored
    by :func:`injection_recovery` on the channel series of the recordings
    with and without the transients.
    """
    before_stage, wavelet = _stages_around_wavelet(fitted)
    options = {**_DEFAULT_INJECTION, "footprint": _central_footprint(X_test.shape[2:]),
               **(injection or {})}  # fmt: skip
    try:
        injected = inject_transients(X_test, fs=fs, random_state=random_state, **options)
    except ValueError as error:
        raise ValueError(
            "without X_clean, evaluate scores the denoising by injecting transients into the "
            f"held-out recordings: {error} Set them with injection={{'n_events': ..., "
            "'duration_s': ...}, or pass X_clean."
        ) from None
    channels = _channels(before_stage, X_test)
    channels_injected = _channels(before_stage, injected.X)
    section = {"ground_truth": "injected transients", "band_low_hz": band[0],
               "band_high_hz": band[1], "n_infinite_snr": 0, "n_unreached_channels": 0}  # fmt: skip
    for name, limits in _band_limits(band, fs).items():
        recovery = injection_recovery(wavelet, channels, channels_injected, fs=fs, band=limits)
        target = band_power(channels_injected - channels, fs, limits)
        reached = target > _UNREACHED * target.max(axis=1, keepdims=True)
        if not reached.any():
            raise ValueError(
                f"the injected transients have no power in the {name} {limits} Hz in the "
                "channels entering the wavelet stage; raise injection['amplitude'] or widen "
                "its footprint."
            )
        scores, dropped = _mean_scores(recovery["snr_db"][reached], recovery["mse"][reached],
                                       f"injection_{name}")  # fmt: skip
        section.update(scores)
        section["n_infinite_snr"] += dropped
        section["n_unreached_channels"] += int(reached.size - reached.sum())
    denoised = wavelet.transform(channels_injected)
    events = score(injected.events, detect(denoised))
    section.update(n_injected_events=events["n_true"], injected_event_recall=events["recall"])
    data = {"injected_events": injected.events,
            **_channel_data(before_stage, channels_injected, denoised)}  # fmt: skip
    return section, data


def _calibrate(model, Xc_train, y_train):
    """Platt-scale the pair probabilities and pick the threshold on the training pairs.

    Returns whether it could: a model that ranks the training pairs backwards
    is left as it is.
    """
    pairs, pair_labels = label_pairs(y_train)
    try:
        model.calibrate_threshold(Xc_train, pairs, pair_labels)
    except ValueError:
        return False
    return True


def _check_inputs(X, y, groups, fs):
    X = np.asarray(X)
    y = np.asarray(y)
    groups = np.asarray(groups)
    if X.ndim < 2 or y.shape != (X.shape[0],) or groups.shape != (X.shape[0],):
        raise ValueError(
            f"X must hold n recordings along its first axis with y and groups of shape (n,); "
            f"got X {X.shape}, y {y.shape}, groups {groups.shape}."
        )
    if np.unique(groups).size < 2:
        raise ValueError("evaluate needs recordings of at least 2 groups (subjects) to hold out.")
    check_fs(fs)
    return X, y, groups


def evaluate(
    estimator,
    X,
    y,
    groups,
    events=None,
    *,
    sources=None,
    X_clean=None,
    injection=None,
    fs=1.0,
    band=(0.05, 1.0),
    max_lag=8,
    beta=10.0,
    tolerance_s=1.0,
    detector=None,
    test_size=0.25,
    calibrate=True,
    cv=None,
    sessions=None,
    random_state=None,
    progress=None,
):
    """Fit ``estimator`` on some subjects and run the evaluation protocol on the others.

    Parameters
    ----------
    estimator : estimator
        A pair classifier (``predict_pair_proba``), alone or as the last step
        of a :class:`~sklearn.pipeline.Pipeline` of stages. It is cloned;
        ``groups`` is passed to the classifier's ``fit``.
    X : array-like of shape (n, T, I, J) or (n, T, F)
        Recordings.
    y : array-like of shape (n,)
        Segment label of each recording.
    groups : array-like of shape (n,)
        Subject of each recording; whole subjects are held out.
    events : dict of array-like, optional
        True transients (``recording`` and ``onset`` in frames, as
        ``make_thermal_faces(...).events``); adds the ``events`` section.
    sources : array-like of shape (n, T, L), optional
        True latent sources; adds the ``sources`` section (MCC).
    X_clean : array-like like X, optional
        Noise-free recordings. With a wavelet stage in the pipeline, the
        ``denoising`` section compares the channel series before and after it
        with the clean ones; without ``X_clean``, it injects transients into
        the held-out recordings instead and scores how the wavelet stage
        passes them on (``ground_truth`` says which was done).
    injection : dict, optional
        Keyword arguments of :func:`~skheatmap.metrics.inject_transients`
        for the injected transients (not ``fs`` nor ``random_state``); by
        default ``amplitude=0.5`` (in the units of ``X``: °C for thermal
        recordings), ``n_events=2`` per recording, ``duration_s=1.0`` and, for
        heatmaps, a Gaussian ``footprint`` centred on the frame (σ a sixth of
        its smaller side), which moves every moment of the frame and not
        only its mean. Channels the injection does not reach (band power
        below 1e-12 of the most reached channel's) are left out of the mean
        SNR and MSE and counted in ``n_unreached_channels``.
    fs : float, default=1.0
        Frame rate in Hz.
    band : (float, float), default=(0.05, 1.0)
        Emotion-relevant band in Hz for the denoising SNR and MSE (slow
        thermal responses; the lower edge leaves out the constant baseline,
        whose power would swamp the ratio).
    max_lag : int, default=8
        Largest lag in frames of the alignment's soft-lag correlation.
    beta : float, default=10.0
        Its soft-maximum temperature.
    tolerance_s : float, default=1.0
        Largest onset error in seconds of a detected transient (true or
        injected).
    detector : dict, optional
        Keyword arguments of :func:`~skheatmap.metrics.detect_transients`,
        for true and injected transients alike.
    test_size : float, default=0.25
        Fraction of subjects held out (at least one).
    calibrate : bool, default=True
        Recalibrate the pair probabilities (Platt scaling) and choose the
        decision threshold on the *training* pairs, with the classifier's
        ``calibrate_threshold`` (when it has one). Uncalibrated soft-DTW
        logits rank pairs well but their 0.5 threshold is arbitrary.
    cv : int or splitter, optional
        Also cross-validate the pair ROC AUC over subjects (and over
        ``sessions``); refits the estimator once per split.
    sessions : array-like of shape (n,), optional
        Session of each recording, for the cross-session scores (with ``cv``).
    random_state : int, RandomState instance or None, default=None
        Chooses the held-out subjects and the onsets of injected transients.
    progress : callable, optional
        Called with a short description before each step (for progress bars).

    Returns
    -------
    report : EvaluationReport
        Sections ``split``, ``pairs``, ``alignment``, ``generalisation``,
        ``complexity``; ``events`` and ``sources`` when their ground truth is
        given; ``denoising`` when the pipeline has a wavelet stage. A mean
        SNR leaves out infinite values (an exactly reproduced channel) and
        counts them in ``n_infinite_snr``.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skheatmap import HeatmapEmbedder, SoftDTWPairClassifier
    >>> from skheatmap.datasets import make_thermal_faces
    >>> from skheatmap.evaluation import evaluate
    >>> faces = make_thermal_faces(n_subjects=4, n_segments=2, n_frames=24,
    ...                            frame_shape=(12, 12), random_state=0)
    >>> model = make_pipeline(HeatmapEmbedder("moments"),
    ...                       SoftDTWPairClassifier(max_epochs=1, random_state=0))
    >>> report = evaluate(model, faces.X, faces.y, faces.groups, fs=faces.fs,
    ...                   test_size=0.5, random_state=0)
    >>> sorted(report)
    ['alignment', 'complexity', 'generalisation', 'pairs', 'split']
    >>> 0.0 <= report["pairs"]["roc_auc"] <= 1.0
    True
    """
    X, y, groups = _check_inputs(X, y, groups, fs)
    _check_pair_model(estimator)
    if sessions is not None and cv is None:
        raise ValueError("sessions are only used by the cross-session scores: pass cv as well.")
    if X_clean is not None and np.shape(X_clean) != X.shape:
        raise ValueError(f"X_clean has shape {np.shape(X_clean)} but X has {X.shape}.")
    step = progress if progress is not None else (lambda description: None)

    train, test = next(
        GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=random_state).split(
            X, y, groups
        )
    )
    if np.unique(label_pairs(y[test])[1]).size < 2:
        raise ValueError(
            f"the {np.unique(groups[test]).size} held-out subject(s) form only one kind of pair "
            "(same-segment and different-segment pairs are both needed); raise test_size."
        )
    report = EvaluationReport()
    report["split"] = {
        "n_train": int(train.size), "n_test": int(test.size),
        "train_subjects": np.unique(groups[train]).tolist(),
        "test_subjects": np.unique(groups[test]).tolist(),
    }  # fmt: skip
    report.data.update(train_index=train, test_index=test, fs=fs)

    step("fitting")
    start = time.perf_counter()
    fitted = clone(estimator).fit(X[train], y[train], **_fit_params(estimator, groups[train]))
    fit_time = time.perf_counter() - start
    model = _final_step(fitted)
    if calibrate and hasattr(model, "calibrate_threshold"):
        step("calibrating")
        report["split"]["calibrated"] = _calibrate(model, _classifier_input(fitted, X[train]),
                                                   y[train])  # fmt: skip

    step("encoding")
    Xc_test = _classifier_input(fitted, X[test])
    Z_test = model.encode(Xc_test)
    report.data.update(Z_test=Z_test, y_test=y[test], groups_test=groups[test])

    step("pair classification")
    report["pairs"], pair_data = _pair_section(model, Xc_test, y[test], Z_test)
    report.data.update(pair_data)

    step("alignment")
    report["alignment"] = alignment_report(y[test], Z_test, max_lag=max_lag, beta=beta)

    detect = functools.partial(detect_transients, fs=fs, **(detector or {}))
    score_events = functools.partial(event_detection_scores, tolerance_s=tolerance_s, fs=fs)
    if events is not None:
        step("event detection")
        true_events = _events_of(events, test)
        found = detect(Z_test)
        report["events"] = score_events(true_events, found)
        report.data.update(true_events=true_events, detected_events=found)

    if sources is not None:
        step("source recovery")
        sources_test = np.asarray(sources)[test]
        report["sources"] = {
            "mcc": mean_correlation_coefficient(sources_test, Z_test),
            "mcc_spearman": mean_correlation_coefficient(sources_test, Z_test, method="spearman"),
        }
        report.data["sources_test"] = sources_test

    if _wavelet_index(fitted) is not None:
        step("denoising")
        if X_clean is not None:
            report["denoising"], channel_data = _denoising_section(
                fitted, X[test], np.asarray(X_clean)[test], fs, band
            )
        else:
            report["denoising"], channel_data = _injected_denoising_section(
                fitted, X[test], fs, band, injection, random_state, detect, score_events
            )
        report.data.update(channel_data)

    step("generalisation")
    train_auc = float(fitted.score(X[train], y[train]))
    test_auc = report["pairs"]["roc_auc"]
    report["generalisation"] = {
        "train_roc_auc": train_auc, "test_roc_auc": test_auc,
        "validation_gap": validation_gap([train_auc], [test_auc]),
    }  # fmt: skip
    if cv is not None:
        for name, scores in generalisation_report(
            estimator, X, y, subjects=groups, sessions=sessions, cv=cv,
            params=_fit_params(estimator, groups),
        ).items():  # fmt: skip
            report["generalisation"].update(
                {f"{name}_roc_auc": scores["test"], f"{name}_roc_auc_std": scores["test_std"],
                 f"{name}_gap": scores["gap"]}  # fmt: skip
            )
    from .search import complexity_proxies

    report["complexity"] = {**complexity_proxies(fitted, X[test]), "fit_time_s": fit_time}
    return report
