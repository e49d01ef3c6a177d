"""Nonlinear ICA stage (Ψ): one encoder network trained with TCL, PCL or iVAE.

Importing this package does not import torch; fitting does.
"""

from ._encoder import NonlinearICAEncoder

__all__ = ["NonlinearICAEncoder"]
