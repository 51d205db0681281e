"""Helpers of the bad-input suite: run the `driftdb` command (in-process through its real entry
point, or as a real process), hash a database's sources of truth, list a directory tree."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

DRIFTDB = str(Path(sys.executable).parent / "driftdb")


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def clear_error(self) -> str | None:
        """None if this is a clear failure (exit 1 or 2, `error:` first, no traceback), else
        what is wrong with it."""
        if self.code not in (1, 2):
            return f"exit code {self.code}"
        if "Traceback" in self.err or "Traceback" in self.out:
            return "a traceback"
        if not self.err.startswith(("error:", "Usage:", "Error:")):
            return f"stderr does not start with 'error:': {self.err[:200]!r}"
        return None


def run_cli(*args: str, stdin: bytes | None = None) -> Ran:
    """The real `driftdb` command in a child process (what a user runs)."""
    env = {k: v for k, v in os.environ.items() if k != "DRIFTDB_DIR"}
    done = subprocess.run(
        [DRIFTDB, *args], input=stdin, capture_output=True, env=env, check=False, timeout=120
    )
    return Ran(
        done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
    )


def run_cli_here(*args: str, stdin: bytes = b"") -> Ran:
    """The same entry point (`driftdb.cli.main.main`) in this process: fast enough to run
    hundreds of statements. An exception escaping main() would reach the interpreter as a
    traceback, so it is reported here as one."""
    from driftdb.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    stdin_stream = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    old = sys.argv, sys.stdin, warnings.showwarning
    sys.argv, sys.stdin = ["driftdb", *args], stdin_stream
    code = 0
    try:
        with (
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
            warnings.catch_warnings(),
        ):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException as exc:
                code = 99
                err.write(f"Traceback (escaped main): {type(exc).__name__}: {exc}\n")
    finally:
        sys.argv, sys.stdin, warnings.showwarning = old
    return Ran(code, out.getvalue(), err.getvalue())


def truth_digest(db_path: str | os.PathLike[str]) -> str:
    """A hash of the sources of truth: segments, snapshots and every schema.yaml."""
    root = Path(db_path)
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and (path.suffix in (".seg", ".snap") or path.name == "schema.yaml"):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def tree(root: str | os.PathLike[str]) -> set[str]:
    """Every path under `root` (files and directories), relative."""
    base = Path(root)
    return {str(p.relative_to(base)) for p in base.rglob("*")}
