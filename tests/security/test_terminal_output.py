"""Stored text never drives the terminal: table and CSV output escape control characters (an
OSC title sequence, BEL, colour codes, C1 controls) when stdout is a terminal; in a pipe the
bytes stay exact, and JSON output is exact everywhere."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
from pathlib import Path

import pytest
from security_support import DRIFTDB, clean_env, run_cli

import driftdb

HOSTILE = "\x1b]0;pwned\x07\x1b[31mred\u009b2J"


def run_on_terminal(*args: str, timeout_s: float = 30) -> tuple[int, bytes]:
    """`driftdb args` with its stdout on a pseudo-terminal; returns (exit code, bytes shown)."""
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [DRIFTDB, *args], stdout=slave, stderr=subprocess.DEVNULL, env=clean_env()
    )
    os.close(slave)
    shown = b""
    while True:
        ready, _, _ = select.select([master], [], [], timeout_s)
        if not ready:
            child.kill()
            raise AssertionError("no output from the command")
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(master)
    return child.wait(timeout=timeout_s), shown


@pytest.fixture
def hostile_db(tmp_path: Path) -> Path:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t")
        table.insert({"id": 1, "name": HOSTILE, "nested": [HOSTILE], HOSTILE: 1})
    return path


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_control_characters_are_escaped_on_a_terminal(hostile_db: Path, fmt: str) -> None:
    code, shown = run_on_terminal("select", "-d", str(hostile_db), "--table", "t", "--format", fmt)
    assert code == 0, shown
    for raw in (b"\x1b", b"\x07", "\u009b".encode()):
        assert raw not in shown, shown
    assert b"\\x1b]0;pwned\\x07\\x1b[31mred\\x9b2J" in shown, shown


def test_in_a_pipe_csv_is_exact_and_json_is_exact_everywhere(hostile_db: Path) -> None:
    ran = run_cli("select", "-d", str(hostile_db), "--table", "t", "--format", "csv")
    assert ran.code == 0 and HOSTILE in ran.out, ran
    ran = run_cli("select", "-d", str(hostile_db), "--table", "t", "--format", "json")
    assert json.loads(ran.out)[0]["name"] == HOSTILE
    code, shown = run_on_terminal(
        "select", "-d", str(hostile_db), "--table", "t", "--format", "json"
    )
    assert code == 0
    assert json.loads(shown.decode().replace("\r\n", "\n"))[0]["name"] == HOSTILE
