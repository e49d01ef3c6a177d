"""The search's fits run through joblib: in worker processes and on a dask cluster."""

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skheatmap.search import Real, TwoStageSearchCV, categorical_space

pytest.importorskip("optuna")


def make_search(**params):
    estimator = make_pipeline(StandardScaler(), LogisticRegression())
    space = categorical_space(
        estimator, {"logisticregression__fit_intercept": [True, False],
                    "standardscaler__with_std": [True, False]},
        continuous={"logisticregression__C": Real(0.01, 10.0, log=True)},
    )  # fmt: skip
    return TwoStageSearchCV(estimator, space, cv=3, factor=2, min_resources=20, top_k=1,
                            n_trials=3, random_state=0, **params)  # fmt: skip


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=90, random_state=0)
    return X, y, np.repeat(np.arange(9), 10)


@pytest.fixture(scope="module")
def sequential(data):
    X, y, groups = data
    return make_search().fit(X, y, groups=groups)


def assert_same_search(a, b):
    for key in ("branch", "stage", "fidelity", "mean_test_score", "split0_test_score"):
        np.testing.assert_array_equal(a.cv_results_[key], b.cv_results_[key])
    assert a.best_params_ == b.best_params_


def test_threads_reproduce_the_sequential_search(data, sequential):
    X, y, groups = data
    with parallel_config(backend="threading"):
        search = make_search(n_jobs=2).fit(X, y, groups=groups)
    assert_same_search(search, sequential)


def test_worker_processes_reproduce_the_sequential_search(data, sequential):
    X, y, groups = data
    assert_same_search(make_search(n_jobs=2).fit(X, y, groups=groups), sequential)


def test_a_dask_cluster_runs_the_search(data, sequential):
    distributed = pytest.importorskip("distributed")
    X, y, groups = data
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0")
    with (
        cluster,
        distributed.Client(cluster) as client,
        distributed.get_task_stream(client) as stream,
        parallel_config(backend="dask"),
    ):
        search = make_search(n_jobs=-1).fit(X, y, groups=groups)
    workers = {task["worker"] for task in stream.data}
    assert len(workers) == 2
    assert_same_search(search, sequential)
