"""The README's example runs as written."""

import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_has_a_python_example():
    assert len(python_blocks()) == 1


@pytest.mark.slow
def test_readme_example_runs_and_tells_segments_apart(capsys):
    exec(compile(python_blocks()[0], str(README), "exec"), {})
    auc = float(capsys.readouterr().out.strip().rsplit(" ", 1)[-1])
    assert auc > 0.8
