"""SoftDTWPairClassifier: learn to tell whether two recordings share a label.

The model scores a pair of encoded trajectories by its soft-DTW divergence
``d_ij`` and predicts ``p_ij = σ(α − w·d_ij/τ)`` with ``w = exp(η)`` and
``τ = exp(ζ)``. Training minimises the seed's ``λ_CE·L_CE + λ_ctr·L_ctr +
λ_reg·R`` (its pair sums divided by the number of pairs, see the class Notes)
over balanced minibatches with semi-hard negative mining, optionally through
an encoder Φθ made of the torch twins of the pipeline stages (end-to-end).
"""

import copy
import json
import numbers
import os

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from . import objectives
from ._checkpoint import (
    fit_checkpoint,
    load_checkpoint,
    random_state_from_tensors,
    random_state_to_tensors,
    save_checkpoint,
)
from ._torch import TorchStateMixin, import_torch, seeded_torch_rng
from ._validation import validate_recordings
from .pairs import (
    balanced_batches,
    label_pairs,
    semi_hard_negatives,
    triplets_to_pairs,
    validate_pairs,
)

__all__ = ["SoftDTWPairClassifier"]


class SoftDTWPairClassifier(TorchStateMixin, ClassifierMixin, BaseEstimator):
    """Pair classifier on soft-DTW divergences, optionally training an encoder end to end.

    ``fit(X, y)`` forms pairs of recordings from their labels (same label:
    positive), trains the logistic pair model ``p = σ(α − w·d/τ)`` on
    soft-DTW divergences of the (encoded) recordings, and keeps the training
    recordings so that ``predict(X)`` returns the label of the most probable
    matching training recording. ``score(X, y)`` is the ROC AUC over all pairs
    formed from ``(X, y)``.

    Parameters
    ----------
    gamma : float, default=1.0
        Soft-DTW smoothing ``γ`` (> 0).
    learn_gamma : bool, default=False
        Learn ``γ`` (as ``exp`` of a free parameter) with the other weights.
    distance : {"divergence", "soft_dtw"}, default="divergence"
        Soft-DTW divergence (0 for identical series) or raw soft-DTW, which is
        negative and grows with length.
    normalize : bool, default=True
        Divide distances by the summed lengths ``n + m``.
    band : int or None, default=None
        Sakoe-Chiba radius of soft-DTW.
    standardize : bool, default=True
        Centre each channel of each encoded recording and scale it to unit
        variance over its own frames before the distance is computed (the
        encoded trajectories themselves, :meth:`encode`, are not changed). This removes per-subject
        baselines and response gains, which carry no timing; switch it off
        when absolute levels are what distinguishes the labels. Recordings of
        a single frame (2-D input) are compared as they are.
    objective : {"dtw", "lagged_corr", "both"}, default="dtw"
        The DTW classification objective, the within-segment soft-lag
        correlation objective (only meaningful with an ``encoder``), or their
        sum with the correlation weighted by ``lambda_corr`` (see Notes).
    lambda_ce, lambda_ctr : float, default=1.0, 0.1
        ``λ_CE`` and ``λ_ctr``, weights of the cross-entropy and contrastive
        terms.
    margin : float, default=1.0
        The contrastive margin ``m`` as a multiple of the median pairwise
        training distance at initialisation, so that the default suits any
        distance scale; ``margin_`` is ``m`` in distance units. Semi-hard
        mining uses the same ``m``.
    negative_weight : float, default=1.0
        ``μ``, the weight of negatives in the contrastive loss.
    lambda_corr : float, default=1.0
        Weight of the soft-lag correlation objective.
    max_lag : int, default=8
        Largest lag, in frames, of the soft-lag correlation.
    beta : float, default=10.0
        Temperature of the soft maximum over lags.
    lambda_reg : float, default=1.0
        ``λ_reg``, the weight of the regulariser ``R`` (see Notes).
    lambda_smooth, lambda_sparse : float, default=0.0
        Weights within ``R`` of the ℓ2 temporal smoothness and of the ℓ1
        first-difference penalty (sparse transients) of the encoded
        trajectories.
    lambda_energy : float or "auto", default="auto"
        Weight within ``R`` of the soft energy penalty ``max(0, ε − energy)``
        of the encoded trajectories. ``"auto"`` is 1.0 when the energy floor
        is on, else 0.
    lambda_complexity : float, default=0.0
        Weight within ``R`` of the encoder's complexity penalty
        ``complexity_`` (its trainable parameters and wavelet filter taps, see
        :func:`~skheatmap.objectives.complexity_penalty`). It is constant
        while one encoder trains; it makes the losses of encoders of
        different size comparable.
    energy_floor : bool or "auto", default="auto"
        The seed's energy constraint against collapse: every term of the loss
        but the energy penalty sees the trajectories through the hard floor
        (:func:`~skheatmap.objectives.energy_floor`: a recording whose energy,
        the mean squared norm per frame, is below ``ε`` is rescaled up to
        ``ε``), so none can gain by shrinking the encoder's output below
        ``ε``, and the energy penalty lifts it back. ``"auto"`` turns it on
        for the correlation objectives (``"lagged_corr"``, ``"both"``): they
        are blind to scale, so a scale-dependent ``R`` (smoothness) would
        otherwise shrink the encoder towards a constant zero output.
    energy_epsilon : float, default=1e-3
        The energy floor ``ε`` of the penalty and of the hard floor.
    mining : {"semi_hard", "all"}, default="semi_hard"
        Semi-hard negatives per positive pair, or every pair of the batch.
    across_groups : bool, default=False
        Positives only between different groups (subjects), in training and
        in the held-out pairs of early stopping; needs ``groups``.
    labels_per_batch, samples_per_label : int, default=4
        Balanced minibatches of ``P`` labels × ``K`` recordings.
    batch_size : int or None, default=None
        Recordings per balanced minibatch of :meth:`fit` (pairs per minibatch
        of :meth:`fit_pairs`). ``None`` means ``labels_per_batch ×
        samples_per_label``. An int ``B`` replaces ``labels_per_batch`` by
        ``B // samples_per_label`` labels (at least 2), keeping
        ``samples_per_label`` recordings per label.
    encoder : estimator or None, default=None
        An unfitted estimator (typically a ``Pipeline`` of skheatmap stages)
        with ``to_torch()``; it is cloned, fitted, turned into a torch encoder
        Φθ and trained jointly with the pair model. ``None`` compares the input
        channels directly.
    twin_options : dict or None, default=None
        Keyword arguments of each encoder step's ``to_torch``, by step name
        (``"encoder"`` when the encoder is not a Pipeline), e.g.
        ``{"heatmapembedder": {"orthogonal": True}}`` to keep the eigenfaces
        orthonormal while they train, ``{"nonlinearicaencoder": {"orthogonal":
        True}}`` to keep the TCL unmixing a rotation of its whitened input, or
        ``{"heatmapembedder": {"temperature": 0.05}}`` for soft histogram bins.
    max_epochs : int, default=30
    lr : float, default=0.05
        Adam learning rate of the pair model; the encoder uses ``encoder_lr``.
    encoder_lr : float, default=1e-3
    validation_fraction : float, default=0.2
        Fraction of recordings (of groups, when given) held out for early
        stopping; 0 disables early stopping.
    n_iter_no_change : int, default=5
        Epochs without improvement of the validation loss before stopping.
    checkpoint_dir : str or None, default=None
        Folder for a checkpoint written after every epoch, one file per fit
        named after a fingerprint of its parameters (the encoder's included)
        and data. A later ``fit`` with the same parameters and data resumes
        from it and runs only the epochs it lacks (``max_epochs`` may grow);
        the fits of a cross-validation can share the folder.
    device : str, default="cpu"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
        Print one progress line per epoch when positive.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    module_ : torch.nn.Module
        The trained encoder and pair model.
    encoder_ : estimator or None
        The fitted encoder.
    history_ : list of dict
        Per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_auc``.
    best_epoch_ : int
    margin_ : float
        The contrastive margin ``m`` in distance units.
    complexity_ : float
        The encoder's complexity penalty ``C`` (0 without an encoder).
    threshold_ : float
        Probability threshold of :meth:`predict_pairs` (0.5 until
        :meth:`calibrate_threshold`).

    Notes
    -----
    The training loss of a minibatch with ``objective="dtw"`` is

        ``L = (λ_CE·L_CE + λ_ctr·L_ctr) / n + λ_reg·R``

    over the ``n`` pairs of the batch (after mining), with the seed's sums
    ``L_CE = −Σ [y log p + (1 − y) log(1 − p)]``
    (:func:`~skheatmap.objectives.pair_cross_entropy`) and
    ``L_ctr = Σ_P d + μ·Σ_N max(0, m − d)``
    (:func:`~skheatmap.objectives.contrastive_margin_loss`), and
    ``R = lambda_smooth·Σ_t ||Δz||² + lambda_sparse·Σ_t |Δz| +
    lambda_energy·max(0, ε − energy) + lambda_complexity·C``
    (:func:`~skheatmap.objectives.regularizer`, each trajectory term averaged
    over the recordings of the batch). With the energy floor on, every term
    but the energy penalty, mining included, sees the floored trajectories.

    Dividing the pair sums by ``n`` is the one deliberate departure from the
    seed's ``λ_CE·L_CE + λ_ctr·L_ctr + λ_reg·R``: it keeps the step size
    independent of the batch size and of how many pairs mining keeps. ``L``
    is the seed's objective divided by ``n``, with the seed's ``λ_reg`` equal
    to ``n·lambda_reg``.

    With ``objective="lagged_corr"`` the loss is the seed's
    ``−lambda_corr·mean ρ̃ + λ_reg·R``, the mean soft-lag correlation over the
    positive (within-segment) pairs of the batch; ``"both"`` adds the two
    pair terms.

    Examples
    --------
    >>> from skheatmap import SoftDTWPairClassifier
    >>> from skheatmap.datasets import make_thermal_faces
    >>> from skheatmap.embedding import HeatmapEmbedder
    >>> faces = make_thermal_faces(n_subjects=4, n_segments=3, n_frames=64, random_state=0)
    >>> channels = HeatmapEmbedder(method="moments").fit_transform(faces.X)
    >>> clf = SoftDTWPairClassifier(max_epochs=5, random_state=0).fit(channels, faces.y)
    >>> clf.predict(channels[:3])
    array([0, 1, 2])
    """

    _torch_module_attributes = ("module_",)

    _parameter_constraints = {
        "gamma": [Interval(numbers.Real, 0, None, closed="neither")],
        "learn_gamma": ["boolean"],
        "distance": [StrOptions({"divergence", "soft_dtw"})],
        "normalize": ["boolean"],
        "band": [Interval(numbers.Integral, 0, None, closed="left"), None],
        "standardize": ["boolean"],
        "objective": [StrOptions({"dtw", "lagged_corr", "both"})],
        "lambda_ce": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_ctr": [Interval(numbers.Real, 0, None, closed="left")],
        "margin": [Interval(numbers.Real, 0, None, closed="neither")],
        "negative_weight": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_corr": [Interval(numbers.Real, 0, None, closed="left")],
        "max_lag": [Interval(numbers.Integral, 0, None, closed="left")],
        "beta": [Interval(numbers.Real, 0, None, closed="neither")],
        "lambda_reg": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_smooth": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_sparse": [Interval(numbers.Real, 0, None, closed="left")],
        "lambda_energy": [Interval(numbers.Real, 0, None, closed="left"), StrOptions({"auto"})],
        "lambda_complexity": [Interval(numbers.Real, 0, None, closed="left")],
        "energy_floor": ["boolean", StrOptions({"auto"})],
        "energy_epsilon": [Interval(numbers.Real, 0, None, closed="left")],
        "mining": [StrOptions({"semi_hard", "all"})],
        "across_groups": ["boolean"],
        "labels_per_batch": [Interval(numbers.Integral, 2, None, closed="left")],
        "samples_per_label": [Interval(numbers.Integral, 2, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 4, None, closed="left"), None],
        "encoder": [None, HasMethods(["fit", "transform"])],
        "twin_options": [dict, None],
        "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "encoder_lr": [Interval(numbers.Real, 0, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "checkpoint_dir": [str, os.PathLike, None],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        gamma=1.0,
        learn_gamma=False,
        distance="divergence",
        normalize=True,
        band=None,
        standardize=True,
        objective="dtw",
        lambda_ce=1.0,
        lambda_ctr=0.1,
        margin=1.0,
        negative_weight=1.0,
        lambda_corr=1.0,
        max_lag=8,
        beta=10.0,
        lambda_reg=1.0,
        lambda_smooth=0.0,
        lambda_sparse=0.0,
        lambda_energy="auto",
        lambda_complexity=0.0,
        energy_floor="auto",
        energy_epsilon=1e-3,
        mining="semi_hard",
        across_groups=False,
        labels_per_batch=4,
        samples_per_label=4,
        batch_size=None,
        encoder=None,
        twin_options=None,
        max_epochs=30,
        lr=0.05,
        encoder_lr=1e-3,
        validation_fraction=0.2,
        n_iter_no_change=5,
        checkpoint_dir=None,
        device="cpu",
        random_state=None,
        verbose=0,
    ):
        self.gamma = gamma
        self.learn_gamma = learn_gamma
        self.distance = distance
        self.normalize = normalize
        self.band = band
        self.standardize = standardize
        self.objective = objective
        self.lambda_ce = lambda_ce
        self.lambda_ctr = lambda_ctr
        self.margin = margin
        self.negative_weight = negative_weight
        self.lambda_corr = lambda_corr
        self.max_lag = max_lag
        self.beta = beta
        self.lambda_reg = lambda_reg
        self.lambda_smooth = lambda_smooth
        self.lambda_sparse = lambda_sparse
        self.lambda_energy = lambda_energy
        self.lambda_complexity = lambda_complexity
        self.energy_floor = energy_floor
        self.energy_epsilon = energy_epsilon
        self.mining = mining
        self.across_groups = across_groups
        self.labels_per_batch = labels_per_batch
        self.samples_per_label = samples_per_label
        self.batch_size = batch_size
        self.encoder = encoder
        self.twin_options = twin_options
        self.max_epochs = max_epochs
        self.lr = lr
        self.encoder_lr = encoder_lr
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, groups=None):
        """Fit the encoder (if any) and the pair model on pairs formed from ``y``.

        Parameters
        ----------
        X : array-like of shape (n, F), (n, T, F) or (n, T, I, J)
            Recordings; 2-D input is ``n`` recordings of one frame.
        y : array-like of shape (n,)
            Label of each recording; same-label recordings form positive pairs.
        groups : array-like of shape (n,), optional
            Subject of each recording: held-out recordings for early stopping
            are whole groups, and ``across_groups`` uses them.

        Returns
        -------
        self : SoftDTWPairClassifier
        """
        X = validate_recordings(self, X, reset=True)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        y = column_or_1d(y, warn=True)
        if y.dtype.kind in "fc":
            # labels given as numbers must be finite (NaN or inf is no class)
            y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        check_consistent_length(X, y)
        check_classification_targets(y)
        self.classes_, y_codes = np.unique(y, return_inverse=True)
        if self.classes_.size < 2:
            raise ValueError(
                "SoftDTWPairClassifier needs at least 2 classes to form negative pairs; "
                f"got 1 class ({self.classes_[0]!r})."
            )
        groups = self._check_groups(groups, y)
        train, val = self._validation_split(y_codes, groups)
        val_pairs, val_labels = self._label_pairs(y_codes, groups, val)
        labels_per_batch = self._labels_per_batch()

        def batches(rng):
            for batch in balanced_batches(
                y_codes[train],
                labels_per_batch=labels_per_batch,
                samples_per_label=self.samples_per_label,
                groups=_subset(groups, train),
                random_state=rng,
            ):
                rows = train[batch]
                yield rows, self._label_batch_loss(y_codes[rows], _subset(groups, rows))

        validation = (val, val_pairs, val_labels)
        group_codes = np.unique(groups, return_inverse=True)[1] if groups is not None else []
        self._fit_module(X, y[train], train, batches, validation, (X, y_codes, group_codes))
        self.X_fit_ = X
        self.y_fit_ = y
        return self

    def _check_groups(self, groups, y):
        if groups is None:
            if self.across_groups:
                raise ValueError(
                    "across_groups=True needs the subject of each recording: pass "
                    "fit(X, y, groups=subjects), or set across_groups=False."
                )
            return None
        groups = np.asarray(groups)
        if groups.shape != y.shape:
            raise ValueError(
                f"groups has shape {groups.shape} but y has {y.shape}; one group per recording."
            )
        return groups

    def _label_pairs(self, y, groups, rows):
        """Pairs of ``rows`` (indices local to ``rows``) under the training rule."""
        return label_pairs(y[rows], _subset(groups, rows), across_groups=self.across_groups)

    def _labels_per_batch(self):
        """``P`` of the balanced batches: ``labels_per_batch``, or from ``batch_size``."""
        if self.batch_size is None:
            return self.labels_per_batch
        if self.batch_size < 2 * self.samples_per_label:
            raise ValueError(
                f"batch_size={self.batch_size} cannot hold 2 labels of samples_per_label="
                f"{self.samples_per_label} recordings; a balanced batch needs batch_size >= "
                f"{2 * self.samples_per_label}. Raise batch_size or lower samples_per_label."
            )
        return self.batch_size // self.samples_per_label

    @_fit_context(prefer_skip_nested_validation=False)
    def fit_pairs(self, X, pairs, pair_labels):
        """Fit on explicitly labelled pairs of recordings instead of recording labels.

        Minibatches hold ``batch_size`` pairs (``labels_per_batch *
        samples_per_label`` when it is None) drawn without replacement each
        epoch; there is no mining (the pairs are the supervision).
        ``validation_fraction`` of the pairs (stratified by pair label) is
        held out for early stopping; held-out pairs may share recordings with
        training pairs. With no recording labels, ``predict``
        is unavailable; the pair methods and :meth:`calibrate_threshold` work.

        Parameters
        ----------
        X : array-like of shape (n, F), (n, T, F) or (n, T, I, J)
            Recordings.
        pairs : array-like of shape (n_pairs, 2)
            Row indices into ``X``.
        pair_labels : array-like of shape (n_pairs,)
            1 when the two recordings match, else 0; both must occur.

        Returns
        -------
        self : SoftDTWPairClassifier
        """
        X = validate_recordings(self, X, reset=True)
        pairs, pair_labels = validate_pairs(pairs, pair_labels, X.shape[0])
        if np.unique(pair_labels).size < 2:
            raise ValueError(
                "fit_pairs needs both matching (1) and non-matching (0) pairs in pair_labels; "
                f"got only {np.unique(pair_labels).tolist()}."
            )
        self.classes_ = np.array([0, 1])
        train, val = self._pair_validation_split(pair_labels)
        batch_size = self.batch_size or self.labels_per_batch * self.samples_per_label

        def batches(rng):
            order = train[rng.permutation(train.size)]
            for start in range(0, order.size, batch_size):
                chosen = order[start : start + batch_size]
                rows, local = np.unique(pairs[chosen], return_inverse=True)
                yield rows, self._pair_batch_loss(local.reshape(-1, 2), pair_labels[chosen])

        val_rows, val_local = np.unique(pairs[val], return_inverse=True)
        validation = (val_rows, val_local.reshape(-1, 2), pair_labels[val])
        trained_rows = np.unique(pairs[train])
        fingerprint_data = (X, np.column_stack([pairs, pair_labels]))
        self._fit_module(X, None, trained_rows, batches, validation, fingerprint_data)
        self.X_fit_ = self.y_fit_ = None
        return self

    def _pair_validation_split(self, pair_labels):
        """Indices of training and held-out pairs, stratified by pair label."""
        everything = np.arange(pair_labels.size)
        n_val = int(np.ceil(self.validation_fraction * pair_labels.size))
        if self.validation_fraction == 0 or self.max_epochs == 0 or n_val < 2 or (
            np.bincount(pair_labels).min() < 4
        ):
            return everything, everything[:0]
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        splitter = StratifiedShuffleSplit(1, test_size=n_val, random_state=seed)
        return next(splitter.split(everything, pair_labels))

    def _fit_module(self, X, y_encoder, encoder_rows, batches, validation, fingerprint_data):
        """Fit the encoder stages, build Φθ and the pair model, train them, write back."""
        self.encoder_ = (
            None
            if self.encoder is None
            else clone(self.encoder).fit(X[encoder_rows], y_encoder)
        )
        torch = import_torch()
        dtype = torch.float64 if X.dtype == np.float64 else torch.float32
        from ._pair_module import PairModule

        with seeded_torch_rng(self.random_state, self.device):
            self.module_ = PairModule(
                self._encoder_module(), gamma=self.gamma, learn_gamma=self.learn_gamma,
                distance=self.distance, band=self.band, normalize=self.normalize,
                standardize=self.standardize,
            ).to(device=self.device, dtype=dtype)  # fmt: skip
            self.complexity_ = self._encoder_complexity()
            self._train(X, encoder_rows, batches, validation, fingerprint_data)
        self._write_back_encoder()
        self.threshold_ = 0.5

    def _validation_split(self, y, groups):
        """Indices of training and held-out recordings (whole groups when given).

        Early stopping is disabled (everything trains) when the held-out part
        could not contain both positive and negative pairs.
        """
        everything = np.arange(y.size)
        no_validation = (everything, everything[:0])
        if self.validation_fraction == 0 or self.max_epochs == 0:
            return no_validation
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        if groups is not None:
            n_groups = np.unique(groups).size
            # same-label pairs across subjects need at least two held-out subjects
            n_val = max(2, int(np.ceil(self.validation_fraction * n_groups)))
            if n_groups - n_val < 2:
                return no_validation
            splitter = GroupShuffleSplit(1, test_size=n_val, random_state=seed)
            train, val = next(splitter.split(everything, y, groups))
        else:
            n_val = int(np.ceil(self.validation_fraction * y.size))
            if np.bincount(y).min() < 4 or n_val < 2 * np.unique(y).size:
                return no_validation
            splitter = StratifiedShuffleSplit(1, test_size=n_val, random_state=seed)
            train, val = next(splitter.split(everything, y))
        _, val_labels = self._label_pairs(y, groups, val)
        if np.unique(val_labels).size < 2 or np.unique(y[train]).size < 2:
            return no_validation
        return train, val

    def _encoder_module(self):
        torch = import_torch()
        from ._pair_module import FlattenFrames

        if self.encoder_ is None:
            return FlattenFrames()
        steps = self._encoder_steps()
        options = self.twin_options or {}
        unknown = sorted(set(options) - {name for name, _ in steps})
        if unknown:
            raise ValueError(
                f"twin_options names step(s) {unknown} that the encoder does not have; its "
                f"steps are {[name for name, _ in steps]}."
            )
        twins = []
        for name, step in steps:
            missing = [m for m in ("to_torch", "from_torch") if not hasattr(step, m)]
            if missing:
                raise TypeError(
                    f"encoder step {name!r} ({type(step).__name__}) has no {' or '.join(missing)}"
                    "(); every step of the encoder needs a differentiable torch twin and a way "
                    "to take the trained weights back."
                )
            twins.append(step.to_torch(**options.get(name, {})))
        return torch.nn.Sequential(*twins)

    def _encoder_complexity(self):
        """``C`` of the encoder: its trainable parameters and its wavelet filter taps."""
        if self.encoder_ is None:
            return 0.0
        import pywt

        taps = sum(pywt.Wavelet(step.wavelet).dec_len for _, step in self._encoder_steps()
                   if isinstance(getattr(step, "wavelet", None), str))  # fmt: skip
        n_params = objectives.parameter_count(self.module_.encoder)
        return objectives.complexity_penalty(n_params=n_params, filter_length=taps)

    def _encoder_steps(self):
        return getattr(self.encoder_, "steps", None) or [("encoder", self.encoder_)]

    def _write_back_encoder(self):
        """Copy the trained twins' weights into the fitted stages (their ``from_torch``)."""
        if self.encoder_ is None:
            return
        for (_, step), twin in zip(self._encoder_steps(), self.module_.encoder, strict=True):
            step.from_torch(twin)

    def _train(self, X, train_rows, batches, validation, fingerprint_data):
        """Adam over ``batches(rng)`` (pairs of rows and their loss) with early stopping."""
        torch = import_torch()
        module = self.module_
        # a generator of this fit's own: resuming restores its state, which must
        # never rewind the global one (random_state=None)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        rng = np.random.RandomState(seed)
        Xt = torch.tensor(X, device=self.device)  # a copy: X may be read-only
        self.history_ = []
        self.best_epoch_ = 0
        with torch.no_grad():
            scale = self._median_distance(module, Xt[train_rows])
        module.set_distance_scale(scale)
        self.margin_ = self.margin * scale
        checkpoint = self._checkpoint_file(*fingerprint_data)
        optimizer = torch.optim.Adam(
            [{"params": module.head_parameters(), "lr": self.lr},
             {"params": module.encoder.parameters(), "lr": self.encoder_lr}]
        )  # fmt: skip
        best = {"loss": np.inf, "state": copy.deepcopy(module.state_dict())}
        start = self._resume(checkpoint, module, optimizer, rng, best)
        stale = 0 if not self.history_ else self.history_[-1]["epochs_without_improvement"]
        for epoch in range(start, self.max_epochs):
            if stale >= self.n_iter_no_change:
                break
            module.train()
            batch_losses = []
            for rows, batch_loss in batches(rng):
                loss = batch_loss(module, Xt[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                batch_losses.append(float(loss.detach()))
            record = {"epoch": epoch + 1, "train_loss": float(np.mean(batch_losses))}
            record.update(self._validation_scores(module, Xt, *validation))
            monitored = record["val_loss"] if validation[0].size else record["train_loss"]
            if monitored < best["loss"] - 1e-8:
                best = {"loss": monitored, "state": copy.deepcopy(module.state_dict())}
                self.best_epoch_ = epoch + 1
                stale = 0
            else:
                stale += 1
            record["epochs_without_improvement"] = stale
            self.history_.append(record)
            self._save_checkpoint(checkpoint, module, optimizer, rng, best)
            if self.verbose:
                print(_progress_line(record, self.max_epochs))
        module.load_state_dict(best["state"])
        module.eval()

    def _label_batch_loss(self, y, groups):
        """Loss of one balanced batch with labels ``y``: pairs mined on the current model."""

        def loss(module, X):
            torch = import_torch()
            Z = module.encode(X)
            pairs, labels = label_pairs(y, groups, across_groups=self.across_groups)
            if self.objective in ("dtw", "both") and self.mining == "semi_hard":
                with torch.no_grad():
                    D = module.pairwise_distances(self._as_seen(Z.detach()))
                triplets = semi_hard_negatives(
                    D.cpu().numpy(), y, margin=self.margin_, groups=groups,
                    across_groups=self.across_groups,
                )  # fmt: skip
                mined = triplets_to_pairs(triplets)
            else:
                mined = (pairs, labels)
            return self._objective(module, Z, mined, pairs[labels == 1])

        return loss

    def _pair_batch_loss(self, pairs, labels):
        """Loss of one batch of given pairs (row indices local to the batch)."""

        def loss(module, X):
            Z = module.encode(X)
            return self._objective(module, Z, (pairs, labels), pairs[labels == 1])

        return loss

    def _objective(self, module, Z, dtw_pairs, positives):
        """The loss of the class Notes: pair terms on ``dtw_pairs``, soft-lag on ``positives``."""
        seen = self._as_seen(Z)
        loss = Z.new_zeros(())
        pairs, labels = dtw_pairs
        if self.objective in ("dtw", "both") and len(pairs):
            loss = loss + self._pair_loss(module, module.pair_distances(seen, pairs), labels)
        if self.objective in ("lagged_corr", "both") and len(positives):
            loss = loss - self.lambda_corr * self._soft_lag(seen, positives).mean()
        R = objectives.regularizer(
            Z, smoothness=self.lambda_smooth, sparsity=self.lambda_sparse,
            energy=self._energy_weight(), epsilon=self.energy_epsilon,
            floor=self._floors_energy(),
            complexity=self.lambda_complexity * self.complexity_,
        )  # fmt: skip
        return loss + self.lambda_reg * R

    def _as_seen(self, Z):
        """The trajectories as the pair and soft-lag terms see them (floored when on)."""
        return objectives.energy_floor(Z, self.energy_epsilon) if self._floors_energy() else Z

    def _floors_energy(self):
        if self.energy_floor == "auto":
            return self.objective != "dtw"
        return self.energy_floor

    def _energy_weight(self):
        if self.lambda_energy == "auto":
            return 1.0 if self._floors_energy() else 0.0
        return self.lambda_energy

    def _pair_loss(self, module, d, labels):
        """``(λ_CE·L_CE + λ_ctr·L_ctr) / n`` over the ``n`` pairs of distances ``d``."""
        torch = import_torch()
        target = torch.as_tensor(labels, dtype=d.dtype, device=d.device)
        ce = objectives.pair_cross_entropy(
            d, target, alpha=module.alpha, log_w=module.log_w, log_tau=module.log_tau
        )
        ctr = objectives.contrastive_margin_loss(
            d, target, margin=self.margin_, negative_weight=self.negative_weight
        )
        return (self.lambda_ce * ce + self.lambda_ctr * ctr) / len(labels)

    def _soft_lag(self, Z, pairs):
        from .lag import soft_lag_correlation

        torch = import_torch()
        index = torch.as_tensor(pairs, device=Z.device)
        return soft_lag_correlation(Z[index[:, 0]], Z[index[:, 1]], max_lag=self.max_lag,
                                    beta=self.beta)  # fmt: skip

    def _median_distance(self, module, X):
        """Median pairwise distance of (a sample of) the training set: the distance unit."""
        sample = np.sort(check_random_state(0).permutation(len(X))[:64])
        D = module.pairwise_distances(module.encode(X[sample]))
        off_diagonal = D[~np.eye(len(sample), dtype=bool)]
        scale = float(off_diagonal.abs().median()) if off_diagonal.numel() else 1.0
        return scale if np.isfinite(scale) and scale > 0 else 1.0

    def _validation_scores(self, module, Xt, rows, pairs, labels):
        """Training objective and ROC AUC of the held-out pairs (indices local to ``rows``).

        The objective is the one being trained (pair loss on every held-out
        pair, soft-lag on the positives, penalties), so early stopping follows it.
        """
        if rows.size == 0:
            return {"val_loss": float("nan"), "val_auc": float("nan")}
        torch = import_torch()
        module.eval()
        with torch.no_grad():
            Z = module.encode(Xt[rows])
            loss = float(self._objective(module, Z, (pairs, labels), pairs[labels == 1]))
            logits = module.logits(module.pair_distances(Z, pairs)).cpu().numpy()
        return {"val_loss": loss, "val_auc": _rank_roc_auc(labels, logits)}

    # ------------------------------------------------------------- checkpoints

    def _checkpoint_file(self, *data):
        """``(path, fingerprint)`` of this fit's checkpoint, or ``(None, None)`` without one.

        The fingerprint covers every parameter (the encoder's included, through
        ``get_params(deep=True)``) except those a resumed fit may change, and
        the training data; the file is named after it, so the fits of a
        cross-validation sharing ``checkpoint_dir`` keep separate checkpoints.
        """
        params = {name: value for name, value in self.get_params(deep=True).items()
                  if name not in ("checkpoint_dir", "verbose", "max_epochs", "device")}  # fmt: skip
        return fit_checkpoint(self.checkpoint_dir, "pair_classifier", params, *data)

    def _save_checkpoint(self, checkpoint, module, optimizer, rng, best):
        path, key = checkpoint
        if path is None:
            return
        save_checkpoint(path, {
            "fingerprint": key,
            "module": module.state_dict(),
            "optimizer": optimizer.state_dict(),
            "best_state": best["state"],
            "best_loss": best["loss"],
            "best_epoch": self.best_epoch_,
            "history": json.dumps(self.history_),
            "rng": random_state_to_tensors(rng),
        })  # fmt: skip

    def _resume(self, checkpoint, module, optimizer, rng, best):
        """Load this fit's checkpoint if there is one; return the epoch to start from."""
        state = load_checkpoint(*checkpoint, self.device)
        if state is None:
            return 0
        module.load_state_dict(state["module"])
        optimizer.load_state_dict(state["optimizer"])
        best.update(loss=state["best_loss"], state=state["best_state"])
        self.best_epoch_ = state["best_epoch"]
        self.history_ = json.loads(state["history"])
        rng.set_state(random_state_from_tensors(state["rng"]))
        return len(self.history_)

    # -------------------------------------------------------------- prediction

    def encode(self, X):
        """Encoded trajectories ``Φθ(X)`` of the trained model.

        Parameters
        ----------
        X : array-like of shape (n, F), (n, T, F) or (n, T, I, J)

        Returns
        -------
        Z : ndarray of shape (n, T', L)
        """
        check_is_fitted(self)
        X = validate_recordings(self, X, reset=False)
        return self._encode(X).cpu().numpy()

    def _encode(self, X):
        torch = import_torch()
        with torch.no_grad():
            return self.module_.encode(torch.tensor(X, device=self.device))

    def pair_decision_function(self, X, pairs):
        """Logits ``α − w·d/τ`` of pairs of rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n, ...)
            Recordings.
        pairs : array-like of shape (n_pairs, 2)
            Row indices into ``X``.

        Returns
        -------
        logits : ndarray of shape (n_pairs,)
        """
        check_is_fitted(self)
        X = validate_recordings(self, X, reset=False)
        pairs, _ = validate_pairs(pairs, None, X.shape[0])
        torch = import_torch()
        with torch.no_grad():
            Z = self._encode(X)
            d = self.module_.pair_distances(Z, pairs)
            return self.module_.logits(d).cpu().numpy()

    def predict_pair_proba(self, X, pairs):
        """Probabilities ``[1 − p, p]`` that each pair of rows of ``X`` shares a label.

        Returns
        -------
        proba : ndarray of shape (n_pairs, 2)
        """
        p = 1.0 / (1.0 + np.exp(-self.pair_decision_function(X, pairs)))
        return np.column_stack([1.0 - p, p])

    def predict_pairs(self, X, pairs):
        """1 for pairs predicted to share a label (probability >= ``threshold_``), else 0."""
        return (self.predict_pair_proba(X, pairs)[:, 1] >= self.threshold_).astype(int)

    def calibrate_threshold(self, X, pairs, pair_labels, *, strategy="accuracy"):
        """Recalibrate the probabilities and choose the decision threshold on held-out pairs.

        First Platt scaling: the logits are refitted as ``a·logit + b`` by
        logistic regression on the given pairs, which folds into ``α``, ``w``
        (so calibration changes the Brier score and ECE, not the ranking).
        Then ``threshold_`` is set to the probability that maximises
        ``strategy`` on the same pairs.

        Parameters
        ----------
        X : array-like of shape (n, ...)
        pairs : array-like of shape (n_pairs, 2)
        pair_labels : array-like of shape (n_pairs,)
        strategy : {"accuracy", "f1"}, default="accuracy"

        Returns
        -------
        self : SoftDTWPairClassifier
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import accuracy_score, f1_score

        if strategy not in ("accuracy", "f1"):
            raise ValueError(f"strategy must be 'accuracy' or 'f1', got {strategy!r}.")
        check_is_fitted(self)
        X = validate_recordings(self, X, reset=False)
        pairs, pair_labels = validate_pairs(pairs, pair_labels, X.shape[0])
        if np.unique(pair_labels).size < 2:
            raise ValueError("calibrate_threshold needs both positive and negative pairs.")
        logits = self.pair_decision_function(X, pairs)
        platt = LogisticRegression(C=1e6).fit(logits[:, np.newaxis], pair_labels)
        slope, intercept = float(platt.coef_[0, 0]), float(platt.intercept_[0])
        if slope <= 0:
            raise ValueError(
                "the pair logits rank the calibration pairs backwards (Platt slope <= 0); "
                "the model is not fitted well enough to calibrate."
            )
        self.module_.rescale_logits(slope, intercept)
        proba = self.predict_pair_proba(X, pairs)[:, 1]
        score = accuracy_score if strategy == "accuracy" else f1_score
        candidates = np.unique(np.concatenate([[0.5], proba]))
        values = [score(pair_labels, (proba >= t).astype(int)) for t in candidates]
        self.threshold_ = float(candidates[int(np.argmax(values))])
        return self

    def predict(self, X):
        """Label of the most probable matching training recording, for each recording.

        Parameters
        ----------
        X : array-like of shape (n, ...)

        Returns
        -------
        y_pred : ndarray of shape (n,)
        """
        check_is_fitted(self)
        if self.y_fit_ is None:
            raise ValueError(
                "predict needs labelled training recordings, but this model was fitted with "
                "fit_pairs; use predict_pairs, or fit(X, y)."
            )
        X = validate_recordings(self, X, reset=False)
        torch = import_torch()
        with torch.no_grad():
            Z = self._encode(X)
            Z_fit = self._encode(self.X_fit_)
            D = self.module_.pairwise_distances(Z, Z_fit)
        return self.y_fit_[D.argmin(dim=1).cpu().numpy()]

    def score(self, X, y, sample_weight=None):
        """ROC AUC of the pair probabilities over all pairs formed from ``(X, y)``.

        Every unordered pair of rows of ``X`` is scored, with label 1 when
        both rows have the same ``y``. This ranks how well the model separates
        same-label from different-label pairs, whatever the threshold.

        Parameters
        ----------
        X : array-like of shape (n, ...)
        y : array-like of shape (n,)
        sample_weight : None
            Not supported (pairs have no natural weight); must be None.

        Returns
        -------
        auc : float
        """
        from sklearn.metrics import roc_auc_score

        if sample_weight is not None:
            raise ValueError("score does not support sample_weight; pairs carry no weights.")
        y = column_or_1d(y)
        check_consistent_length(X, y)
        pairs, labels = label_pairs(y)
        if np.unique(labels).size < 2:
            raise ValueError(
                "score needs both same-label and different-label pairs in (X, y); "
                f"got {np.unique(labels).size} kind of pair."
            )
        return float(roc_auc_score(labels, self.pair_decision_function(X, pairs)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # trailing all-NaN padding frames are accepted; any other NaN is an error
        tags.input_tags.allow_nan = False
        return tags


def _subset(groups, rows):
    """``groups[rows]``, or None without groups."""
    return None if groups is None else groups[rows]


def _progress_line(record, max_epochs):
    done = int(20 * record["epoch"] / max(max_epochs, 1))
    return (
        f"[{'#' * done}{'.' * (20 - done)}] epoch {record['epoch']}/{max_epochs} "
        f"train {record['train_loss']:.4f} val {record['val_loss']:.4f} "
        f"auc {record['val_auc']:.3f}"
    )


def _rank_roc_auc(labels, scores):
    """ROC AUC of binary ``labels`` from ``scores`` by the Mann–Whitney rank sum.

    Equal to :func:`sklearn.metrics.roc_auc_score` (ties get average ranks),
    without its input checks: it runs after every epoch, where those checks
    cost more than the ranking. NaN when one class is missing.
    """
    from scipy.stats import rankdata

    positive = np.asarray(labels) == 1
    n_positive, n_negative = int(positive.sum()), int((~positive).sum())
    if n_positive == 0 or n_negative == 0:
        return float("nan")
    rank_sum = rankdata(scores)[positive].sum()
    return float((rank_sum - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))
