"""Fixtures running the real `driftdb` command against a temporary database."""

from __future__ import annotations

import os
import subprocess
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
