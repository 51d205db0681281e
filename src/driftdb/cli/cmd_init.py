"""`driftdb init DIR`: create an empty database."""

from __future__ import annotations

import click

from driftdb.cli.app import cli
from driftdb.database import Database, is_database
from driftdb.errors import InvalidInputError


@cli.command("init")
@click.argument("directory", type=click.Path(file_okay=False))
def init_command(directory: str) -> None:
    """Create a new, empty database in DIRECTORY (which must not exist or be empty).

    \b
    Example:
      driftdb init shop.db
    """
    if is_database(directory):
        # Not a usage error (the command line is right): the directory is taken.
        raise InvalidInputError(
            f"{directory} already holds a DriftDB database; nothing was changed "
            "(open it with -d, or choose a new directory)"
        )
    Database(directory, create=True).close()
    click.echo(f"created an empty DriftDB database in {directory}")
