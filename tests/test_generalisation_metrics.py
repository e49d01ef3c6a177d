"""Generalisation metrics: grouped cross-validation and the validation gap."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut, cross_validate

from skheatmap._generalisation_metrics import (
    generalisation_report,
    grouped_cv_scores,
    validation_gap,
)


class _GroupSpy(ClassifierMixin, BaseEstimator):
    """Scores 1 on recordings of groups it never saw in fit, 0 otherwise.

    The group of a recording is its first feature, so the score reveals leaks.
    """

    def fit(self, X, y, groups=None):
        self.classes_ = np.unique(y)
        self.seen_ = set(np.asarray(X)[:, 0].tolist())
        self.fit_groups_ = None if groups is None else set(np.asarray(groups).tolist())
        return self

    def score(self, X, y, sample_weight=None):
        return float(not self.seen_ & set(np.asarray(X)[:, 0].tolist()))


@pytest.fixture
def grouped_data():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(4), 10)
    X = np.column_stack([groups, rng.normal(size=(40, 2))])
    y = (X[:, 1] + 0.3 * rng.normal(size=40) > 0).astype(int)
    return X, y, groups


def test_validation_gap_is_mean_train_minus_mean_test():
    assert validation_gap([0.9, 1.0], [0.7, 0.8]) == pytest.approx(0.2)
    assert validation_gap([0.5], [0.75]) == pytest.approx(-0.25)


def test_validation_gap_needs_scores():
    with pytest.raises(ValueError, match="at least one"):
        validation_gap([], [0.5])


def test_scores_equal_sklearn_cross_validate_with_group_k_fold(grouped_data):
    X, y, groups = grouped_data
    scores = grouped_cv_scores(LogisticRegression(), X, y, groups, cv=2)
    expected = cross_validate(LogisticRegression(), X, y, groups=groups, cv=GroupKFold(2),
                              return_train_score=True)  # fmt: skip
    np.testing.assert_allclose(scores["test_scores"], expected["test_score"])
    np.testing.assert_allclose(scores["train_scores"], expected["train_score"])
    assert scores["test"] == pytest.approx(expected["test_score"].mean())
    assert scores["gap"] == pytest.approx(
        expected["train_score"].mean() - expected["test_score"].mean()
    )
    assert scores["n_splits"] == 2


def test_default_uses_one_fold_per_group_up_to_five(grouped_data):
    X, y, groups = grouped_data
    assert grouped_cv_scores(LogisticRegression(), X, y, groups)["n_splits"] == 4


def test_no_group_is_on_both_sides_of_a_split(grouped_data):
    X, y, groups = grouped_data
    scores = grouped_cv_scores(_GroupSpy(), X, y, groups, cv=LeaveOneGroupOut())
    assert scores["test_scores"] == [1.0] * 4
    assert scores["train_scores"] == [0.0] * 4
    assert scores["gap"] == -1.0


def test_fit_params_are_sliced_per_split(grouped_data):
    X, y, groups = grouped_data
    result = cross_validate(_GroupSpy(), X, y, groups=groups, cv=GroupKFold(2),
                            params={"groups": groups}, return_estimator=True)  # fmt: skip
    scores = grouped_cv_scores(_GroupSpy(), X, y, groups, cv=2, params={"groups": groups})
    assert scores["n_splits"] == 2
    assert all(len(est.fit_groups_) == 2 for est in result["estimator"])


def test_one_group_is_rejected(grouped_data):
    X, y, _ = grouped_data
    with pytest.raises(ValueError, match="at least 2 groups"):
        grouped_cv_scores(LogisticRegression(), X, y, np.zeros(40))


def test_report_has_cross_session_only_with_sessions(grouped_data):
    X, y, groups = grouped_data
    without = generalisation_report(LogisticRegression(), X, y, subjects=groups)
    assert list(without) == ["cross_subject"]
    sessions = np.tile([0, 1], 20)
    both = generalisation_report(LogisticRegression(), X, y, subjects=groups, sessions=sessions)
    expected = grouped_cv_scores(LogisticRegression(), X, y, sessions)
    assert both["cross_session"] == expected
    assert both["cross_session"]["n_splits"] == 2
