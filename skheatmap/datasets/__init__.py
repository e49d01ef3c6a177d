"""Synthetic data with ground truth: thermal-face videos and nonlinear-ICA benchmarks."""

from ._nica_benchmarks import (
    make_icebeem_benchmark,
    make_ivae_benchmark,
    make_pcl_benchmark,
    make_tcl_benchmark,
    well_conditioned_matrix,
)
from ._thermal_faces import REGIONS, make_thermal_faces

__all__ = [
    "REGIONS",
    "make_thermal_faces",
    "make_icebeem_benchmark",
    "make_ivae_benchmark",
    "make_pcl_benchmark",
    "make_tcl_benchmark",
    "well_conditioned_matrix",
]
