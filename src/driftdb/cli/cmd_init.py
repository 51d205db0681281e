"""`driftdb init DIR`: create an empty database."""

from __future__ import annotations

import click

from driftdb.cli.app import cli
from driftdb.database import Database, is_database


@cli.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
def init_command(directory: str) -> None:
    """Create a new, empty database in DIRECTORY (which must not exist or be empty).

    \b
    Example:
      driftdb init shop.db
    """
    if is_database(directory):
        raise click.UsageError(f"{directory} is already a DriftDB database")
    Database(directory, create=True).close()
    click.echo(f"created an empty DriftDB database in {directory}")
