"""Lazy imports of the optional search engines, with errors that name the extra to install."""

import importlib

__all__ = ["import_optuna"]


def _import_extra(module, extra, purpose):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs {module.split('.')[0]!r}, which is not installed; install it with "
            f"`pip install 'skheatmap[{extra}]'`."
        ) from error


def import_optuna():
    """Import optuna, or explain which extra provides it."""
    return _import_extra("optuna", "search", "TwoStageSearchCV's Stage B (Optuna TPE)")

