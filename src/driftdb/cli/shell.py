"""The interactive DriftQL shell: line editing and history (readline), statements end at `;`.

The shell holds no lock while it waits for input: each statement (or the statements entered
together) opens the database for itself, as the writer only if one of them writes, and closes
it when they have run. So an idle shell never keeps another process from writing, and a
reading statement never waits for the lock. An input that opens a transaction (BEGIN) is held
until its COMMIT or ROLLBACK and run as one, so the lock is held only while it runs; its writes
say they are pending until COMMIT, which reports their seqs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

import click

from driftdb.cli.exits import report_error
from driftdb.database import Database
from driftdb.errors import DriftError
from driftdb.query import ast
from driftdb.query.parser import parse

HELP = """Type DriftQL statements ending with ';'. Commands: .tables, .help, .quit
Examples:
  SELECT * FROM orders WHERE status = 'paid' AS OF "@seq:10";
  SHOW DRIFT orders KEY 1;"""


def inside_transaction(source: str) -> bool:
    """Whether `source` leaves a BEGIN open (no COMMIT or ROLLBACK after it). The shell opens
    the database per input, so it holds such an input until the transaction ends rather than
    run a BEGIN whose writes the next input could never reach. A syntax error is not held:
    running the input reports it."""
    try:
        statements = parse(source)
    except DriftError:
        return False
    open_txn = False
    for statement in statements:
        if isinstance(statement, ast.Begin):
            open_txn = True
        elif isinstance(statement, ast.Commit | ast.Rollback):
            open_txn = False
    return open_txn


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
    pending_txn = False
    try:
        while True:
            try:
                prompt = "drift> " if not buffer else "txn> " if pending_txn else "...> "
                line = input(prompt)
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
            pending_txn = False
            if not stripped.endswith(";"):
                continue
            source = "\n".join(buffer)
            if inside_transaction(source):
                pending_txn = True
                continue  # BEGIN ... COMMIT runs as one input: one writer, one lock, one batch
            buffer = []
            try:
                run(source)
            except DriftError as exc:
                report_error(exc)
    finally:
        if readline is not None and history:
            with contextlib.suppress(OSError):
                readline.write_history_file(history)
