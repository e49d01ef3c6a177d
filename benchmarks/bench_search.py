"""Two-stage search versus a full GridSearchCV over the same categorical grid.

Both searches score Pipeline(HeatmapEmbedder, WaveletBandReconstructor,
SoftDTWPairClassifier) by cross-subject pair ROC AUC on the same GroupKFold
splits of ``make_thermal_faces``. The grid evaluates every branch at full
fidelity with the estimator's continuous defaults; TwoStageSearchCV screens
the branches by successive halving (factor 4) on recordings downsampled in
time, with the training epochs scaled alike (1/16 of the frames and one epoch
at the first rung), then runs TPE over the continuous parameters of the best
branch.

Printed: each search's best cross-validated AUC (and that of its refitted
model on held-out subjects), the number of fits, their summed fit time and
the wall-clock time, the two-stage/grid ratios, and a verdict line against
the quality target: a CV AUC gap <= 0.01 at <= 0.25 of the grid's fit time
(PASS only if both hold). The cost is measured in time because the fits are
not alike: a first-rung fit sees 1/16 of the frames for one epoch. Counted
one by one, any search that scores every branch once in cross-validation
makes at least as many fits as the grid (one per branch and split, and
the halving rungs add theirs), so the raw count ratio is printed for
information only.

Run ``python benchmarks/bench_search.py --help`` for the scale options; the
figures are noisy on a shared machine (ratios from one run are what count).
"""

import argparse
import time

import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline

from skheatmap import HeatmapEmbedder, WaveletBandReconstructor
from skheatmap.classifier import SoftDTWPairClassifier
from skheatmap.datasets import make_thermal_faces
from skheatmap.search import TwoStageSearchCV, categorical_space

# The quality target: the two-stage search's best CV AUC is at most MAX_AUC_GAP below the grid's,
# with at most MAX_COST_RATIO of the grid's summed fit time.
MAX_AUC_GAP = 0.01
MAX_COST_RATIO = 0.25

AXES = {
    "small": {
        "heatmapembedder__method": ["percentiles", "histogram", "eigenfaces", "moments"],
        "waveletbandreconstructor__wavelet": ["haar", "db4"],
    },
    "full": {
        "heatmapembedder__method": ["percentiles", "histogram", "eigenfaces", "moments"],
        "waveletbandreconstructor__wavelet": ["haar", "db4", "sym8"],
        "waveletbandreconstructor__mode": ["symmetric", "periodization"],
    },
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=sorted(AXES), default="full")
    # make_thermal_faces's default recordings (8 subjects x 4 segments, 256 frames of 32x32)
    parser.add_argument("--n-subjects", type=int, default=8, help="subjects searched over")
    parser.add_argument("--n-segments", type=int, default=4)
    parser.add_argument("--n-frames", type=int, default=256)
    parser.add_argument("--frame-size", type=int, default=32)
    parser.add_argument("--max-epochs", type=int, default=5)
    parser.add_argument("--n-splits", type=int, default=3)
    parser.add_argument("--top-k", type=int, default=1)
    parser.add_argument("--factor", type=int, default=4)
    parser.add_argument("--n-trials", type=int, default=3)
    parser.add_argument("--resource", default="downsample_epochs",
                        choices=["downsample", "downsample_epochs", "epochs", "n_samples"],
                        help="Stage-A fidelity resource")
    parser.add_argument("--min-resources", type=float, default=None,
                        help="first rung's resource (default: 1/factor**2 of the frames "
                             "for the downsampling resources, 1 epoch, 2 recordings per class)")
    parser.add_argument("--test-subjects", type=int, default=3,
                        help="subjects held out from both searches to score the refitted models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's own choice)")
    return parser.parse_args()


def held_out_split(groups, n_test):
    test_subjects = np.unique(groups)[-n_test:] if n_test else []
    test = np.isin(groups, test_subjects)
    return ~test, test


def run_grid(pipe, space, X, y, groups, cv):
    grid = GridSearchCV(pipe, space.param_grid, cv=cv, refit=True, error_score=np.nan)
    start = time.perf_counter()
    grid.fit(X, y, groups=groups, softdtwpairclassifier__groups=groups)
    wall = time.perf_counter() - start
    fit_times = grid.cv_results_["mean_fit_time"] * cv.get_n_splits()
    n_fits = len(grid.cv_results_["params"]) * cv.get_n_splits()
    return grid, {"best_cv_auc": grid.best_score_, "n_fits": n_fits,
                  "fit_time": float(np.sum(fit_times)), "wall": wall,
                  "branch": space.branch_of(grid.best_params_).tag}  # fmt: skip


def run_two_stage(pipe, space, X, y, groups, cv, args):
    min_resources = args.min_resources
    if min_resources is None:
        min_resources = 1 / args.factor**2 if args.resource.startswith("downsample") else "auto"
    search = TwoStageSearchCV(
        pipe, space, cv=cv, resource=args.resource, factor=args.factor,
        min_resources=min_resources,
        top_k=args.top_k,
        n_trials=args.n_trials, random_state=args.seed,
    )  # fmt: skip
    start = time.perf_counter()
    search.fit(X, y, groups=groups)
    wall = time.perf_counter() - start
    results = search.cv_results_
    for stage, rung in dict.fromkeys(zip(results["stage"], results["rung"], strict=True)):
        rows = (results["stage"] == stage) & np.array([r == rung for r in results["rung"]])
        print(f"    stage {stage}{'' if rung is None else f' rung {rung}'}: "
              f"{int(np.nansum(results['n_fits'][rows]))} fits, "
              f"{np.nansum(results['total_fit_time'][rows]):.1f} s")  # fmt: skip
    return search, {"best_cv_auc": search.best_score_, "n_fits": search.n_fits_,
                    "fit_time": float(np.nansum(results["total_fit_time"])), "wall": wall,
                    "branch": search.best_branch_}  # fmt: skip


def verdict(auc_gap, fit_time_ratio):
    """The PASS/FAIL line against the quality target (MAX_AUC_GAP, MAX_COST_RATIO)."""
    passed = auc_gap <= MAX_AUC_GAP and fit_time_ratio <= MAX_COST_RATIO
    return (
        f"verdict: {'PASS' if passed else 'FAIL'} (target: CV AUC gap <= {MAX_AUC_GAP} at "
        f"<= {MAX_COST_RATIO} of the grid's fit time; gap {auc_gap:+.4f}, fit-time ratio "
        f"{fit_time_ratio:.2f})"
    )


def main():
    args = parse_args()
    if args.torch_threads is not None:
        import torch

        torch.set_num_threads(args.torch_threads)
    faces = make_thermal_faces(
        n_subjects=args.n_subjects + args.test_subjects, n_segments=args.n_segments,
        n_frames=args.n_frames, frame_shape=(args.frame_size, args.frame_size),
        random_state=args.seed,
    )  # fmt: skip
    train, test = held_out_split(faces.groups, args.test_subjects)
    X, y, groups = faces.X[train], faces.y[train], faces.groups[train]
    pipe = make_pipeline(
        HeatmapEmbedder(), WaveletBandReconstructor(),
        SoftDTWPairClassifier(max_epochs=args.max_epochs, random_state=args.seed),
    )  # fmt: skip
    space = categorical_space(pipe, AXES[args.grid])
    cv = GroupKFold(n_splits=args.n_splits)
    print(f"data {faces.X.shape}, {len(space)} branches, {args.n_splits} GroupKFold splits, "
          f"{args.test_subjects} held-out subjects; two-stage: resource={args.resource!r}, "
          f"top_k={args.top_k}, n_trials={args.n_trials}")  # fmt: skip

    rows = {}
    for name, run in (("grid", lambda: run_grid(pipe, space, X, y, groups, cv)),
                      ("two-stage", lambda: run_two_stage(pipe, space, X, y, groups, cv, args))):
        model, row = run()
        if args.test_subjects:
            row["held_out_auc"] = model.score(faces.X[test], faces.y[test])
        rows[name] = row
        print(f"{name:>9}: best CV AUC {row['best_cv_auc']:.4f}  held-out AUC "
              f"{row.get('held_out_auc', np.nan):.4f}  fits {row['n_fits']:4d}  "
              f"fit time {row['fit_time']:7.1f} s  wall {row['wall']:7.1f} s  "
              f"best {row['branch']}")  # fmt: skip
    grid, two = rows["grid"], rows["two-stage"]
    auc_gap = grid["best_cv_auc"] - two["best_cv_auc"]
    fits_ratio, fit_time_ratio = two["n_fits"] / grid["n_fits"], two["fit_time"] / grid["fit_time"]
    print(f"AUC gap (grid - two-stage): CV {auc_gap:+.4f}, "
          f"held-out {grid.get('held_out_auc', np.nan) - two.get('held_out_auc', np.nan):+.4f}")
    wall_ratio = two["wall"] / grid["wall"]
    print(f"two-stage / grid: fit time {fit_time_ratio:.2f}, wall {wall_ratio:.2f}, fits "
          f"{fits_ratio:.2f} (counted one by one: >= 1 for any search that scores every "
          "branch in cross-validation)")
    print(verdict(auc_gap, fit_time_ratio))


if __name__ == "__main__":
    main()
