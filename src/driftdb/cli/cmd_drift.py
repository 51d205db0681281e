"""`driftdb drift`: the full history of one key."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import click

from driftdb.cli.app import cli, db_dir_option, format_option
from driftdb.cli.flags import chosen_format
from driftdb.cli.output import render
from driftdb.database import Database
from driftdb.errors import KeyNotFoundError
from driftdb.model.events import Key
from driftdb.query.executor import drift_result

_INTEGER = re.compile(r"-?\d+\Z")


def key_from_text(text: str) -> Key:
    """How `--key` text becomes a key: digits (with an optional minus) are an integer key;
    a JSON string in double quotes ('"42"') is that string; anything else is the text as a
    string key."""
    if _INTEGER.match(text):
        return int(text)
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        try:
            value = json.loads(text)
        except ValueError:  # '"\q"' is no JSON string: the text itself, as documented
            return text
        if isinstance(value, str):
            return value
    return text


def key_option(func: Any) -> Any:
    """`--key K`, read by `key_from_text` (drift and blame)."""
    return click.option(
        "--key",
        "-k",
        "key_text",
        required=True,
        metavar="K",
        help='The primary key: 42 is the integer 42, \'"42"\' the string "42", abc the string abc.',
    )(func)


@cli.command("drift")
@db_dir_option
@click.option("--table", "-t", required=True, help="The table.")
@key_option
@format_option
def drift_command(directory: str, table: str, key_text: str, fmt: str, as_json: bool) -> None:
    """Show every event of one key, oldest first, with the row after each.

    \b
    Examples:
      driftdb drift -d shop.db --table orders --key 1042
      driftdb drift -d shop.db --table users --key alice --json

    A key of digits is read as an integer; if the table has no such integer key but has the
    string, the string is used (quote it as '"42"' to ask for the string directly).
    """
    key = key_from_text(key_text)
    with Database(directory, readonly=True) as db:
        tbl = db.table(table)
        entries = tbl.history(key)
        if not entries and isinstance(key, int):
            entries = tbl.history(key_text)
            key = key_text if entries else key
        if not entries:
            raise KeyNotFoundError(f'table "{table}" has no history for key {key!r}')
        result = drift_result(entries, key)
        render(result, chosen_format(fmt, as_json), sys.stdout)
