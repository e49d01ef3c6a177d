"""An evaluation report on disk: ``report.html`` with PNG figures and ``metrics.json``.

The folder is built next to its destination and moved into place at the end,
so a reader never sees half a report and an interrupted run leaves the
previous report intact.
"""

import html
import os
import pathlib
import shutil
import tempfile

import numpy as np

__all__ = ["check_destination", "write_report"]

_REPORT_FILE = "report.html"


def _figures(report, X, region_masks, channel_unit, source_names, search_results):
    """``(file name, caption, drawing function)`` of every figure the data allow."""
    from . import plotting

    data = report.data
    fs = data.get("fs", 1.0)
    test = data.get("test_index")
    figures = []
    if X is not None and test is not None:
        masks = None if region_masks is None else {
            name: np.asarray(mask)[test] for name, mask in region_masks.items()
        }  # fmt: skip
        frames = np.asarray(X)[test]
        figures.append(("frames.png", "Frames of a held-out recording with regions of interest.",
                        lambda: plotting.plot_frames(frames, masks, fs=fs)))  # fmt: skip
    if "channels_before" in data:
        caption = ("Channel series before and after the wavelet stage Ω."
                   if "channels_clean" in data else
                   "Channel series with injected transients before and after the wavelet stage Ω.")
        figures.append(("channels.png", caption,
                        lambda: plotting.plot_channel_series(
                            data["channels_before"], data["channels_after"],
                            clean=data.get("channels_clean"), fs=fs,
                            channel_names=data.get("channel_names"),
                            unit=channel_unit)))  # fmt: skip
    if "sources_test" in data:
        figures.append(("sources.png", "Recovered vs true latent sources (matched, z-scored).",
                        lambda: plotting.plot_sources(data["sources_test"], data["Z_test"], fs=fs,
                                                      source_names=source_names)))  # fmt: skip
    if "pair_labels" in data:
        labels = data["pair_labels"]
        figures += [
            ("pair_distances.png", "Soft-DTW divergences of same- and different-segment pairs.",
             lambda: plotting.plot_pair_distances(labels, data["pair_distances"])),
            ("roc.png", "ROC curve of the held-out pair probabilities.",
             lambda: plotting.plot_roc(labels, data["pair_proba"])),
            ("reliability.png", "Reliability (calibration) curve of the pair probabilities.",
             lambda: plotting.plot_reliability(labels, data["pair_proba"])),
        ]  # fmt: skip
    if "true_events" in data:
        figures.append(("events.png", "Transients: ground truth vs detections on the encoding.",
                        lambda: plotting.plot_event_timeline(
                            data["true_events"], data["detected_events"],
                            n_frames=data["Z_test"].shape[1], fs=fs)))  # fmt: skip
    if search_results is not None:
        figures += [
            ("search_results.png", "Search: score against complexity per branch.",
             lambda: plotting.plot_search_results(search_results)),
            ("halving_traces.png", "Search: successive-halving traces per branch.",
             lambda: plotting.plot_halving_traces(search_results)),
        ]  # fmt: skip
    return figures


def _metrics_table(report):
    rows = []
    for record in report.to_records():
        value = record["value"]
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        rows.append(
            f"<tr><td>{html.escape(record['section'])}</td>"
            f"<td>{html.escape(record['metric'])}</td><td>{html.escape(shown)}</td></tr>"
        )
    return "\n".join(rows)


def _html(title, report, written):
    figures = "\n".join(
        f'<figure><img src="{name}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, caption in written
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; max-width: 1000px; margin: 2em auto; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 2px 8px; }}
figure {{ margin: 2em 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Metrics</h2>
<p>Measured on held-out subjects; the numbers are also in
<a href="metrics.json">metrics.json</a>.</p>
<table><tr><th>section</th><th>metric</th><th>value</th></tr>
{_metrics_table(report)}
</table>
<h2>Figures</h2>
{figures}
</body></html>
"""


def check_destination(directory):
    """Raise unless ``directory`` is absent, empty or a previous report (checked before work)."""
    directory = pathlib.Path(directory)
    if directory.exists() and not directory.is_dir():
        raise FileExistsError(f"{directory} exists and is not a folder; choose another output.")
    if directory.is_dir() and any(directory.iterdir()):
        if not (directory / _REPORT_FILE).is_file():
            raise FileExistsError(
                f"{directory} is a non-empty folder that holds no previous report; "
                "choose another output folder."
            )


def _move_into_place(staging, directory):
    """Swap ``staging`` in for ``directory``, keeping the old one until the swap is done."""
    old = None
    if directory.exists():
        old = pathlib.Path(tempfile.mkdtemp(prefix=".old-report-", dir=directory.parent))
        os.replace(directory, old / "report")
    os.replace(staging, directory)
    if old is not None:
        shutil.rmtree(old)


def write_report(
    report, directory, *, X=None, region_masks=None, channel_unit="a.u.",
    source_names=None, search_results=None, title="skheatmap evaluation report", dpi=110,
):  # fmt: skip
    """Write ``report.html``, its PNG figures and ``metrics.json`` into ``directory``.

    Parameters
    ----------
    report : EvaluationReport
        The result of :func:`skheatmap.evaluation.evaluate`.
    directory : str or path
        Destination folder; an existing previous report there is replaced,
        any other non-empty folder is refused.
    X : array-like of shape (n, T, I, J), optional
        The evaluated recordings, for the frames figure.
    region_masks : dict of str to array of shape (n, I, J), optional
    channel_unit : str or dict of str to str, default="a.u."
        Unit of the channel series, or one per channel name (the names come
        from the pipeline).
    source_names : sequence of str, optional
        Names of the true sources.
    search_results : dict, optional
        A ``cv_results_`` of a search, for the search figures.
    title : str
    dpi : int, default=110

    Returns
    -------
    paths : list of pathlib.Path
        The files written (in their final place).
    """
    from .plotting._base import pyplot

    plt = pyplot()
    directory = pathlib.Path(directory)
    check_destination(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".report-", dir=directory.parent))
    try:
        written = []
        for name, caption, draw in _figures(
            report, X, region_masks, channel_unit, source_names, search_results
        ):
            fig = draw()
            try:
                fig.savefig(staging / name, dpi=dpi)
            finally:
                plt.close(fig)
            written.append((name, caption))
        (staging / "metrics.json").write_text(report.to_json(indent=2), encoding="utf-8")
        (staging / _REPORT_FILE).write_text(_html(title, report, written), encoding="utf-8")
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a report is meant to be shared
        _move_into_place(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [directory / name for name, _ in written] + [
        directory / "metrics.json", directory / _REPORT_FILE
    ]
