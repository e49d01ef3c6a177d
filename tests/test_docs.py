"""The reference documents every public name.

A public name is one in ``skheatmap.__all__`` or in the ``__all__`` of a public
module (a module named in ``skheatmap._PUBLIC`` with no private component).
Classes and functions need an ``autosummary`` entry on some page of ``docs/``
(``metrics.band_snr``, or the top-level ``evaluate`` for a re-exported name);
other objects (constants, scorer instances) need a mention such as
``metrics.pair_roc_auc_scorer``.
"""

import importlib
import inspect
import pathlib

import pytest

import skheatmap

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


def _public_modules():
    return sorted(
        {module for module in skheatmap._PUBLIC.values()
         if not any(part.startswith("_") for part in module.split("."))}
    )  # fmt: skip


def public_names():
    """``(entries that document it, object)`` per public name, by its dotted name."""
    names = {}
    for name in skheatmap.__all__:
        value = getattr(skheatmap, name)
        if name != "__version__" and not inspect.ismodule(value):
            names[name] = ({name, f"{value.__module__.removeprefix('skheatmap.')}.{name}"}, value)
    for module_name in _public_modules():
        module = importlib.import_module(module_name)
        short = module_name.removeprefix("skheatmap.")
        for name in module.__all__:
            value = getattr(module, name)
            entries = {f"{short}.{name}"}
            if getattr(skheatmap, name, None) is value:
                entries.add(name)
            names.setdefault(f"{short}.{name}", (entries, value))
    return names


PUBLIC = public_names()


@pytest.fixture(scope="module")
def pages():
    return [page.read_text(encoding="utf-8") for page in sorted(DOCS.glob("*.rst"))]


def test_every_public_module_is_checked():
    assert "skheatmap.metrics" in _public_modules()
    assert "skheatmap.ica" in _public_modules()  # where NonlinearICAEncoder is defined
    assert not [module for module in _public_modules() if "._" in module]


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_public_name_is_in_the_reference(name, pages):
    entries, value = PUBLIC[name]
    if inspect.isroutine(value) or inspect.isclass(value):
        listed = {line.strip() for page in pages for line in page.splitlines()}
        assert entries & listed, f"add {name} to an autosummary of docs/api.rst"
    else:
        assert any(entry in page for entry in entries for page in pages), (
            f"mention {name} in docs/api.rst"
        )
