"""`driftdb select`: a query from flags, for scripts and quick looks (read-only, no lock).
Its flags and help in click; the query they mean is cli/select_run.py (which also reads plain
flags without click, for a fast cold start: keep its flag spellings in step with these)."""

from __future__ import annotations

import click

from driftdb.cli.app import cli, db_dir_option, format_option
from driftdb.cli.select_run import run_select


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
    run_select(directory, table, where, as_of, order_by, limit, count_only, fmt, as_json)
