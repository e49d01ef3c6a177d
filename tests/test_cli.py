"""The ``skheatmap`` command line."""

import subprocess
import sys

import pytest

from skheatmap.cli import main


def test_demo_prints_the_dataset_summary(capsys):
    assert main(["demo", "--subjects", "2", "--segments", "3", "--frames", "40"]) == 0
    out = capsys.readouterr().out
    assert "6 recordings (2 subjects x 3 segments)" in out
    assert "40 of 32x32 pixels at 8 Hz (5.0 s)" in out


def test_bad_argument_is_one_line_error(capsys):
    assert main(["demo", "--frames", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("skheatmap demo: error:") and "n_frames" in err
    assert len(err.splitlines()) == 1


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_console_script_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "skheatmap.cli", "demo", "--subjects", "1", "--segments", "1",
         "--frames", "8"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "1 recordings" in result.stdout
