"""Encoder networks of the nonlinear-ICA stage and its torch twin.

The twin is the whole samplewise (or short-window) map of
:class:`~skheatmap.ica.NonlinearICAEncoder`: PCA whitening, optional
windowing, the feature MLP, the feature nonlinearity and the linear
unmixing that follows TCL. ``transform`` runs this very module, so the sklearn
face and the torch face cannot disagree.
"""

import numpy as np

from .._torch import import_torch

torch = import_torch()
nn = torch.nn

__all__ = ["Maxout", "flatten_windows", "make_mlp", "NonlinearICANetwork", "OrthogonalUnmixing"]

_ELEMENTWISE = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "elu": nn.ELU,
    "tanh": nn.Tanh,
}


class Maxout(nn.Module):
    """Affine map followed by a maximum over ``pool`` candidate units.

    Parameters
    ----------
    in_features, out_features : int
    pool : int, default=2
        Number of affine candidates per output unit (the TCL reference uses 2).

    Examples
    --------
    >>> import torch
    >>> from skheatmap.ica._networks import Maxout
    >>> Maxout(3, 4)(torch.zeros(5, 3)).shape
    torch.Size([5, 4])
    """

    def __init__(self, in_features, out_features, pool=2):
        super().__init__()
        self.out_features = out_features
        self.pool = pool
        self.linear = nn.Linear(in_features, out_features * pool)

    def forward(self, x):
        candidates = self.linear(x)
        shape = (*candidates.shape[:-1], self.out_features, self.pool)
        # torch.amax propagates NaN, so NaN padding frames stay NaN
        return candidates.reshape(shape).amax(dim=-1)


def make_mlp(n_inputs, hidden_layer_sizes, n_outputs, activation):
    """A multilayer perceptron with a linear output layer.

    Parameters
    ----------
    n_inputs : int
    hidden_layer_sizes : sequence of int
        Widths of the hidden layers; empty for an affine map.
    n_outputs : int
    activation : {"maxout", "relu", "leaky_relu", "elu", "tanh"}

    Returns
    -------
    mlp : torch.nn.Sequential

    Examples
    --------
    >>> from skheatmap.ica._networks import make_mlp
    >>> make_mlp(4, (8,), 2, "maxout")
    Sequential(
      (0): Maxout(
        (linear): Linear(in_features=4, out_features=16, bias=True)
      )
      (1): Linear(in_features=8, out_features=2, bias=True)
    )
    """
    layers = []
    width = n_inputs
    for size in hidden_layer_sizes:
        if activation == "maxout":
            layers.append(Maxout(width, size))
        else:
            layers += [nn.Linear(width, size), _ELEMENTWISE[activation]()]
        width = size
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def flatten_windows(frames, window, stride):
    """Group frames ``(n, T, C)`` into flattened windows ``(n, T', window * C)``.

    Window ``j`` holds frames ``j * stride ... j * stride + window - 1``, oldest
    first, so ``T' = (T - window) // stride + 1``.

    Examples
    --------
    >>> import torch
    >>> from skheatmap.ica._networks import flatten_windows
    >>> frames = torch.arange(10.0).reshape(1, 5, 2)
    >>> flatten_windows(frames, 2, 2)
    tensor([[[0., 1., 2., 3.],
             [4., 5., 6., 7.]]])
    """
    if window == 1 and stride == 1:
        return frames
    # unfold gives (n, T', C, window); order frames first, then channels
    grouped = frames.unfold(-2, window, stride).transpose(-1, -2)
    return grouped.reshape(*grouped.shape[:-2], -1)


class NonlinearICANetwork(nn.Module):
    """Torch twin of a fitted :class:`~skheatmap.ica.NonlinearICAEncoder`.

    ``forward`` maps frames ``(N, K)`` to ``(N, L)`` and series ``(n, T, K)``
    to ``(n, T', L)`` exactly as ``transform`` does; every parameter
    (whitening, network, unmixing) is an ordinary differentiable tensor, so the
    twin can be trained further end to end.

    Parameters
    ----------
    whitening : torch.nn.Linear
        PCA whitening, ``K -> K'`` (weights ``W``, bias ``-W @ mean``).
    network : torch.nn.Module
        Feature MLP from a flattened window ``window * K'`` to ``L`` values.
    feature_activation : {"identity", "abs"}
        Applied to the network output; TCL features are ``|·|`` (the log-density
        of Laplace sources is linear in ``|s|``).
    window, stride : int
        Frames per encoder input and step between consecutive inputs.
    """

    def __init__(self, whitening, network, feature_activation="identity", window=1, stride=1):
        super().__init__()
        self.whitening = whitening
        self.network = network
        self.feature_activation = feature_activation
        self.window = int(window)
        self.stride = int(stride)
        self.unmixing = nn.Identity()

    def encode(self, windows):
        """Features of already whitened, flattened windows ``(..., window * K')``."""
        features = self.network(windows)
        return features.abs() if self.feature_activation == "abs" else features

    def windows(self, series):
        """Whitened frames grouped into flattened windows: ``(n, T, K) -> (n, T', w*K')``."""
        return flatten_windows(self.whitening(series), self.window, self.stride)

    def forward(self, x):
        if x.ndim == 2:
            if self.window != 1 or self.stride != 1:
                raise ValueError(
                    f"frames of shape {tuple(x.shape)} carry no time axis, but the encoder "
                    f"uses window={self.window}, stride={self.stride}; pass series (n, T, K)."
                )
            return self.unmixing(self.encode(self.whitening(x)))
        return self.unmixing(self.encode(self.windows(x)))

    def extra_repr(self):
        return (
            f"feature_activation={self.feature_activation!r}, window={self.window}, "
            f"stride={self.stride}"
        )


class OrthogonalUnmixing(nn.Module):
    """FastICA's unmixing with its rotation kept orthogonal while it trains.

    FastICA unmixes whitened features with an orthogonal rotation and then
    rescales each source to unit variance: ``components = diag(scale) @
    rotation @ whitening``. Only ``rotation`` is trainable, through an
    orthogonal parametrisation, so end-to-end training moves the unmixing
    along the manifold FastICA searches; the whitening, the mean and the
    scales stay fixed. At construction ``forward`` equals the plain linear
    unmixing ``components @ (z - mean)``.

    Parameters
    ----------
    components : ndarray of shape (L, L)
        FastICA's ``components_``, or the unmixing weights trained from them
        (still a scaled rotation of the whitened features).
    whitening : ndarray of shape (L, L)
        FastICA's ``whitening_`` (full rank).
    mean : ndarray of shape (L,)
        FastICA's ``mean_``.

    Raises
    ------
    ValueError
        If ``components`` is not a scaled rotation of ``whitening``'s output.
    """

    def __init__(self, components, whitening, mean):
        super().__init__()
        # components @ pinv(whitening) = diag(scale) @ rotation, with unit rows in rotation
        scaled_rotation = components @ np.linalg.pinv(whitening)
        scale = np.linalg.norm(scaled_rotation, axis=1)
        rotation = scaled_rotation / scale[:, np.newaxis]
        if not np.allclose(rotation @ rotation.T, np.eye(len(scale)), atol=1e-8):
            raise ValueError(
                "the unmixing is not a scaled rotation of FastICA's whitened features (it was "
                "trained further without orthogonal=True); use to_torch(orthogonal=False)."
            )
        as_tensor = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
        self.register_buffer("whitening", as_tensor(whitening))
        self.register_buffer("mean", as_tensor(mean))
        self.register_buffer("scale", as_tensor(scale))
        self.rotation = nn.Linear(len(scale), len(scale), bias=False, dtype=torch.float64)
        nn.utils.parametrizations.orthogonal(self.rotation)
        self.rotation.weight = as_tensor(rotation)

    def forward(self, features):
        return self.scale * self.rotation((features - self.mean) @ self.whitening.T)

    def linear_weights(self):
        """``(weight, bias)`` of the equivalent plain linear unmixing."""
        with torch.no_grad():
            weight = self.scale[:, None] * (self.rotation.weight @ self.whitening)
            return weight, -weight @ self.mean
