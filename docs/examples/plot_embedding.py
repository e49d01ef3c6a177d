"""
Embedding heatmaps into channel series (ℰ)
==========================================

:class:`~skheatmap.HeatmapEmbedder` turns every heatmap frame into a few
numbers, so a video becomes a multichannel time series ``(n, T, K)``. This
example compares two embeddings of the same recording: temperature
percentiles over the face, and spatial moments of the frame.
"""

# %%
# A small synthetic dataset: 2 subjects, 2 segments, 16 s at 8 Hz.
import matplotlib.pyplot as plt
import numpy as np

from skheatmap import HeatmapEmbedder
from skheatmap.datasets import make_thermal_faces
from skheatmap.plotting import plot_frames

faces = make_thermal_faces(n_subjects=2, n_segments=2, n_frames=128, frame_shape=(24, 24),
                           random_state=0)  # fmt: skip
plot_frames(faces.X, faces.region_masks, recording=0, fs=faces.fs)

# %%
# Percentiles of the temperatures of each frame: robust to head motion, in °C.
percentiles = HeatmapEmbedder("percentiles", percentiles=(10, 50, 90))
P = percentiles.fit_transform(faces.X)
print("percentile channels:", percentiles.get_feature_names_out(), P.shape)

# %%
# Spatial moments: mean, variance, skewness, kurtosis, the heat centroid and
# the second moments of the temperature distribution over the frame.
moments = HeatmapEmbedder("moments")
M = moments.fit_transform(faces.X)
print("moment channels:", moments.get_feature_names_out(), M.shape)

# %%
# The two embeddings of recording 0 over time. Percentiles follow the regional
# responses; the spatial variance reacts to the contrast between warm and cool
# regions.
time = np.arange(faces.X.shape[1]) / faces.fs
fig, axes = plt.subplots(2, 1, figsize=(9, 5), sharex=True, layout="constrained")
for name, series in zip(percentiles.get_feature_names_out(), P[0].T, strict=True):
    axes[0].plot(time, series, label=name)
axes[0].set_ylabel("temperature (°C)")
axes[0].legend(title="percentile", ncols=3, fontsize="small")
axes[1].plot(time, M[0, :, 1], color="C3", label="spatial variance")
axes[1].set_ylabel("variance (°C²)")
axes[1].set_xlabel("time (s)")
axes[1].legend(fontsize="small")
fig.suptitle("Channel series of recording 0")
plt.show()
