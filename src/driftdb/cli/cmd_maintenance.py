"""`driftdb snapshot`, `driftdb compact` and `driftdb doctor`: keeping a long history cheap."""

from __future__ import annotations

import click

from driftdb.cli.app import cli, db_dir_option, lock_timeout_option
from driftdb.cli.exits import EXIT_ERROR
from driftdb.cli.flags import timepoint_option
from driftdb.database import Database, require_database
from driftdb.query import ast
from driftdb.query.executor import execute_statement


@cli.command("snapshot")
@db_dir_option
@click.option("--table", "-t", required=True, help="The table.")
@lock_timeout_option
def snapshot_command(directory: str, table: str, lock_timeout_s: float) -> None:
    """Write a snapshot of the table's current state (full-table reads start from it).

    \b
    Example:
      driftdb snapshot -d shop.db --table orders
    """
    with Database(directory, lock_timeout_s=lock_timeout_s) as db:
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
@click.option(
    "--yes",
    "force",
    is_flag=True,
    help="With --before past the head (a seq beyond the newest, a future time): discard the "
    "whole history, keeping only the current state (refused without --yes).",
)
@lock_timeout_option
def compact_command(
    directory: str, table: str, before: str | None, force: bool, lock_timeout_s: float
) -> None:
    """Merge sealed segments and refresh snapshot and indexes; no answer changes.

    With --before, history before that point is discarded on purpose: AS OF earlier than it
    becomes an error. A point with no event before it discards nothing (and says so); a point
    past the head (a seq beyond the newest, a future time) would discard the whole history,
    and needs --yes.

    \b
    Examples:
      driftdb compact -d shop.db --table orders
      driftdb compact -d shop.db --table orders --before @seq:100000
    """
    point = timepoint_option("--before", before, "to keep every event")
    if force and point is None:
        raise click.UsageError("--yes goes with --before (it allows discarding all history)")
    with Database(directory, lock_timeout_s=lock_timeout_s) as db:
        click.echo(execute_statement(db, ast.Compact(table, point, force)).message)


@cli.command("doctor")
@db_dir_option
@click.option(
    "--repair",
    is_flag=True,
    help="Fix what can be fixed without losing acknowledged data (takes the writer lock).",
)
@click.option("--full", is_flag=True, help="Compare every index entry with the log.")
@lock_timeout_option
def doctor_command(directory: str, repair: bool, full: bool, lock_timeout_s: float) -> None:
    """Check every frame, snapshot, index and metadata file; exit 1 on any problem.

    \b
    Examples:
      driftdb doctor -d shop.db
      driftdb doctor -d shop.db --repair
    """
    from driftdb import doctor

    require_database(directory)  # a wrong path is not a damaged database
    report = (
        doctor.repair(directory, lock_timeout_s=lock_timeout_s)
        if repair
        else doctor.check(directory, full=full)
    )
    click.echo(report.render())
    if not report.ok:  # after --repair too: something is left damaged
        click.get_current_context().exit(EXIT_ERROR)
