"""The search space Θ = ⊔_c {c} × Θ_c of a pipeline, as a tagged union of branches."""

import itertools
from dataclasses import dataclass

from sklearn.pipeline import Pipeline

from ._dimensions import Integer, Real, _Dimension, evenly_spaced_percentiles

__all__ = ["Branch", "CategoricalSpace", "categorical_space"]

# Candidate values of the categorical axes of our stages, by class name (so that
# building a space imports nothing heavy). The axes searched when ``axes=None``:
_DEFAULT_AXES = {
    "HeatmapEmbedder": ("method",),
    "WaveletBandReconstructor": ("wavelet",),
    "NonlinearICAEncoder": ("objective",),
}
_AXIS_VALUES = {
    "HeatmapEmbedder": {
        "method": ("percentiles", "histogram", "eigenfaces", "moments"),
        "standardize": (False, True),
    },
    "WaveletBandReconstructor": {
        "wavelet": ("haar", "db4", "sym8"),
        "level": (1, 2, 3),
        "mode": ("symmetric", "periodization", "zero"),
        "method": ("dwt", "swt"),
        "keep": ("all", "a"),
    },
    "NonlinearICAEncoder": {
        "objective": ("tcl", "pcl", "ivae"),
        "activation": ("maxout", "relu", "tanh"),
    },
    "SoftDTWPairClassifier": {
        "objective": ("dtw", "lagged_corr", "both"),
        "distance": ("divergence", "soft_dtw"),
        "mining": ("semi_hard", "all"),
    },
}


def _embedder_dimensions(params):
    return {
        "percentiles": {
            "percentiles": Integer(3, 9, default=5, to_value=evenly_spaced_percentiles)
        },
        "histogram": {"bins": Integer(4, 16, default=10)},
        "eigenfaces": {"n_components": Integer(2, 12, default=8)},
    }.get(params.get("method"), {})


def _encoder_dimensions(params):
    return {"lr": Real(1e-4, 1e-2, log=True, default=1e-3)}


def _classifier_dimensions(params):
    dimensions = {
        "gamma": Real(0.01, 10.0, log=True, default=1.0),
        "margin": Real(0.25, 4.0, log=True, default=1.0),
        "lambda_ctr": Real(1e-3, 1.0, log=True, default=0.1),
        "lr": Real(1e-3, 0.3, log=True, default=0.05),
    }
    if params.get("objective") in ("lagged_corr", "both"):
        dimensions["beta"] = Real(1.0, 50.0, log=True, default=10.0)
        dimensions["lambda_corr"] = Real(0.1, 10.0, log=True, default=1.0)
    return dimensions


# Continuous parameters Θ_c of a stage, as a function of its (branch-resolved) parameters.
_CONTINUOUS = {
    "HeatmapEmbedder": _embedder_dimensions,
    "NonlinearICAEncoder": _encoder_dimensions,
    "SoftDTWPairClassifier": _classifier_dimensions,
}


@dataclass(frozen=True, eq=False)
class Branch:
    """One branch ``c`` of the space: its categorical choices and its continuous space Θ_c.

    Attributes
    ----------
    choices : dict
        Categorical parameter path → value (the tag of the union).
    dimensions : dict
        Continuous parameter path → :class:`Real` or :class:`Integer`.
    """

    choices: dict
    dimensions: dict

    @property
    def tag(self):
        """A readable unique name, ``"path=value,path=value"``."""
        return ",".join(f"{path}={value}" for path, value in self.choices.items())

    def params(self, numbers=None):
        """Estimator parameters of the branch with the searched ``numbers`` of Θ_c filled in."""
        numbers = {} if numbers is None else numbers
        unknown = set(numbers) - set(self.dimensions)
        if unknown:
            raise ValueError(
                f"{sorted(unknown)} are not continuous parameters of branch {self.tag!r}; "
                f"its parameters are {sorted(self.dimensions)}."
            )
        values = {path: self.dimensions[path].value(n) for path, n in numbers.items()}
        return {**self.choices, **values}

    def center(self):
        """The default point of Θ_c (the first candidate screened)."""
        return {path: dim.center for path, dim in self.dimensions.items()}

    def sample(self, random_state):
        """A random point of Θ_c."""
        return {path: dim.sample(random_state) for path, dim in self.dimensions.items()}

    def suggest(self, trial):
        """A point of Θ_c suggested by an Optuna ``trial``."""
        return {
            path: dim.suggest(trial, path) for path, dim in self.dimensions.items()
        }

    def optuna_distributions(self):
        """Θ_c as a dict of Optuna distributions."""
        return {path: dim.optuna() for path, dim in self.dimensions.items()}

    def __repr__(self):
        return f"Branch({self.tag!r}, dimensions={sorted(self.dimensions)})"


class CategoricalSpace:
    """A tagged union of branches; build it with :func:`categorical_space`.

    Iterating yields the :class:`Branch` objects, in the order of the product
    of the axes.

    Attributes
    ----------
    axes : dict
        Categorical parameter path → candidate values.
    branches : list of Branch
    """

    def __init__(self, axes, branches):
        self.axes = axes
        self.branches = list(branches)

    def __len__(self):
        return len(self.branches)

    def __iter__(self):
        return iter(self.branches)

    def __getitem__(self, index):
        return self.branches[index]

    def __repr__(self):
        return f"CategoricalSpace({len(self)} branches over {list(self.axes)})"

    @property
    def param_grid(self):
        """The categorical grid for :class:`~sklearn.model_selection.GridSearchCV`.

        One dict per branch; continuous parameters keep the estimator's values.
        """
        return [{path: [value] for path, value in b.choices.items()} for b in self]

    @property
    def param_distributions(self):
        """Distributions for sklearn's randomized and halving searches.

        One dict per branch (sklearn draws a branch uniformly, then its
        continuous values), so every candidate belongs to a branch.
        """
        return [
            {**{path: [value] for path, value in b.choices.items()}, **b.dimensions} for b in self
        ]

    def halving_search(self, estimator, **kwargs):
        """A :class:`~sklearn.model_selection.HalvingRandomSearchCV` over this space.

        Imports sklearn's experimental halving module, so callers need not.

        Parameters
        ----------
        estimator : estimator
            The estimator the space was built from.
        **kwargs
            Passed to ``HalvingRandomSearchCV`` (``factor``, ``resource``, ``cv``...).

        Returns
        -------
        search : HalvingRandomSearchCV
        """
        from sklearn.experimental import enable_halving_search_cv  # noqa: F401
        from sklearn.model_selection import HalvingRandomSearchCV

        return HalvingRandomSearchCV(estimator, self.param_distributions, **kwargs)

    def branch_of(self, params):
        """The branch whose categorical choices ``params`` makes."""
        for branch in self:
            if all(
                path in params and _same(params[path], value)
                for path, value in branch.choices.items()
            ):
                return branch
        raise ValueError(f"no branch of {self!r} matches the parameters {params!r}.")


def _same(a, b):
    try:
        return bool(a == b)
    except ValueError:  # arrays compare elementwise
        return repr(a) == repr(b)


def _steps(estimator):
    """``(prefix, step)`` for each stage: the named steps of a Pipeline, or the estimator."""
    if isinstance(estimator, Pipeline):
        return [
            (f"{name}__", step)
            for name, step in estimator.steps
            if step is not None and not isinstance(step, str)
        ]
    return [("", estimator)]


def _resolve_axes(estimator, axes, default_axes=_DEFAULT_AXES):
    """``{path: values}`` from ``axes``; None takes ``default_axes`` (stage name → params)."""
    stages = _steps(estimator)
    if axes is None:
        axes = [
            prefix + param
            for prefix, step in stages
            for param in default_axes.get(type(step).__name__, ())
        ]
        if not axes:
            raise ValueError(
                f"{type(estimator).__name__} has no stage with default categorical axes; pass "
                "axes={'step__param': [values, ...]}."
            )
    if not isinstance(axes, dict):
        axes = {path: _default_values(stages, path) for path in axes}
    valid = estimator.get_params(deep=True)
    for path, values in axes.items():
        if path not in valid:
            raise ValueError(
                f"axis {path!r} is not a parameter of {type(estimator).__name__}; use one of "
                f"{sorted(p for p in valid if '__' in p or not isinstance(estimator, Pipeline))}."
            )
        if isinstance(values, str) or len(values) == 0:
            raise ValueError(
                f"axis {path!r} needs a non-empty list of candidate values, got {values!r}."
            )
    return {path: list(values) for path, values in axes.items()}


def _default_values(stages, path):
    for prefix, step in stages:
        param = path[len(prefix) :]
        if path.startswith(prefix) and "__" not in param:
            values = _AXIS_VALUES.get(type(step).__name__, {}).get(param)
            if values is not None:
                return values
    raise ValueError(
        f"there are no default candidate values for axis {path!r}; pass axes as a dict "
        f"{{{path!r}: [value, ...]}}."
    )


def _branch_dimensions(estimator, choices, continuous, default_continuous):
    dimensions = {}
    if default_continuous:
        params = {**estimator.get_params(deep=True), **choices}
        for prefix, step in _steps(estimator):
            rule = _CONTINUOUS.get(type(step).__name__)
            if rule is None:
                continue
            own = {p[len(prefix) :]: v for p, v in params.items() if p.startswith(prefix)}
            dimensions.update({prefix + p: d for p, d in rule(own).items()})
    extra = continuous(dict(choices)) if callable(continuous) else continuous
    dimensions.update(extra or {})
    valid = estimator.get_params(deep=True)
    for path, dim in dimensions.items():
        if path not in valid:
            raise ValueError(f"continuous parameter {path!r} is not a parameter of the estimator.")
        if not isinstance(dim, _Dimension):
            raise TypeError(
                f"continuous parameter {path!r} must be a Real or Integer dimension, got {dim!r}."
            )
    # a categorical axis is never also searched continuously
    return {path: dim for path, dim in dimensions.items() if path not in choices}


def categorical_space(estimator, axes=None, *, continuous=None, default_continuous=True):
    """The branches of a pipeline of skheatmap stages, as a tagged union ``⊔_c {c} × Θ_c``.

    Each branch ``c`` is one combination of values of the categorical
    ``axes`` (embedding method, wavelet family, level, padding mode, band
    selection, ICA objective...); its continuous space ``Θ_c`` depends on the
    choices (the number of percentiles only exists for ``method="percentiles"``).

    Parameters
    ----------
    estimator : estimator
        A :class:`~sklearn.pipeline.Pipeline` (parameter paths ``step__param``)
        or a single estimator.
    axes : dict, list of str or None, default=None
        Categorical parameter path → candidate values; or a list of paths of
        our stages' known axes (``"heatmapembedder__method"``,
        ``"waveletbandreconstructor__wavelet"``, ``..._level``, ``..._mode``,
        ``..._method``, ``..._keep``, ``"nonlinearicaencoder__objective"``,
        ``"softdtwpairclassifier__objective"``...), taking their default
        candidate values. None: the embedding method, the wavelet family and
        the ICA objective of the stages present.
    continuous : dict, callable or None, default=None
        Extra continuous parameters, path → :class:`Real` / :class:`Integer`,
        added to every branch; or a callable ``choices -> dict`` for
        branch-dependent ones. They override the defaults of the same path.
    default_continuous : bool, default=True
        Include the built-in continuous spaces: numbers of percentiles, bins or
        eigenfaces (by embedding method); the ICA learning rate; the
        classifier's soft-DTW ``gamma``, ``margin``, ``lambda_ctr``, ``lr``
        (and ``beta``, ``lambda_corr`` for the lag objective). The pair model's
        ``τ`` is learned by the classifier, so it is not searched.

    Returns
    -------
    space : CategoricalSpace
        With ``param_grid`` (for ``GridSearchCV``), ``param_distributions``
        (for ``HalvingRandomSearchCV``, see ``halving_search``) and per-branch
        Optuna spaces (``branch.optuna_distributions()``).

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skheatmap import HeatmapEmbedder, WaveletBandReconstructor
    >>> from skheatmap.search import categorical_space
    >>> pipe = make_pipeline(HeatmapEmbedder(), WaveletBandReconstructor())
    >>> space = categorical_space(
    ...     pipe, {"heatmapembedder__method": ["percentiles", "moments"],
    ...            "waveletbandreconstructor__wavelet": ["haar", "db4"]})
    >>> len(space)
    4
    >>> space[0].tag
    'heatmapembedder__method=percentiles,waveletbandreconstructor__wavelet=haar'
    >>> sorted(space[0].dimensions), sorted(space[2].dimensions)
    (['heatmapembedder__percentiles'], [])
    >>> space.param_grid[3]
    {'heatmapembedder__method': ['moments'], 'waveletbandreconstructor__wavelet': ['db4']}
    """
    axes = _resolve_axes(estimator, axes)
    branches = []
    for values in itertools.product(*axes.values()):
        choices = dict(zip(axes, values, strict=True))
        dims = _branch_dimensions(estimator, choices, continuous, default_continuous)
        branches.append(Branch(choices, dims))
    return CategoricalSpace(axes, branches)
