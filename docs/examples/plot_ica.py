"""
Recovering latent sources with nonlinear ICA (Ψ)
================================================

:class:`~skheatmap.ica.NonlinearICAEncoder` learns an encoder whose outputs
are the independent sources behind a multichannel series, up to permutation,
sign and a monotone transform. With time-contrastive learning (TCL) the
nonstationarity of the sources across time segments identifies them. The mean
correlation coefficient (:func:`skheatmap.metrics.mean_correlation_coefficient`)
scores the recovery against the true sources.
"""

# %%
# First a benchmark built for TCL: three Laplace sources whose scale changes
# from segment to segment, mixed by a two-layer leaky-ReLU network.
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline

from skheatmap import HeatmapEmbedder, WaveletBandReconstructor
from skheatmap.datasets import make_tcl_benchmark, make_thermal_faces
from skheatmap.ica import NonlinearICAEncoder
from skheatmap.metrics import mean_correlation_coefficient
from skheatmap.plotting import plot_sources

bench = make_tcl_benchmark(n_sources=3, n_segments=12, segment_length=100, n_layers=2,
                           random_state=0)  # fmt: skip
X = bench.X[None]  # one recording of 1200 frames
encoder = NonlinearICAEncoder(segment_length=100, max_epochs=20, random_state=0)
Z = encoder.fit_transform(X)[0]
# TCL recovers the sources up to a monotone transform: score |s| against the output,
# and against the observed mixtures as the baseline.
baseline = mean_correlation_coefficient(abs(bench.sources), bench.X)
print(f"MCC of the observed mixtures: {baseline:.2f}")
print(f"MCC of the TCL encoder:       {mean_correlation_coefficient(abs(bench.sources), Z):.2f}")

# %%
# Then the thermal faces: the channels are spatial moments of the frames,
# band-limited to 0-1 Hz; every 32 frames are one TCL segment. The synthetic
# sources are slow and smooth, a harder case for TCL than the benchmark, so
# the figure shows how far the recovered trajectories follow the truth.
faces = make_thermal_faces(n_subjects=2, n_segments=2, n_frames=128, frame_shape=(20, 20),
                           random_state=0)  # fmt: skip
channels = make_pipeline(
    HeatmapEmbedder("moments"),
    WaveletBandReconstructor("db4", level=3, keep=(0.0, 1.0), fs=faces.fs),
).fit_transform(faces.X)
with warnings.catch_warnings():
    # a short demonstration run: the FastICA post-step may stop early
    warnings.simplefilter("ignore", ConvergenceWarning)
    Z_faces = NonlinearICAEncoder(3, segment_length=32, max_epochs=5,
                                  random_state=0).fit_transform(channels)  # fmt: skip
print(f"MCC on thermal faces: {mean_correlation_coefficient(faces.sources, Z_faces):.2f}")
plot_sources(faces.sources, Z_faces, recording=0, fs=faces.fs,
             source_names=list(faces.source_regions))  # fmt: skip
