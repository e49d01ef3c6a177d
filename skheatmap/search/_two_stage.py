"""TwoStageSearchCV: coarse successive halving across branches, then TPE within the best ones."""

import copy
import numbers
import time
import warnings

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, MetaEstimatorMixin, _fit_context, clone
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import check_scoring
from sklearn.model_selection import GroupKFold, check_cv
from sklearn.utils import check_random_state, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import assert_all_finite, check_is_fitted, indexable

from .._checkpoint import fingerprint
from ._evaluation import routed_fit_params
from ._fidelity import RESOURCES
from ._focused import epoch_rungs, optimize_branch
from ._optuna import import_optuna
from ._results import rows_to_columns
from ._screening import halving_schedule, screen_branches
from ._space import CategoricalSpace, categorical_space
from ._storage import (
    ScreeningStore,
    open_study,
    quiet_optuna,
    recorded_result,
    resolve_storage,
    stored_summary,
)

__all__ = ["TwoStageSearchCV"]

# the parameters that decide Stage A's evaluations, besides the data, splits and space
# (random_state decides which points and subsets are drawn, and is part of each one's key)
_STAGE_A_PARAMS = ("estimator", "scoring", "resource", "factor", "min_resources",
                   "max_resources", "n_candidates_per_branch", "top_k", "error_score")  # fmt: skip


def _raise_if_all_failed(rows, n_splits, estimator, X, y, groups):
    """When no fit succeeded, surface the first candidate's own error (with its type)."""
    if rows and all(row["error"] is not None for row in rows):
        candidate = clone(estimator).set_params(**rows[0]["params"])
        candidate.fit(X, y, **routed_fit_params(candidate, groups))
        last_line = rows[0]["error"].strip().splitlines()[-1]
        raise ValueError(
            f"All the {len(rows) * n_splits} fits of Stage A failed; the first failure was: "
            f"{last_line}\n(error_score='raise' shows the whole traceback)."
        )


def _best_has(method):
    def check(self):
        check_is_fitted(self, "best_estimator_")
        return hasattr(self.best_estimator_, method)

    return check


class TwoStageSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Search Θ = ⊔_c {c} × Θ_c: successive halving across branches, then TPE per top branch.

    **Stage A** (coarse screening) evaluates ``n_candidates_per_branch``
    points of every branch ``c`` (the centre of Θ_c, then random points) with
    successive halving: all candidates at a low fidelity, the best
    ``1/factor`` at a ``factor`` times richer one, and so on. The fidelity
    ``resource`` is the number of training recordings, the number of training
    epochs, a temporal downsampling of the recordings, or the last two
    together. Every evaluation
    records the cross-validated score and complexity proxies (parameter count,
    FLOPs per recording, transform latency).

    **Stage B** (focused optimisation) runs, for each of the ``top_k`` best
    branches, an Optuna study with a TPE sampler over Θ_c. Trials report
    their cross-validated score after ``E/factor^k ... E`` epochs and are
    pruned by Hyperband; an estimator whose final step has ``partial_fit``
    continues training between reports, others are refitted from scratch
    with more epochs. The study starts from the branch's best Stage-A point
    (warm start). Early stopping on held-out subjects is the final step's
    own: in every cross-validation fit its ``fit`` (and ``partial_fit``, if
    that accepts ``groups``) receives the groups of the fold's training
    recordings, so it holds out whole training subjects, never test ones.

    Studies may live in shared storage (an RDB URL or a journal file), so
    several processes or machines can run Stage B together, and a search
    that was interrupted resumes with its finished trials. Stage A's
    evaluations are stored there too, each as soon as its fits are done,
    so a resumed search (with an int ``random_state``) refits only the
    evaluations that had not finished.

    Parameters
    ----------
    estimator : estimator
        A Pipeline of skheatmap stages (or any estimator with ``score``).
    space : CategoricalSpace, dict, list of str or None, default=None
        The branches: a :func:`categorical_space` of ``estimator``, or the
        ``axes`` to build one with (None: the default axes).
    scoring : str, callable or None, default=None
        Scorer; None uses ``estimator.score`` (pair ROC AUC for
        :class:`~skheatmap.SoftDTWPairClassifier`).
    cv : int, cross-validation generator or None, default=None
        Splitter. With ``groups`` and an int or None, ``GroupKFold`` (5 folds,
        or ``cv``), so that test subjects are never seen in training.
    resource : {"n_samples", "epochs", "downsample", "downsample_epochs"} or str, \
            default="n_samples"
        Stage-A fidelity: training recordings; epochs (every ``max_epochs``
        scaled); the fraction of frames kept; that fraction of the frames
        and of every ``max_epochs`` (cheapest when short recordings leave a
        fit dominated by its per-epoch cost); or any integer parameter path.
    factor : int, default=3
        Halving (and Hyperband reduction) factor.
    min_resources, max_resources : "auto" or number, default="auto"
        Resource of the first and last Stage-A rung. "auto": ``2 * n_classes``
        recordings, 1 epoch or ``1/factor³`` of the frames; the full resource.
    n_candidates_per_branch : int, default=1
        Stage-A points per branch.
    top_k : int, default=2
        Branches optimised in Stage B.
    n_trials : int, default=10
        Finished Stage-B trials per branch (1 for a branch without Θ_c; 0
        skips Stage B). A warm-start trial counts.
    pruning : bool, default=True
        Hyperband pruning on epoch rungs (needs a ``max_epochs`` parameter).
    warm_start : bool, default=True
        Start each study from its branch's best Stage-A point: a
        full-fidelity result is added as a finished trial, a low-fidelity
        point is evaluated first. A branch without Θ_c that Stage A scored at
        full fidelity is therefore not evaluated again.
    timeout : float or None, default=None
        Seconds per branch study.
    storage : None, str, path or optuna storage, default=None
        Where studies live: None (memory), an RDB URL (``"sqlite:///s.db"``)
        or a journal file path (see :func:`resolve_storage`).
    study_name : str, default="skheatmap"
        Stage-B studies are named ``f"{study_name}[{branch.tag}]"`` and the
        Stage-A one ``f"{study_name}[stage A]"``; processes that share
        storage and name share trials. The Stage-A study records a
        fingerprint of the data, the splits, the space and the parameters
        that decide Stage A; fitting other data or another configuration
        under the same name in the same storage raises a ValueError.
    refit : bool, default=True
        Refit the best candidate on all the data as ``best_estimator_``.
    error_score : "raise" or float, default=np.nan
        Score of a failed fit.
    n_jobs : int or None, default=None
        Parallel fits through joblib; under ``joblib.parallel_config(backend=
        "dask")`` they run on a dask cluster.
    random_state : int, RandomState instance or None, default=None
        Seeds Stage-A sampling and subsampling and the TPE samplers (not the
        estimator).
    verbose : int, default=0

    Attributes
    ----------
    cv_results_ : dict of ndarray
        One row per Stage-A evaluation (candidate x rung) and per Stage-B
        trial that ran to its end (complete, pruned, or failed fits; not a
        warm-start copy of a Stage-A row, nor a trial still running in a peer
        process or left unfinished by a killed one): ``stage`` ("A"/"B"),
        ``branch`` (tag), ``trial``, ``state``, ``resource``, ``fidelity``,
        ``full_fidelity``, ``params`` and ``param_*``, ``split{i}_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score`` (full-fidelity rows first),
        ``mean_fit_time``, ``n_fits``, ``total_fit_time``, ``n_params``,
        ``flops`` (per recording), ``transform_latency`` (seconds per
        recording), ``error``.
    best_index_ : int
    best_score_ : float
    best_params_ : dict
    best_branch_ : dict
        The categorical choices of the best candidate.
    best_estimator_ : estimator
        Refitted on all the data (``refit=True``).
    top_branches_ : list of str
        Tags of the branches Stage A selected.
    stage_a_fidelities_ : list of Fidelity
    studies_ : dict
        Branch tag → Optuna study.
    n_fits_ : int
        Fits run by this process (not counting the refit, nor the fits of
        evaluations taken from ``storage``).
    n_splits_ : int
    refit_time_ : float
    scorer_ : callable

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skheatmap import HeatmapEmbedder, WaveletBandReconstructor
    >>> from skheatmap.classifier import SoftDTWPairClassifier
    >>> from skheatmap.datasets import make_thermal_faces
    >>> from skheatmap.search import TwoStageSearchCV
    >>> faces = make_thermal_faces(n_subjects=4, n_segments=2, n_frames=32,
    ...                            frame_shape=(8, 8), random_state=0)
    >>> pipe = make_pipeline(HeatmapEmbedder(), WaveletBandReconstructor(level=1),
    ...                      SoftDTWPairClassifier(max_epochs=2, random_state=0))
    >>> search = TwoStageSearchCV(
    ...     pipe, {"heatmapembedder__method": ["moments", "percentiles"]}, cv=2,
    ...     top_k=1, n_trials=2, min_resources=2, random_state=0,
    ... ).fit(faces.X, faces.y, groups=faces.groups)
    >>> sorted(set(search.cv_results_["stage"]))
    ['A', 'B']
    >>> search.best_branch_["heatmapembedder__method"] in ("moments", "percentiles")
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        "space": [CategoricalSpace, dict, list, tuple, None],
        "scoring": [str, callable, None],
        "cv": ["cv_object"],
        "resource": [str],
        "factor": [Interval(numbers.Integral, 2, None, closed="left")],
        "min_resources": [StrOptions({"auto"}), Interval(numbers.Real, 0, None, closed="neither")],
        "max_resources": [StrOptions({"auto"}), Interval(numbers.Real, 0, None, closed="neither")],
        "n_candidates_per_branch": [Interval(numbers.Integral, 1, None, closed="left")],
        "top_k": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_trials": [Interval(numbers.Integral, 0, None, closed="left")],
        "pruning": ["boolean"],
        "warm_start": ["boolean"],
        "timeout": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "storage": "no_validation",  # None, URL, journal path or an optuna storage
        "study_name": [str],
        "refit": ["boolean"],
        "error_score": [StrOptions({"raise"}), numbers.Real],
        "n_jobs": [numbers.Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator,
        space=None,
        *,
        scoring=None,
        cv=None,
        resource="n_samples",
        factor=3,
        min_resources="auto",
        max_resources="auto",
        n_candidates_per_branch=1,
        top_k=2,
        n_trials=10,
        pruning=True,
        warm_start=True,
        timeout=None,
        storage=None,
        study_name="skheatmap",
        refit=True,
        error_score=np.nan,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.space = space
        self.scoring = scoring
        self.cv = cv
        self.resource = resource
        self.factor = factor
        self.min_resources = min_resources
        self.max_resources = max_resources
        self.n_candidates_per_branch = n_candidates_per_branch
        self.top_k = top_k
        self.n_trials = n_trials
        self.pruning = pruning
        self.warm_start = warm_start
        self.timeout = timeout
        self.storage = storage
        self.study_name = study_name
        self.refit = refit
        self.error_score = error_score
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, groups=None):
        """Run Stage A and Stage B and refit the best candidate.

        Parameters
        ----------
        X : array-like of shape (n, ...)
            Recordings.
        y : array-like of shape (n,)
        groups : array-like of shape (n,), optional
            Subject of each recording: cross-validation is group-aware and the
            final step's early stopping holds out whole subjects.

        Returns
        -------
        self : TwoStageSearchCV
        """
        X, y, groups = indexable(X, y, groups)
        X, y = (X if sparse.issparse(X) else np.asarray(X)), np.asarray(y)
        assert_all_finite(y, input_name="y")  # X may be NaN-padded; labels never are
        groups = None if groups is None else np.asarray(groups)
        self._check_resource()
        space = self._space()
        splits = self._splits(X, y, groups)
        self.n_splits_ = len(splits)
        self.scorer_ = check_scoring(self.estimator, scoring=self.scoring)
        rng = check_random_state(self.random_state)
        data = (X, y, groups, splits, self.scorer_)
        storage = resolve_storage(self.storage)

        rows_a, ranking, best = self._stage_a(space, data, rng, storage)
        _raise_if_all_failed(rows_a, self.n_splits_, self.estimator, X, y, groups)
        top = ranking[: self.top_k]
        self.top_branches_ = [space[b].tag for b in top]
        rows = rows_a + self._stage_b(space, top, best, data, rng, storage)
        failed = sum(row["error"] is not None for row in rows)
        if failed:
            warnings.warn(
                f"{failed} of {len(rows)} candidate evaluations had failed fits "
                "(score set to error_score); see cv_results_['error'].",
                FitFailedWarning,
                stacklevel=2,
            )
        self._set_results(rows)
        if self.refit:
            start = time.perf_counter()
            self.best_estimator_ = clone(self.estimator).set_params(**self.best_params_)
            self.best_estimator_.fit(X, y, **routed_fit_params(self.best_estimator_, groups))
            self.refit_time_ = time.perf_counter() - start
        return self

    # ------------------------------------------------------------------ stages

    def _check_resource(self):
        valid = self.estimator.get_params(deep=True)
        if self.resource not in RESOURCES and self.resource not in valid:
            raise ValueError(
                f"resource={self.resource!r} is neither one of {RESOURCES} nor a parameter of "
                f"{type(self.estimator).__name__}."
            )

    def _space(self):
        if isinstance(self.space, CategoricalSpace):
            return self.space
        return categorical_space(self.estimator, self.space)

    def _splits(self, X, y, groups):
        cv = self.cv
        if groups is not None and (cv is None or isinstance(cv, numbers.Integral)):
            cv = GroupKFold(n_splits=5 if cv is None else cv)
        cv = check_cv(cv, y, classifier=get_tags(self.estimator).estimator_type == "classifier")
        return list(cv.split(X, y, groups))

    def _screening_store(self, space, data, storage):
        """The study of Stage A's evaluations in ``storage`` (None without storage)."""
        if storage is None:
            return None
        X, y, groups, splits, _ = data
        params = self.get_params(deep=False)
        search = fingerprint(
            {name: params[name] for name in _STAGE_A_PARAMS},
            [(branch.choices, branch.dimensions) for branch in space],
            X, y, groups, splits,
        )  # fmt: skip
        with quiet_optuna(self.verbose):
            return ScreeningStore(storage, f"{self.study_name}[stage A]", search)

    def _stage_a(self, space, data, rng, storage):
        X, y, groups, splits, scorer = data
        n_train = min(len(train) for train, _ in splits)
        self.stage_a_fidelities_ = halving_schedule(
            self.resource, self.estimator, n_train, np.unique(y).size, factor=self.factor,
            min_resources=self.min_resources, max_resources=self.max_resources,
            n_candidates=len(space) * self.n_candidates_per_branch, n_survivors=self.top_k,
        )  # fmt: skip
        rows, ranking, best, n_evaluated = screen_branches(
            self.estimator, space, X, y, groups, splits, scorer, self.stage_a_fidelities_,
            n_candidates_per_branch=self.n_candidates_per_branch, factor=self.factor,
            top_k=self.top_k, n_jobs=self.n_jobs, random_state=rng,
            error_score=self.error_score, verbose=self.verbose,
            store=self._screening_store(space, data, storage),
        )  # fmt: skip
        self.n_fits_ = n_evaluated * len(splits)
        if self.verbose:
            print(f"Stage A: {len(rows)} evaluations over {len(self.stage_a_fidelities_)} rungs")
        return [self._stage_a_row(space, row) for row in rows], ranking, best

    def _stage_a_row(self, space, row):
        branch, fidelity = space[row["branch"]], row["fidelity"]
        summary = {k: v for k, v in row.items()
                   if k not in ("branch", "numbers", "fidelity", "candidate")}  # fmt: skip
        return {
            "stage": "A", "branch": branch.tag, "trial": row["candidate"], "state": "COMPLETE",
            "resource": fidelity.resource, "fidelity": float(fidelity.value),
            "full_fidelity": fidelity.full, "params": branch.params(row["numbers"]), **summary,
            "n_fits": self.n_splits_, "total_fit_time": row["mean_fit_time"] * self.n_splits_,
        }  # fmt: skip

    def _stage_b(self, space, top, best, data, rng, storage):
        if self.n_trials == 0:
            self.studies_ = {}
            return []
        optuna = import_optuna()
        X, y, groups, splits, scorer = data
        rungs = epoch_rungs(self.estimator, self.factor, self.pruning)
        seed = rng.randint(np.iinfo(np.int32).max)
        self.studies_, rows = {}, []
        with quiet_optuna(self.verbose):
            for b in top:
                branch = space[b]
                pruner = (
                    optuna.pruners.HyperbandPruner(
                        min_resource=int(rungs[0].value), max_resource=int(rungs[-1].value),
                        reduction_factor=self.factor,
                    )  # fmt: skip
                    if len(rungs) > 1 else optuna.pruners.NopPruner()
                )
                study = open_study(storage, f"{self.study_name}[{branch.tag}]",
                                   seed=seed + b, pruner=pruner)  # fmt: skip
                n_before = len(study.trials)
                optimize_branch(
                    study, branch, self.estimator, X, y, groups, splits, scorer, rungs,
                    n_trials=self.n_trials, timeout=self.timeout, screened=best[b][1:],
                    warm_start=self.warm_start, n_jobs=self.n_jobs, random_state=seed,
                    error_score=self.error_score,
                )  # fmt: skip
                self.studies_[branch.tag] = study
                rows.extend(self._stage_b_rows(branch, study, n_before))
        return rows

    def _stage_b_rows(self, branch, study, n_before):
        rows = []
        for trial in study.trials:
            record = recorded_result(trial)
            if record is None or trial.user_attrs.get("warm_start") == "stage_a_result":
                continue  # unfinished, or a copy of a Stage-A row
            result = stored_summary(record)
            rows.append({
                "stage": "B", "branch": branch.tag, "trial": trial.number,
                "state": trial.state.name, "resource": record["resource"],
                "fidelity": record["fidelity"], "full_fidelity": record["full"],
                "params": branch.params(trial.params), **result,
            })  # fmt: skip
            if trial.number >= n_before:
                self.n_fits_ += int(result.get("n_fits", 0))
        return rows

    def _set_results(self, rows):
        scores = np.array([r["mean_test_score"] for r in rows], dtype=float)
        full = np.array([bool(r["full_fidelity"]) and r["state"] == "COMPLETE" for r in rows])
        # full-fidelity rows first, by score; NaN last
        key = np.where(np.isfinite(scores), scores, -np.inf) + np.where(full, 0.0, -1e12)
        order = np.argsort(-key, kind="stable")
        rank = np.empty(len(rows), dtype=int)
        rank[order] = np.arange(1, len(rows) + 1)
        for row, r in zip(rows, rank, strict=True):
            row["rank_test_score"] = int(r)
        self.cv_results_ = rows_to_columns(rows)
        candidates = np.flatnonzero(full & np.isfinite(scores))
        if candidates.size == 0:
            raise ValueError(
                "no candidate was evaluated at full fidelity without errors; see "
                "cv_results_['error'] (error_score='raise' shows the first failure)."
            )
        self.best_index_ = int(candidates[np.argmax(scores[candidates])])
        self.best_score_ = float(scores[self.best_index_])
        self.best_params_ = dict(self.cv_results_["params"][self.best_index_])
        branch = self._space().branch_of(self.best_params_)
        self.best_branch_ = dict(branch.choices)

    # -------------------------------------------------------------- delegation

    @available_if(_best_has("predict"))
    def predict(self, X):
        """Predict with ``best_estimator_``."""
        return self.best_estimator_.predict(X)

    @available_if(_best_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities from ``best_estimator_``."""
        return self.best_estimator_.predict_proba(X)

    @available_if(_best_has("decision_function"))
    def decision_function(self, X):
        """Decision function of ``best_estimator_``."""
        return self.best_estimator_.decision_function(X)

    @available_if(_best_has("transform"))
    def transform(self, X):
        """Transform with ``best_estimator_``."""
        return self.best_estimator_.transform(X)

    def score(self, X, y):
        """Score of ``best_estimator_`` with the search's scorer.

        Parameters
        ----------
        X : array-like of shape (n, ...)
        y : array-like of shape (n,)

        Returns
        -------
        score : float
        """
        check_is_fitted(self, "best_estimator_")
        return float(self.scorer_(self.best_estimator_, X, y))

    @property
    def n_features_in_(self):
        """Number of features seen by ``best_estimator_``."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.n_features_in_

    @property
    def classes_(self):
        """Class labels of ``best_estimator_``."""
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.classes_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = copy.deepcopy(inner.classifier_tags)
        tags.regressor_tags = copy.deepcopy(inner.regressor_tags)
        tags.input_tags = copy.deepcopy(inner.input_tags)
        return tags
