"""skheatmap: scikit-learn estimators for facial thermal heatmap videos.

A recording of ``T`` heatmaps goes through an embedding (``HeatmapEmbedder``),
a wavelet band reconstruction (``WaveletBandReconstructor``) and a nonlinear
ICA encoder (``NonlinearICAEncoder``); a soft-DTW pair classifier learns to
compare the resulting trajectories. Public names are imported lazily so that
``import skheatmap`` does not import torch.
"""

import importlib

__version__ = "0.1.0.dev0"

# public name -> module that defines it
_PUBLIC = {
    "HeatmapEmbedder": "skheatmap.embedding",
    "WaveletBandReconstructor": "skheatmap.wavelet",
    "NonlinearICAEncoder": "skheatmap.ica",
    "SoftDTWPairClassifier": "skheatmap.classifier",
    "evaluate": "skheatmap.evaluation",
    "EvaluationReport": "skheatmap.evaluation",
    "to_dataset": "skheatmap._validation",
    "lengths_of": "skheatmap._validation",
    "datasets": "skheatmap.datasets",
    "metrics": "skheatmap.metrics",
    "evaluation": "skheatmap.evaluation",
    "plotting": "skheatmap.plotting",
    "persistence": "skheatmap.persistence",
    "softdtw": "skheatmap.softdtw",
    "lag": "skheatmap.lag",
    "pairs": "skheatmap.pairs",
    "objectives": "skheatmap.objectives",
    "search": "skheatmap.search",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name):
    if name in _PUBLIC:
        module = importlib.import_module(_PUBLIC[name])
        value = module if module.__name__ == f"skheatmap.{name}" else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'skheatmap' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
