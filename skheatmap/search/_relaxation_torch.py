"""Torch twin of GumbelSoftmaxChoice (imported only by ``to_torch``, so torch stays lazy)."""

import torch

__all__ = ["GumbelSoftmaxMixture"]


def gumbel_softmax(logits, temperature, straight_through):
    """A Concrete sample ``y = softmax((logits + g) / temperature)``, Gumbel noise ``g``.

    ``straight_through``: the forward value is ``one_hot(argmax y)`` and the
    gradient that of ``y``.
    """
    uniform = torch.rand_like(logits).clamp_(torch.finfo(logits.dtype).tiny, 1.0)
    relaxed = torch.softmax((logits - torch.log(-torch.log(uniform))) / temperature, dim=0)
    if not straight_through:
        return relaxed
    hard = torch.nn.functional.one_hot(relaxed.argmax(), logits.numel()).to(relaxed.dtype)
    return hard - relaxed.detach() + relaxed


class GumbelSoftmaxMixture(torch.nn.Module):
    """``Σ_c w_c · pad(standardise(twin_c(X)))`` with straight-through Gumbel-Softmax ``w``.

    Training mode samples ``w`` once per forward pass (one branch for the
    whole batch, so that its recordings stay comparable); eval mode uses the
    argmax branch. The candidates' twins are frozen.
    """

    def __init__(self, twins, *, means, scales, logits, n_channels, temperature,
                 straight_through):  # fmt: skip
        super().__init__()
        self.twins = torch.nn.ModuleList(twins)
        for parameter in self.twins.parameters():
            parameter.requires_grad_(False)
        self.logits = torch.nn.Parameter(torch.as_tensor(logits, dtype=torch.float64).clone())
        for c, (mean, scale) in enumerate(zip(means, scales, strict=True)):
            self.register_buffer(f"mean_{c}", torch.as_tensor(mean, dtype=torch.float64))
            self.register_buffer(f"scale_{c}", torch.as_tensor(scale, dtype=torch.float64))
        self.n_channels = n_channels
        self.temperature = temperature
        self.straight_through = straight_through

    def weights(self):
        """Branch weights of this forward pass."""
        if self.training:
            return gumbel_softmax(self.logits, self.temperature, self.straight_through)
        return torch.nn.functional.one_hot(self.logits.argmax(), self.logits.numel()).to(
            self.logits.dtype
        )

    def forward(self, X):
        weights = self.weights()
        mixed = 0.0
        for c, twin in enumerate(self.twins):
            Z = (twin(X) - getattr(self, f"mean_{c}")) / getattr(self, f"scale_{c}")
            Z = torch.nn.functional.pad(Z, (0, self.n_channels - Z.shape[-1]))
            mixed = mixed + weights[c] * Z
        return mixed
