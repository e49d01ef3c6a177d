"""Save and load fitted estimators without unpickling arbitrary code.

``pickle`` and ``joblib`` work for every skheatmap estimator, but loading a
pickle runs whatever code the file names, so a model received from someone
else must never be unpickled. :func:`save` writes a fitted (or unfitted)
estimator to a zip archive that :func:`load` reads back with no pickle at all:

- ``skheatmap.json``: the object tree (format below);
- ``arrays/<n>.npy``: NumPy arrays, written and read with ``allow_pickle=False``;
- ``tensors/<n>.pt``: torch ``state_dict`` s and tensors, read with
  ``torch.load(..., weights_only=True)``.

Format of ``skheatmap.json`` (version 1)
----------------------------------------
``{"format": "skheatmap-safe", "version": 1, "versions": {...}, "root": node}``
where a *node* is a JSON ``null``, boolean, integer, string or finite float
standing for itself, a JSON list standing for a Python list, or an object with
a ``"kind"``:

=================  ===========================================================
kind               fields and meaning
=================  ===========================================================
``float``          ``value``: ``"nan"``, ``"inf"`` or ``"-inf"``
``tuple``          ``items``: list of nodes
``dict``           ``items``: list of ``[key node, value node]`` pairs
``ndarray``        ``file``: an ``.npy`` member (0-d for NumPy scalars,
                   ``scalar: true``)
``object_array``   ``shape``, ``items``: an object array (e.g. feature names),
                   element by element
``dtype``          ``value``: a NumPy dtype string; ``type: true`` for a scalar
                   type such as ``np.float32``
``random_state``   ``keys`` (``.npy`` member), ``pos``, ``has_gauss``,
                   ``cached``: a legacy ``RandomState``
``tensor``         ``file``: a ``.pt`` member holding one tensor
``torch_module``   ``file``: a ``.pt`` member holding a ``state_dict``
``estimator``      ``class``: dotted path; ``attributes``: dict of nodes
=================  ===========================================================

Only estimator classes from ``skheatmap`` and ``sklearn`` (or passed in
``trusted``) are created, with ``cls.__new__`` and their saved ``__dict__``;
no constructor or other code named by the file is run. A torch module cannot
be described by data alone, so each estimator class that owns modules has a
*builder* here that rebuilds the architecture from the estimator's restored
(data) attributes before the weights are loaded into it. The builder of
``NonlinearICAEncoder`` also stores its resumable training state (weights,
EMA weights and optimiser state as ``.pt`` members named in a ``dict`` node),
so ``partial_fit`` continues after loading exactly as it would have before.

Examples
--------
>>> import os, tempfile
>>> import numpy as np
>>> from skheatmap import HeatmapEmbedder
>>> from skheatmap.persistence import load, save
>>> X = np.random.default_rng(0).normal(30.0, 1.0, size=(2, 5, 4, 4))
>>> embedder = HeatmapEmbedder(method="moments").fit(X)
>>> with tempfile.TemporaryDirectory() as folder:
...     save(embedder, os.path.join(folder, "embedder.skh"))
...     restored = load(os.path.join(folder, "embedder.skh"))
>>> np.array_equal(restored.transform(X), embedder.transform(X))
True
"""

import importlib
import inspect
import io
import json
import sys
import zipfile

import numpy as np
from sklearn.base import BaseEstimator

from ._torch import import_torch, seeded_torch_rng

__all__ = ["save", "load", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_FORMAT = "skheatmap-safe"
_INDEX = "skheatmap.json"
_TRUSTED_PACKAGES = ("skheatmap", "sklearn")


def save(estimator, path):
    """Write ``estimator`` to a zip archive that :func:`load` reads without pickle.

    Parameters
    ----------
    estimator : BaseEstimator
        A fitted or unfitted estimator (pipelines and nested estimators
        included). Its parameters and fitted attributes must be data: arrays,
        numbers, strings, lists/tuples/dicts of those, estimators, torch
        modules of the skheatmap estimators, or a legacy ``RandomState``.
    path : str or path-like
        The archive to write (overwritten if it exists).

    Raises
    ------
    TypeError
        If an attribute holds something the format cannot describe as data (a
        callable ``mask``, a ``np.random.Generator``, an unknown object); the
        message names the attribute. Use pickle for such estimators, and only
        load such pickles from trusted sources.
    """
    if not isinstance(estimator, BaseEstimator):
        raise TypeError(f"save expects a scikit-learn estimator, got {type(estimator).__name__}.")
    writer = _Writer()
    root = writer.node(estimator, "estimator")
    document = {
        "format": _FORMAT,
        "version": FORMAT_VERSION,
        "versions": _library_versions(),
        "root": root,
    }
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(_INDEX, json.dumps(document, allow_nan=False, indent=1))
        for name, data in writer.members.items():
            archive.writestr(name, data)


def load(path, *, trusted=(), device="cpu"):
    """Read an estimator written by :func:`save`; no pickled code is ever run.

    Parameters
    ----------
    path : str or path-like
        An archive written by :func:`save`.
    trusted : sequence of classes, default=()
        Estimator classes outside ``skheatmap`` and ``sklearn`` that the
        archive may create (for example your own pipeline step).
    device : str, default="cpu"
        Where torch tensors are loaded, whatever device they were saved from;
        every restored estimator with a ``device`` parameter gets this value,
        so a model fitted on a GPU is used on the CPU by default.

    Returns
    -------
    estimator : BaseEstimator

    Raises
    ------
    ValueError
        If the file is not an archive of this format or has a newer version.
    TypeError
        If the archive names a class that is not trusted.
    """
    with zipfile.ZipFile(path) as archive:
        try:
            document = json.loads(archive.read(_INDEX))
        except KeyError:
            raise ValueError(
                f"{path} is not an archive written by skheatmap.persistence.save "
                f"(no {_INDEX} inside)."
            ) from None
        if document.get("format") != _FORMAT or document.get("version", 0) > FORMAT_VERSION:
            raise ValueError(
                f"{path} has format {document.get('format')!r} version "
                f"{document.get('version')!r}; this skheatmap reads {_FORMAT!r} up to version "
                f"{FORMAT_VERSION}. Upgrade skheatmap."
            )
        reader = _Reader(archive, tuple(trusted), device)
        return reader.value(document["root"])


def _library_versions():
    import sklearn

    from . import __version__

    return {"skheatmap": __version__, "sklearn": sklearn.__version__, "numpy": np.__version__}


# --------------------------------------------------------------------- writing


class _Writer:
    """Turns an object tree into JSON nodes plus binary archive members."""

    def __init__(self):
        self.members = {}

    def _member(self, folder, suffix, data):
        name = f"{folder}/{len(self.members)}{suffix}"
        self.members[name] = data
        return name

    def _array_member(self, array):
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return self._member("arrays", ".npy", buffer.getvalue())

    def _torch_member(self, value):
        torch = import_torch()
        buffer = io.BytesIO()
        torch.save(value, buffer)
        return self._member("tensors", ".pt", buffer.getvalue())

    def node(self, value, where):
        if value is None or type(value) in (bool, int, str):
            return value
        if type(value) is float:
            return value if np.isfinite(value) else {"kind": "float", "value": repr(value)}
        if isinstance(value, list):
            return [self.node(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {
                "kind": "tuple",
                "items": [self.node(v, f"{where}[{i}]") for i, v in enumerate(value)],
            }
        if isinstance(value, dict):
            return {
                "kind": "dict",
                "items": [
                    [self.node(k, f"{where} key"), self.node(v, f"{where}[{k!r}]")]
                    for k, v in value.items()
                ],
            }
        if isinstance(value, np.ndarray | np.generic):
            return self._array(value, where)
        if isinstance(value, np.dtype) or (
            isinstance(value, type) and issubclass(value, np.generic)
        ):
            return {"kind": "dtype", "value": np.dtype(value).str, "type": isinstance(value, type)}
        if isinstance(value, np.random.RandomState):
            _, keys, pos, has_gauss, cached = value.get_state()
            return {
                "kind": "random_state",
                "keys": self._array_member(keys),
                "pos": int(pos),
                "has_gauss": int(has_gauss),
                "cached": float(cached),
            }
        if isinstance(value, BaseEstimator):
            return self._estimator(value, where)
        if _is_torch(value, "Tensor"):
            return {"kind": "tensor", "file": self._torch_member(value.detach().cpu())}
        raise TypeError(
            f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which the safe "
            "format cannot store as data. Replace it by data (an array, numbers, an int "
            "random_state), or use pickle/joblib for this estimator and load such files only "
            "from trusted sources."
        )

    def _array(self, value, where):
        array = np.asarray(value)
        if array.dtype.hasobject:
            if isinstance(value, np.generic):
                raise TypeError(f"{where} is a NumPy object scalar; it cannot be stored as data.")
            # object arrays (e.g. feature names) are stored element by element
            return {
                "kind": "object_array",
                "shape": list(array.shape),
                "items": [self.node(v, f"{where}[...]") for v in array.ravel().tolist()],
            }
        return {
            "kind": "ndarray",
            "file": self._array_member(array),
            "scalar": isinstance(value, np.generic),
        }

    def _estimator(self, estimator, where):
        cls = type(estimator)
        attributes = dict(estimator.__dict__)
        modules = {}
        builder = _BUILDERS.get(f"{cls.__module__}.{cls.__qualname__}")
        for name, value in list(attributes.items()):
            if _is_torch(value, "Module"):
                if builder is None:
                    raise TypeError(
                        f"{where}.{name} is a torch module of {cls.__name__}, which has no "
                        "builder in skheatmap.persistence; only skheatmap's torch estimators "
                        "can be saved safely."
                    )
                state = {k: v.detach().cpu() for k, v in value.state_dict().items()}
                modules[name] = {"kind": "torch_module", "file": self._torch_member(state)}
                del attributes[name]
        if builder is not None:
            attributes = builder.saved_attributes(estimator, attributes, self)
        nodes = {name: self.node(value, f"{where}.{name}") for name, value in attributes.items()}
        nodes.update(modules)
        return {
            "kind": "estimator",
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "attributes": nodes,
        }


def _is_torch(value, name):
    """Whether ``value`` is a ``torch.<name>`` without importing torch when unused."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    return isinstance(value, torch.Tensor if name == "Tensor" else torch.nn.Module)


# --------------------------------------------------------------------- reading


class _Reader:
    """Rebuilds the object tree from JSON nodes and archive members."""

    def __init__(self, archive, trusted, device):
        self.archive = archive
        self.trusted = trusted
        self.device = device

    def array(self, name):
        return np.load(io.BytesIO(self.archive.read(name)), allow_pickle=False)

    def tensors(self, name):
        torch = import_torch()
        return torch.load(
            io.BytesIO(self.archive.read(name)), map_location=self.device, weights_only=True
        )

    def value(self, node):
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if isinstance(node, list):
            return [self.value(v) for v in node]
        kind = node.get("kind")
        if kind == "float":
            return float(node["value"])
        if kind == "tuple":
            return tuple(self.value(v) for v in node["items"])
        if kind == "dict":
            return {self.value(k): self.value(v) for k, v in node["items"]}
        if kind == "ndarray":
            array = self.array(node["file"])
            return array[()] if node["scalar"] else array
        if kind == "object_array":
            items = np.empty(len(node["items"]), dtype=object)
            items[:] = [self.value(v) for v in node["items"]]
            return items.reshape(node["shape"])
        if kind == "dtype":
            dtype = np.dtype(node["value"])
            return dtype.type if node["type"] else dtype
        if kind == "random_state":
            rng = np.random.RandomState()
            rng.set_state(
                (
                    "MT19937",
                    self.array(node["keys"]),
                    node["pos"],
                    node["has_gauss"],
                    node["cached"],
                )
            )
            return rng
        if kind == "tensor":
            return self.tensors(node["file"])
        if kind == "estimator":
            return self._estimator(node)
        raise ValueError(f"unknown node kind {kind!r} in the archive; it may be corrupted.")

    def _class(self, path):
        module_name, _, name = path.rpartition(".")
        trusted_package = module_name.split(".")[0] in _TRUSTED_PACKAGES
        for cls in self.trusted:
            if f"{cls.__module__}.{cls.__qualname__}" == path:
                return cls
        if not trusted_package:
            raise TypeError(
                f"the archive contains a {path}, which is not a skheatmap or scikit-learn "
                "class; if you trust it, pass it to load(..., trusted=[ThatClass])."
            )
        cls = getattr(importlib.import_module(module_name), name, None)
        if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
            raise TypeError(f"the archive names {path}, which is not an estimator class.")
        return cls

    def _estimator(self, node):
        cls = self._class(node["class"])
        modules = {}
        attributes = {}
        for name, value in node["attributes"].items():
            if isinstance(value, dict) and value.get("kind") == "torch_module":
                modules[name] = self.tensors(value["file"])
            else:
                attributes[name] = self.value(value)
        if "device" in attributes:
            attributes["device"] = self.device
        estimator = cls.__new__(cls)
        estimator.__dict__.update(attributes)
        builder = _BUILDERS.get(node["class"])
        if builder is not None:
            builder.restore(estimator, modules, self)
        return estimator


# -------------------------------------------------------- torch module builders


class _EncoderBuilder:
    """NonlinearICAEncoder: ``module_`` and the resumable training state."""

    def saved_attributes(self, estimator, attributes, writer):
        data = attributes.pop("_training_state", None)
        if data is not None:
            # the bytes are this process's own pickle, so reading them here is safe
            state = self._training(estimator).TrainingState.from_bytes(
                data, estimator._optimizer_factory(import_torch()), "cpu"
            )
            attributes["_training_state"] = {
                "model": writer._torch_member(state.model.state_dict()),
                "ema": None if state.ema is None else writer._torch_member(state.ema.state_dict()),
                "optimizer": writer._torch_member(state.optimizer.state_dict()),
                "ema_decay": state.ema_decay,
                "epochs": state.epochs,
                "loss_curve": list(state.loss_curve),
                "validation_loss_curve": list(state.validation_loss_curve),
            }
        return attributes

    @staticmethod
    def _training(estimator):
        from .ica import _training

        return _training

    def _fresh_state(self, estimator, device):
        # the weights are overwritten at once; the fixed seed keeps the caller's RNG untouched
        with seeded_torch_rng(0, device):
            return estimator._new_state(self._training(estimator), device)

    def restore(self, estimator, modules, reader):
        torch = import_torch()
        saved = estimator.__dict__.pop("_training_state", None)
        if "module_" in modules:
            module = self._fresh_state(estimator, "cpu").model["encoder"].to(torch.float64)
            if "unmixing.weight" in modules["module_"]:
                n = estimator.n_components_
                module.unmixing = torch.nn.Linear(n, n, dtype=torch.float64)
            module.load_state_dict(modules["module_"])
            estimator.module_ = module.eval()
        if saved is not None:
            state = self._fresh_state(estimator, "cpu")
            state.model.load_state_dict(reader.tensors(saved["model"]))
            if saved["ema"] is not None:
                state.ema.load_state_dict(reader.tensors(saved["ema"]))
            state.optimizer.load_state_dict(reader.tensors(saved["optimizer"]))
            state.epochs = saved["epochs"]
            state.loss_curve = saved["loss_curve"]
            state.validation_loss_curve = saved["validation_loss_curve"]
            estimator._training_state = state.to_bytes()


class _PairClassifierBuilder:
    """SoftDTWPairClassifier: the encoder twins and the pair head in ``module_``."""

    def saved_attributes(self, estimator, attributes, writer):
        return attributes

    def restore(self, estimator, modules, reader):
        if "module_" not in modules:
            return
        from ._pair_module import PairModule

        state = modules["module_"]
        # the head's options are the classifier's parameters of the same names
        options = {
            name: getattr(estimator, name)
            for name, parameter in inspect.signature(PairModule).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
        }
        with seeded_torch_rng(0, reader.device):
            module = PairModule(estimator._encoder_module(), **options)
        module.to(device=reader.device, dtype=state["alpha"].dtype)
        module.load_state_dict(state)
        estimator.module_ = module.eval()


_BUILDERS = {
    "skheatmap.ica._encoder.NonlinearICAEncoder": _EncoderBuilder(),
    "skheatmap.classifier.SoftDTWPairClassifier": _PairClassifierBuilder(),
}
