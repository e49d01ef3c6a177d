"""Low-fidelity evaluation: fewer recordings, fewer epochs, temporally downsampled data, or both."""

import math
from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["FRACTIONAL", "RESOURCES", "Fidelity", "epoch_parameters"]

RESOURCES = ("n_samples", "epochs", "downsample", "downsample_epochs")
# resources whose amount is the fraction of frames kept
FRACTIONAL = ("downsample", "downsample_epochs")


def epoch_parameters(estimator):
    """``{path: max_epochs}`` of every step of ``estimator`` that trains for epochs."""
    return {
        path: value
        for path, value in estimator.get_params(deep=True).items()
        if (path == "max_epochs" or path.endswith("__max_epochs")) and isinstance(value, int)
    }


@dataclass(frozen=True)
class Fidelity:
    """How cheaply a candidate is evaluated.

    Parameters
    ----------
    resource : str
        ``"n_samples"``: ``value`` training recordings (balanced over labels);
        ``"epochs"``: every ``max_epochs`` parameter scaled so that the largest
        equals ``value``; ``"downsample"``: ``value`` is the fraction of frames
        kept (every ``round(1 / value)``-th frame, train and test, with every
        non-None ``fs`` parameter divided accordingly); ``"downsample_epochs"``:
        that downsampling with every ``max_epochs`` scaled by the same
        fraction too (at least one epoch), for estimators whose fixed cost per
        epoch dominates on short recordings; any other string is a parameter
        path set to ``value``.
    value : int or float
        The amount of the resource.
    full : bool
        Whether this is the full fidelity (the resource at its maximum).
    """

    resource: str
    value: float
    full: bool = False

    def params(self, estimator):
        """Parameters to set on a clone of ``estimator``."""
        if self.resource == "epochs":
            epochs = epoch_parameters(estimator)
            largest = max(epochs.values(), default=0)
            return {p: max(1, math.ceil(e * self.value / largest)) for p, e in epochs.items()}
        if self.resource in FRACTIONAL:
            stride = self.stride
            params = {
                path: value / stride
                for path, value in estimator.get_params(deep=True).items()
                if (path == "fs" or path.endswith("__fs")) and value is not None
            }
            if self.resource == "downsample_epochs":
                epochs = epoch_parameters(estimator).items()
                params.update({p: max(1, math.ceil(e * self.value)) for p, e in epochs})
            return params
        if self.resource == "n_samples":
            return {}
        return {self.resource: self.value}

    @property
    def stride(self):
        """Frame step of the downsampling resources (1 otherwise)."""
        return max(1, round(1 / self.value)) if self.resource in FRACTIONAL else 1

    def training_rows(self, train, y, random_state):
        """The training recordings used: all, or a label-balanced random subset."""
        if self.resource != "n_samples" or self.value >= len(train):
            return train
        rng = check_random_state(random_state)
        shuffled = rng.permutation(train)
        labels = y[shuffled]
        # rank of each recording within its label, so taking the lowest ranks balances labels
        rank = np.empty(len(shuffled), dtype=int)
        for label in np.unique(labels):
            where = np.flatnonzero(labels == label)
            rank[where] = np.arange(where.size)
        chosen = shuffled[np.argsort(rank, kind="stable")[: int(self.value)]]
        return np.sort(chosen)

    def frames(self, X):
        """``X`` with every ``stride``-th frame (unchanged unless downsampling)."""
        return X if self.stride == 1 or X.ndim < 3 else X[:, :: self.stride]

    def __str__(self):
        return f"{self.resource}={self.value:g}"
