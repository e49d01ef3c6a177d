"""The ``skheatmap`` command.

Subcommands:

- ``demo``: generate synthetic thermal faces, fit the default pipeline and
  pair classifier on some subjects, evaluate on the others, write a report
  folder (``report.html``, PNG figures, ``metrics.json``) and print a summary;
- ``embed INPUT -o OUTPUT``: run a fitted (``--model``) or the default
  unsupervised pipeline on recordings stored as ``.npy``, ``.npz`` or HDF5,
  chunk by chunk;
- ``fit DATA -o MODEL``: fit the default pipeline and classifier on labelled
  recordings and save the model;
- ``evaluate --config FILE.toml``: the demo's evaluation, configured by a TOML
  file;
- ``search --config FILE.toml``: the two-stage search of :mod:`skheatmap.search`.

Errors are reported on one line with a non-zero exit code, never a traceback.
"""

import argparse
import contextlib
import functools
import os
import pathlib
import pickle
import sys
import tempfile
import time
import tomllib
import warnings
import zipfile

import numpy as np

# RecordingCentrer is defined on first use, by the module's __getattr__
__all__ = ["RecordingCentrer", "centre_recordings", "dataset_summary", "default_pipeline", "main"]  # noqa: F822

_EPILOG = "Run `skheatmap COMMAND --help` for the options of a command."

# Fewer, smaller recordings and fewer epochs: the same code path in seconds.
_QUICK = {"subjects": 4, "segments": 2, "frames": 96, "epochs": 3}


# Units of the channels of HeatmapEmbedder(method="moments"), for the figures.
_MOMENT_UNITS = {
    "mean": "°C", "var": "°C²", "skew": "1", "kurtosis": "1", "centroid_y": "pixel",
    "centroid_x": "pixel", "moment_yy": "pixel²", "moment_xx": "pixel²", "moment_xy": "pixel²",
}  # fmt: skip

# ------------------------------------------------------------------ pipeline


def centre_recordings(X):
    """Subtract each recording's time average from every channel.

    Subjects differ in baseline face temperature; without this, the
    soft-DTW distance between two recordings would mostly measure whether
    they come from the same person rather than the same stimulus.

    Examples
    --------
    >>> import numpy as np
    >>> from skheatmap.cli import centre_recordings
    >>> centre_recordings(np.array([[[1.0], [3.0]]])).ravel().tolist()
    [-1.0, 1.0]
    """
    return X - np.nanmean(X, axis=1, keepdims=True)


@functools.cache
def _recording_centrer_class():
    """:class:`RecordingCentrer`, defined on the first call (see the module's ``__getattr__``)."""
    from sklearn.base import BaseEstimator, TransformerMixin

    class RecordingCentrer(TransformerMixin, BaseEstimator):
        """Pipeline step applying :func:`centre_recordings`; it learns nothing.

        A class rather than ``FunctionTransformer(centre_recordings)``, so that
        a fitted pipeline can be written by :func:`skheatmap.persistence.save`,
        which stores data and never functions.
        """

        def fit(self, X, y=None):
            """Return ``self``: there is nothing to learn.

            Parameters
            ----------
            X : array-like of shape (n, T, K)
                Ignored.
            y : None
                Ignored.

            Returns
            -------
            self : RecordingCentrer
            """
            return self

        def transform(self, X):
            """Subtract each recording's time average from every channel.

            Parameters
            ----------
            X : array-like of shape (n, T, K)
                NaN-padded recordings.

            Returns
            -------
            X_centred : ndarray of shape (n, T, K)
            """
            return centre_recordings(np.asarray(X, dtype=float))

        def __sklearn_tags__(self):
            tags = super().__sklearn_tags__()
            tags.requires_fit = False
            tags.input_tags.allow_nan = True
            tags.input_tags.three_d_array = True
            return tags

    RecordingCentrer.__module__, RecordingCentrer.__qualname__ = __name__, "RecordingCentrer"
    return RecordingCentrer


def __getattr__(name):
    # RecordingCentrer subclasses scikit-learn's bases; defining it on first use keeps
    # `skheatmap --help` and early errors from importing scikit-learn (about a second)
    if name == "RecordingCentrer":
        return _recording_centrer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def default_pipeline(fs, *, embedder=None, wavelet=None, ica=None, classifier=None,
                     random_state=0):  # fmt: skip
    """The pipeline ℰ → Ω → centring → Ψ → pair classifier that the command fits.

    ``HeatmapEmbedder("moments")``, ``WaveletBandReconstructor("db4",
    level=4)`` keeping 0-1 Hz (the band of slow thermal responses), per-recording
    centring (:class:`RecordingCentrer`) and a ``SoftDTWPairClassifier``. Each keyword (a dict of
    parameters) overrides the defaults of its step. Ψ, a 3-source TCL
    ``NonlinearICAEncoder``, is opt-in with ``ica={"enabled": True}``: on the
    synthetic faces it lowers the held-out pair ROC AUC (the moments already
    separate the segments), though it is what recovers sources.
    ``classifier={"enabled": False}`` leaves the classifier out.

    Examples
    --------
    >>> from skheatmap.cli import default_pipeline
    >>> [name for name, _ in default_pipeline(8.0).steps]  # doctest: +NORMALIZE_WHITESPACE
    ['heatmapembedder', 'waveletbandreconstructor', 'recordingcentrer',
     'softdtwpairclassifier']
    >>> "nonlinearicaencoder" in default_pipeline(8.0, ica={"enabled": True}).named_steps
    True
    """
    from sklearn.pipeline import make_pipeline

    from .classifier import SoftDTWPairClassifier
    from .embedding import HeatmapEmbedder
    from .ica import NonlinearICAEncoder
    from .wavelet import WaveletBandReconstructor

    def options(given, defaults, enabled=True):
        given = dict(given or {})
        enabled = given.pop("enabled", enabled)
        return enabled, {**defaults, **given}

    steps = [
        HeatmapEmbedder(**options(embedder, {"method": "moments"})[1]),
        WaveletBandReconstructor(
            **options(wavelet, {"wavelet": "db4", "level": 4, "keep": (0.0, 1.0), "fs": fs})[1]
        ),
        _recording_centrer_class()(),
    ]
    ica_on, ica_params = options(ica, {"n_components": 3, "segment_length": 32,
                                       "max_epochs": 20, "random_state": random_state},
                               enabled=False)  # fmt: skip
    if ica_on:
        steps.append(NonlinearICAEncoder(**ica_params))
    clf_on, clf_params = options(classifier, {"max_epochs": 15, "random_state": random_state})
    if clf_on:
        steps.append(SoftDTWPairClassifier(**clf_params))
    return make_pipeline(*steps)


# ------------------------------------------------------------------ progress


class _Progress:
    """A one-line text progress bar on stderr (redrawn in place on a terminal)."""

    def __init__(self, n_steps, *, enabled=True, width=24):
        self.n_steps, self.done, self.width, self.enabled = n_steps, 0, width, enabled
        self.stream = sys.stderr
        self.start = time.perf_counter()
        self.in_place = self.stream.isatty()

    def __call__(self, description, *, last=False):
        if not self.enabled:
            return
        self.done = self.n_steps if last else min(self.done + 1, self.n_steps - 1)
        filled = int(self.width * self.done / self.n_steps)
        line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.n_steps} "
                f"{description} ({time.perf_counter() - self.start:.0f} s)")  # fmt: skip
        end = "" if self.in_place and self.done < self.n_steps else "\n"
        print(("\r" if self.in_place else "") + line.ljust(70), end=end, file=self.stream,
              flush=True)  # fmt: skip


# ------------------------------------------------------------------ files


def _refuse_overwrite(path, force):
    if pathlib.Path(path).exists() and not force:
        raise FileExistsError(f"{path} already exists; pass --force to overwrite it.")


@contextlib.contextmanager
def _atomically(path):
    """A temporary file next to ``path`` (same suffix), moved onto it only if the block succeeds."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    target = pathlib.Path(name)
    # mkstemp makes the file private (0600); the output gets the mode of any new file
    target.chmod(0o666 & ~_umask())
    try:
        yield target
        os.replace(target, path)
    finally:
        target.unlink(missing_ok=True)


def _umask():
    """The process's file-creation mask.

    Read from ``/proc/self/status`` where Linux provides it; elsewhere it can only
    be read by setting it, for a moment in which another thread's new files would
    get the temporary mask.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _suffix(path):
    suffix = pathlib.Path(path).suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return ".h5"
    if suffix not in (".npy", ".npz"):
        raise ValueError(
            f"{path}: unsupported file type {suffix or '(none)'!r}; use .npy, .npz, .h5 or .hdf5."
        )
    return suffix


def _import_h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("HDF5 files need h5py; install it with `pip install h5py`.") from None
    return h5py


class _Arrays:
    """Named arrays of an input file, opened lazily (``.npy`` memory-mapped, HDF5 sliced)."""

    def __init__(self, path):
        self.path = _existing_file(path, "file")
        self.kind = _suffix(self.path)
        self._file = None

    def __enter__(self):
        try:
            self._open()
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{self.path} is not a readable {self.kind} file ({exc}).") from None
        return self

    def _open(self):
        if self.kind == ".npy":
            self._file = {"X": np.load(self.path, mmap_mode="r", allow_pickle=False)}
        elif self.kind == ".npz":
            self._file = np.load(self.path, allow_pickle=False)
        else:
            self._file = _import_h5py().File(self.path, "r")

    def __exit__(self, *exc):
        if hasattr(self._file, "close"):
            self._file.close()

    def get(self, key, required=True):
        if key in self._file:
            return self._file[key]
        if required:
            raise KeyError(
                f"{self.path} has no array {key!r} (it has {sorted(self._file)}); "
                "name the recordings X (and the labels y and subjects groups)."
            )
        return None


def _recordings_of(arrays, key):
    X = arrays.get(key)
    if len(X.shape) not in (3, 4) or X.dtype.kind not in "fiu":
        raise ValueError(
            f"{arrays.path}: {key} must be numeric recordings of shape (n, T, I, J) or "
            f"(n, T, F), got shape {tuple(X.shape)} of dtype {X.dtype}."
        )
    return X


def _labelled_data(path):
    """``X, y, groups, fs`` of a labelled file (arrays X, y, groups, optional fs)."""
    with _Arrays(path) as arrays:
        X = np.asarray(_recordings_of(arrays, "X"))
        y, groups = np.asarray(arrays.get("y")), np.asarray(arrays.get("groups"))
        fs = arrays.get("fs", required=False)
    if y.shape != (X.shape[0],) or groups.shape != (X.shape[0],):
        raise ValueError(
            f"{path}: y and groups must have shape ({X.shape[0]},), one per recording; got "
            f"{y.shape} and {groups.shape}."
        )
    return X, y, groups, (None if fs is None else float(np.asarray(fs)))


def _chunk_size(X, budget_mb):
    per_recording = int(np.prod(X.shape[1:])) * 8
    return max(1, int(budget_mb * 2**20 // per_recording))


class _Writer:
    """Chunked writer of an ``(n, T', K)`` float array to ``.npy``, ``.npz`` or HDF5."""

    def __init__(self, path, n):
        self.path, self.n, self.kind = path, n, _suffix(path)
        self.array, self.parts, self.done = None, [], 0

    def write(self, chunk):
        chunk = np.asarray(chunk)
        if self.array is None and self.kind != ".npz":
            shape = (self.n, *chunk.shape[1:])
            if self.kind == ".npy":
                self.array = np.lib.format.open_memmap(self.path, mode="w+", dtype=chunk.dtype,
                                                       shape=shape)  # fmt: skip
            else:
                self._h5 = _import_h5py().File(self.path, "w")
                self.array = self._h5.create_dataset(
                    "Z", shape=shape, dtype=chunk.dtype, chunks=(1, *shape[1:])
                )
        if self.kind == ".npz":  # a zip member cannot be written in parts; Z is small
            self.parts.append(chunk)
        else:
            self.array[self.done : self.done + len(chunk)] = chunk
        self.done += len(chunk)

    def close(self):
        if self.kind == ".npz":
            with open(self.path, "wb") as handle:
                np.savez(handle, Z=np.concatenate(self.parts))
        elif self.kind == ".npy":
            self.array.flush()
            del self.array
        else:
            self._h5.close()


# ------------------------------------------------------------------ commands


def dataset_summary(faces):
    """One block of text describing a :func:`~skheatmap.datasets.make_thermal_faces` draw.

    Examples
    --------
    >>> from skheatmap.datasets import make_thermal_faces
    >>> from skheatmap.cli import dataset_summary
    >>> faces = make_thermal_faces(n_subjects=2, n_segments=2, n_frames=16, random_state=0)
    >>> print(dataset_summary(faces).splitlines()[0])
    synthetic thermal faces: 4 recordings (2 subjects x 2 segments)
    """
    n, T, I, J = faces.X.shape
    face = faces.X[:, 0][faces.face_mask]
    background = faces.X[:, 0][~faces.face_mask]
    regions = ", ".join(
        f"{r} {np.count_nonzero(faces.events['region'] == r)}" for r in faces.regions
    )
    return "\n".join(
        [
            f"synthetic thermal faces: {n} recordings ({len(np.unique(faces.groups))} subjects "
            f"x {len(np.unique(faces.y))} segments)",
            f"  frames: {T} of {I}x{J} pixels at {faces.fs:g} Hz ({T / faces.fs:.1f} s)",
            f"  temperature: face {np.nanmean(face):.2f} °C, background "
            f"{np.nanmean(background):.2f} °C",
            f"  latent sources: {faces.sources.shape[2]} ({', '.join(faces.source_regions)})",
            f"  transients: {len(faces.events['onset'])} ({regions})",
            f"  sensor noise: NETD {faces.params['noise_std']:g} °C, fixed pattern "
            f"{faces.params['fixed_pattern_std']:g} °C",
        ]
    )


def _evaluate_and_report(model, faces, output, progress, evaluate_options):
    from ._report import write_report
    from .evaluation import evaluate

    options = {"random_state": 0, **evaluate_options}
    report = evaluate(
        model, faces.X, faces.y, faces.groups, faces.events, sources=faces.sources,
        X_clean=faces.X_clean, fs=faces.fs, progress=progress, **options,
    )  # fmt: skip
    progress("writing the report")
    write_report(report, output, X=faces.X, region_masks=faces.region_masks,
                 channel_unit=_MOMENT_UNITS, source_names=list(faces.source_regions))  # fmt: skip
    return report


def _synthetic_faces(params, seed):
    from .datasets import make_thermal_faces

    return make_thermal_faces(**{"random_state": seed, **params})


def _run_demo(args):
    from ._report import check_destination

    check_destination(args.output)
    if args.quick:
        for name, value in _QUICK.items():
            setattr(args, name, value)
    progress = _Progress(n_steps=12, enabled=args.progress)
    start = time.perf_counter()
    faces = _synthetic_faces(dict(n_subjects=args.subjects, n_segments=args.segments,
                                  n_frames=args.frames, fs=args.fs), args.seed)  # fmt: skip
    progress("generated data")
    print(dataset_summary(faces), flush=True)
    model = default_pipeline(
        faces.fs, wavelet={"level": 3} if args.quick else None,
        classifier={"max_epochs": args.epochs or 15}, random_state=args.seed,
    )  # fmt: skip
    test_size = 0.5 if args.subjects < 8 else 0.25
    report = _evaluate_and_report(model, faces, args.output, progress, {"test_size": test_size})
    progress("done", last=True)
    elapsed = time.perf_counter() - start
    return "\n".join([
        "", report.summary(), "",
        f"report written to {pathlib.Path(args.output) / 'report.html'} in {elapsed:.0f} s",
    ])  # fmt: skip


def _run_embed(args):
    _refuse_overwrite(args.output, args.force)
    _suffix(args.output)
    with _Arrays(args.input) as arrays:
        X = _recordings_of(arrays, args.key)
        if args.model is not None:
            model = _load_model(args.model)
        else:
            from sklearn.pipeline import make_pipeline

            from .embedding import HeatmapEmbedder
            from .wavelet import WaveletBandReconstructor

            # stateless stages: fitting only records the frame size
            model = make_pipeline(
                HeatmapEmbedder(method="moments"),
                WaveletBandReconstructor("db4", level=args.level, keep="all"),
            ).fit(np.asarray(X[:1], dtype=float))
        n, step = X.shape[0], args.chunk_size or _chunk_size(X, args.memory_mb)
        with _atomically(args.output) as target:
            writer = _Writer(target, n)
            for start in range(0, n, step):
                writer.write(model.transform(np.asarray(X[start : start + step], dtype=float)))
            writer.close()
    return f"wrote {n} embedded recordings to {args.output}"


def _existing_file(path, what):
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such {what}: {path}")
    return path


def _load_model(path):
    from .persistence import load

    path = _existing_file(path, "model file")
    try:
        model = load(path)
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ImportError, LookupError,
            RuntimeError, TypeError, ValueError) as exc:  # fmt: skip
        reason = str(exc).rstrip(".")
        raise ValueError(f"{path} is not a model saved by `skheatmap fit` ({reason}).") from None
    if hasattr(model, "steps") and hasattr(model.steps[-1][1], "predict_pair_proba"):
        model = model[:-1]  # a fitted classifier pipeline: embed with its stages
    if not hasattr(model, "transform"):
        raise ValueError(f"{path} holds a {type(model).__name__}, not a fitted pipeline.")
    return model


def _save_model(model, path, force):
    from .persistence import save

    _refuse_overwrite(path, force)
    with _atomically(path) as target:
        save(model, target)


def _run_fit(args):
    _refuse_overwrite(args.output, args.force)
    X, y, groups, fs = _labelled_data(args.data)
    fs = args.fs or fs
    if fs is None:
        raise ValueError(f"{args.data} stores no frame rate fs; pass --fs.")
    config = _read_config(args.config) if args.config else {}
    model = _configured_pipeline(config, fs, args.seed)
    final = model.steps[-1][0]
    model.fit(X, y, **{f"{final}__groups": groups})
    _save_model(model, args.output, args.force)
    return f"fitted {len(X)} recordings; model saved to {args.output}"


def _read_config(path):
    path = _existing_file(path, "config file")
    with open(path, "rb") as handle:
        try:
            config = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path} is not valid TOML: {exc}") from None
    known = {"data", "embedder", "wavelet", "ica", "classifier", "evaluate", "search", "output"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {unknown}; known: {sorted(known)}.")
    return config


def _as_parameters(section):
    """TOML has no tuples: a list of numbers (a band, percentiles) becomes a tuple."""
    def value(v):
        numeric = isinstance(v, list) and all(isinstance(x, int | float) for x in v)
        return tuple(v) if numeric else v

    return None if section is None else {k: value(v) for k, v in section.items()}


def _configured_pipeline(config, fs, seed):
    steps = {name: _as_parameters(config.get(name))
             for name in ("embedder", "wavelet", "ica", "classifier")}  # fmt: skip
    return default_pipeline(fs, random_state=seed, **steps)


def _configured_data(config, seed):
    """The data of a config: ``[data] path = FILE`` or ``[data.synthetic]`` generator arguments."""
    from sklearn.utils import Bunch

    data = dict(config.get("data", {}))
    if "path" in data:
        X, y, groups, fs = _labelled_data(data["path"])
        fs = data.get("fs", fs)
        if fs is None:
            raise ValueError(f"{data['path']} stores no frame rate fs; set [data] fs.")
        return Bunch(X=X, y=y, groups=groups, fs=float(fs), events=None, sources=None,
                     X_clean=None, region_masks=None, source_regions=())  # fmt: skip
    return _synthetic_faces(data.get("synthetic", {}), seed)


def _run_evaluate(args):
    from ._report import check_destination, write_report
    from .evaluation import evaluate

    config = _read_config(args.config)
    output = args.output or config.get("output", {}).get("report", "report")
    check_destination(output)
    progress = _Progress(n_steps=12, enabled=args.progress)
    _configured_pipeline(config, None, args.seed)  # unknown parameters fail before any work
    data = _configured_data(config, args.seed)
    progress("loaded data")
    model = _configured_pipeline(config, data.fs, args.seed)
    report = evaluate(
        model, data.X, data.y, data.groups, data.events, sources=data.sources,
        X_clean=data.X_clean, fs=data.fs, progress=progress,
        **{"random_state": args.seed, **config.get("evaluate", {})},
    )  # fmt: skip
    progress("writing the report")
    write_report(report, output, X=data.X, region_masks=data.region_masks,
                 source_names=list(data.source_regions) or None)  # fmt: skip
    progress("done", last=True)
    return f"{report.summary()}\n\nreport written to {pathlib.Path(output) / 'report.html'}"


def _run_search(args):
    from ._report import check_destination, write_report
    from .evaluation import EvaluationReport
    from .search import TwoStageSearchCV

    config = _read_config(args.config)
    output = args.output or config.get("output", {}).get("report", "search-report")
    check_destination(output)
    _configured_pipeline(config, None, args.seed)  # unknown parameters fail before any work
    data = _configured_data(config, args.seed)
    model = _configured_pipeline(config, data.fs, args.seed)
    # the report needs the results only, not a refitted best model
    options = {"random_state": args.seed, "refit": False, **config.get("search", {})}
    search = TwoStageSearchCV(model, **options).fit(data.X, data.y, groups=data.groups)
    report = EvaluationReport({"search": {
        "best_score": float(search.best_score_), "best_branch": str(search.best_branch_),
        "n_evaluations": len(search.cv_results_["mean_test_score"]),
        **{f"best {k}": str(v) for k, v in search.best_params_.items()},
    }})  # fmt: skip
    write_report(report, output, search_results=search.cv_results_,
                 title="skheatmap search report")  # fmt: skip
    return f"{report.summary()}\n\nreport written to {pathlib.Path(output) / 'report.html'}"


# ------------------------------------------------------------------ parser


def _positive(kind):
    """An argparse type: a number of ``kind`` greater than 0."""
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _add_demo(commands):
    demo = commands.add_parser(
        "demo", help="synthetic data -> fit -> evaluate -> report/ (seconds)",
        description=(
            "Generate synthetic thermal-face recordings of subjects watching stimulus "
            "segments (with their ground truth), fit the default pipeline (embedding, wavelet "
            "band reconstruction) and the soft-DTW pair classifier on 3/4 of "
            "the subjects, evaluate on the others (pair classification, alignment, transient "
            "detection, source recovery, denoising, generalisation gap) and write "
            "OUTPUT/report.html with PNG figures and metrics.json."
        ),
    )  # fmt: skip
    demo.add_argument("--subjects", type=int, default=8, help="number of subjects (default 8)")
    demo.add_argument("--segments", type=int, default=4, help="stimulus segments (default 4)")
    demo.add_argument("--frames", type=int, default=256, help="frames per recording (default 256)")
    demo.add_argument("--fs", type=float, default=8.0, help="frame rate in Hz (default 8)")
    demo.add_argument("--epochs", type=int, default=None,
                      help="classifier epochs (default 15)")  # fmt: skip
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("-o", "--output", default="report",
                      help="report folder (default ./report; a previous report is replaced)")
    demo.add_argument("--quick", action="store_true",
                      help="tiny data and 3 epochs: checks the whole path in seconds")
    demo.add_argument("--no-progress", dest="progress", action="store_false",
                      help="do not draw the progress bar")
    demo.set_defaults(run=_run_demo)


def _add_embed(commands):
    embed = commands.add_parser(
        "embed", help="embed recordings from a .npy/.npz/HDF5 file into channel series",
        description=(
            "Run a fitted pipeline (--model, saved by `skheatmap fit`; its classifier is "
            "dropped) or the default stateless stages (moment embedding + wavelet band "
            "reconstruction) on the recordings in INPUT, a (n, T, I, J) or (n, T, F) array "
            "(.npy, or array KEY of a .npz or HDF5 file). Recordings are read and embedded in "
            "chunks bounded by --memory-mb (.npy is memory-mapped and HDF5 read by slices; a "
            ".npz member is read whole, so use .npy or HDF5 for inputs larger than memory), "
            "written to a temporary file and moved onto OUTPUT (.npy, .npz or .h5, array 'Z' "
            "of shape (n, T, K)) only when complete."
        ),
    )  # fmt: skip
    embed.add_argument("input", help="recordings file (.npy, .npz, .h5/.hdf5)")
    embed.add_argument("-o", "--output", required=True, help="output file (.npy, .npz, .h5)")
    embed.add_argument("--model", help="fitted pipeline saved by `skheatmap fit`")
    embed.add_argument("--key", default="X", help="array name inside .npz/HDF5 (default X)")
    embed.add_argument("--level", type=int, default=4,
                       help="wavelet level of the default stages (default 4)")  # fmt: skip
    embed.add_argument("--chunk-size", type=_positive(int), default=None,
                       help="recordings per chunk (default: from --memory-mb)")  # fmt: skip
    embed.add_argument("--memory-mb", type=_positive(float), default=256.0,
                       help="input memory per chunk in MiB (default 256)")  # fmt: skip
    embed.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    embed.set_defaults(run=_run_embed)


def _add_fit(commands):
    fit = commands.add_parser(
        "fit", help="fit the pipeline and classifier on labelled recordings",
        description=(
            "Fit the default pipeline and pair classifier (or the one a TOML --config "
            "describes) on DATA, a .npz or HDF5 file with arrays X (recordings), y (segment "
            "labels), groups (subjects) and optionally fs (Hz), and save the fitted model "
            "to OUTPUT in skheatmap's safe format (skheatmap.persistence: loading it runs "
            "no code from the file)."
        ),
    )  # fmt: skip
    fit.add_argument("data", help="labelled recordings (.npz or .h5 with X, y, groups)")
    fit.add_argument("-o", "--output", required=True, help="model file to write")
    fit.add_argument("--config", help="TOML file with [embedder] [wavelet] [ica] [classifier]")
    fit.add_argument("--fs", type=float, default=None, help="frame rate in Hz (else from DATA)")
    fit.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    fit.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    fit.set_defaults(run=_run_fit)


_CONFIG_HELP = (
    "TOML sections: [data] (path = FILE with X, y, groups, fs; or [data.synthetic] with "
    "make_thermal_faces arguments), [embedder], [wavelet], [ica], [classifier] (parameters of "
    "each step; [ica] enabled = true adds the nonlinear ICA step), [evaluate] (evaluate() "
    "options such as test_size, max_lag, cv), [search] (TwoStageSearchCV options) and "
    "[output] (report = FOLDER)."
)


def _add_evaluate(commands):
    evaluate = commands.add_parser(
        "evaluate", help="evaluate a configured pipeline and write a report",
        description="Fit and evaluate the pipeline a TOML file configures. " + _CONFIG_HELP,
    )
    evaluate.add_argument("--config", required=True, help="TOML configuration file")
    evaluate.add_argument("-o", "--output", help="report folder (default [output] report)")
    evaluate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    evaluate.add_argument("--no-progress", dest="progress", action="store_false",
                          help="do not draw the progress bar")  # fmt: skip
    evaluate.set_defaults(run=_run_evaluate)


def _add_search(commands):
    search = commands.add_parser(
        "search", help="two-stage search over the pipeline's branches",
        description=(
            "Screen the categorical branches of the configured pipeline by successive "
            "halving, then tune the best ones with Optuna (the [search] extra), and write a "
            "report with score-vs-complexity and halving figures. " + _CONFIG_HELP
        ),
    )  # fmt: skip
    search.add_argument("--config", required=True, help="TOML configuration file")
    search.add_argument("-o", "--output", help="report folder (default [output] report)")
    search.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    search.set_defaults(run=_run_search)


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (the usage itself is in --help)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _build_parser():
    parser = _Parser(
        prog="skheatmap",
        description=(
            "Turn facial thermal heatmap videos into denoised emotional-signal trajectories."
        ),
        epilog=_EPILOG,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_demo, _add_embed, _add_fit, _add_evaluate, _add_search):
        add(commands)
    return parser


def _one_line_warnings(command):
    """A ``warnings.showwarning`` printing ``skheatmap COMMAND: warning: MESSAGE`` on one line."""

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"skheatmap {command}: warning: {text}", file=file or sys.stderr, flush=True)

    return show


def main(argv=None):
    """Run the command line; return the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():  # restores the caller's showwarning afterwards
        warnings.showwarning = _one_line_warnings(args.command)
        try:
            print(args.run(args))
        except KeyboardInterrupt:
            print(f"skheatmap {args.command}: interrupted", file=sys.stderr)
            return 130
        except Exception as exc:  # the command's contract: one line, never a traceback
            message = " ".join(str(exc).split()) or type(exc).__name__
            if isinstance(exc, KeyError):
                message = str(exc.args[0]) if exc.args else message
            print(f"skheatmap {args.command}: error: {message}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    # run the importable module's main, so that a saved model names its classes
    # skheatmap.cli.*, not __main__.*, whichever way the command was started
    from skheatmap.cli import main as _main

    sys.exit(_main())
