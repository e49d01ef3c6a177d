"""Continuous dimensions of a branch's space Θ_c: one object for sklearn, Optuna and sampling."""

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["Integer", "Real", "evenly_spaced_percentiles"]


def evenly_spaced_percentiles(n):
    """``n`` percentile levels evenly spaced over ``[5, 95]``, the embedder's default span.

    Lets a search tune the *number* of percentiles of
    :class:`~skheatmap.HeatmapEmbedder` as an integer.

    Parameters
    ----------
    n : int
        Number of levels (at least 1; one level is the median).

    Returns
    -------
    percentiles : tuple of float

    Examples
    --------
    >>> evenly_spaced_percentiles(5)
    (5.0, 27.5, 50.0, 72.5, 95.0)
    """
    if n == 1:
        return (50.0,)
    return tuple(float(q) for q in np.linspace(5.0, 95.0, int(n)))


@dataclass(frozen=True)
class _Dimension:
    low: float
    high: float
    log: bool = False
    default: float | None = None
    # maps the searched number to the estimator's parameter value (module-level, so picklable)
    to_value: object = field(default=None, compare=False)

    def __post_init__(self):
        if not self.low < self.high:
            raise ValueError(
                f"{type(self).__name__} needs low < high, got low={self.low!r}, high={self.high!r}."
            )
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scaled dimension needs low > 0, got low={self.low!r}.")
        if self.default is not None and not self.low <= self.default <= self.high:
            raise ValueError(
                f"default={self.default!r} lies outside [{self.low!r}, {self.high!r}]."
            )

    @property
    def center(self):
        """``default``, else the (geometric, for log scale) middle of the range."""
        if self.default is not None:
            return self._cast(self.default)
        middle = math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2
        return self._cast(middle)

    def value(self, number):
        """The estimator's parameter value for a searched number."""
        return number if self.to_value is None else self.to_value(number)

    def sample(self, random_state=None):
        """A random searched number (log-uniform when ``log``)."""
        rng = check_random_state(random_state)
        if self.log:
            low, high = math.log(self.low), math.log(self.high + self._upper_pad())
            return self._cast(min(math.exp(rng.uniform(low, high)), self.high))
        return self._cast(rng.uniform(self.low, self.high + self._upper_pad()))

    def rvs(self, random_state=None):
        """A random parameter value, so sklearn's randomized searches can sample the dimension."""
        return self.value(self.sample(random_state))

    def _upper_pad(self):
        return 0.0

    def _cast(self, number):
        return float(number)


class Real(_Dimension):
    """A real hyperparameter in ``[low, high]``, uniform or log-uniform.

    Parameters
    ----------
    low, high : float
        Bounds (``low < high``; ``low > 0`` when ``log``).
    log : bool, default=False
        Search on a log scale.
    default : float or None, default=None
        The value of the first (warm-start) candidate; None takes the middle.
    to_value : callable or None, default=None
        Maps the searched number to the parameter value given to the estimator.

    Examples
    --------
    >>> from skheatmap.search import Real
    >>> gamma = Real(0.01, 10.0, log=True, default=1.0)
    >>> gamma.center
    1.0
    >>> 0.01 <= gamma.rvs(random_state=0) <= 10.0
    True
    """

    def optuna(self):
        """The equivalent ``optuna.distributions.FloatDistribution``."""
        from ._optuna import import_optuna

        return import_optuna().distributions.FloatDistribution(self.low, self.high, log=self.log)

    def suggest(self, trial, name):
        """The number an Optuna ``trial`` suggests for parameter ``name``."""
        return trial.suggest_float(name, self.low, self.high, log=self.log)


class Integer(_Dimension):
    """An integer hyperparameter in ``[low, high]`` (inclusive), uniform or log-uniform.

    Parameters are those of :class:`Real`.

    Examples
    --------
    >>> from skheatmap.search import Integer, evenly_spaced_percentiles
    >>> levels = Integer(3, 9, default=5, to_value=evenly_spaced_percentiles)
    >>> levels.value(levels.center)
    (5.0, 27.5, 50.0, 72.5, 95.0)
    """

    def __post_init__(self):
        for name in ("low", "high"):
            if not isinstance(getattr(self, name), numbers.Integral):
                value = getattr(self, name)
                raise TypeError(f"Integer needs integer bounds, got {name}={value!r}.")
        super().__post_init__()

    def optuna(self):
        """The equivalent ``optuna.distributions.IntDistribution``."""
        from ._optuna import import_optuna

        return import_optuna().distributions.IntDistribution(
            int(self.low), int(self.high), log=self.log
        )

    def suggest(self, trial, name):
        """The number an Optuna ``trial`` suggests for parameter ``name``."""
        return trial.suggest_int(name, int(self.low), int(self.high), log=self.log)

    def _upper_pad(self):
        # floor of a uniform draw on [low, high + 1) hits every integer equally often
        return 1.0 - 1e-9 if not self.log else 1.0

    def _cast(self, number):
        return int(min(math.floor(number), self.high))
