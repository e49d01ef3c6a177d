"""Gumbel-Softmax (Concrete) relaxation of one categorical axis, trained end to end."""

import numbers

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.metrics import check_scoring
from sklearn.model_selection import GroupKFold, check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._validation import as_series, restore_ndim, validate_recordings
from ._evaluation import cross_validate_candidates, routed_fit_params
from ._fidelity import Fidelity
from ._results import rows_to_columns
from ._space import _resolve_axes

__all__ = ["GumbelSoftmaxChoice", "relaxed_axis_selection"]

_CONSTANT_RTOL = 1e-9


class GumbelSoftmaxChoice(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """One of several transformers, chosen by trainable logits (a relaxed categorical axis).

    Each candidate (e.g. a :class:`~skheatmap.HeatmapEmbedder` per embedding
    method, or a :class:`~skheatmap.WaveletBandReconstructor` per wavelet
    family) is fitted; its channels are standardised with training statistics
    and zero-padded to the widest candidate, so every branch yields ``(n, T,
    K_max)``. :meth:`transform` uses the candidate with the largest logit.

    Its torch twin (:meth:`to_torch`) mixes the candidates' twins with
    Gumbel-Softmax weights: in training mode each forward pass samples one
    branch (hard one-hot forward, with ``straight_through``) and back-propagates the
    gradient of the relaxed softmax ``softmax((logits + g) / temperature)`` to
    the logits; in eval mode it uses the argmax branch. Used as a step of the
    ``encoder`` of a :class:`~skheatmap.SoftDTWPairClassifier`, the pair
    objective thus learns which branch to keep (:func:`relaxed_axis_selection`).
    The candidates' own parameters are frozen in the twin, so only the choice
    is learned.

    Parameters
    ----------
    candidates : list of (str, transformer)
        Named candidate transformers with ``to_torch()``.
    temperature : float, default=1.0
        Temperature of the relaxed softmax.
    straight_through : bool, default=True
        In the twin's training mode, use the hard one-hot sample in the
        forward pass with the relaxed softmax's gradient (straight-through
        estimator), so that, like :meth:`transform`, each training pass uses
        a single branch. False: the forward pass mixes all branches with the
        relaxed weights.
    standardize : bool, default=True
        Standardise every candidate's channels (training mean and standard
        deviation over frames), so that branches are compared on one scale.

    Attributes
    ----------
    candidates_ : list of transformer
        The fitted candidates.
    logits_ : ndarray of shape (n_candidates,)
        Branch logits (zeros after ``fit``; trained through the twin).
    mean_, scale_ : list of ndarray
        Per-candidate channel statistics.
    n_channels_ : int
        ``K_max``.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap import HeatmapEmbedder
    >>> from skheatmap.search import GumbelSoftmaxChoice
    >>> X = 30 + np.random.default_rng(0).normal(size=(4, 6, 5, 5))
    >>> choice = GumbelSoftmaxChoice([("moments", HeatmapEmbedder(method="moments")),
    ...                               ("median", HeatmapEmbedder(percentiles=[50]))]).fit(X)
    >>> choice.transform(X).shape  # moments (9 channels) chosen at equal logits
    (4, 6, 9)
    >>> choice.probabilities_
    array([0.5, 0.5])
    """

    _parameter_constraints: dict = {
        "candidates": [list],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "straight_through": ["boolean"],
        "standardize": ["boolean"],
    }

    def __init__(self, candidates, *, temperature=1.0, straight_through=True, standardize=True):
        self.candidates = candidates
        self.temperature = temperature
        self.straight_through = straight_through
        self.standardize = standardize

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Fit every candidate and its channel statistics; reset the logits to zero.

        Parameters
        ----------
        X : array-like of shape (n, T, ...)
        y : array-like of shape (n,), optional
            Passed to the candidates.

        Returns
        -------
        self : GumbelSoftmaxChoice
        """
        if len(self.candidates) < 2:
            raise ValueError(
                f"GumbelSoftmaxChoice needs at least 2 candidates, got {len(self.candidates)}."
            )
        X = validate_recordings(self, X, reset=True)
        self.candidates_, self.mean_, self.scale_ = [], [], []
        for _, candidate in self.candidates:
            fitted = clone(candidate).fit(X, y)
            frames = as_series(fitted.transform(X))
            frames = frames.reshape(-1, frames.shape[-1])
            mean, scale = np.nanmean(frames, axis=0), np.nanstd(frames, axis=0)
            if not self.standardize:
                mean, scale = np.zeros_like(mean), np.ones_like(scale)
            # a channel constant up to round-off is constant: standardising would blow the
            # round-off up to unit variance
            constant = scale <= _CONSTANT_RTOL * np.maximum(np.abs(mean), 1.0)
            scale = np.where(constant, 1.0, scale)
            self.candidates_.append(fitted)
            self.mean_.append(mean)
            self.scale_.append(scale)
        self.n_channels_ = max(m.size for m in self.mean_)
        self.logits_ = np.zeros(len(self.candidates_))
        return self

    @property
    def _n_features_out(self):
        return self.n_channels_

    @property
    def probabilities_(self):
        """Softmax of the logits: the relaxed choice's branch probabilities."""
        shifted = np.exp(self.logits_ - self.logits_.max())
        return shifted / shifted.sum()

    @property
    def selected_(self):
        """Name of the branch :meth:`transform` uses (largest logit)."""
        check_is_fitted(self)
        return self.candidates[int(np.argmax(self.logits_))][0]

    def transform(self, X):
        """Standardised, zero-padded channels of the chosen candidate.

        Parameters
        ----------
        X : array-like of shape (n, T, ...)

        Returns
        -------
        Z : ndarray of shape (n, T, n_channels_)
        """
        check_is_fitted(self)
        X = validate_recordings(self, X, reset=False)
        index = int(np.argmax(self.logits_))
        channels = as_series(self.candidates_[index].transform(X))
        channels = (channels - self.mean_[index]) / self.scale_[index]
        pad = self.n_channels_ - channels.shape[-1]
        padded = np.concatenate([channels, np.zeros((*channels.shape[:-1], pad))], axis=-1)
        return restore_ndim(padded.astype(X.dtype, copy=False), X)

    def to_torch(self):
        """Differentiable twin: straight-through Gumbel-Softmax mixture of the candidates' twins.

        Returns
        -------
        module : torch.nn.Module
            With a trainable ``logits`` parameter; float64, on the CPU.
        """
        check_is_fitted(self)
        from ._relaxation_torch import GumbelSoftmaxMixture

        return GumbelSoftmaxMixture(
            [candidate.to_torch() for candidate in self.candidates_],
            means=self.mean_, scales=self.scale_, logits=self.logits_,
            n_channels=self.n_channels_, temperature=self.temperature,
            straight_through=self.straight_through,
        )  # fmt: skip

    def from_torch(self, module):
        """Take the trained logits back from a twin made by :meth:`to_torch`."""
        check_is_fitted(self)
        self.logits_ = module.logits.detach().cpu().double().numpy().copy()
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _relaxed_classifier(estimator, axis, values, temperature, straight_through, encoder_lr):
    """The pair classifier of ``estimator`` with its transformers, axis relaxed, as encoder."""
    if not isinstance(estimator, Pipeline) or "encoder" not in estimator[-1].get_params():
        raise TypeError(
            "relaxed_axis_selection needs a Pipeline of transformers ending in a classifier "
            "with an `encoder` parameter (SoftDTWPairClassifier)."
        )
    step_name, _, param = axis.partition("__")
    names = [name for name, _ in estimator.steps[:-1]]
    if step_name not in names or "__" in param:
        raise ValueError(
            f"axis {axis!r} must be a parameter 'step__param' of one of the transformer steps "
            f"{names}."
        )
    steps = []
    for name, step in estimator.steps[:-1]:
        if name == step_name:
            candidates = [(str(v), clone(step).set_params(**{param: v})) for v in values]
            step = GumbelSoftmaxChoice(candidates, temperature=temperature,
                                       straight_through=straight_through)  # fmt: skip
        steps.append((name, clone(step)))
    relaxed = clone(estimator[-1]).set_params(encoder=Pipeline(steps), encoder_lr=encoder_lr)
    if "standardize" in relaxed.get_params():
        # per-recording standardisation inside the classifier would divide the branch weights
        # out of every channel; the choice standardises with training statistics instead
        relaxed.set_params(standardize=False)
    return relaxed


def relaxed_axis_selection(estimator, axis, X, y, *, values=None, groups=None, cv=None,
                           temperature=1.0, straight_through=True, encoder_lr=0.05,
                           n_reevaluate=2, scoring=None, n_jobs=None):  # fmt: skip
    """Choose a value of one categorical axis by Gumbel-Softmax training, then re-evaluate.

    The transformer step that owns ``axis`` is replaced by a
    :class:`GumbelSoftmaxChoice` over ``values``; the transformers become the
    ``encoder`` of the final :class:`~skheatmap.SoftDTWPairClassifier`, which
    trains the branch logits end to end with the pair objective
    (straight-through). The ``n_reevaluate`` most probable values are then
    discretised (the plain pipeline with that value) and cross-validated.

    Parameters
    ----------
    estimator : Pipeline
        Transformers with torch twins, ending in a SoftDTWPairClassifier
        (whose ``encoder`` is None).
    axis : str
        ``"step__param"`` of a transformer step, e.g.
        ``"heatmapembedder__method"`` or ``"waveletbandreconstructor__wavelet"``.
    X, y : array-like
        Recordings and labels.
    values : list or None, default=None
        Candidate values; None takes the axis's default values.
    groups : array-like of shape (n,), optional
        Subjects: routed to the classifier's early stopping and used for
        group-aware cross-validation of the re-evaluation.
    cv : int, cross-validation generator or None, default=None
    temperature : float, default=1.0
        Temperature of the relaxed softmax (see :class:`GumbelSoftmaxChoice`).
    straight_through : bool, default=True
        Hard one-hot forward pass with the relaxed gradient; False mixes the
        branches with the relaxed weights (see :class:`GumbelSoftmaxChoice`).
    encoder_lr : float, default=0.05
        Learning rate of the encoder (the logits) during relaxed training.
    n_reevaluate : int, default=2
        Most probable values re-evaluated as discrete pipelines.
    scoring : str, callable or None, default=None
    n_jobs : int or None, default=None

    Returns
    -------
    result : Bunch
        ``values``, ``probabilities`` (after training), ``relaxed_choice``
        (the most probable value), ``reevaluation`` (a table as in
        :func:`single_axis_ablation`'s), ``best_value`` (best re-evaluated
        score) and ``relaxed_estimator`` (the trained classifier).
    """
    if values is None:
        values = _resolve_axes(estimator, [axis])[axis]
    values = list(values)
    relaxed = _relaxed_classifier(estimator, axis, values, temperature, straight_through,
                                  encoder_lr)  # fmt: skip
    X, y = np.asarray(X), np.asarray(y)
    groups = None if groups is None else np.asarray(groups)
    relaxed.fit(X, y, **routed_fit_params(relaxed, groups))
    choice = relaxed.encoder_.named_steps[axis.partition("__")[0]]
    probabilities = choice.probabilities_
    order = np.argsort(-probabilities, kind="stable")[:n_reevaluate]
    if groups is not None and (cv is None or isinstance(cv, int)):
        cv = GroupKFold(n_splits=5 if cv is None else cv)
    splits = list(check_cv(cv, y, classifier=True).split(X, y, groups))
    candidates = [{axis: values[i]} for i in order]
    summaries = list(cross_validate_candidates(
        estimator, candidates, X, y, groups, splits, Fidelity("n_samples", np.inf, full=True),
        check_scoring(estimator, scoring=scoring), n_jobs=n_jobs,
    ))  # fmt: skip
    table = rows_to_columns([
        {"value": values[i], "probability": float(probabilities[i]), **s, "params": params}
        for i, s, params in zip(order, summaries, candidates, strict=True)
    ])  # fmt: skip
    scores = np.nan_to_num(table["mean_test_score"], nan=-np.inf)
    return Bunch(
        values=values,
        probabilities=probabilities,
        relaxed_choice=values[int(order[0])],
        reevaluation=table,
        best_value=table["value"][int(np.argmax(scores))],
        relaxed_estimator=relaxed,
    )
