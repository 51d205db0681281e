"""`driftdb snapshot`, `driftdb compact` and `driftdb doctor`: keeping a long history cheap."""

from __future__ import annotations

import click

from driftdb.cli.main import EXIT_ERROR, cli, db_dir_option
from driftdb.database import Database
from driftdb.query import ast
from driftdb.query.executor import execute_statement
from driftdb.query.parser import parse_timepoint


@cli.command("snapshot")
@db_dir_option
@click.option("--table", "-t", required=True, help="The table.")
def snapshot_command(directory: str, table: str) -> None:
    """Write a snapshot of the table's current state (full-table reads start from it).

    \b
    Example:
      driftdb snapshot -d shop.db --table orders
    """
    with Database(directory) as db:
        click.echo(execute_statement(db, ast.Snapshot(table)).message)


@cli.command("compact")
@db_dir_option
@click.option("--table", "-t", required=True, help="The table.")
@click.option(
    "--before",
    default=None,
    metavar="X",
    help="Discard history before this timepoint (@seq:N or an RFC 3339 time). "
    "Without it, compaction keeps every event.",
)
def compact_command(directory: str, table: str, before: str | None) -> None:
    """Merge sealed segments and refresh snapshot and indexes; no answer changes.

    With --before, history before that point is discarded on purpose: AS OF earlier than it
    becomes an error.

    \b
    Examples:
      driftdb compact -d shop.db --table orders
      driftdb compact -d shop.db --table orders --before @seq:100000
    """
    point = parse_timepoint(before) if before else None
    with Database(directory) as db:
        click.echo(execute_statement(db, ast.Compact(table, point)).message)


@cli.command("doctor")
@db_dir_option
@click.option(
    "--repair",
    is_flag=True,
    help="Fix what can be fixed without losing acknowledged data (takes the writer lock).",
)
@click.option("--full", is_flag=True, help="Compare every index entry with the log.")
def doctor_command(directory: str, repair: bool, full: bool) -> None:
    """Check every frame, snapshot, index and metadata file; exit 1 on any problem.

    \b
    Examples:
      driftdb doctor -d shop.db
      driftdb doctor -d shop.db --repair
    """
    from driftdb import doctor

    report = doctor.repair(directory) if repair else doctor.check(directory, full=full)
    click.echo(report.render())
    if not report.ok:  # after --repair too: something is left damaged
        click.get_current_context().exit(EXIT_ERROR)
