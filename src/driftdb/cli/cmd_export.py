"""`driftdb export`: the history as Delta Lake tables, and the check of such an export."""

from __future__ import annotations

import click

from driftdb.cli.app import cli, db_dir_option
from driftdb.database import Database
from driftdb.errors import DriftError


@cli.command("export")
@db_dir_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["delta"]),
    default="delta",
    show_default=True,
    help="The table format written.",
)
@click.option("--to", "uri", metavar="URI", help="Where to export: URI/<table> per table.")
@click.option(
    "--verify", "verify_uri", metavar="URI", help="Check the export at URI instead of writing."
)
@click.option("--table", "-t", "tables", multiple=True, help="A table (repeatable; default all).")
@click.option(
    "--max-events",
    type=click.IntRange(min=1),
    metavar="N",
    help="At most N events per Delta version (a batch is never split).",
)
@click.option(
    "--samples",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="With --verify: how many seqs to compare the state at.",
)
def export_command(
    directory: str,
    fmt: str,
    uri: str | None,
    verify_uri: str | None,
    tables: tuple[str, ...],
    max_events: int | None,
    samples: int,
) -> None:
    """Export every event to Delta Lake (one Delta table per table, one row per event with
    the row after it), incrementally: a rerun appends only what is new. Needs
    `pip install "driftdb[delta]"`. AS OF over the export: see docs/export.md.

    \b
    Examples:
      driftdb export -d shop.db --format delta --to lake/
      driftdb export -d shop.db --to lake/ --table orders --max-events 100000
      driftdb export -d shop.db --verify lake/

    Takes no lock: it reads a consistent view while the writer goes on.
    """
    if (uri is None) == (verify_uri is None):
        raise click.UsageError("give exactly one of --to URI and --verify URI")
    with Database(directory, readonly=True) as db:
        if verify_uri is not None:
            from driftdb.export.verify import verify_delta

            found = verify_delta(db, verify_uri, tables or None, samples)
            for item in found:
                click.echo(str(item))
            bad = [item.table for item in found if item.problems]
            if bad:
                raise DriftError(f"the export at {verify_uri} differs from the database: {bad}")
            return
        assert uri is not None
        for report in db.export_delta(uri, tables or None, max_events):
            click.echo(str(report))
