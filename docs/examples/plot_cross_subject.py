"""
End to end: cross-subject evaluation
====================================

The whole protocol on subjects the model never saw. A pipeline embeds the
heatmaps (ℰ), keeps the 0-1 Hz wavelet bands (Ω), removes each recording's
baseline and a :class:`~skheatmap.SoftDTWPairClassifier` learns whether two
recordings come from the same stimulus segment. :func:`skheatmap.evaluation.evaluate`
holds out whole subjects and reports pair classification, calibration,
alignment, transient detection and the generalisation gap.
"""

# %%
# Eight subjects watching four segments; the model trains on six subjects.
import matplotlib.pyplot as plt
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skheatmap import HeatmapEmbedder, SoftDTWPairClassifier, WaveletBandReconstructor
from skheatmap.cli import centre_recordings
from skheatmap.datasets import make_thermal_faces
from skheatmap.evaluation import evaluate
from skheatmap.plotting import plot_event_timeline, plot_pair_distances, plot_reliability, plot_roc

faces = make_thermal_faces(n_subjects=8, n_segments=4, n_frames=128, frame_shape=(24, 24),
                           random_state=0)  # fmt: skip
model = make_pipeline(
    HeatmapEmbedder("moments"),
    WaveletBandReconstructor("db4", level=4, keep=(0.0, 1.0), fs=faces.fs),
    FunctionTransformer(centre_recordings),  # subjects differ in baseline temperature
    SoftDTWPairClassifier(max_epochs=5, random_state=0),
)

# %%
# Evaluate on the two held-out subjects.
report = evaluate(model, faces.X, faces.y, faces.groups, faces.events, fs=faces.fs,
                  random_state=0)  # fmt: skip
print(report.summary())

# %%
# Pair distances, ROC and reliability of the held-out pairs.
data = report.data
fig, axes = plt.subplots(1, 3, figsize=(14, 4.2), layout="constrained")
plot_pair_distances(data["pair_labels"], data["pair_distances"], ax=axes[0])
plot_roc(data["pair_labels"], data["pair_proba"], ax=axes[1])
plot_reliability(data["pair_labels"], data["pair_proba"], n_bins=5, ax=axes[2])

# %%
# Transients detected on the channel series of the held-out recordings.
plot_event_timeline(data["true_events"], data["detected_events"],
                    n_frames=faces.X.shape[1], fs=faces.fs)  # fmt: skip
plt.show()
