"""Search over the mixed discrete–continuous space Θ = ⊔_c {c} × Θ_c of a pipeline.

- :func:`categorical_space` turns a pipeline of skheatmap stages into its
  branches (a tagged union), with the grids and distributions that sklearn's
  searches take and per-branch continuous spaces for Optuna.
- :class:`TwoStageSearchCV` screens every branch by successive halving at low
  fidelity, then runs Optuna TPE (with Hyperband pruning) in the best ones.
- :class:`GumbelSoftmaxChoice` relaxes one categorical axis so that a
  gradient-trained model chooses the branch; :func:`relaxed_axis_selection`
  discretises and re-evaluates.
- :func:`single_axis_ablation` varies one axis at a time around a base point.

Optuna (the ``[search]`` extra) is imported only when Stage B runs.
"""

from ._ablation import single_axis_ablation
from ._complexity import complexity_proxies, count_parameters
from ._dimensions import Integer, Real, evenly_spaced_percentiles
from ._fidelity import Fidelity
from ._relaxation import GumbelSoftmaxChoice, relaxed_axis_selection
from ._space import Branch, CategoricalSpace, categorical_space
from ._storage import resolve_storage
from ._two_stage import TwoStageSearchCV

__all__ = [
    "Branch",
    "CategoricalSpace",
    "Fidelity",
    "GumbelSoftmaxChoice",
    "Integer",
    "Real",
    "TwoStageSearchCV",
    "categorical_space",
    "complexity_proxies",
    "count_parameters",
    "evenly_spaced_percentiles",
    "relaxed_axis_selection",
    "resolve_storage",
    "single_axis_ablation",
]
