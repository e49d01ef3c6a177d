"""Pair classification on synthetic thermal faces: held-out subjects and stimuli.

Run:  python benchmarks/bench_pairs.py [--seeds 3] [--max-epochs 20]
      (a quick check that it runs: --seeds 1 --max-epochs 1 --n-subjects 3
      --n-frames 224 --frame-size 8)

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
  ``orthogonal eigenfaces`` keeps the eigenfaces orthonormal while they train
  (``twin_options``).

The verdict at the end checks each end-to-end row against the targets: mean
test AUC at least 0.95, above the NN-DTW baseline and above head only with
the same embedding.
"""

import argparse
import time

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from tslearn.metrics import cdist_dtw

from skheatmap import HeatmapEmbedder, SoftDTWPairClassifier, WaveletBandReconstructor
from skheatmap.datasets import make_thermal_faces
from skheatmap.metrics import pair_classification_report
from skheatmap.pairs import label_pairs

TARGET_AUC = 0.95
BASELINE = "NN-DTW frame means"
EMBEDDINGS = {"moments": {}, "eigenfaces": {"n_components": 8}}
# end-to-end variants: embedding and the twin options of its training
END_TO_END = {
    "moments": ("moments", None),
    "eigenfaces": ("eigenfaces", None),
    "orthogonal eigenfaces": ("eigenfaces", {"heatmapembedder": {"orthogonal": True}}),
}


def stages(method):
    """Embedding then the slow wavelet bands, where the emotional sources live."""
    return make_pipeline(
        HeatmapEmbedder(method=method, **EMBEDDINGS[method]),
        WaveletBandReconstructor(wavelet="db4", level=5, keep=["d4", "d5", "a"]),
    )


def head_only(method):
    def make(max_epochs, seed):
        return make_pipeline(
            stages(method), SoftDTWPairClassifier(max_epochs=max_epochs, random_state=seed)
        )

    return make


def end_to_end(method, twin_options):
    def make(max_epochs, seed):
        return SoftDTWPairClassifier(encoder=stages(method), twin_options=twin_options,
                                     encoder_lr=1e-2, max_epochs=max_epochs,
                                     random_state=seed)  # fmt: skip

    return make


def contenders():
    """``{row name: (model factory, name of the head-only row it must beat or None)}``."""
    rows = {f"{method}, head only": (head_only(method), None) for method in EMBEDDINGS}
    for name, (method, twin_options) in END_TO_END.items():
        rows[f"{name}, end to end"] = (end_to_end(method, twin_options), f"{method}, head only")
    return rows


def report_row(name, labels, proba, seconds, calibrated=None):
    before = pair_classification_report(labels, proba)
    line = (
        f"  {name:<36s} AUC {before['roc_auc']:.3f}  ECE {before['ece']:.3f}  "
        f"Brier {before['brier']:.3f}"
    )
    if calibrated is not None:
        after = pair_classification_report(labels, calibrated)
        line += f"  -> calibrated ECE {after['ece']:.3f}  Brier {after['brier']:.3f}"
    print(f"{line}  ({seconds:.0f} s)", flush=True)
    return before["roc_auc"]


def baseline_auc(test, pairs, labels):
    start = time.perf_counter()
    means = np.nanmean(test.X, axis=(2, 3))[:, :, np.newaxis]
    distances = cdist_dtw(means)
    auc = roc_auc_score(labels, -distances[pairs[:, 0], pairs[:, 1]])
    print(f"  {BASELINE:<36s} AUC {auc:.3f}  ({time.perf_counter() - start:.0f} s)")
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


def verdict(rows, references):
    """Print, per end-to-end row, whether it meets every target; return the rows that do."""
    baseline = np.mean(rows[BASELINE])
    print(f"\nverdict (targets: mean AUC >= {TARGET_AUC}, above {BASELINE} and above head only):")
    met = []
    for name, reference in references.items():
        if reference is None:
            continue
        auc, head = np.mean(rows[name]), np.mean(rows[reference])
        checks = {
            f"AUC {auc:.3f} >= {TARGET_AUC}": auc >= TARGET_AUC,
            f"> NN-DTW {baseline:.3f}": auc > baseline,
            f"> head only {head:.3f}": auc > head,
        }
        passed = all(checks.values())
        details = "; ".join(f"{check} {'yes' if ok else 'NO'}" for check, ok in checks.items())
        print(f"  {name:<36s} {'PASS' if passed else 'FAIL'}  ({details})")
        if passed:
            met.append(name)
    print(f"targets met by: {', '.join(met)}" if met else "targets NOT met by any end-to-end row")
    return met


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--n-subjects", type=int, default=None,
                        help="subjects per draw (default: make_thermal_faces's)")
    parser.add_argument("--n-frames", type=int, default=None,
                        help="frames per recording, at least 224 for the wavelet stage")
    parser.add_argument("--frame-size", type=int, default=None, help="frame side in pixels")
    args = parser.parse_args()  # fmt: skip
    size = {name: value for name, value in (
        ("n_subjects", args.n_subjects), ("n_frames", args.n_frames),
        ("frame_shape", args.frame_size and (args.frame_size, args.frame_size)),
    ) if value}  # fmt: skip
    models = contenders()
    rows = {BASELINE: []}
    for seed in range(args.seeds):
        train = make_thermal_faces(**size, random_state=seed)
        test = make_thermal_faces(**size, random_state=1000 + seed)
        calibration = make_thermal_faces(**{**size, "n_subjects": 4}, random_state=2000 + seed)
        pairs, labels = label_pairs(test.y)
        print(f"seed {seed}: {len(train.y)} training recordings, {len(pairs)} test pairs "
              f"({labels.sum()} positive)")  # fmt: skip
        rows[BASELINE].append(baseline_auc(test, pairs, labels))
        for name, (make, _) in models.items():
            auc = classifier_row(name, make, train, test, calibration, pairs, labels,
                                 args.max_epochs, seed)  # fmt: skip
            rows.setdefault(name, []).append(auc)
    print(f"\ntest ROC AUC over {args.seeds} seed(s), mean ± sd:")
    for name, values in rows.items():
        print(f"  {name:<36s} {np.mean(values):.3f} ± {np.std(values):.3f}")
    verdict(rows, {name: reference for name, (_, reference) in models.items()})


if __name__ == "__main__":
    main()
