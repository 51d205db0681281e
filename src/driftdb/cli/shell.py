"""The interactive DriftQL shell: line editing and history (readline), statements end at `;`."""

from __future__ import annotations

import contextlib
import os
import sys

import click

from driftdb.cli.main import report_error
from driftdb.cli.output import render
from driftdb.database import Database
from driftdb.errors import DriftError, LockedError
from driftdb.query.executor import execute_script

HELP = """Type DriftQL statements ending with ';'. Commands: .tables, .help, .quit
Examples:
  SELECT * FROM orders WHERE status = 'paid' AS OF "@seq:10";
  SHOW DRIFT orders KEY 1;"""


def run_shell(directory: str, fmt: str) -> None:
    """Read statements until EOF or .quit; an error is reported and the shell goes on."""
    try:
        import readline

        history = os.path.expanduser("~/.driftdb_history")
        with contextlib.suppress(OSError):
            readline.read_history_file(history)
    except ImportError:  # pragma: no cover - readline is missing on some platforms
        readline = None  # type: ignore[assignment]
        history = ""
    try:
        db = Database(directory)
        mode = "writer"
    except LockedError as exc:
        report_error(exc)
        db = Database(directory, readonly=True)
        mode = "read-only"
    click.echo(f"DriftDB shell on {directory} ({mode}). {HELP.splitlines()[0]}")
    buffer: list[str] = []
    try:
        while True:
            try:
                line = input("...> " if buffer else "drift> ")
            except EOFError:
                click.echo()
                break
            stripped = line.strip()
            if not buffer and stripped in (".quit", ".exit"):
                break
            if not buffer and stripped == ".help":
                click.echo(HELP)
                continue
            if not buffer and stripped == ".tables":
                stripped = line = "SHOW TABLES;"
            buffer.append(line)
            if not stripped.endswith(";"):
                continue
            source = "\n".join(buffer)
            buffer = []
            try:
                for result in execute_script(db, source):
                    render(result, fmt, sys.stdout)
            except DriftError as exc:
                report_error(exc)
    finally:
        db.close()
        if readline is not None and history:
            with contextlib.suppress(OSError):
                readline.write_history_file(history)
