"""The interactive DriftQL shell: line editing and history (readline), statements end at `;`.

The shell holds no lock while it waits for input: each statement (or the statements entered
together) opens the database for itself, as the writer only if one of them writes, and closes
it when they have run. So an idle shell never keeps another process from writing, and a
reading statement never waits for the lock. (With BEGIN/COMMIT, a transaction would hold the
lock from BEGIN to COMMIT; DriftQL has no transactions yet.)"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import click

from driftdb.cli.main import report_error
from driftdb.database import Database
from driftdb.errors import DriftError

HELP = """Type DriftQL statements ending with ';'. Commands: .tables, .help, .quit
Examples:
  SELECT * FROM orders WHERE status = 'paid' AS OF "@seq:10";
  SHOW DRIFT orders KEY 1;"""


def run_shell(directory: str, run: Callable[[str], None]) -> None:
    """Read statements until EOF or .quit and `run` each input that ends with `;` (it opens
    the database for those statements alone: as the writer only if one writes); an error is
    reported and the shell goes on."""
    try:
        import readline

        history = os.path.expanduser("~/.driftdb_history")
        with contextlib.suppress(OSError):
            readline.read_history_file(history)
    except ImportError:  # pragma: no cover - readline is missing on some platforms
        readline = None  # type: ignore[assignment]
        history = ""
    Database(directory, readonly=True).close()  # no database there: say so now, not per line
    click.echo(f"DriftDB shell on {directory}. {HELP.splitlines()[0]}")
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
                run(source)
            except DriftError as exc:
                report_error(exc)
    finally:
        if readline is not None and history:
            with contextlib.suppress(OSError):
                readline.write_history_file(history)
