"""
Synthetic thermal faces and their ground truth
==============================================

:func:`skheatmap.datasets.make_thermal_faces` renders facial thermal videos of
subjects watching stimulus segments. Each recording carries its ground truth:
the latent emotional sources, the transients and the region masks.
"""

# %%
# Generate a small dataset: 4 subjects, 3 segments, 30 s at 8 Hz.
import matplotlib.pyplot as plt
import numpy as np

from skheatmap.datasets import make_thermal_faces

faces = make_thermal_faces(n_subjects=4, n_segments=3, n_frames=240, frame_shape=(48, 48),
                           random_state=0)  # fmt: skip
print(faces.X.shape, "recordings x frames x rows x columns, in °C")

# %%
# A few frames of one recording, with the region masks outlined.
recording = 0
frames = [0, 80, 160, 239]
fig, axes = plt.subplots(1, len(frames), figsize=(12, 3.4), layout="constrained")
vmin, vmax = np.percentile(faces.X[recording], [1, 99.5])
for ax, t in zip(axes, frames, strict=True):
    image = ax.imshow(faces.X[recording, t], cmap="inferno", vmin=vmin, vmax=vmax)
    for region, color in zip(faces.regions, plt.cm.tab10.colors, strict=False):
        ax.contour(faces.region_masks[region][recording], levels=[0.5], colors=[color],
                   linewidths=0.8)  # fmt: skip
    ax.set_title(f"t = {t / faces.fs:.1f} s")
    ax.set_axis_off()
fig.colorbar(image, ax=axes, label="temperature (°C)", shrink=0.85)
fig.suptitle("Subject 0, segment 0: frames with region masks")

# %%
# The latent sources of segment 0 for every subject: lagged, rescaled copies
# of one shape, as the within-segment lagged correlation assumes.
time = np.arange(faces.X.shape[1]) / faces.fs
fig, axes = plt.subplots(faces.sources.shape[2], 1, figsize=(10, 6), sharex=True,
                         layout="constrained")  # fmt: skip
for l, ax in enumerate(axes):
    for i in np.flatnonzero(faces.y == 0):
        ax.plot(time, faces.sources[i, :, l], label=f"subject {faces.groups[i]}")
    ax.set_ylabel(f"source {l}\n({faces.source_regions[l]})")
axes[0].legend(ncol=4, fontsize="small", loc="upper right")
axes[-1].set_xlabel("time (s)")
fig.suptitle("Ground-truth sources, segment 0")

# %%
# Mean temperature of each region over time, with the transients marked.
fig, ax = plt.subplots(figsize=(10, 3.5), layout="constrained")
for region in faces.regions:
    mask = faces.region_masks[region][recording]
    ax.plot(time, faces.X[recording][:, mask].mean(axis=1), label=region)
in_recording = faces.events["recording"] == recording
for onset, duration in zip(faces.events["onset_s"][in_recording],
                           faces.events["duration_s"][in_recording], strict=True):  # fmt: skip
    ax.axvspan(onset, onset + duration, color="grey", alpha=0.3)
ax.set_xlabel("time (s)")
ax.set_ylabel("mean temperature (°C)")
ax.legend(ncol=5, fontsize="small")
ax.set_title("Region means of recording 0 (grey: transients)")
plt.show()
