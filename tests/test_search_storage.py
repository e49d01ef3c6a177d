"""Searches in shared Optuna storage: two processes on one journal, kill-and-resume, reuse."""

import importlib.util
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skheatmap.search import Real, TwoStageSearchCV, categorical_space

optuna = pytest.importorskip("optuna")

SCRIPT = textwrap.dedent(
    '''
    """A TwoStageSearchCV whose Stage B studies live in a journal file."""
    import pathlib
    import sys
    import time

    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from skheatmap.search import Real, TwoStageSearchCV, categorical_space


    class SlowLogistic(ClassifierMixin, BaseEstimator):
        delay = 0.0  # the pace of this process's fits, not a parameter of the search

        def __init__(self, C=1.0, fit_intercept=True):
            self.C = C
            self.fit_intercept = fit_intercept

        def fit(self, X, y):
            time.sleep(self.delay)
            self.model_ = LogisticRegression(C=self.C, fit_intercept=self.fit_intercept)
            self.model_.fit(X, y)
            self.classes_ = self.model_.classes_
            return self

        def predict(self, X):
            return self.model_.predict(X)


    def wait_for_peers(barrier, n_processes):
        barrier = pathlib.Path(barrier)
        (barrier / f"ready-{id(barrier)}-{time.time_ns()}").touch()
        deadline = time.monotonic() + 120
        while len(list(barrier.iterdir())) < n_processes and time.monotonic() < deadline:
            time.sleep(0.05)


    def run(journal, n_trials, delay):
        SlowLogistic.delay = delay
        X, y = make_classification(n_samples=60, random_state=0)
        space = categorical_space(
            SlowLogistic(), {"fit_intercept": [True]},
            continuous={"C": Real(0.01, 10.0, log=True)},
        )
        search = TwoStageSearchCV(
            SlowLogistic(), space, cv=2, top_k=1, n_trials=n_trials,
            warm_start=False, storage=journal, study_name="shared", random_state=0,
        )
        return search.fit(X, y)


    if __name__ == "__main__":
        journal, n_trials, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
        if len(sys.argv) > 4:
            wait_for_peers(sys.argv[4], int(sys.argv[5]))
        run(journal, n_trials, delay)
    '''
)

STUDY = "shared[fit_intercept=True]"


@pytest.fixture
def journal_module(script):
    spec = importlib.util.spec_from_file_location("journal_search", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "journal_search.py"
    path.write_text(SCRIPT)
    return path


def load_trials(journal):
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    try:
        study = optuna.load_study(study_name=STUDY, storage=storage)
    except KeyError:  # not created yet
        return []
    return study.get_trials(deepcopy=False)


def finished(trials):
    return [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]


def launch(script, *args):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip


def test_two_processes_share_one_journal(script, tmp_path):
    journal, barrier = tmp_path / "search.journal", tmp_path / "barrier"
    barrier.mkdir()
    processes = [launch(script, journal, 8, 0.2, barrier, 2) for _ in range(2)]
    for process in processes:
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors.decode()
    done = finished(load_trials(journal))
    # each process stops when the study holds 8 finished trials; one may be mid-trial then
    assert 8 <= len(done) <= 9
    assert {t.user_attrs["pid"] for t in done} == {p.pid for p in processes}


def test_killed_search_resumes_without_losing_finished_trials(script, journal_module, tmp_path):
    journal = tmp_path / "search.journal"
    process = launch(script, journal, 10, 0.3)
    deadline = time.monotonic() + 90
    while len(finished(load_trials(journal))) < 3 and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.1)
    process.kill()
    process.communicate()
    before = {t.number: (t.params, t.value) for t in finished(load_trials(journal))}
    assert 3 <= len(before) < 10

    search = journal_module.run(str(journal), 10, 0.0)

    after = finished(load_trials(journal))
    assert len(after) == 10
    assert {t.number: (t.params, t.value) for t in after if t.number in before} == before
    resumed = [t for t in after if t.user_attrs["pid"] == os.getpid()]
    assert len(resumed) == 10 - len(before)
    assert (search.cv_results_["stage"] == "B").sum() == 10


class Interrupted(BaseException):
    """Stands for a kill: not an Exception, so no error_score swallows it."""


def test_interrupted_search_resumes_in_the_same_journal(journal_module, tmp_path, monkeypatch):
    journal = str(tmp_path / "search.journal")
    fit = journal_module.SlowLogistic.fit
    calls = []

    def interrupt_after_some_fits(self, X, y):
        calls.append(1)
        if len(calls) == 2 + 2 * 3 + 1:  # Stage A (2 folds), 3 trials of 2 folds, then stop
            raise Interrupted
        return fit(self, X, y)

    monkeypatch.setattr(journal_module.SlowLogistic, "fit", interrupt_after_some_fits)
    with pytest.raises(Interrupted):
        journal_module.run(journal, 6, 0.0)
    before = {t.number: (t.params, t.value) for t in finished(load_trials(journal))}
    assert len(before) == 3

    monkeypatch.setattr(journal_module.SlowLogistic, "fit", fit)
    search = journal_module.run(journal, 6, 0.0)
    trials = load_trials(journal)
    assert {t.number: (t.params, t.value) for t in trials if t.number in before} == before
    assert len(finished(trials)) == 6
    # the interrupted trial stays RUNNING, as a killed process's would, and does not count
    assert [t.state.name for t in trials].count("RUNNING") == 1
    assert search.n_fits_ == 2 * 3  # Stage A from the journal, then the 3 missing trials


# ---------------------------------------------------------------- Stage A in storage


class CountedLogistic(LogisticRegression):
    """Logistic regression that counts its fits in ``FITS`` (and stops when told to)."""

    def fit(self, X, y):
        FITS.append(1)
        if len(FITS) == STOP_AT_FIT[0]:
            raise Interrupted
        if len(FITS) == FAIL_AT_FIT[0]:
            raise MemoryError("a passing failure")
        return super().fit(X, y)


FITS, STOP_AT_FIT, FAIL_AT_FIT = [], [0], [0]
# 4 branches x 2 points, 3 folds, factor 2: rungs of 15, 30 and 60 recordings
STAGE_A_EVALUATIONS = 8 + 4 + 2


@pytest.fixture
def fits():
    FITS.clear()
    STOP_AT_FIT[0] = FAIL_AT_FIT[0] = 0
    return FITS


@pytest.fixture(scope="module")
def screening_data():
    X, y = make_classification(n_samples=90, random_state=0)
    return X, y, np.repeat(np.arange(9), 10)


def screening_search(storage, **params):
    estimator = make_pipeline(StandardScaler(), CountedLogistic())
    space = categorical_space(
        estimator, {"countedlogistic__fit_intercept": [True, False],
                    "standardscaler__with_std": [True, False]},
        continuous={"countedlogistic__C": Real(0.01, 10.0, log=True)},
    )  # fmt: skip
    defaults = dict(cv=3, factor=2, min_resources=15, n_candidates_per_branch=2, top_k=1,
                    n_trials=0, refit=False, storage=storage, study_name="screen",
                    random_state=0)  # fmt: skip
    return TwoStageSearchCV(estimator, space, **{**defaults, **params})


def assert_same_results(a, b):
    for key in ("stage", "branch", "trial", "fidelity", "mean_test_score", "rank_test_score",
                "split0_test_score", "split1_test_score", "split2_test_score"):  # fmt: skip
        np.testing.assert_array_equal(a.cv_results_[key], b.cv_results_[key])
    assert a.best_params_ == b.best_params_


def stored_evaluations(journal):
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    return optuna.load_study(study_name="screen[stage A]", storage=storage).trials


def test_a_repeated_search_fits_nothing_again(screening_data, fits, tmp_path):
    X, y, groups = screening_data
    journal = tmp_path / "search.journal"
    first = screening_search(journal, n_trials=2).fit(X, y, groups=groups)
    # Stage B: the warm start (Stage A's best, not refitted) and 1 TPE trial
    assert len(fits) == first.n_fits_ == (STAGE_A_EVALUATIONS + 1) * 3
    assert len(stored_evaluations(journal)) == STAGE_A_EVALUATIONS

    fits.clear()
    second = screening_search(journal, n_trials=2).fit(X, y, groups=groups)
    assert len(fits) == second.n_fits_ == 0
    assert_same_results(second, first)


def test_a_search_interrupted_in_stage_a_refits_only_unfinished_evaluations(
    screening_data, fits, tmp_path
):
    X, y, groups = screening_data
    journal = tmp_path / "search.journal"
    uninterrupted = screening_search(None).fit(X, y, groups=groups)
    fits.clear()
    STOP_AT_FIT[0] = 5 * 3 + 2  # in the 6th evaluation of the first rung
    with pytest.raises(Interrupted):
        screening_search(journal).fit(X, y, groups=groups)
    assert len(stored_evaluations(journal)) == 5

    fits.clear()
    STOP_AT_FIT[0] = 0
    resumed = screening_search(journal).fit(X, y, groups=groups)
    assert len(fits) == resumed.n_fits_ == (STAGE_A_EVALUATIONS - 5) * 3
    assert_same_results(resumed, uninterrupted)


@pytest.mark.parametrize("change", ["factor", "data"])
def test_another_search_does_not_reuse_the_stored_evaluations(
    screening_data, fits, tmp_path, change
):
    X, y, groups = screening_data
    journal = tmp_path / "search.journal"
    screening_search(journal).fit(X, y, groups=groups)
    search, X = (
        (screening_search(journal, factor=3), X) if change == "factor"
        else (screening_search(journal), X + 1.0)
    )  # fmt: skip
    fits.clear()
    with pytest.raises(ValueError, match="study 'screen\\[stage A\\]'.*another study_name"):
        search.fit(X, y, groups=groups)
    assert fits == []
    # under its own name, the other search starts afresh
    search.set_params(study_name="other").fit(X, y, groups=groups)
    assert len(fits) == search.n_fits_ > 0


def test_a_failed_stage_a_evaluation_is_run_again_on_resume(screening_data, fits, tmp_path):
    X, y, groups = screening_data
    journal = tmp_path / "search.journal"
    FAIL_AT_FIT[0] = 2  # the second fold of the first evaluation
    with pytest.warns(FitFailedWarning, match="1 of 14 candidate evaluations had failed fits"):
        failed = screening_search(journal).fit(X, y, groups=groups)
    assert np.isnan(failed.cv_results_["mean_test_score"]).sum() == 1
    fits.clear()
    FAIL_AT_FIT[0] = 0
    resumed = screening_search(journal).fit(X, y, groups=groups)
    # the failed evaluation (3 folds) is fitted again, now scores, and may go up the
    # rungs it was dropped from; what had succeeded is reused
    assert 3 <= len(fits) == resumed.n_fits_ < STAGE_A_EVALUATIONS * 3
    assert np.isfinite(resumed.cv_results_["mean_test_score"]).all()
    fits.clear()
    assert_same_results(screening_search(tmp_path / "fresh.journal").fit(X, y, groups=groups),
                        resumed)  # fmt: skip
