"""Pair classification on synthetic thermal faces: held-out subjects and stimuli.

Run:  python benchmarks/bench_pairs.py [--seeds 2] [--max-epochs 20]

For each data seed, the classifier trains on ``make_thermal_faces`` with its
default (realistic) settings and is scored on an independent draw: new
subjects watching new stimuli, so every test pair is unseen in both respects.
The score is the ROC AUC over all test pairs (same segment = positive; the
positives are all cross-subject, since a subject sees each segment once).
Calibration (ECE, Brier) is reported before and after ``calibrate_threshold``,
which is fitted on a third draw (4 more subjects), never on the test pairs.

Rows:
- ``NN-DTW frame means``: the baseline, pairs ranked by plain DTW between
  the per-frame mean temperatures (a nearest-neighbour rule has no training).
- ``head only``: the stages are fitted on their own, their output is
  fixed, and only the pair model ``σ(α − w·d/τ)`` is trained.
- ``end to end``: the same stages as the classifier's ``encoder``; their torch
  twins (eigenface projection, wavelet band gains) train with the pair model.
"""

import argparse
import time

import numpy as np
from sklearn.pipeline import Pipeline, make_pipeline
from tslearn.metrics import cdist_dtw

from skheatmap import HeatmapEmbedder, SoftDTWPairClassifier, WaveletBandReconstructor
from skheatmap.datasets import make_thermal_faces
from skheatmap.metrics import pair_classification_report
from skheatmap.pairs import label_pairs

EMBEDDINGS = {"moments": {}, "eigenfaces": {"n_components": 8}}


def stages(method):
    """Embedding then the slow wavelet bands, where the emotional sources live."""
    return make_pipeline(
        HeatmapEmbedder(method=method, **EMBEDDINGS[method]),
        WaveletBandReconstructor(wavelet="db4", level=5, keep=["d4", "d5", "a"]),
    )


def report_row(name, labels, proba, seconds, calibrated=None):
    before = pair_classification_report(labels, proba)
    line = (
        f"  {name:<28s} AUC {before['roc_auc']:.3f}  ECE {before['ece']:.3f}  "
        f"Brier {before['brier']:.3f}"
    )
    if calibrated is not None:
        after = pair_classification_report(labels, calibrated)
        line += f"  -> calibrated ECE {after['ece']:.3f}  Brier {after['brier']:.3f}"
    print(f"{line}  ({seconds:.0f} s)", flush=True)
    return before["roc_auc"]


def baseline_auc(test, pairs, labels):
    from sklearn.metrics import roc_auc_score

    start = time.perf_counter()
    means = np.nanmean(test.X, axis=(2, 3))[:, :, np.newaxis]
    distances = cdist_dtw(means)
    auc = roc_auc_score(labels, -distances[pairs[:, 0], pairs[:, 1]])
    print(f"  {'NN-DTW frame means':<28s} AUC {auc:.3f}  ({time.perf_counter() - start:.0f} s)")
    return auc


def classifier_row(name, make, train, test, calibration, pairs, labels, max_epochs, seed):
    start = time.perf_counter()
    model = make(max_epochs, seed)
    if isinstance(model, Pipeline):  # groups go to the classifier step
        model.fit(train.X, train.y, **{f"{model.steps[-1][0]}__groups": train.groups})
    else:
        model.fit(train.X, train.y, groups=train.groups)
    seconds = time.perf_counter() - start
    classifier, X_test, X_calibration = model, test.X, calibration.X
    if isinstance(model, Pipeline):  # pair methods live on the classifier step
        classifier, X_test, X_calibration = (
            model[-1], model[:-1].transform(test.X), model[:-1].transform(calibration.X)
        )
    before = classifier.predict_pair_proba(X_test, pairs)[:, 1]
    calibration_pairs, calibration_labels = label_pairs(calibration.y)
    try:
        classifier.calibrate_threshold(X_calibration, calibration_pairs, calibration_labels)
    except ValueError as error:  # a model that ranks the calibration pairs backwards
        print(f"  ({name}: calibration refused: {error})")
        return report_row(name, labels, before, seconds)
    after = classifier.predict_pair_proba(X_test, pairs)[:, 1]
    return report_row(name, labels, before, seconds, after)


def head_only(method):
    def make(max_epochs, seed):
        return make_pipeline(
            stages(method), SoftDTWPairClassifier(max_epochs=max_epochs, random_state=seed)
        )

    return make


def end_to_end(method):
    def make(max_epochs, seed):
        return SoftDTWPairClassifier(
            encoder=stages(method), encoder_lr=1e-2, max_epochs=max_epochs, random_state=seed
        )

    return make


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--max-epochs", type=int, default=20)
    args = parser.parse_args()
    rows = {"NN-DTW frame means": []}
    for seed in range(args.seeds):
        train = make_thermal_faces(random_state=seed)
        test = make_thermal_faces(random_state=1000 + seed)
        calibration = make_thermal_faces(n_subjects=4, random_state=2000 + seed)
        pairs, labels = label_pairs(test.y)
        print(f"seed {seed}: {len(train.y)} training recordings, {len(pairs)} test pairs "
              f"({labels.sum()} positive)")  # fmt: skip
        rows["NN-DTW frame means"].append(baseline_auc(test, pairs, labels))
        for method in EMBEDDINGS:
            for kind, make in (("head only", head_only), ("end to end", end_to_end)):
                name = f"{method}, {kind}"
                auc = classifier_row(name, make(method), train, test, calibration, pairs,
                                     labels, args.max_epochs, seed)  # fmt: skip
                rows.setdefault(name, []).append(auc)
    print(f"\ntest ROC AUC over {args.seeds} seed(s), mean ± sd (target >= 0.95):")
    for name, values in rows.items():
        print(f"  {name:<28s} {np.mean(values):.3f} ± {np.std(values):.3f}")


if __name__ == "__main__":
    main()
