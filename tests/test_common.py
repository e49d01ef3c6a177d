"""Every public estimator through scikit-learn's common checks.

Estimators are discovered from ``skheatmap.__all__`` and from the ``__all__``
of every public module it exports (such as ``skheatmap.search``); a new
estimator is checked as soon as it is exported. An exemption needs a written
reason in ``EXPECTED_FAILED_CHECKS``.
"""

import inspect

import pytest
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

import skheatmap
from skheatmap import HeatmapEmbedder

# estimator class name -> {check name: reason}
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}

# estimator class name -> constructor parameters: the required ones, and those that keep the
# checks fast (small networks, few epochs, no Optuna stage); behaviour, not the contract, is
# what they change.
CHECK_PARAMS: dict[str, dict] = {
    "NonlinearICAEncoder": {"max_epochs": 2, "hidden_layer_sizes": (8,), "random_state": 0},
    "SoftDTWPairClassifier": {"max_epochs": 2, "random_state": 0},
    "TwoStageSearchCV": {
        "estimator": LogisticRegression(),
        "space": {"fit_intercept": [True, False]},
        "cv": 2,
        "top_k": 1,
        "n_trials": 0,
    },
    "GumbelSoftmaxChoice": {
        "candidates": [
            ("histogram", HeatmapEmbedder(method="histogram", bins=4)),
            ("median", HeatmapEmbedder(percentiles=[50])),
        ],
    },
}


def public_objects():
    """Every name exported by ``skheatmap``, and by the public modules it exports."""
    for name in skheatmap.__all__:
        obj = getattr(skheatmap, name)
        if inspect.ismodule(obj):
            yield from (getattr(obj, member) for member in getattr(obj, "__all__", ()))
        else:
            yield obj


def public_estimators():
    """One instance of every exported estimator class, built with its ``CHECK_PARAMS``."""
    classes = {
        obj
        for obj in public_objects()
        if inspect.isclass(obj) and issubclass(obj, BaseEstimator)
    }
    return [cls(**CHECK_PARAMS.get(cls.__name__, {})) for cls in sorted(classes, key=str)]


def expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


def test_search_estimators_are_discovered():
    found = {type(estimator).__name__ for estimator in public_estimators()}
    assert {"TwoStageSearchCV", "GumbelSoftmaxChoice"} <= found


# Two epochs on the checks' tiny random data cannot converge; convergence is
# tested on real problems in each estimator's own tests, not here.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(public_estimators(), expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
