"""`driftdb diff`: the keys whose row differs between two points (read-only, no lock)."""

from __future__ import annotations

import sys

import click

from driftdb.cli.app import cli, db_dir_option, format_option
from driftdb.cli.flags import chosen_format, timepoint_option, where_option
from driftdb.cli.output import render
from driftdb.database import Database
from driftdb.query import ast
from driftdb.query.executor import execute_statement


@cli.command("diff")
@db_dir_option
@click.option("--table", "-t", required=True, help="The table.")
@click.option(
    "--from", "start", required=True, metavar="A", help="The earlier point: @seq:N, @now or a time."
)
@click.option(
    "--to", "end", required=True, metavar="B", help="The later point: @seq:N, @now or a time."
)
@click.option(
    "--where",
    "-w",
    default=None,
    metavar="EXPR",
    help="Keep a key when its row before or after matches this DriftQL condition.",
)
@format_option
def diff_command(
    directory: str, table: str, start: str, end: str, where: str | None, fmt: str, as_json: bool
) -> None:
    """Show every key whose row differs between two points: added, removed or changed, with
    the row before and after and the dotted paths of the fields that differ.

    \b
    Examples:
      driftdb diff -d shop.db --table orders --from @seq:100 --to @now
      driftdb diff -d shop.db --table orders --from 2025-01-01T00:00:00Z --to @now --json
      driftdb diff -d shop.db --table orders --from @seq:1 --to @seq:5 --where "status = 'paid'"
    """
    statement = ast.Diff(
        table,
        timepoint_option("--from", start),
        timepoint_option("--to", end),
        where_option("--where", where),
    )
    with Database(directory, readonly=True) as db:
        render(execute_statement(db, statement), chosen_format(fmt, as_json), sys.stdout)
