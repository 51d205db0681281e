"""`driftdb select`: a query from flags, for scripts and quick looks (read-only, no lock)."""

from __future__ import annotations

import sys

import click

from driftdb.cli.main import chosen_format, cli, db_dir_option, format_option
from driftdb.cli.output import render_rows
from driftdb.database import Database
from driftdb.query import ast
from driftdb.query.engine import count_rows, display_columns, order_items, select_rows
from driftdb.query.parser import parse_expression, parse_timepoint


@cli.command("select")
@db_dir_option
@click.option("--table", "-t", required=True, help="The table to read.")
@click.option(
    "--where",
    "-w",
    default=None,
    metavar="EXPR",
    help="A DriftQL condition, e.g. \"status = 'paid' AND total > 10\".",
)
@click.option(
    "--as-of",
    default=None,
    metavar="X",
    help='A timepoint: @seq:N, @now or an RFC 3339 time ("2025-01-01T00:00:00Z").',
)
@click.option(
    "--order-by",
    default=None,
    metavar="COLS",
    help='Comma-separated columns, each optionally followed by DESC: "total DESC,id".',
)
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N rows.")
@click.option("--count", "count_only", is_flag=True, help="Print only the number of rows.")
@format_option
def select_command(
    directory: str,
    table: str,
    where: str | None,
    as_of: str | None,
    order_by: str | None,
    limit: int | None,
    count_only: bool,
    fmt: str,
    as_json: bool,
) -> None:
    """Print the rows of a table, now or AS OF any past point.

    \b
    Examples:
      driftdb select -d shop.db --table orders --where "status = 'paid'"
      driftdb select -d shop.db --table orders --as-of @seq:42 --order-by "total DESC" --limit 5
      driftdb select -d shop.db --table orders --as-of 2025-01-01T00:00:00Z --json
    """
    expr = parse_expression(where) if where else None
    point = parse_timepoint(as_of) if as_of else ast.AsOf("now")
    order = order_items([s.strip() for s in order_by.split(",")]) if order_by else ()
    with Database(directory, readonly=True) as db:
        tbl = db.table(table)
        if count_only:
            n = count_rows(tbl, expr, point)
            render_rows("count", [{"count": n}], ["count"], chosen_format(fmt, as_json), sys.stdout)
            return
        rows = select_rows(tbl, expr, point, order, limit)
        columns = display_columns(rows, tbl.primary_key)
        render_rows("rows", rows, columns, chosen_format(fmt, as_json), sys.stdout)
