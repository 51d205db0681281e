"""`driftdb blame`: which event set each field of one row (read-only, no lock)."""

from __future__ import annotations

import sys

import click

from driftdb.cli.app import cli, db_dir_option, format_option
from driftdb.cli.cmd_drift import key_from_text, key_option
from driftdb.cli.flags import chosen_format, timepoint_option
from driftdb.cli.output import render
from driftdb.database import Database
from driftdb.errors import KeyNotFoundError
from driftdb.query import ast
from driftdb.query.executor import execute_statement


@cli.command("blame")
@db_dir_option
@click.option("--table", "-t", required=True, help="The table.")
@key_option
@click.option("--as-of", default=None, metavar="X", help="Blame the row as it stood at X.")
@format_option
def blame_command(
    directory: str, table: str, key_text: str, as_of: str | None, fmt: str, as_json: bool
) -> None:
    """For each field of one row, the event (seq, time, INSERT or PATCH, audit meta) that set
    the value it holds; a patch that wrote the same value again takes no blame.

    \b
    Examples:
      driftdb blame -d shop.db --table orders --key 1
      driftdb blame -d shop.db --table orders --key 1 --as-of @seq:3 --json
    """
    key = key_from_text(key_text)
    point = timepoint_option("--as-of", as_of, "for the row as it stands now")
    with Database(directory, readonly=True) as db:
        try:
            result = execute_statement(db, ast.ShowBlame(table, key, point))
        except KeyNotFoundError as first:
            if not isinstance(key, int):
                raise
            try:  # digits that name a string key, as `driftdb drift` reads them
                result = execute_statement(db, ast.ShowBlame(table, key_text, point))
            except KeyNotFoundError:
                raise first from None
        render(result, chosen_format(fmt, as_json), sys.stdout)
