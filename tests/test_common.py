"""Every public estimator through scikit-learn's common checks.

Estimators are discovered from ``skheatmap.__all__``; a new estimator is
checked as soon as it is exported. An exemption needs a written reason in
``EXPECTED_FAILED_CHECKS``.
"""

import inspect

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

import skheatmap

# estimator class name -> {check name: reason}
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {}

# estimator class name -> constructor parameters that keep the checks fast
# (small networks, few epochs); behaviour, not the contract, is what they change.
CHECK_PARAMS: dict[str, dict] = {
    "NonlinearICAEncoder": {"max_epochs": 2, "hidden_layer_sizes": (8,), "random_state": 0},
    "SoftDTWPairClassifier": {"max_epochs": 2, "random_state": 0},
}


def public_estimators():
    """Instances, with default parameters, of every exported estimator class."""
    found = []
    for name in skheatmap.__all__:
        obj = getattr(skheatmap, name)
        if inspect.isclass(obj) and issubclass(obj, BaseEstimator):
            found.append(obj(**CHECK_PARAMS.get(name, {})))
    return found


def expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


# Two epochs on the checks' tiny random data cannot converge; convergence is
# tested on real problems in each estimator's own tests, not here.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(public_estimators(), expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
