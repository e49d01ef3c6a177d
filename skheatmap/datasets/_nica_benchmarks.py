"""Standard nonlinear-ICA benchmarks (TCL, PCL, iVAE, ICE-BeeM) with ground truth.

Each generator draws its pieces from independent random streams spawned from
one seed (modulation, mixing, training sources, held-out sources), so the
held-out draw shares the mixing and modulation of the training draw and only
its source noise is new. Layer counts follow the TCL convention: ``n_layers``
mixing matrices with ``n_layers - 1`` nonlinearities between them
(``n_layers=1`` is linear ICA).
"""

import numbers

import numpy as np
from scipy.signal import lfilter
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = [
    "make_icebeem_benchmark",
    "make_ivae_benchmark",
    "make_pcl_benchmark",
    "make_tcl_benchmark",
]

_STREAMS = ("modulation", "mixing", "sources", "sources_test")


def _streams(random_state):
    """Independent generators for each component, spawned from one seed."""
    root = check_random_state(random_state).randint(0, np.iinfo(np.int32).max)
    children = np.random.SeedSequence(int(root)).spawn(len(_STREAMS))
    return {name: np.random.default_rng(seq) for name, seq in zip(_STREAMS, children, strict=True)}


def _leaky_relu(x, slope):
    return np.where(x > 0, x, slope * x)


def _random_column_normalised(rng, n_rows, n_cols, size=None):
    shape = (n_rows, n_cols) if size is None else (size, n_rows, n_cols)
    A = rng.uniform(-1.0, 1.0, size=shape)
    return A / np.linalg.norm(A, axis=-2, keepdims=True)


def well_conditioned_matrix(rng, n_rows, n_cols, *, n_reference=10_000, quantile=25.0):
    """A random mixing matrix whose condition number is in the best quantile.

    Entries are U[-1, 1] and columns are L2-normalised; matrices are redrawn
    until the condition number is at most the ``quantile``-th percentile of the
    condition numbers of ``n_reference`` such matrices (the TCL recipe).

    Parameters
    ----------
    rng : numpy.random.Generator
    n_rows, n_cols : int
        Shape of the matrix (``n_rows >= n_cols`` for an injective map).
    n_reference : int, default=10000
    quantile : float, default=25.0

    Returns
    -------
    A : ndarray of shape (n_rows, n_cols)

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.datasets import well_conditioned_matrix
    >>> well_conditioned_matrix(np.random.default_rng(0), 4, 4, n_reference=100).shape
    (4, 4)
    """
    reference = np.linalg.cond(_random_column_normalised(rng, n_rows, n_cols, n_reference))
    threshold = np.percentile(reference, quantile)
    while True:
        A = _random_column_normalised(rng, n_rows, n_cols)
        if np.linalg.cond(A) <= threshold:
            return A


def _mlp_mixing(rng, n_sources, n_observed, n_layers):
    """``n_layers`` well-conditioned matrices; the first maps sources to observations."""
    return [well_conditioned_matrix(rng, n_observed, n_sources)] + [
        well_conditioned_matrix(rng, n_observed, n_observed) for _ in range(n_layers - 1)
    ]


def _apply_mlp_mixing(sources, matrices, slope):
    x = sources @ matrices[0].T
    for A in matrices[1:]:
        x = _leaky_relu(x, slope) @ A.T
    return x


def _segment_labels(n_segments, segment_length):
    return np.repeat(np.arange(n_segments), segment_length)


def _bunch(X, sources, segments, X_test, sources_test, params, **extra):
    return Bunch(
        X=X,
        sources=sources,
        segments=segments,
        X_test=X_test,
        sources_test=sources_test,
        segments_test=segments.copy(),
        params=params,
        **extra,
    )


@validate_params(
    {
        "n_sources": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_observed": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "n_segments": [Interval(numbers.Integral, 2, None, closed="left")],
        "segment_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "slope": [Interval(numbers.Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_tcl_benchmark(
    *,
    n_sources=20,
    n_observed=None,
    n_segments=256,
    segment_length=512,
    n_layers=3,
    slope=0.2,
    random_state=None,
):
    """Benchmark B1: non-stationary Laplace sources through a leaky-ReLU MLP.

    Sources are unit-variance Laplace variables whose scale is modulated per
    segment by ``λ ~ U[0, 1]``; they are mixed by ``n_layers`` well-conditioned
    matrices with leaky ReLUs between them (Hyvärinen & Morioka, 2016).
    ``n_observed > n_sources`` gives the undercomplete variant.

    Parameters
    ----------
    n_sources : int, default=20
    n_observed : int, optional
        Number of observed channels; defaults to ``n_sources``. Must be at
        least ``n_sources`` so the mixing is injective.
    n_segments : int, default=256
    segment_length : int, default=512
    n_layers : int, default=3
        Number of mixing matrices (``1`` is linear ICA).
    slope : float, default=0.2
        Negative-side slope of the leaky ReLU.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    data : Bunch
        ``X`` (N, n_observed), ``sources`` (N, n_sources), ``segments`` (N,),
        the held-out ``X_test``, ``sources_test``, ``segments_test`` drawn with
        the same mixing and modulation, ``modulation`` (n_segments, n_sources),
        ``mixing`` (list of matrices) and ``params``.

    Examples
    --------
    >>> from skheatmap.datasets import make_tcl_benchmark
    >>> data = make_tcl_benchmark(n_sources=3, n_segments=4, segment_length=10, random_state=0)
    >>> data.X.shape, data.sources.shape, data.segments.shape
    ((40, 3), (40, 3), (40,))
    """
    n_observed = n_sources if n_observed is None else n_observed
    if n_observed < n_sources:
        raise ValueError(
            f"n_observed={n_observed} is smaller than n_sources={n_sources}; the mixing must "
            "be injective, so use n_observed >= n_sources."
        )
    rng = _streams(random_state)
    modulation = rng["modulation"].uniform(0.0, 1.0, size=(n_segments, n_sources))
    mixing = _mlp_mixing(rng["mixing"], n_sources, n_observed, n_layers)
    segments = _segment_labels(n_segments, segment_length)

    def draw(stream):
        laplace = stream.laplace(0.0, 1.0 / np.sqrt(2.0), size=(segments.size, n_sources))
        sources = laplace * modulation[segments]
        return _apply_mlp_mixing(sources, mixing, slope), sources

    X, sources = draw(rng["sources"])
    X_test, sources_test = draw(rng["sources_test"])
    params = dict(
        n_sources=n_sources, n_observed=n_observed, n_segments=n_segments,
        segment_length=segment_length, n_layers=n_layers, slope=slope,
    )  # fmt: skip
    return _bunch(
        X, sources, segments, X_test, sources_test, params, modulation=modulation, mixing=mixing
    )


@validate_params(
    {
        "n_sources": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_samples": [Interval(numbers.Integral, 2, None, closed="left")],
        "n_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "ar_coef": [Interval(numbers.Real, -1, 1, closed="neither")],
        "slope": [Interval(numbers.Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_pcl_benchmark(
    *, n_sources=20, n_samples=2**18, n_layers=3, ar_coef=0.7, slope=0.2, random_state=None
):
    """Benchmark B2: stationary AR(1) sources with Laplace innovations.

    ``s_t = ar_coef · s_{t-1} + e_t`` with Laplace ``e_t``, standardised to unit
    variance, mixed as in :func:`make_tcl_benchmark` (Hyvärinen & Morioka, 2017).

    Parameters
    ----------
    n_sources : int, default=20
    n_samples : int, default=262144
    n_layers : int, default=3
    ar_coef : float, default=0.7
    slope : float, default=0.2
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    data : Bunch
        ``X``, ``sources``, ``segments`` (all zeros: one stationary segment),
        the held-out ``X_test``, ``sources_test``, ``segments_test``, ``mixing``
        and ``params``.

    Examples
    --------
    >>> from skheatmap.datasets import make_pcl_benchmark
    >>> data = make_pcl_benchmark(n_sources=2, n_samples=100, random_state=0)
    >>> data.X.shape
    (100, 2)
    """
    rng = _streams(random_state)
    mixing = _mlp_mixing(rng["mixing"], n_sources, n_sources, n_layers)
    stationary_std = np.sqrt(1.0 / (1.0 - ar_coef**2))

    def draw(stream):
        innovations = stream.laplace(0.0, 1.0 / np.sqrt(2.0), size=(n_samples, n_sources))
        # start in the stationary distribution so no burn-in is needed
        innovations[0] *= stationary_std
        sources = lfilter([1.0], [1.0, -ar_coef], innovations, axis=0) / stationary_std
        return _apply_mlp_mixing(sources, mixing, slope), sources

    X, sources = draw(rng["sources"])
    X_test, sources_test = draw(rng["sources_test"])
    params = dict(n_sources=n_sources, n_samples=n_samples, n_layers=n_layers,
                  ar_coef=ar_coef, slope=slope)  # fmt: skip
    segments = np.zeros(n_samples, dtype=np.intp)
    return _bunch(X, sources, segments, X_test, sources_test, params, mixing=mixing)


def _ivae_nonlinearity(x):
    return np.tanh(x) + 0.1 * x


@validate_params(
    {
        "n_sources": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_segments": [Interval(numbers.Integral, 2, None, closed="left")],
        "segment_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "prior_means": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_ivae_benchmark(
    *,
    n_sources=5,
    n_segments=40,
    segment_length=1000,
    n_layers=3,
    prior_means=False,
    random_state=None,
):
    """Benchmark B4: Gaussian sources with segment-wise variances (iVAE default).

    ``x = f(f(s·A)·A)·A`` with ``f(x) = tanh(x) + 0.1 x`` and one shared
    well-conditioned square ``A`` (Khemakhem et al., 2020); sources are
    Gaussian with a standard deviation ``U[0.5, 3]`` per segment and, with
    ``prior_means=True``, a mean ``U[-5, 5]`` per segment.

    Parameters
    ----------
    n_sources : int, default=5
    n_segments : int, default=40
    segment_length : int, default=1000
    n_layers : int, default=3
        How many times ``A`` is applied.
    prior_means : bool, default=False
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    data : Bunch
        ``X``, ``sources``, ``segments``, the held-out draw, ``stds`` and
        ``means`` (n_segments, n_sources), ``mixing`` (``[A]``) and ``params``.

    Examples
    --------
    >>> from skheatmap.datasets import make_ivae_benchmark
    >>> make_ivae_benchmark(n_segments=3, segment_length=20, random_state=0).X.shape
    (60, 5)
    """
    rng = _streams(random_state)
    stds = rng["modulation"].uniform(0.5, 3.0, size=(n_segments, n_sources))
    means = (
        rng["modulation"].uniform(-5.0, 5.0, size=(n_segments, n_sources))
        if prior_means
        else np.zeros((n_segments, n_sources))
    )
    A = well_conditioned_matrix(rng["mixing"], n_sources, n_sources)
    segments = _segment_labels(n_segments, segment_length)

    def draw(stream):
        sources = means[segments] + stds[segments] * stream.standard_normal(
            (segments.size, n_sources)
        )
        x = sources @ A
        for _ in range(n_layers - 1):
            x = _ivae_nonlinearity(x) @ A
        return x, sources

    X, sources = draw(rng["sources"])
    X_test, sources_test = draw(rng["sources_test"])
    params = dict(n_sources=n_sources, n_segments=n_segments, segment_length=segment_length,
                  n_layers=n_layers, prior_means=prior_means)  # fmt: skip
    return _bunch(
        X, sources, segments, X_test, sources_test, params, stds=stds, means=means, mixing=[A]
    )


@validate_params(
    {
        "n_sources": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_segments": [Interval(numbers.Integral, 2, None, closed="left")],
        "segment_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_layers": [Interval(numbers.Integral, 1, None, closed="left")],
        "slope": [Interval(numbers.Real, 0, 1, closed="both")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_icebeem_benchmark(
    *, n_sources=5, n_segments=20, segment_length=2000, n_layers=4, slope=0.2, random_state=None
):
    """Benchmark B3: the ICE-BeeM comparison with random orthogonal layers.

    Gaussian sources, standardised then scaled by ``U[0.01, 3]`` per segment;
    for each of the ``n_layers - 1`` layers, ``x = lrelu(x, slope) @ Q`` with a
    random orthogonal ``Q``. Beware: the first leaky ReLU acts on the sources
    component-wise, so ``n_layers=2`` is linear ICA of ``lrelu(s)``; depth 3
    and more is where methods differ.

    Parameters
    ----------
    n_sources : int, default=5
    n_segments : int, default=20
    segment_length : int, default=2000
    n_layers : int, default=4
    slope : float, default=0.2
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    data : Bunch
        ``X``, ``sources``, ``segments``, the held-out draw, ``modulation``,
        ``mixing`` (the orthogonal matrices) and ``params``.

    Examples
    --------
    >>> from skheatmap.datasets import make_icebeem_benchmark
    >>> make_icebeem_benchmark(n_segments=2, segment_length=5, random_state=0).X.shape
    (10, 5)
    """
    rng = _streams(random_state)
    modulation = rng["modulation"].uniform(0.01, 3.0, size=(n_segments, n_sources))
    mixing = [
        np.linalg.qr(rng["mixing"].standard_normal((n_sources, n_sources)))[0]
        for _ in range(n_layers - 1)
    ]
    segments = _segment_labels(n_segments, segment_length)

    def draw(stream):
        noise = stream.standard_normal((segments.size, n_sources))
        noise = (noise - noise.mean(axis=0)) / noise.std(axis=0)
        sources = noise * modulation[segments]
        x = sources
        for Q in mixing:
            x = _leaky_relu(x, slope) @ Q
        return x, sources

    X, sources = draw(rng["sources"])
    X_test, sources_test = draw(rng["sources_test"])
    params = dict(n_sources=n_sources, n_segments=n_segments, segment_length=segment_length,
                  n_layers=n_layers, slope=slope)  # fmt: skip
    return _bunch(
        X, sources, segments, X_test, sources_test, params, modulation=modulation, mixing=mixing
    )
