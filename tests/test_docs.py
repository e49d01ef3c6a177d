"""The API reference lists every public name."""

import importlib
import inspect
import pathlib

import pytest

import skheatmap

API = pathlib.Path(__file__).resolve().parents[1] / "docs" / "api.rst"
MODULES = (
    "softdtw", "lag", "metrics", "pairs", "objectives", "datasets", "plotting", "persistence",
)  # fmt: skip


def public_names():
    names = [name for name in skheatmap.__all__ if name != "__version__"
             and not inspect.ismodule(getattr(skheatmap, name))]  # fmt: skip
    for module in MODULES:
        found = importlib.import_module(f"skheatmap.{module}")
        names += [f"{module}.{name}" for name in found.__all__
                  if inspect.isroutine(getattr(found, name))]  # fmt: skip
    return names


@pytest.mark.parametrize("name", public_names())
def test_public_name_is_in_the_api_reference(name):
    listed = {line.strip() for line in API.read_text(encoding="utf-8").splitlines()}
    assert name in listed, f"add {name} to docs/api.rst"
