"""Training machinery of the nonlinear-ICA encoder: examples, epochs, EMA, early stopping.

Kept apart from the estimator so that constructing, cloning and inspecting a
:class:`~skheatmap.ica.NonlinearICAEncoder` never imports torch.
"""

import copy
import sys
import time

import numpy as np

from .._torch import cpu_tensors, import_torch
from ._networks import NonlinearICANetwork, flatten_windows, make_mlp
from ._objectives import make_objective

torch = import_torch()
nn = torch.nn

# Evaluation batches are large: no gradients are kept.
_EVAL_BATCH = 8192
# Seed of the fixed contrast draw that makes PCL validation losses comparable across epochs.
_VALIDATION_SEED = 0


class Examples:
    """Training examples of one dataset, as tensors on the training device.

    Parameters
    ----------
    windows : ndarray of shape (n, T', D)
        Whitened, flattened windows; NaN where a window touches a missing frame.
    segments : ndarray of int, shape (n, T') or None
        Segment index of each window (of its last frame); -1 where missing.
    time : ndarray of shape (n, T')
        Time of each window's last frame, scaled to [0, 1] within its recording.
    objective : {"tcl", "pcl", "ivae"}
    device : torch.device
    """

    def __init__(self, windows, segments, time_, objective, device):
        valid = ~np.isnan(windows).any(axis=-1)
        self.objective = objective
        self.inputs = torch.tensor(windows[valid], dtype=torch.float32, device=device)
        seg = np.zeros(valid.sum(), dtype=np.int64) if segments is None else segments[valid]
        self.segments = torch.tensor(seg, dtype=torch.int64, device=device)
        self.time = torch.tensor(time_[valid][:, None], dtype=torch.float32, device=device)
        if objective == "pcl":
            # example number of each window, to pair every window with its predecessor
            number = np.full(valid.shape, -1, dtype=np.int64)
            number[valid] = np.arange(valid.sum())
            lagged = valid[:, 1:] & valid[:, :-1]
            pairs = np.stack([number[:, 1:][lagged], number[:, :-1][lagged]], axis=1)
            self.pairs = torch.tensor(pairs, dtype=torch.int64, device=device)
        self.n_examples = len(self.pairs) if objective == "pcl" else len(self.inputs)

    def batch(self, index, generator=None):
        """The batch of examples ``index`` (a 1-D int tensor)."""
        if self.objective != "pcl":
            return {
                "inputs": self.inputs[index],
                "segments": self.segments[index],
                "time": self.time[index],
            }
        current, previous = self.pairs[index].unbind(dim=1)
        contrast = torch.randint(
            len(self.inputs), (len(index),), generator=generator, device=self.inputs.device
        )
        return {
            "inputs": self.inputs[current],
            "previous": self.inputs[previous],
            "contrast": self.inputs[contrast],
        }


def make_windows(frames, window, stride):
    """Flattened windows of whitened frames, as a NumPy array (float32)."""
    with torch.no_grad():
        return flatten_windows(torch.tensor(frames, dtype=torch.float32), window, stride).numpy()


class TrainingState:
    """A network, its objective head, optimiser, EMA copy and loss history.

    Parameters
    ----------
    model : torch.nn.ModuleDict
        ``{"encoder": NonlinearICANetwork, "objective": objective head}``.
    optimizer_factory : callable
        Builds the optimiser from the model parameters.
    ema_decay : float or None
    """

    def __init__(self, model, optimizer_factory, ema_decay):
        self.model = model
        self.optimizer = optimizer_factory(model.parameters())
        self.ema_decay = ema_decay
        self.ema = None if ema_decay is None else copy.deepcopy(model).requires_grad_(False)
        self.epochs = 0
        self.loss_curve = []
        self.validation_loss_curve = []

    @property
    def evaluation_model(self):
        """The weights used to evaluate and to export: the EMA when there is one."""
        return self.model if self.ema is None else self.ema

    def update_ema(self):
        if self.ema is None:
            return
        with torch.no_grad():
            for averaged, current in zip(
                self.ema.parameters(), self.model.parameters(), strict=True
            ):
                averaged.lerp_(current, 1.0 - self.ema_decay)

    def load_evaluation_state(self, state_dict):
        """Reset the weights (raw and averaged) to a saved evaluation snapshot."""
        self.model.load_state_dict(state_dict)
        if self.ema is not None:
            self.ema.load_state_dict(state_dict)

    def checkpoint(self):
        """What :meth:`restore` resumes from: CPU tensor copies, numbers and lists (data only).

        The weights, EMA weights and optimiser state are ``state_dict`` s, so
        they load with ``torch.load(..., weights_only=True)`` and pickle on any
        machine.
        """
        return cpu_tensors({
            "model": self.model.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epochs": self.epochs,
            "loss_curve": list(self.loss_curve),
            "validation_loss_curve": list(self.validation_loss_curve),
        })  # fmt: skip

    def restore(self, checkpoint):
        """Load :meth:`checkpoint` output into this freshly built state."""
        self.model.load_state_dict(checkpoint["model"])
        if self.ema is not None:
            self.ema.load_state_dict(checkpoint["ema"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.epochs = checkpoint["epochs"]
        self.loss_curve = list(checkpoint["loss_curve"])
        self.validation_loss_curve = list(checkpoint["validation_loss_curve"])


def build_model(
    *,
    whitening,
    mean,
    objective,
    n_components,
    n_segments,
    hidden_layer_sizes,
    activation,
    auxiliary,
    window,
    stride,
    posterior_covariance="diagonal",
):
    """Fresh encoder and objective head (float32), seeded by torch's global RNG."""
    n_channels = whitening.shape[0]
    n_inputs = window * n_channels
    linear = nn.Linear(whitening.shape[1], n_channels)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(whitening))
        linear.bias.copy_(torch.from_numpy(-whitening @ mean))
    encoder = NonlinearICANetwork(
        linear,
        make_mlp(n_inputs, hidden_layer_sizes, n_components, activation),
        feature_activation="abs" if objective == "tcl" else "identity",
        window=window,
        stride=stride,
    )
    head = make_objective(
        objective,
        n_inputs=n_inputs,
        n_components=n_components,
        n_segments=n_segments,
        hidden=hidden_layer_sizes,
        activation=activation,
        auxiliary=auxiliary,
        posterior_covariance=posterior_covariance,
    )
    return nn.ModuleDict({"encoder": encoder, "objective": head}).float()


def _batch_loss(model, examples, index, *, freeze_encoder=False, generator=None):
    batch = examples.batch(index, generator=generator)
    return model["objective"](model["encoder"], batch, freeze_encoder=freeze_encoder)


def run_epoch(state, examples, index, schedule):
    """One pass of minibatch updates over the examples ``index``; returns the mean loss.

    The first epoch of a fresh TCL network trains the classification head alone
    (the reference recipe), so the encoder starts learning against a sensible head.
    """
    freeze_encoder = schedule.objective == "tcl" and state.epochs == 0
    model = state.model.train()
    order = index[torch.randperm(len(index), device=index.device)]
    total = 0.0
    for start in range(0, len(order), schedule.batch_size):
        chunk = order[start : start + schedule.batch_size]
        loss = _batch_loss(model, examples, chunk, freeze_encoder=freeze_encoder)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.update_ema()
        total += loss.item() * len(chunk)
    state.epochs += 1
    return total / len(order)


def evaluate(model, examples, index):
    """Mean objective over the examples ``index`` in evaluation mode (deterministic)."""
    model = model.eval()
    generator = torch.Generator(device=index.device).manual_seed(_VALIDATION_SEED)
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(index), _EVAL_BATCH):
            chunk = index[start : start + _EVAL_BATCH]
            total += _batch_loss(model, examples, chunk, generator=generator).item() * len(chunk)
    return total / len(index)


class ProgressBar:
    """One-line text progress bar for training epochs (stdout)."""

    def __init__(self, total, prefix="", width=30, stream=None):
        self.total = total
        self.prefix = prefix
        self.width = width
        self.stream = sys.stdout if stream is None else stream
        self.start = time.perf_counter()

    def update(self, done, loss, validation_loss=None):
        filled = int(self.width * done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        text = f"\r{self.prefix}|{bar}| epoch {done}/{self.total} loss {loss:.4f}"
        if validation_loss is not None:
            text += f" val {validation_loss:.4f}"
        text += f" {time.perf_counter() - self.start:.1f}s"
        self.stream.write(text)
        self.stream.flush()

    def close(self):
        self.stream.write("\n")
        self.stream.flush()


def fit_state(state, examples, train, validation, params, *, progress=None, stopping=None,
              on_epoch=None):  # fmt: skip
    """Train ``state`` for up to ``params.max_epochs`` epochs with early stopping.

    The validation loss (the training objective on held-out examples, never
    ground truth) decides early stopping; the best evaluation weights are
    restored. Returns the selection loss: the best validation loss, or the
    evaluation-mode loss on the training examples when there is no validation.

    ``stopping`` resumes the early-stopping record (``best_loss``,
    ``best_weights``, ``stale``) of an interrupted run whose ``state`` was
    restored; ``on_epoch(state, stopping)`` is called after every epoch (to
    write a checkpoint).
    """
    stopping = stopping or {"best_loss": np.inf, "best_weights": None, "stale": 0}
    best_loss, best_weights, stale = (stopping[k] for k in ("best_loss", "best_weights", "stale"))
    while len(state.loss_curve) < params.max_epochs and stale < params.n_iter_no_change:
        state.loss_curve.append(run_epoch(state, examples, train, params))
        validation_loss = None
        if validation is not None:
            validation_loss = evaluate(state.evaluation_model, examples, validation)
            state.validation_loss_curve.append(validation_loss)
            if validation_loss < best_loss - params.tol:
                best_loss, stale = validation_loss, 0
                best_weights = copy.deepcopy(state.evaluation_model.state_dict())
            else:
                stale += 1
        if progress is not None:
            progress.update(len(state.loss_curve), state.loss_curve[-1], validation_loss)
        if on_epoch is not None:
            on_epoch(state, {"best_loss": best_loss, "best_weights": best_weights, "stale": stale})
    if progress is not None:
        progress.close()
    if best_weights is None:
        return evaluate(state.evaluation_model, examples, train)
    state.load_evaluation_state(best_weights)
    return best_loss
