"""
Two-stage search over embedding methods and wavelet families
============================================================

A pipeline ``HeatmapEmbedder → WaveletBandReconstructor → SoftDTWPairClassifier``
has categorical design choices (the embedding method, the wavelet family) and,
within each choice, continuous parameters (numbers of percentiles or bins,
soft-DTW ``gamma``, margins, learning rate). :func:`skheatmap.search.categorical_space`
writes these as a tagged union of branches, and
:class:`skheatmap.search.TwoStageSearchCV` searches it in two stages: successive
halving across all branches on temporally downsampled recordings, then Optuna
TPE inside the best branch. Cross-validation holds out whole subjects.

The data and budgets here are tiny so that the example runs in seconds; the
scores are therefore noisy.
"""

# %%
# The space: 2 embedding methods x 2 wavelet families = 4 branches.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline

from skheatmap import HeatmapEmbedder, WaveletBandReconstructor
from skheatmap.classifier import SoftDTWPairClassifier
from skheatmap.datasets import make_thermal_faces
from skheatmap.search import TwoStageSearchCV, categorical_space

faces = make_thermal_faces(n_subjects=4, n_segments=2, n_frames=48, frame_shape=(12, 12),
                           random_state=0)  # fmt: skip
pipe = make_pipeline(
    HeatmapEmbedder(), WaveletBandReconstructor(level=1),
    SoftDTWPairClassifier(max_epochs=2, random_state=0),
)  # fmt: skip
space = categorical_space(pipe, {
    "heatmapembedder__method": ["percentiles", "moments"],
    "waveletbandreconstructor__wavelet": ["haar", "db2"],
})  # fmt: skip
for branch in space:
    print(branch.tag, "->", sorted(branch.dimensions))

# %%
# Stage A screens every branch on every 3rd frame, then the best half on all
# frames; Stage B runs 3 TPE trials in the best branch (the first is its
# screened point, copied as a finished trial).
search = TwoStageSearchCV(pipe, space, cv=2, resource="downsample", factor=3,
                          min_resources=1 / 3, top_k=1, n_trials=3, random_state=0)  # fmt: skip
search.fit(faces.X, faces.y, groups=faces.groups)
print("best branch:", search.best_branch_)
print(f"best cross-subject pair AUC: {search.best_score_:.3f}")

# %%
# Every evaluation carries complexity proxies: here the score against the
# estimated FLOPs per recording (transform plus one soft-DTW comparison).
# The two stages measure fidelity in different units (Stage A: the fraction of
# frames kept; Stage B: training epochs), so a marker's size is its fidelity
# as a share of the largest one of the same ``resource``.
results = search.cv_results_
fidelity = results["fidelity"].astype(float)
share = np.empty_like(fidelity)
for resource in np.unique(results["resource"]):
    same = results["resource"] == resource
    share[same] = fidelity[same] / fidelity[same].max()
fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
for stage, marker in (("A", "o"), ("B", "s")):
    rows = results["stage"] == stage
    ax.scatter(results["flops"][rows], results["mean_test_score"][rows], s=30 + 120 * share[rows],
               marker=marker, label=f"stage {stage}", alpha=0.7)  # fmt: skip
ax.set_xscale("log")
ax.set_xlabel("estimated FLOPs per recording")
ax.set_ylabel("pair ROC AUC (mean over held-out subjects)")
ax.set_title("two-stage search: marker size = share of the full fidelity")
ax.legend()
plt.show()
print(np.unique(results["branch"][results["stage"] == "B"]))
