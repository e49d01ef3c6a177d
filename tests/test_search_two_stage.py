"""TwoStageSearchCV: successive-halving rungs, TPE trials, pruning, warm start, best attributes."""

import math

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import make_classification
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skheatmap.search import Fidelity, Real, TwoStageSearchCV, categorical_space
from skheatmap.search._screening import halving_schedule

pytest.importorskip("optuna")

PARTIAL_FIT_CALLS = []


class RefitEpochClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression by SGD for ``max_epochs`` epochs, trained from scratch by ``fit``."""

    def __init__(self, max_epochs=3, alpha=1e-3, eta0=0.1, fs=None):
        self.max_epochs = max_epochs
        self.alpha = alpha
        self.eta0 = eta0
        self.fs = fs

    def fit(self, X, y, groups=None):
        self.groups_ = groups
        for attribute in ("sgd_", "n_epochs_"):
            self.__dict__.pop(attribute, None)
        for _ in range(self.max_epochs):
            self._epoch(X, y)
        return self

    def _epoch(self, X, y):
        if not hasattr(self, "sgd_"):
            self.sgd_ = SGDClassifier(loss="log_loss", alpha=self.alpha, eta0=self.eta0,
                                      learning_rate="constant", random_state=0)  # fmt: skip
            self.classes_, self.n_epochs_ = np.unique(y), 0
            self.n_frames_ = X.shape[1] if X.ndim == 3 else 1
        self.sgd_.partial_fit(X.reshape(len(X), -1), y, classes=self.classes_)
        self.n_epochs_ += 1
        return self

    def predict(self, X):
        return self.sgd_.predict(X.reshape(len(X), -1))


class EpochClassifier(RefitEpochClassifier):
    """:class:`RefitEpochClassifier` whose ``partial_fit`` trains one more epoch."""

    def partial_fit(self, X, y, classes=None):
        PARTIAL_FIT_CALLS.append(self.max_epochs)
        return self._epoch(X, y)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=96, n_features=8, n_informative=4, random_state=0)
    return X, y, np.repeat(np.arange(8), 12)


def make_search(classifier=None, **params):
    classifier = EpochClassifier(max_epochs=3) if classifier is None else classifier
    estimator = Pipeline([("standardscaler", StandardScaler()), ("epochclassifier", classifier)])
    space = categorical_space(
        estimator,
        {"epochclassifier__alpha": [1e-4, 1e-2, 1.0, 10.0], "standardscaler__with_std": [True]},
        continuous={"epochclassifier__eta0": Real(0.01, 1.0, log=True, default=0.1)},
        default_continuous=False,
    )
    defaults = dict(space=space, cv=4, factor=2, min_resources=18, top_k=2, n_trials=3,
                    random_state=0)  # fmt: skip
    return TwoStageSearchCV(estimator, **{**defaults, **params})


@pytest.fixture(scope="module")
def search(data):
    X, y, groups = data
    return make_search().fit(X, y, groups=groups)


def rows(search, stage):
    results = search.cv_results_
    return [{k: results[k][i] for k in results} for i in np.flatnonzero(results["stage"] == stage)]


# --------------------------------------------------------------------- Stage A


def test_first_rung_covers_every_branch(search):
    first = [r for r in rows(search, "A") if r["rung"] == 0]
    assert sorted(r["branch"] for r in first) == sorted(b.tag for b in search.space)


def test_rungs_multiply_the_resource_and_divide_the_candidates(search):
    stage_a = rows(search, "A")
    per_rung = [sum(r["rung"] == k for r in stage_a) for k in range(2)]
    fidelities = [f.value for f in search.stage_a_fidelities_]
    # two rungs take 4 candidates down to top_k=2; the last uses the smallest training fold
    assert fidelities == [36, 72]
    assert per_rung == [4, 2]
    assert search.stage_a_fidelities_[-1].full


def test_survivors_are_the_best_of_the_previous_rung(search):
    stage_a = rows(search, "A")
    first = sorted((r for r in stage_a if r["rung"] == 0), key=lambda r: -r["mean_test_score"])
    survivors = {r["branch"] for r in stage_a if r["rung"] == 1}
    assert survivors == {r["branch"] for r in first[:2]}


def test_low_rungs_train_on_label_balanced_subsets(search):
    fidelity = Fidelity("n_samples", 6)
    y = np.array([0] * 10 + [1] * 2)
    rows_ = fidelity.training_rows(np.arange(12), y, random_state=0)
    assert len(rows_) == 6 and np.sum(y[rows_] == 1) == 2


def test_full_rung_scores_equal_group_kfold_cross_validation(search, data):
    X, y, groups = data
    full = [r for r in rows(search, "A") if r["full_fidelity"]][0]
    estimator = clone(search.estimator).set_params(**full["params"])
    oracle = cross_val_score(estimator, X, y, groups=groups, cv=GroupKFold(4))
    np.testing.assert_allclose([full[f"split{i}_test_score"] for i in range(4)], oracle)


def test_rows_carry_complexity_proxies(search):
    for row in rows(search, "A") + rows(search, "B"):
        assert row["n_params"] > 0
        assert row["transform_latency"] > 0
        assert math.isnan(row["flops"])  # sklearn stages have no FLOPs model


# --------------------------------------------------------------------- Stage B


def test_one_study_per_top_branch_with_the_requested_trials(search):
    import optuna

    assert list(search.studies_) == search.top_branches_ and len(search.top_branches_) == 2
    for study in search.studies_.values():
        finished = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,
                                            optuna.trial.TrialState.PRUNED))  # fmt: skip
        assert len(finished) == 3
        assert all(t.params.keys() == {"epochclassifier__eta0"} for t in finished)


def test_top_branches_are_the_best_screened(search):
    stage_a = rows(search, "A")
    last = max(r["rung"] for r in stage_a)
    final = sorted((r for r in stage_a if r["rung"] == last), key=lambda r: -r["mean_test_score"])
    assert search.top_branches_ == [r["branch"] for r in final[:2]]


def test_warm_start_seeds_the_study_with_the_screened_point(search):
    for tag, study in search.studies_.items():
        screened = [r for r in rows(search, "A") if r["branch"] == tag and r["full_fidelity"]]
        first = study.trials[0]
        assert first.user_attrs["warm_start"] == "stage_a_result"
        assert first.value == pytest.approx(screened[0]["mean_test_score"])
        assert first.params["epochclassifier__eta0"] == pytest.approx(0.1)


def test_branch_without_continuous_parameters_is_not_evaluated_again(data):
    X, y, groups = data
    space = categorical_space(make_search().estimator, {"epochclassifier__alpha": [1e-4, 1e-2]},
                              default_continuous=False)  # fmt: skip
    search = make_search(space=space).fit(X, y, groups=groups)
    for tag, study in search.studies_.items():
        (copy,) = study.trials  # Stage A scored the branch's only point at full fidelity
        screened = [r for r in rows(search, "A") if r["branch"] == tag and r["full_fidelity"]]
        assert copy.user_attrs["warm_start"] == "stage_a_result" and copy.params == {}
        assert copy.value == pytest.approx(screened[0]["mean_test_score"])
    assert rows(search, "B") == []
    assert search.n_fits_ == len(rows(search, "A")) * 4


def test_low_fidelity_screened_point_is_evaluated_first_at_full_fidelity(data):
    X, y, groups = data
    # Stage A stops at 36 of the 72 training recordings, so its best points are low-fidelity
    search = make_search(max_resources=36, pruning=False).fit(X, y, groups=groups)
    assert not search.stage_a_fidelities_[-1].full
    for tag, study in search.studies_.items():
        first = study.trials[0]
        assert first.user_attrs["warm_start"] == "stage_a_point"
        (screened,) = [r for r in rows(search, "A") if r["branch"] == tag and r["rung"] == 1]
        eta0 = screened["params"]["epochclassifier__eta0"]
        assert first.params == {"epochclassifier__eta0": eta0}
        (row,) = [r for r in rows(search, "B") if r["branch"] == tag and r["trial"] == 0]
        assert row["full_fidelity"] and row["n_fits"] == 4
        estimator = clone(search.estimator).set_params(**row["params"])
        oracle = cross_val_score(estimator, X, y, groups=groups, cv=GroupKFold(4))
        assert row["mean_test_score"] == pytest.approx(oracle.mean())


def test_stage_b_rows_are_the_trials_that_ran(search):
    stage_b = rows(search, "B")
    assert len(stage_b) == 2 * 2  # 3 trials per branch, one of them copied from Stage A
    assert {r["branch"] for r in stage_b} == set(search.top_branches_)
    assert all(r["resource"] == "epochs" for r in stage_b)


def test_fit_count_adds_both_stages(search):
    stage_a_fits = len(rows(search, "A")) * 4
    stage_b_fits = sum(r["n_fits"] for r in rows(search, "B"))
    assert search.n_fits_ == stage_a_fits + stage_b_fits


def test_hyperband_prunes_and_partial_fit_continues_training(data):
    X, y, groups = data
    PARTIAL_FIT_CALLS.clear()
    search = make_search(n_trials=8, top_k=1, warm_start=False).set_params(
        estimator__epochclassifier__max_epochs=9, factor=3
    )
    search.fit(X, y, groups=groups)
    trials = rows(search, "B")
    assert {"PRUNED", "COMPLETE"} <= {t["state"] for t in trials}
    assert {t["fidelity"] for t in trials} <= {1.0, 3.0, 9.0}
    # continued training: a trial stopped after e epochs ran e epochs per fold, not 1 + 3 + ...
    assert len(PARTIAL_FIT_CALLS) == sum(t["fidelity"] for t in trials) * 4


def test_pruning_refits_from_scratch_without_partial_fit(data):
    X, y, groups = data
    search = make_search(RefitEpochClassifier(max_epochs=9), n_trials=8, top_k=1, factor=3,
                         warm_start=False).fit(X, y, groups=groups)  # fmt: skip
    trials = rows(search, "B")
    assert {"PRUNED", "COMPLETE"} <= {t["state"] for t in trials}
    for trial in trials:
        # a trial reports after 1, 3 and 9 epochs, each time a fresh fit of every fold
        assert trial["n_fits"] == 4 * (1 + round(math.log(trial["fidelity"], 3)))
        estimator = clone(search.estimator).set_params(
            **trial["params"], epochclassifier__max_epochs=int(trial["fidelity"])
        )
        oracle = cross_val_score(estimator, X, y, groups=groups, cv=GroupKFold(4))
        assert trial["mean_test_score"] == pytest.approx(oracle.mean())


class Interrupted(BaseException):
    """Stands for a kill: not an Exception, so neither error_score nor Optuna catches it."""


def test_unfinished_trials_stay_out_of_the_results(data, monkeypatch):
    import optuna

    X, y, groups = data
    # one storage for two searches, as a journal file is shared by processes
    search = make_search(EpochClassifier(max_epochs=9), n_trials=3, top_k=1, factor=3,
                         warm_start=False, storage=optuna.storages.InMemoryStorage())  # fmt: skip
    partial_fit, calls = EpochClassifier.partial_fit, []

    def interrupt_in_the_second_rung(self, X, y, classes=None):
        calls.append(1)
        if len(calls) > 4:  # after the first rung (1 epoch x 4 folds) recorded its result
            raise Interrupted
        return partial_fit(self, X, y, classes)

    monkeypatch.setattr(EpochClassifier, "partial_fit", interrupt_in_the_second_rung)
    with pytest.raises(Interrupted):
        search.fit(X, y, groups=groups)
    monkeypatch.setattr(EpochClassifier, "partial_fit", partial_fit)
    search.fit(X, y, groups=groups)

    (study,) = search.studies_.values()
    left_behind = study.trials[0]
    assert left_behind.state.name == "RUNNING" and "result" in left_behind.user_attrs
    stage_b = rows(search, "B")
    assert [r["trial"] for r in stage_b] == [1, 2, 3]
    assert {r["state"] for r in stage_b} <= {"COMPLETE", "PRUNED"}


def test_stage_b_trials_whose_fits_failed_are_recorded(data):
    X, y, groups = data
    space = categorical_space(
        make_search().estimator, {"epochclassifier__alpha": [1e-3]},
        continuous={"epochclassifier__eta0": Real(-1.0, 0.2, default=0.1)},
        default_continuous=False,
    )  # fmt: skip
    search = make_search(space=space, top_k=1, pruning=False, warm_start=False)
    with pytest.warns(FitFailedWarning, match="had failed fits"):
        search.fit(X, y, groups=groups)
    stage_b = rows(search, "B")
    failed = [r for r in stage_b if r["state"] == "FAIL"]
    assert failed, "no trial drew a negative eta0; change the seed"
    for row in failed:  # SGD rejects eta0 <= 0; Optuna marks the NaN score FAIL
        assert row["params"]["epochclassifier__eta0"] <= 0
        assert math.isnan(row["mean_test_score"]) and "eta0" in row["error"]
    (study,) = search.studies_.values()
    assert [r["trial"] for r in stage_b] == [t.number for t in study.trials]


# --------------------------------------------------------- groups of each fold

SEEN = []  # (method, recordings, groups) of every fit and partial_fit of GroupsRecorder


class GroupsRecorder(EpochClassifier):
    """Records the recordings (numbered in column 0 of X) and the groups each fit is given."""

    def fit(self, X, y, groups=None):
        SEEN.append(("fit", X[:, 0].astype(int), groups))
        return super().fit(X, y, groups)

    def partial_fit(self, X, y, classes=None, groups=None):
        SEEN.append(("partial_fit", X[:, 0].astype(int), groups))
        return super().partial_fit(X, y, classes)


@pytest.mark.parametrize(("pruning", "method"), [(False, "fit"), (True, "partial_fit")])
def test_final_step_is_given_the_groups_of_the_fold_it_trains_on(data, pruning, method):
    X, y, groups = data
    numbered = np.column_stack([np.arange(len(X)), X])
    estimator = make_pipeline(FunctionTransformer(), GroupsRecorder(max_epochs=3))
    space = categorical_space(
        estimator, {"groupsrecorder__alpha": [1e-4, 1e-2]},
        continuous={"groupsrecorder__eta0": Real(0.01, 1.0, log=True)}, default_continuous=False,
    )  # fmt: skip
    SEEN.clear()
    TwoStageSearchCV(estimator, space, cv=4, factor=2, top_k=1, n_trials=2, pruning=pruning,
                     refit=False, random_state=0).fit(numbered, y, groups=groups)  # fmt: skip
    trains = [train for train, _ in GroupKFold(4).split(X, y, groups)]
    assert method in {seen[0] for seen in SEEN}
    for _, recordings, seen_groups in SEEN:
        np.testing.assert_array_equal(seen_groups, groups[recordings])
        assert any(np.isin(recordings, train).all() for train in trains)


# ------------------------------------------------------------- best attributes


def test_best_candidate_is_the_top_full_fidelity_row(search):
    results = search.cv_results_
    full = np.flatnonzero(results["full_fidelity"].astype(bool) & (results["state"] == "COMPLETE"))
    assert search.best_index_ in full
    assert search.best_score_ == results["mean_test_score"][full].max()
    assert search.best_params_ == results["params"][search.best_index_]
    assert results["rank_test_score"][search.best_index_] == 1
    assert search.best_branch_.items() <= search.best_params_.items()


def test_best_estimator_is_refitted_with_groups(search, data):
    X, y, groups = data
    final = search.best_estimator_[-1]
    assert final.get_params()["alpha"] == search.best_params_["epochclassifier__alpha"]
    np.testing.assert_array_equal(final.groups_, groups)
    assert search.score(X, y) == final.score(search.best_estimator_[0].transform(X), y)


# ------------------------------------------------------------------ resources


def test_epochs_resource_scales_max_epochs(data):
    X, y, groups = data
    search = make_search(resource="epochs", min_resources=1, n_trials=0, top_k=1).set_params(
        estimator__epochclassifier__max_epochs=4
    )
    search.fit(X, y, groups=groups)
    assert [f.value for f in search.stage_a_fidelities_] == [1, 2, 4]
    assert Fidelity("epochs", 2).params(search.estimator) == {"epochclassifier__max_epochs": 2}


def test_a_searched_parameter_that_the_fidelity_sets_is_overridden_not_failed(data):
    X, y, groups = data
    estimator = Pipeline([("standardscaler", StandardScaler()),
                          ("epochclassifier", EpochClassifier(max_epochs=4))])  # fmt: skip
    space = categorical_space(estimator, {"epochclassifier__max_epochs": [4],
                                          "epochclassifier__alpha": [1e-4, 1.0]})  # fmt: skip
    search = TwoStageSearchCV(estimator, space, cv=2, resource="epochs", min_resources=1,
                              factor=2, top_k=1, n_trials=0, random_state=0)  # fmt: skip
    search.fit(X, y, groups=groups)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert not any(search.cv_results_["error"])


def test_downsample_resource_keeps_every_kth_frame_and_rescales_fs():
    estimator = make_pipeline(EpochClassifier(fs=8.0))
    fidelity = Fidelity("downsample", 1 / 4)
    X = np.arange(2 * 16 * 3).reshape(2, 16, 3)
    np.testing.assert_array_equal(fidelity.frames(X), X[:, ::4])
    assert fidelity.params(estimator) == {"epochclassifier__fs": 2.0}


def test_downsample_epochs_resource_scales_frames_fs_and_epochs_alike():
    estimator = make_pipeline(EpochClassifier(fs=8.0, max_epochs=10))
    fidelity = Fidelity("downsample_epochs", 1 / 4)
    X = np.arange(2 * 16 * 3).reshape(2, 16, 3)
    np.testing.assert_array_equal(fidelity.frames(X), X[:, ::4])
    assert fidelity.params(estimator) == {"epochclassifier__fs": 2.0,
                                          "epochclassifier__max_epochs": 3}  # fmt: skip
    # never fewer than one epoch
    assert Fidelity("downsample_epochs", 1 / 64).params(estimator)[
        "epochclassifier__max_epochs"
    ] == 1


def test_downsample_epochs_search_records_fractional_rungs(data):
    X, y, groups = data
    X3 = np.repeat(X[:, np.newaxis, :], 9, axis=1)
    search = TwoStageSearchCV(
        make_pipeline(EpochClassifier(max_epochs=4)),
        {"epochclassifier__alpha": [1e-4, 1e-2, 1.0, 10.0]},
        resource="downsample_epochs", factor=2, top_k=1, n_trials=0, cv=4,
    ).fit(X3, y, groups=groups)  # fmt: skip
    assert [f.value for f in search.stage_a_fidelities_] == pytest.approx([1 / 4, 1 / 2, 1])
    rows = search.cv_results_["stage"] == "A"
    assert set(search.cv_results_["resource"][rows]) == {"downsample_epochs"}
    assert search.stage_a_fidelities_[-1].full


def test_downsample_schedule_ends_at_all_frames(data):
    X, y, groups = data
    X3 = np.repeat(X[:, np.newaxis, :], 9, axis=1)  # 9 identical frames per recording
    search = TwoStageSearchCV(
        make_pipeline(EpochClassifier()), {"epochclassifier__alpha": [1e-4, 1e-2, 1.0, 10.0]},
        resource="downsample", factor=2, top_k=1, n_trials=0, cv=4,
    ).fit(X3, y, groups=groups)  # fmt: skip
    assert [f.value for f in search.stage_a_fidelities_] == pytest.approx([1 / 4, 1 / 2, 1])
    strides = {Fidelity("downsample", f.value).stride for f in search.stage_a_fidelities_}
    assert strides == {4, 2, 1}


def test_schedule_is_limited_by_the_number_of_candidates():
    estimator = EpochClassifier()
    schedule = halving_schedule("n_samples", estimator, 81, 2, factor=3, min_resources=1,
                                max_resources="auto", n_candidates=9, n_survivors=1)  # fmt: skip
    assert [f.value for f in schedule] == [9, 27, 81]


# --------------------------------------------------------------------- errors


def test_unknown_resource_is_rejected(data):
    X, y, groups = data
    with pytest.raises(ValueError, match="resource='frames'"):
        make_search(resource="frames").fit(X, y, groups=groups)


def test_min_resources_above_max_is_rejected(data):
    X, y, groups = data
    with pytest.raises(ValueError, match="min_resources=500"):
        make_search(min_resources=500).fit(X, y, groups=groups)


def test_when_every_fit_fails_the_estimators_own_error_surfaces(data):
    X, y, groups = data
    search = make_search(n_trials=0).set_params(estimator__epochclassifier__eta0=-1.0)
    search.set_params(space={"epochclassifier__alpha": [1e-3]})
    with pytest.raises(ValueError, match="'eta0' parameter of SGDClassifier"):
        search.fit(X, y, groups=groups)


def test_failed_candidates_are_recorded_with_a_warning(data):
    X, y, groups = data
    search = make_search(n_trials=0, space={"epochclassifier__eta0": [-1.0, 0.1]})
    with pytest.warns(FitFailedWarning, match="1 of 2 candidate evaluations had failed fits"):
        search.fit(X, y, groups=groups)
    failed = search.cv_results_["param_epochclassifier__eta0"] == -1.0
    assert np.isnan(search.cv_results_["mean_test_score"][failed]).all()
    assert "eta0" in search.cv_results_["error"][failed][0]
    assert search.best_params_["epochclassifier__eta0"] == 0.1
