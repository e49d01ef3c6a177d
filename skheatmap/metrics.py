"""Evaluation metrics of the skheatmap protocol.

Each metric is a plain function of arrays; scikit-learn already covers the
ranking and thresholded scores, so only what is new lives here:

- source recovery: :func:`mean_correlation_coefficient`;
- denoising in emotion-relevant bands: :func:`band_power`, :func:`band_mse`,
  :func:`band_snr`;
- denoising without ground truth, by injected transients:
  :func:`inject_transients`, :func:`injection_recovery`,
  :func:`injection_recall_scorer`;
- pair classification and calibration: :func:`expected_calibration_error`,
  :func:`pair_classification_report`;
- scorers for a pair classifier, ``scorer(estimator, X, y)`` over every pair
  of ``(X, y)``: :data:`pair_accuracy_scorer`, :data:`pair_roc_auc_scorer`,
  :data:`pair_average_precision_scorer`, :data:`pair_precision_scorer`,
  :data:`pair_recall_scorer`, and the negated losses (greater is better, as
  scikit-learn's ``neg_brier_score``) :data:`pair_neg_brier_scorer` and
  :data:`pair_neg_ece_scorer`;
- alignment of encoded trajectories: :func:`pairwise_soft_lag`,
  :func:`alignment_report`, :func:`alignment_gap`, :func:`alignment_scorer`;
- generalisation across subjects and sessions: :func:`grouped_cv_scores`,
  :func:`generalisation_report`, :func:`validation_gap`;
- event detection: :func:`detect_transients`, :func:`match_events`,
  :func:`event_detection_scores`.
"""

from ._alignment_metrics import (
    alignment_gap,
    alignment_report,
    alignment_scorer,
    pairwise_soft_lag,
)
from ._denoising_metrics import band_mse, band_power, band_snr
from ._event_metrics import detect_transients, event_detection_scores, match_events
from ._generalisation_metrics import generalisation_report, grouped_cv_scores, validation_gap
from ._injection_metrics import inject_transients, injection_recall_scorer, injection_recovery
from ._pair_metrics import expected_calibration_error, pair_classification_report
from ._pair_scorers import (
    pair_accuracy_scorer,
    pair_average_precision_scorer,
    pair_neg_brier_scorer,
    pair_neg_ece_scorer,
    pair_precision_scorer,
    pair_recall_scorer,
    pair_roc_auc_scorer,
)
from ._source_metrics import mean_correlation_coefficient

__all__ = [
    "alignment_gap",
    "alignment_report",
    "alignment_scorer",
    "band_mse",
    "band_power",
    "band_snr",
    "detect_transients",
    "event_detection_scores",
    "expected_calibration_error",
    "generalisation_report",
    "grouped_cv_scores",
    "inject_transients",
    "injection_recall_scorer",
    "injection_recovery",
    "match_events",
    "mean_correlation_coefficient",
    "pair_accuracy_scorer",
    "pair_average_precision_scorer",
    "pair_classification_report",
    "pair_neg_brier_scorer",
    "pair_neg_ece_scorer",
    "pair_precision_scorer",
    "pair_recall_scorer",
    "pair_roc_auc_scorer",
    "pairwise_soft_lag",
    "validation_gap",
]
