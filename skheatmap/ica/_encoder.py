"""NonlinearICAEncoder (Ψ): identifiable nonlinear ICA as a scikit-learn transformer."""

import copy
import functools
import numbers
import os
import warnings
from types import SimpleNamespace

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.decomposition import FastICA
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._checkpoint import (
    fit_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from .._torch import TorchStateMixin, import_torch, seeded_torch_rng
from .._validation import as_series, lengths_of, restore_ndim, validate_recordings

__all__ = ["NonlinearICAEncoder"]

_ACTIVATIONS = ("maxout", "relu", "leaky_relu", "elu", "tanh")
# Relative eigenvalue below which a whitening direction is treated as empty.
_RANK_TOLERANCE = 1e-10


def _using_torch_threads(method):
    """Run ``method`` with ``self.n_jobs`` torch threads, restoring the count afterwards."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self.n_jobs is None:
            return method(self, *args, **kwargs)
        torch = import_torch()
        previous = torch.get_num_threads()
        torch.set_num_threads(self.n_jobs)
        try:
            return method(self, *args, **kwargs)
        finally:
            torch.set_num_threads(previous)

    return wrapper


class NonlinearICAEncoder(
    ClassNamePrefixFeaturesOutMixin,
    TorchStateMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Identifiable nonlinear ICA of multichannel series (the Ψ stage).

    A neural encoder ``h`` maps each frame (or a short window of frames) of a
    ``(n, T, K)`` series to ``L = n_components`` values. It is trained with one
    of three objectives whose identifiability rests on temporal structure:

    - ``"tcl"`` (time-contrastive learning): a multinomial logistic regression
      head predicts the segment of each frame from ``|h(x_t)|``; non-stationary
      sources (variance modulated per segment) are then recovered up to a linear
      map, which a FastICA post-step removes inside ``transform``. Features
      estimate ``|s|`` (Laplace-like sources), not ``s``.
    - ``"pcl"`` (permutation-contrastive learning): logistic regression tells
      real pairs ``(x_t, x_{t-1})`` from time-shuffled pairs ``(x_t, x_{t*})``;
      stationary, temporally dependent sources are recovered up to
      component-wise transforms.
    - ``"ivae"`` (identifiable VAE): an ELBO with a prior ``p(z | u)`` factorial
      given an auxiliary variable ``u`` (the segment index or the time);
      ``transform`` returns the posterior mean.

    Inputs are PCA-whitened first. Training uses Adam with L2 weight decay,
    optional exponential moving average (EMA) of the weights, ``n_init``
    restarts kept by the training objective, and early stopping on a held-out
    split of the examples.

    Parameters
    ----------
    n_components : int, default=None
        Number of sources ``L``; ``None`` means ``K``, the number of channels.
        ``L > K`` is an error.
    objective : {"tcl", "pcl", "ivae"}, default="tcl"
        Training objective (see above).
    segment_length : int, default=64
        When ``y`` is not given to ``fit``, consecutive windows of this many
        frames of each recording form the segments (TCL, and iVAE with
        ``auxiliary="segment"``). Ignored by PCL.
    auxiliary : {"segment", "time"}, default="segment"
        iVAE's auxiliary variable: the segment index, or the time within the
        recording scaled to [0, 1]. Ignored by TCL and PCL.
    posterior_covariance : {"diagonal", "full"}, default="diagonal"
        Covariance of iVAE's Gaussian posterior ``q(z | x)`` (a network of
        ``x``). A full one (a Cholesky factor) represents the correlated
        posterior of strongly saturating mixings, which a diagonal one pays for
        in the ELBO with distorted sources (held-out MCC on the benchmarks B3
        and B4: 0.82 and 0.78 diagonal, 0.91 and 0.87 full with the same
        training; 0.93 and 0.90 full with hidden layers (100, 100),
        ``n_iter_no_change=60`` and up to 400 epochs). It trains more slowly,
        so give it a larger ``n_iter_no_change``. Ignored by TCL and PCL.
    hidden_layer_sizes : tuple of int, default=None
        Hidden widths of the encoder MLP; ``None`` means two layers of width
        ``2 * max(K, L)``. The iVAE decoder mirrors them.
    activation : {"maxout", "relu", "leaky_relu", "elu", "tanh"}, default="maxout"
        Hidden nonlinearity (maxout pools 2 affine units, as in the TCL
        reference).
    window : int, default=1
        Frames per encoder input. ``1`` is the samplewise encoder, for which the
        identifiability results hold; ``window > 1`` gives a short-window
        temporal encoder whose output at ``j`` sees frames
        ``j * stride ... j * stride + window - 1``.
    stride : int, default=1
        Step between consecutive encoder inputs; the output has
        ``T' = (T - window) // stride + 1`` frames.
    whiten : bool, default=True
        Whether to PCA-whiten the frames before the network (directions with no
        variance are dropped).
    ema_decay : float, default=None
        Decay of an exponential moving average of the weights, used for
        validation and for the fitted encoder; ``None`` disables it.
    n_init : int, default=1
        Number of independently initialised trainings; the one with the lowest
        training objective (on the validation split when there is one) is kept.
        A training whose loss is not finite (it diverged) is never kept; ``fit``
        raises a ValueError when every one diverges.
        ``partial_fit`` trains a single network.
    max_epochs : int, default=100
        Maximum number of passes over the training examples per restart.
    batch_size : int, default=256
        Minibatch size (capped at the number of training examples).
    lr : float, default=1e-3
        Adam learning rate.
    weight_decay : float, default=1e-4
        L2 penalty on all weights.
    validation_fraction : float, default=0.1
        Fraction of the examples held out for early stopping and restart
        selection; ``0`` disables both (the last weights are kept and restarts
        are compared on the training examples).
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` in the validation loss
        before training stops.
    tol : float, default=1e-4
        Minimum improvement of the validation loss.
    checkpoint_dir : str or path-like, default=None
        Folder for a checkpoint written after every epoch of :meth:`fit`
        (network, optimiser, EMA, early-stopping record, restart index, RNG
        states; loaded with ``weights_only=True``). Each fit has its own file,
        named after a fingerprint of its parameters and data, so the fits of a
        cross-validation or a search can share the folder. A ``fit`` with the
        same parameters and data resumes from its file and ends with the result
        of an uninterrupted fit; a file under its name written by another fit
        is refused.
    device : str or torch.device, default="cpu"
        Where the network is trained. The fitted encoder lives on the CPU.
    n_jobs : int, default=None
        Number of torch CPU threads while fitting and transforming (restored
        afterwards); ``None`` keeps torch's setting. The networks are small, so
        one thread is often fastest on a busy machine.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, batches, the validation split and FastICA. Fits
        with the same integer seed are identical on the CPU.
    verbose : int, default=0
        ``> 0`` prints a progress bar per restart.

    Attributes
    ----------
    module_ : NonlinearICANetwork
        The fitted encoder (float64, CPU); ``transform`` runs it.
    n_components_ : int
        ``L``.
    mean_ : ndarray of shape (K,)
        Frame mean removed before whitening.
    whitening_ : ndarray of shape (K', K)
        PCA whitening matrix (identity when ``whiten=False``).
    n_segments_ : int
        Number of segments the objective contrasted (1 for PCL).
    segment_labels_ : ndarray or None
        Labels of ``y`` that define the segments, when ``y`` was given.
    ica_ : FastICA or None
        The TCL post-step fitted on the training features.
    loss_curve_ : list of float
        Training loss per epoch of the kept network.
    validation_loss_curve_ : list of float
        Validation loss per epoch (empty without validation).
    best_loss_ : float
        The selection loss of the kept network (after ``partial_fit``: the
        training loss of the last epoch).
    n_iter_ : int
        Epochs run by the kept network.
    n_features_in_ : int
        Channels per frame ``K``.
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Defined when 2-D ``X`` has string feature names.

    Notes
    -----
    **Shapes.** ``X`` is ``(n, T, K)``, NaN-padded as produced by
    :func:`skheatmap.to_dataset`. A frame with any NaN value (padding, a
    dropped frame, a dead channel) is *missing*: it is left out of training and
    its output is NaN, as is the output of any window that contains it.

    **2-D input.** ``(n, K)`` is the sklearn degenerate case. ``transform``
    encodes each row on its own and returns ``(n, L)``. For *training*, the rows
    are taken as the consecutive frames of one recording, so the segments of
    TCL/iVAE are blocks of ``segment_length`` rows (or the labels ``y``, one
    per row) and PCL pairs each row with the one before. ``window`` and
    ``stride`` must be 1.

    **Temporal pairs.** PCL pairs each encoder input with the one before it in
    the same recording (``stride`` frames earlier); pairs touching a missing
    frame are skipped.

    **Segments from labels.** ``y`` may be one label per recording ``(n,)``
    or per frame ``(n, T)``; each distinct label is one segment, and the TCL
    head needs at least two. A window takes the label of its last frame.

    **partial_fit** performs one epoch over the data it is given, so pruners
    (Optuna, Hyperband) can drive training; its first call fits the whitening
    and, for TCL, trains the classification head alone, as does the first
    epoch of ``fit`` (the reference recipe). With ``y=None``, segments are
    numbered by position, so every call should pass the same recordings.

    References
    ----------
    Hyvärinen & Morioka, "Unsupervised feature extraction by time-contrastive
    learning and nonlinear ICA", NeurIPS 2016. Hyvärinen & Morioka, "Nonlinear
    ICA of temporally dependent stationary sources", AISTATS 2017. Khemakhem,
    Kingma, Monti & Hyvärinen, "Variational autoencoders and nonlinear ICA: a
    unifying framework", AISTATS 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.ica import NonlinearICAEncoder
    >>> rng = np.random.default_rng(0)
    >>> scales = rng.uniform(0.1, 1.0, size=(8, 1, 3))  # 8 segments of 100 frames
    >>> S = (rng.laplace(size=(8, 100, 3)) * scales).reshape(1, 800, 3)
    >>> X = np.tanh(S @ rng.normal(size=(3, 3)))
    >>> encoder = NonlinearICAEncoder(segment_length=100, max_epochs=5, random_state=0)
    >>> encoder.fit_transform(X).shape
    (1, 800, 3)
    """

    _torch_module_attributes = ("module_",)

    _parameter_constraints: dict = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "objective": [StrOptions({"tcl", "pcl", "ivae"})],
        "segment_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "auxiliary": [StrOptions({"segment", "time"})],
        "posterior_covariance": [StrOptions({"diagonal", "full"})],
        "hidden_layer_sizes": [tuple, list, None],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "window": [Interval(numbers.Integral, 1, None, closed="left")],
        "stride": [Interval(numbers.Integral, 1, None, closed="left")],
        "whiten": ["boolean"],
        "ema_decay": [Interval(numbers.Real, 0, 1, closed="neither"), None],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "weight_decay": [Interval(numbers.Real, 0, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "device": "no_validation",
        "checkpoint_dir": [str, os.PathLike, None],
        "n_jobs": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_components=None,
        *,
        objective="tcl",
        segment_length=64,
        auxiliary="segment",
        posterior_covariance="diagonal",
        hidden_layer_sizes=None,
        activation="maxout",
        window=1,
        stride=1,
        whiten=True,
        ema_decay=None,
        n_init=1,
        max_epochs=100,
        batch_size=256,
        lr=1e-3,
        weight_decay=1e-4,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        checkpoint_dir=None,
        device="cpu",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.objective = objective
        self.segment_length = segment_length
        self.auxiliary = auxiliary
        self.posterior_covariance = posterior_covariance
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.window = window
        self.stride = stride
        self.whiten = whiten
        self.ema_decay = ema_decay
        self.n_init = n_init
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    @_using_torch_threads
    def fit(self, X, y=None):
        """Train the encoder on recordings ``X``.

        Parameters
        ----------
        X : array-like of shape (n, T, K) or (n, K)
            NaN-padded recordings (see Notes for 2-D input).
        y : array-like of shape (n,) or (n, T), default=None
            Segment labels per recording or per frame (TCL, iVAE with
            ``auxiliary="segment"``); ``None`` uses ``segment_length``.

        Returns
        -------
        self : NonlinearICAEncoder

        Raises
        ------
        ValueError
            If every one of the ``n_init`` trainings diverged (non-finite loss).
        """
        training = _import_training()
        torch = import_torch()
        device = self._torch_device()
        examples = self._examples(X, y, reset=True, device=device)
        rng = check_random_state(self.random_state)
        train, validation = self._split(examples, rng, device)
        checkpoint = _Checkpoint(self, examples, device)
        saved = checkpoint.load()
        best = None if saved is None else checkpoint.best(saved, training)
        for init in range(self.n_init):
            seed = rng.randint(np.iinfo(np.int32).max)  # drawn even when skipped: same stream
            if saved is not None and init < saved["init"]:
                continue  # finished before the interruption; its result is in ``best``
            with seeded_torch_rng(seed, device):
                state = self._new_state(training, device)
                stopping = None
                if saved is not None and init == saved["init"]:
                    stopping = checkpoint.restore(saved, state)
                progress = (
                    training.ProgressBar(self.max_epochs, f"[init {init + 1}/{self.n_init}] ")
                    if self.verbose
                    else None
                )
                loss = training.fit_state(
                    state, examples, train, validation, self._schedule(examples),
                    progress=progress, stopping=stopping,
                    on_epoch=functools.partial(checkpoint.save, init=init, best=best),
                )  # fmt: skip
            loss = loss if np.isfinite(loss) else np.inf  # a diverged training loses to any other
            if best is None or loss < best[0]:
                best = (loss, state)
        if not np.isfinite(best[0]):
            raise ValueError(
                f"every one of the n_init={self.n_init} trainings diverged (non-finite loss), "
                f"so there is no encoder to keep; lower lr (now {self.lr})."
            )
        self.best_loss_ = float(best[0])
        self._rng = rng
        self._store(best[1], examples, rng, torch)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    @_using_torch_threads
    def partial_fit(self, X, y=None):
        """Train for one epoch on ``X``, creating the encoder on the first call.

        Parameters
        ----------
        X : array-like of shape (n, T, K) or (n, K)
        y : array-like of shape (n,) or (n, T), default=None
            As in :meth:`fit`; labels must be among those of the first call.

        Returns
        -------
        self : NonlinearICAEncoder
        """
        training = _import_training()
        torch = import_torch()
        device = self._torch_device()
        first = not hasattr(self, "module_")
        examples = self._examples(X, y, reset=first, device=device)
        if first:
            self._rng = check_random_state(self.random_state)
        with seeded_torch_rng(self._rng.randint(np.iinfo(np.int32).max), device):
            if first:
                state = self._new_state(training, device)
            else:
                state = self._blank_state(training, device)
                state.restore(self._training_state)
            index = torch.arange(examples.n_examples, device=device)
            state.loss_curve.append(
                training.run_epoch(state, examples, index, self._schedule(examples))
            )
        self.best_loss_ = float(state.loss_curve[-1])
        self._store(state, examples, self._rng, torch)
        return self

    # ------------------------------------------------------------ transform

    @_using_torch_threads
    def transform(self, X):
        """Encode recordings.

        Parameters
        ----------
        X : array-like of shape (n, T, K) or (n, K)

        Returns
        -------
        Z : ndarray of shape (n, T', L) or (n, L)
            Estimated sources, NaN where the input frame (or a frame of the
            window) is missing; same floating dtype as ``X``.
        """
        check_is_fitted(self)
        torch = import_torch()
        X = validate_recordings(self, _as_array(X), reset=False, allowed_ndim=(2, 3))
        series = as_series(X)
        self._check_frames(series, X.ndim)
        module = self.module_ if X.dtype == np.float64 else copy.deepcopy(self.module_).float()
        with torch.no_grad():
            # torch.tensor copies, so read-only inputs (memmaps) are fine
            Z = module(torch.tensor(series)).numpy()
        return restore_ndim(Z, X)

    def to_torch(self, *, orthogonal=False):
        """The fitted encoder as a float64 ``nn.Module`` whose forward equals ``transform``.

        The module maps ``(N, K)`` frames or ``(n, T, K)`` series; it includes
        the whitening and, for TCL, the FastICA unmixing as linear layers, so
        it can be trained end to end. Call ``.float()`` for float32.

        Parameters
        ----------
        orthogonal : bool, default=False
            For ``objective="tcl"``: train the FastICA unmixing as FastICA
            estimates it, an orthogonal rotation of its whitened input (an
            :class:`~skheatmap.ica._networks.OrthogonalUnmixing` layer, through
            torch's orthogonal parametrisation) with the whitening and the
            unit-variance scales fixed, instead of a free linear map.

        Returns
        -------
        module : NonlinearICANetwork
            An independent copy.

        Examples
        --------
        >>> import numpy as np
        >>> from skheatmap.ica import NonlinearICAEncoder
        >>> X = np.random.default_rng(0).laplace(size=(2, 200, 3))
        >>> encoder = NonlinearICAEncoder(objective="tcl", segment_length=50, max_epochs=2,
        ...                               hidden_layer_sizes=(8,), random_state=0).fit(X)
        >>> twin = encoder.to_torch(orthogonal=True)
        >>> import torch
        >>> bool(np.allclose(twin(torch.from_numpy(X)).detach().numpy(), encoder.transform(X)))
        True
        """
        check_is_fitted(self)
        twin = copy.deepcopy(self.module_)
        if orthogonal:
            if self.ica_ is None:
                raise ValueError(
                    f"orthogonal=True constrains the FastICA unmixing of objective='tcl'; "
                    f"this encoder was fitted with objective={self.objective!r}, which has "
                    "none. Use orthogonal=False."
                )
            from ._networks import OrthogonalUnmixing

            # from the current unmixing, which from_torch may have trained further
            weight = self.module_.unmixing.weight.detach().numpy()
            mean = -np.linalg.pinv(weight) @ self.module_.unmixing.bias.detach().numpy()
            twin.unmixing = OrthogonalUnmixing(weight, self.ica_.whitening_, mean)
        return twin

    def from_torch(self, module):
        """Load the weights of a (further trained) twin back into this encoder.

        Parameters
        ----------
        module : NonlinearICANetwork
            A module with the architecture of :meth:`to_torch`'s (either
            form of the unmixing).

        Returns
        -------
        self : NonlinearICAEncoder
        """
        check_is_fitted(self)
        updated = copy.deepcopy(self.module_)
        state = module.state_dict()
        if hasattr(getattr(module, "unmixing", None), "linear_weights"):
            # an orthogonal twin (to_torch(orthogonal=True)): back to the plain linear layer
            state = {k: v for k, v in state.items() if not k.startswith("unmixing.")}
            state["unmixing.weight"], state["unmixing.bias"] = module.unmixing.linear_weights()
        try:
            updated.load_state_dict(state)
        except (RuntimeError, AttributeError) as error:
            raise ValueError(
                f"module does not have the architecture of this encoder's to_torch() twin: {error}"
            ) from None
        self.module_ = updated
        return self

    @property
    def _n_features_out(self):
        return self.n_components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # -------------------------------------------------------------- helpers

    def _torch_device(self):
        torch = import_torch()
        try:
            return torch.device(self.device)
        except (RuntimeError, TypeError) as error:
            raise ValueError(
                f"device={self.device!r} is not a torch device; use 'cpu', 'cuda' or "
                f"'cuda:0'. ({error})"
            ) from None

    def _check_frames(self, series, ndim):
        if ndim == 2 and (self.window != 1 or self.stride != 1):
            raise ValueError(
                f"2-D input holds single frames, but window={self.window} and "
                f"stride={self.stride} need a time axis; pass series (n, T, K) or use "
                "window=1, stride=1."
            )
        if series.shape[1] < self.window:
            raise ValueError(
                f"recordings have {series.shape[1]} frames, fewer than window={self.window}; "
                "use a smaller window."
            )

    def _examples(self, X, y, *, reset, device):
        """Validate ``X``, fit the whitening when ``reset``, and build the examples."""
        training = _import_training()
        X = validate_recordings(self, _as_array(X), reset=reset, allowed_ndim=(2, 3))
        # for training, 2-D rows are the consecutive frames of one recording
        series = X[np.newaxis] if X.ndim == 2 else X
        self._check_frames(series, X.ndim)
        missing = np.isnan(series).any(axis=-1)
        n_frames = int((~missing).sum())
        if n_frames < 2:
            raise ValueError(
                "NonlinearICAEncoder needs at least 2 complete frames to train, got "
                f"n_samples = {n_frames}."
            )
        if reset:
            self._fit_whitening(series[~missing])
        frames = (series - self.mean_) @ self.whitening_.T
        windows = training.make_windows(frames, self.window, self.stride)
        last = slice(self.window - 1, None, self.stride)
        n_windows = windows.shape[1]
        segments = self._segments(series, y, missing, reset)
        segments = None if segments is None else segments[:, last][:, :n_windows]
        examples = training.Examples(
            windows, segments, self._frame_time(series)[:, last][:, :n_windows],
            self.objective, device,
        )  # fmt: skip
        if examples.n_examples < 2:
            raise ValueError(
                f"objective={self.objective!r} found {examples.n_examples} training example(s) "
                "(PCL needs consecutive complete windows); pass longer recordings."
            )
        return examples

    def _fit_whitening(self, frames):
        n_features = frames.shape[1]
        L = n_features if self.n_components is None else self.n_components
        if L > n_features:
            raise ValueError(
                f"n_components={L} exceeds the {n_features} channels of X; nonlinear ICA "
                f"here reduces dimension (L <= K). Use n_components <= {n_features}."
            )
        self.n_components_ = L
        self.mean_ = frames.mean(axis=0)
        if not self.whiten:
            self.whitening_ = np.eye(n_features)
            return
        variances, directions = np.linalg.eigh(np.cov(frames, rowvar=False).reshape(
            n_features, n_features))  # fmt: skip
        keep = variances > _RANK_TOLERANCE * max(variances.max(), np.finfo(float).tiny)
        if not keep.any():
            raise ValueError("X has no variance: every frame is identical; nothing to encode.")
        order = np.argsort(variances[keep])[::-1]
        self.whitening_ = (directions[:, keep][:, order] / np.sqrt(variances[keep][order])).T

    def _segments(self, series, y, missing, reset):
        """Segment index of every frame (``(n, T)`` int, -1 where missing) or None."""
        needs = self.objective == "tcl" or (
            self.objective == "ivae" and self.auxiliary == "segment"
        )
        if not needs:
            if reset:
                self.n_segments_, self.segment_labels_ = 1, None
            return None
        if y is None:
            if reset:
                self.segment_labels_ = None
            position = np.arange(series.shape[1]) // self.segment_length
            labels = np.arange(series.shape[0])[:, None] * (position[-1] + 1) + position
            _, codes = np.unique(labels[~missing], return_inverse=True)
        else:
            labels = self._frame_labels(series, y)
            codes = self._label_codes(labels[~missing], reset)
        segments = np.full(missing.shape, -1, dtype=np.int64)
        segments[~missing] = codes
        n_segments = int(codes.max()) + 1
        if reset:
            self.n_segments_ = n_segments
            if self.objective == "tcl" and n_segments < 2:
                raise ValueError(
                    "objective='tcl' contrasts segments and needs at least 2, found 1 "
                    "(one class). Pass labels y with at least two values, or a "
                    f"segment_length shorter than the recordings (now {self.segment_length})."
                )
        elif n_segments > self.n_segments_:
            raise ValueError(
                f"X has {n_segments} segments of segment_length={self.segment_length}, but the "
                f"encoder was created with {self.n_segments_}; pass the same recordings."
            )
        return segments

    @staticmethod
    def _frame_labels(series, y):
        y = np.asarray(y)
        n, T = series.shape[:2]
        if y.shape == (n,):
            return np.broadcast_to(y[:, None], (n, T))
        if y.shape == (n, T):
            return y
        if n == 1 and y.shape == (T,):
            return y[None, :]
        raise ValueError(
            f"y has shape {y.shape}; expected one segment label per recording ({n},) or per "
            f"frame ({n}, {T}) (for 2-D X, one label per row)."
        )

    def _label_codes(self, labels, reset):
        if reset:
            self.segment_labels_, codes = np.unique(labels, return_inverse=True)
            return codes
        if self.segment_labels_ is None:
            raise ValueError(
                "y was not given to the first fit/partial_fit call, so segments come from "
                "segment_length; do not pass y now."
            )
        unseen = ~np.isin(labels, self.segment_labels_)
        if unseen.any():
            raise ValueError(
                f"y has labels {np.unique(labels[unseen])[:5]} never seen when the encoder "
                f"was created (known: {self.segment_labels_[:5]}...)."
            )
        return np.searchsorted(self.segment_labels_, labels)

    @staticmethod
    def _frame_time(series):
        lengths = np.maximum(lengths_of(series) - 1, 1)
        return np.arange(series.shape[1])[None, :] / lengths[:, None]

    def _split(self, examples, rng, device):
        torch = import_torch()
        n = examples.n_examples
        order = rng.permutation(n)
        n_validation = int(round(self.validation_fraction * n))
        if self.validation_fraction > 0:
            n_validation = min(max(n_validation, 1), n - 1)
        train = torch.tensor(np.sort(order[n_validation:]), device=device)
        validation = torch.tensor(np.sort(order[:n_validation]), device=device)
        return train, (validation if n_validation else None)

    def _hidden(self):
        if self.hidden_layer_sizes is None:
            width = 2 * max(self.whitening_.shape[0], self.n_components_)
            return (width, width)
        sizes = tuple(self.hidden_layer_sizes)
        if not all(isinstance(s, numbers.Integral) and s >= 1 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must be positive ints, got {self.hidden_layer_sizes!r}."
            )
        return sizes

    def _optimizer_factory(self, torch):
        lr, weight_decay = self.lr, self.weight_decay
        return lambda parameters: torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)

    def _new_state(self, training, device):
        torch = import_torch()
        model = training.build_model(
            whitening=self.whitening_,
            mean=self.mean_,
            objective=self.objective,
            n_components=self.n_components_,
            n_segments=self.n_segments_,
            hidden_layer_sizes=self._hidden(),
            activation=self.activation,
            auxiliary=self.auxiliary,
            posterior_covariance=self.posterior_covariance,
            window=self.window,
            stride=self.stride,
        ).to(device)
        return training.TrainingState(model, self._optimizer_factory(torch), self.ema_decay)

    def _blank_state(self, training, device):
        """A training state of this architecture whose weights are about to be overwritten.

        Its throwaway initial weights come from a fixed seed, so rebuilding
        draws nothing from the caller's torch RNG.
        """
        with seeded_torch_rng(0, device):
            return self._new_state(training, device)

    def _schedule(self, examples):
        return SimpleNamespace(
            objective=self.objective,
            max_epochs=self.max_epochs,
            batch_size=min(self.batch_size, examples.n_examples),
            n_iter_no_change=self.n_iter_no_change,
            tol=self.tol,
        )

    def _store(self, state, examples, rng, torch):
        """Keep the evaluation weights as ``module_`` (float64, CPU) and the training state."""
        module = copy.deepcopy(state.evaluation_model["encoder"]).to("cpu", torch.float64).eval()
        self.ica_ = None
        if self.objective == "tcl":
            with torch.no_grad():
                features = module.encode(examples.inputs.to("cpu", torch.float64)).numpy()
            self.ica_ = _fit_fastica(features, rng)
            # skip_init: no draw from the caller's torch RNG for weights overwritten at once
            unmixing = torch.nn.utils.skip_init(
                torch.nn.Linear, self.n_components_, self.n_components_, dtype=torch.float64
            )
            with torch.no_grad():
                unmixing.weight.copy_(torch.from_numpy(self.ica_.components_))
                unmixing.bias.copy_(torch.from_numpy(-self.ica_.components_ @ self.ica_.mean_))
            module.unmixing = unmixing
        self.module_ = module
        self._training_state = state.checkpoint()
        self.loss_curve_ = list(state.loss_curve)
        self.validation_loss_curve_ = list(state.validation_loss_curve)
        self.n_iter_ = state.epochs


class _Checkpoint:
    """The per-epoch checkpoint of one :meth:`NonlinearICAEncoder.fit` call."""

    def __init__(self, encoder, examples, device):
        self.encoder = encoder
        self.device = device
        params = {k: v for k, v in encoder.get_params().items()
                  if k not in ("checkpoint_dir", "verbose", "n_jobs", "device")}  # fmt: skip
        self.path, self.fingerprint = fit_checkpoint(
            encoder.checkpoint_dir, "nonlinear_ica", params,
            examples.inputs.cpu().numpy(), examples.segments.cpu().numpy(),
        )  # fmt: skip

    def load(self):
        return None if self.path is None else load_checkpoint(self.path, self.fingerprint)

    def save(self, state, stopping, *, init, best):
        """Write the running restart ``init`` and the best finished restart."""
        if self.path is None:
            return
        save_checkpoint(self.path, {
            "fingerprint": self.fingerprint,
            "init": init,
            "state": state.checkpoint(),
            "stopping": stopping,
            "torch_rng": self._torch_rng().get_state(),
            "best": None if best is None else {"loss": best[0], "state": best[1].checkpoint()},
        })  # fmt: skip

    def restore(self, saved, state):
        """Continue the interrupted restart: weights, optimiser, torch RNG; its stopping record."""
        state.restore(saved["state"])
        self._torch_rng().set_state(saved["torch_rng"].cpu())
        return saved["stopping"]

    def best(self, saved, training):
        """The best restart finished before the interruption, rebuilt, or None."""
        if saved["best"] is None:
            return None
        state = self.encoder._blank_state(training, self.device)
        state.restore(saved["best"]["state"])
        return saved["best"]["loss"], state

    def _torch_rng(self):
        """The generator that shuffles the batches on the training device."""
        torch = import_torch()
        if self.device.type == "cuda":
            return torch.cuda.default_generators[self.device.index or 0]
        return torch.default_generator


def _as_array(X):
    """Array-likes without ``ndim`` (lists, array wrappers) as arrays, DataFrames untouched."""
    return X if hasattr(X, "ndim") else np.asarray(X)


def _fit_fastica(features, rng, attempts=5):
    """FastICA of the TCL features, restarted from new initial rotations until it converges.

    FastICA's fixed-point iteration can stall from an unlucky start on small
    samples; only when every attempt stalls is the ConvergenceWarning passed on.
    """
    for _ in range(attempts):
        ica = FastICA(whiten="unit-variance", max_iter=1000, random_state=rng.randint(2**31 - 1))
        with warnings.catch_warnings():
            # convergence is judged from n_iter_ below; one warning is given for all attempts
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            ica.fit(features)
        if ica.n_iter_ < ica.max_iter:
            return ica
    warnings.warn(
        f"the FastICA post-step of objective='tcl' did not converge in {attempts} attempts of "
        f"{ica.max_iter} iterations; the TCL features may be under-trained (raise max_epochs) "
        "or the sample too small.",
        ConvergenceWarning,
        stacklevel=3,
    )
    return ica


def _import_training():
    from . import _training

    return _training
