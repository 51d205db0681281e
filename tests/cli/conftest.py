"""Fixtures running the real `driftdb` command against a temporary database."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from cli_support import DRIFTDB, Ran, Runner


@pytest.fixture
def run(tmp_path: Path) -> Runner:
    """run("sql", "-d", "db", "-e", "...", stdin=None) in tmp_path, without DRIFTDB_DIR."""

    def _run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Ran:
        full_env = {k: v for k, v in os.environ.items() if k != "DRIFTDB_DIR"}
        full_env.update(env or {})
        done = subprocess.run(
            [DRIFTDB, *args],
            cwd=tmp_path,
            input=stdin,
            capture_output=True,
            text=True,
            env=full_env,
            check=False,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    return _run


@pytest.fixture
def shop(run: Runner, tmp_path: Path) -> Path:
    """A database "db" with an orders table holding three rows and some history."""
    assert run("init", "db").code == 0
    script = """
    CREATE TABLE orders (pk=id, INDEX(status));
    INSERT INTO orders [{"id": 1, "status": "new", "total": 30},
                        {"id": 2, "status": "new", "total": 12.5},
                        {"id": "x7", "status": "new", "total": 99}];
    PATCH orders KEY 1 SET {"status": "paid"};
    SOFT DELETE FROM orders KEY 2;
    """
    done = run("sql", "-d", "db", "-e", script)
    assert done.code == 0, done.err
    return tmp_path / "db"


@pytest.fixture
def invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runner:
    """invoke("select", "-d", "db", ...): the real entry point (`driftdb.cli.main.main`) run in
    this process, in tmp_path, so that a test can monkeypatch what the operating system does."""

    def _invoke(
        *args: str, stdin: str | None = None, env: dict[str, str] | None = None, tty: bool = False
    ) -> Ran:
        """`tty`: stdin says it is a terminal (so `sql` starts the interactive shell)."""
        from driftdb.cli.main import main

        monkeypatch.delenv("DRIFTDB_DIR", raising=False)
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "argv", ["driftdb", *args])
        monkeypatch.setattr(sys, "stdin", (_Terminal if tty else io.StringIO)(stdin or ""))
        out, err = io.StringIO(), io.StringIO()
        code: int | str | None = 0
        with contextlib.chdir(tmp_path), redirect_stdout(out), redirect_stderr(err):
            try:
                main()
            except SystemExit as done:
                code = done.code
        return Ran(code if isinstance(code, int) else 1, out.getvalue(), err.getvalue())

    return _invoke


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True
