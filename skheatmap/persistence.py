"""Save and load fitted estimators without unpickling arbitrary code.

``pickle`` and ``joblib`` work for every skheatmap estimator, but loading a
pickle runs whatever code the file names, so a model received from someone
else must never be unpickled. :func:`save` writes a fitted (or unfitted)
estimator to a zip archive that :func:`load` reads back with no pickle at all:

- ``skheatmap.json``: the object tree (format below);
- ``arrays/<n>.npy``: NumPy arrays, written and read with ``allow_pickle=False``;
- ``tensors/<n>.pt``: torch ``state_dict`` s and tensors, read with
  ``torch.load(..., weights_only=True)``.

Format of ``skheatmap.json`` (version 3)
----------------------------------------
``{"format": "skheatmap-safe", "version": 3, "versions": {...}, "root": node}``
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
no constructor or other code named by the file is run. An estimator's
attributes are limited to its constructor parameters, fitted attributes
(``name_``) and the private attributes listed for its class in
``_PRIVATE_ATTRIBUTES``; an archive that sets anything else is refused, as
:func:`save` refuses to write it. A torch module cannot be described by data
alone, so each estimator class that owns modules has a *builder* here, found
from the class itself (not the name the file gives it), that rebuilds the
architecture from the estimator's restored (data) attributes and loads the
weights into it; an archive whose weights do not fit that architecture is
refused. The resumable training state of ``NonlinearICAEncoder`` (weights,
EMA weights and optimiser state) is itself data, ``tensor`` nodes in ``dict``
nodes, so ``partial_fit`` continues after loading exactly as it would have
before.

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

from ._torch import cpu_tensors, import_torch, seeded_torch_rng

__all__ = ["save", "load", "FORMAT_VERSION"]

# 2: the training state of NonlinearICAEncoder is tensor nodes in dict nodes (version 1
# named .pt members instead, and a version-2 reader refuses such a state)
# 3: the iVAE head's posterior network is ``scale`` (it also gives the factor of a full
# covariance); a version-2 iVAE training state names it ``log_variance`` and is refused
FORMAT_VERSION = 3
_FORMAT = "skheatmap-safe"
_INDEX = "skheatmap.json"
_TRUSTED_PACKAGES = ("skheatmap", "sklearn")

# Private attributes an archive may set, by class. Private state steers code
# paths that no parameter reaches, so every other private attribute is refused.
_PRIVATE_ATTRIBUTES = {
    "skheatmap.embedding.HeatmapEmbedder": {"_pixel_index"},
    "skheatmap.ica._encoder.NonlinearICAEncoder": {"_rng", "_training_state"},
    "sklearn.decomposition._pca.PCA": {"_fit_svd_solver"},
    "sklearn.decomposition._fastica.FastICA": {"_unmixing"},
}
# what ``set_output`` stores on any scikit-learn transformer
_SET_OUTPUT_ATTRIBUTE = "_sklearn_output_config"


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
        callable ``mask``, a ``np.random.Generator``, an unknown object) or is
        a private attribute :func:`load` would refuse; the message names the
        attribute. Use pickle for such estimators, and only load such pickles
        from trusted sources.
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
        If the file is not an archive of this format, has a newer version,
        gives an estimator an attribute it cannot have, or holds weights that
        do not fit the architecture its attributes describe.
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
        reader = _Reader(archive, tuple(trusted), device, document.get("version", 0))
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
        refused = _refused_attributes(cls, attributes)
        if refused:
            raise TypeError(
                f"{where} ({cls.__name__}) has the attribute(s) {refused}, which are neither "
                "parameters, fitted attributes (name_) nor private state listed in "
                "skheatmap.persistence, so load() would refuse them; use pickle/joblib for this "
                "estimator and load such files only from trusted sources."
            )
        modules = {}
        builder = _builder_for(cls)
        for name, value in list(attributes.items()):
            if _is_torch(value, "Module"):
                if builder is None:
                    raise TypeError(
                        f"{where}.{name} is a torch module of {cls.__name__}, which has no "
                        "builder in skheatmap.persistence; only skheatmap's torch estimators "
                        "can be saved safely."
                    )
                state = cpu_tensors(value.state_dict())
                modules[name] = {"kind": "torch_module", "file": self._torch_member(state)}
                del attributes[name]
        nodes = {name: self.node(value, f"{where}.{name}") for name, value in attributes.items()}
        nodes.update(modules)
        return {"kind": "estimator", "class": _class_path(cls), "attributes": nodes}


def _class_path(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def _builder_for(cls):
    """The builder of ``cls`` or of its nearest base class that has one, or None."""
    return next((_BUILDERS[_class_path(c)] for c in cls.__mro__ if _class_path(c) in _BUILDERS),
                None)  # fmt: skip


def _refused_attributes(cls, names):
    """The sorted ``names`` that an estimator of class ``cls`` may not have in an archive.

    Allowed are the constructor parameters, fitted attributes (``name_``), the
    ``set_output`` configuration and the private attributes listed for ``cls``
    or a base class in ``_PRIVATE_ATTRIBUTES``.
    """
    parameters = {
        p.name
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }
    private = {_SET_OUTPUT_ATTRIBUTE}.union(
        *(_PRIVATE_ATTRIBUTES.get(_class_path(c), ()) for c in cls.__mro__)
    )
    return sorted(
        name
        for name in names
        if name not in parameters
        and name not in private
        and not (name.endswith("_") and not name.startswith("_"))
    )


def _is_torch(value, name):
    """Whether ``value`` is a ``torch.<name>`` without importing torch when unused."""
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    return isinstance(value, torch.Tensor if name == "Tensor" else torch.nn.Module)


# --------------------------------------------------------------------- reading


class _Reader:
    """Rebuilds the object tree from JSON nodes and archive members."""

    def __init__(self, archive, trusted, device, version):
        self.archive = archive
        self.trusted = trusted
        self.device = device
        self.version = version

    def array(self, name):
        return np.load(io.BytesIO(self.archive.read(name)), allow_pickle=False)

    def tensors(self, name):
        torch = import_torch()
        return torch.load(
            io.BytesIO(self.archive.read(name)), map_location=self.device, weights_only=True
        )

    def tensor(self, name):
        value = self.tensors(name)
        if not _is_torch(value, "Tensor"):
            raise ValueError(f"archive member {name} holds a {type(value).__name__}, not a tensor.")
        return value

    def state_dict(self, name):
        value = self.tensors(name)
        if not (
            isinstance(value, dict)
            and all(isinstance(k, str) and _is_torch(v, "Tensor") for k, v in value.items())
        ):
            raise ValueError(f"archive member {name} is not a torch state_dict.")
        return value

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
            return self.tensor(node["file"])
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
        # the builder belongs to the class itself, whatever alias the archive names it by
        builder = _builder_for(cls)
        nodes = node["attributes"]
        module_names = _check_attributes(cls, nodes, builder)
        modules = {}
        attributes = {}
        for name, value in nodes.items():
            if name in module_names:
                modules[name] = self.state_dict(value["file"])
            else:
                attributes[name] = self.value(value)
        if "device" in attributes:
            attributes["device"] = self.device
        estimator = cls.__new__(cls)
        estimator.__dict__.update(attributes)
        if builder is not None:
            try:
                builder.restore(estimator, modules, self)
            except (AttributeError, LookupError, RuntimeError, TypeError, ValueError) as error:
                cause = (
                    "the file is corrupted or was altered."
                    if self.version == FORMAT_VERSION
                    else f"the archive has format version {self.version}, written by an older "
                    f"skheatmap whose {cls.__name__} state this one cannot read: load it with "
                    "that version and refit, or refit the estimator."
                )
                raise ValueError(
                    f"the archive's torch state for {cls.__name__} does not fit the "
                    f"architecture its attributes describe ({' '.join(str(error).split())}); "
                    + cause
                ) from None
        return estimator


def _check_attributes(cls, nodes, builder):
    """Refuse attributes ``cls`` cannot have; return the names of its torch modules."""
    refused = _refused_attributes(cls, nodes)
    if refused:
        raise ValueError(
            f"the archive gives {cls.__name__} the attribute(s) {refused}, which are neither "
            "parameters, fitted attributes nor private state it may have; the file was "
            "altered or written by another program, and is not loaded."
        )
    module_names = set(getattr(cls, "_torch_module_attributes", ())) if builder else set()
    for name, value in nodes.items():
        stored_as_module = isinstance(value, dict) and value.get("kind") == "torch_module"
        if stored_as_module != (name in module_names):
            expected = "a torch module" if name in module_names else "data"
            raise ValueError(
                f"the archive stores {cls.__name__}.{name} as "
                f"{'a torch module' if stored_as_module else 'data'}, but it must be {expected}; "
                "the file was altered or written by another program, and is not loaded."
            )
    return module_names


# -------------------------------------------------------- torch module builders


class _EncoderBuilder:
    """NonlinearICAEncoder: ``module_``, and a check of the resumable training state."""

    def restore(self, estimator, modules, reader):
        from .ica import _training

        torch = import_torch()
        if "module_" in modules:
            module = estimator._blank_state(_training, "cpu").model["encoder"].to(torch.float64)
            if estimator.objective == "tcl":
                n = estimator.n_components_
                # skip_init: no draw from the caller's torch RNG for weights loaded at once
                module.unmixing = torch.nn.utils.skip_init(
                    torch.nn.Linear, n, n, dtype=torch.float64
                )
            module.load_state_dict(modules["module_"])
            estimator.module_ = module.eval()
        saved = getattr(estimator, "_training_state", None)
        if saved is not None:
            # refused now rather than at the next partial_fit if it does not fit the architecture
            estimator._blank_state(_training, "cpu").restore(saved)
            # kept on the CPU, as fit keeps it, whatever device load mapped the tensors to
            estimator._training_state = cpu_tensors(saved)


class _PairClassifierBuilder:
    """SoftDTWPairClassifier: the encoder twins and the pair head in ``module_``."""

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
