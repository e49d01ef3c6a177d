"""The ``skheatmap`` command.

``skheatmap demo`` generates the built-in synthetic thermal-face dataset and
prints its summary. Errors are reported on one line with a non-zero exit code.
"""

import argparse
import sys

import numpy as np

__all__ = ["main"]


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="skheatmap",
        description=(
            "Turn facial thermal heatmap videos into denoised emotional-signal trajectories."
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo",
        help="generate the synthetic thermal-face dataset and summarise it",
        description=(
            "Generate recordings of synthetic subjects watching stimulus segments, with "
            "their ground truth (latent sources, transients, region masks), and print a summary."
        ),
    )
    demo.add_argument("--subjects", type=int, default=8, help="number of subjects (default 8)")
    demo.add_argument("--segments", type=int, default=4, help="stimulus segments (default 4)")
    demo.add_argument("--frames", type=int, default=256, help="frames per recording (default 256)")
    demo.add_argument("--fs", type=float, default=8.0, help="frame rate in Hz (default 8)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.set_defaults(run=_run_demo)
    return parser


def _run_demo(args):
    from .datasets import make_thermal_faces

    faces = make_thermal_faces(
        n_subjects=args.subjects,
        n_segments=args.segments,
        n_frames=args.frames,
        fs=args.fs,
        random_state=args.seed,
    )
    return dataset_summary(faces)


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


def main(argv=None):
    """Run the command line; return the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        print(args.run(args))
    except (ValueError, TypeError, OSError) as exc:
        print(f"skheatmap {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
