"""The README is tested: every `$ driftdb ...` line of its console blocks runs, in order, in a
fresh directory, and prints exactly what the README shows; its Python example runs too."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DRIFTDB = str(Path(sys.executable).parent / "driftdb")
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def console_steps() -> list[tuple[str, str]]:
    """(command, expected output) pairs from every ```console block, in order."""
    steps: list[tuple[str, str]] = []
    for block in re.findall(r"```console\n(.*?)```", README, re.S):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            steps.append((command, output))
    return steps


def test_readme_has_a_console_tour() -> None:
    assert len(console_steps()) >= 10


def test_every_readme_command_prints_what_the_readme_shows(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DRIFTDB_DIR"}
    for command, expected in console_steps():
        argv = shlex.split(command)
        assert argv[0] == "driftdb", command
        done = subprocess.run(
            [DRIFTDB, *argv[1:]], cwd=tmp_path, capture_output=True, text=True, env=env, check=False
        )
        printed = TIME.sub("<time>", done.stdout + done.stderr)
        assert printed == expected, f"$ {command}\n--- got ---\n{printed}"
        wants_error = expected.startswith("error:")
        assert (done.returncode != 0) == wants_error, f"$ {command}: exit {done.returncode}"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_readme_python_example_runs_as_written_after_the_quick_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader follows the README in one directory: the console tour, then the Python."""
    env = {k: v for k, v in os.environ.items() if k != "DRIFTDB_DIR"}
    for command, _ in console_steps():
        subprocess.run([DRIFTDB, *shlex.split(command)[1:]], cwd=tmp_path, env=env, check=False)
    assert (tmp_path / "shop.db" / "tables" / "orders").is_dir()
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks()
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "app.db" / "tables" / "orders" / "schema.yaml").exists()
