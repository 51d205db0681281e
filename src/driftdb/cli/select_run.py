"""`driftdb select` without click: the query its flags mean, and a reader of those flags for
the fast path of a cold start (cli/main.py).

The reader accepts only plain spellings it is sure of (`--flag value`, `--flag=value`, each
flag once, a valid --format and --limit) and answers None for anything else: click then reads
the command line, so help, usage errors and their exit codes stay click's, one copy of them.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from driftdb.cli.flags import chosen_format, order_by_option, timepoint_option, where_option
from driftdb.cli.output import FORMATS, render
from driftdb.database import Database
from driftdb.query import ast
from driftdb.query.executor import execute_statement

# Flag spellings of cmd_select.py (keep the two in step) and the parameter each one sets.
_VALUED = {
    "-d": "directory",
    "--dir": "directory",
    "-t": "table",
    "--table": "table",
    "-w": "where",
    "--where": "where",
    "--as-of": "as_of",
    "--order-by": "order_by",
    "--limit": "limit",
    "--format": "fmt",
}
_FLAGS = {"--count": "count_only", "--json": "as_json"}


def run_select(
    directory: str,
    table: str,
    where: str | None = None,
    as_of: str | None = None,
    order_by: str | None = None,
    limit: int | None = None,
    count_only: bool = False,
    fmt: str = "table",
    as_json: bool = False,
) -> None:
    """Print the rows the flags select (read-only, no lock): the SELECT statement DriftQL
    would build, run by the executor."""
    statement = ast.Select(
        table,
        count=count_only,
        where=where_option("--where", where),
        as_of=timepoint_option("--as-of", as_of, "for the current state"),
        order_by=order_by_option(order_by),
        limit=limit,
    )
    with Database(directory, readonly=True) as db:
        render(execute_statement(db, statement), chosen_format(fmt, as_json), sys.stdout)


def read_select_args(args: Sequence[str], environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The keyword arguments of run_select that `args` (after `select`) give, or None when
    click must read them."""
    found: dict[str, Any] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        name, eq, inline = arg.partition("=")
        value: str | bool
        if name in _FLAGS and not eq:
            key, value = _FLAGS[name], True
        elif name in _VALUED and name.startswith("--") and eq:
            key, value = _VALUED[name], inline
        elif arg in _VALUED and rest and not rest[0].startswith("-"):
            key, value = _VALUED[arg], rest.pop(0)
        else:
            return None
        if key in found:
            return None
        found[key] = value
    if "directory" not in found and environ.get("DRIFTDB_DIR"):
        found["directory"] = environ["DRIFTDB_DIR"]
    return found if _plain(found) else None


def _plain(found: dict[str, Any]) -> bool:
    """Whether the values are ones click would take as they are (converting --limit)."""
    if "table" not in found or "directory" not in found or not _usable_dir(found["directory"]):
        return False
    if found.get("fmt", "table") not in FORMATS:
        return False
    if "limit" in found:
        text = found["limit"]
        if not (text.isascii() and text.isdigit()):
            return False
        found["limit"] = int(text)
    return True


def _usable_dir(path: str) -> bool:
    """What click.Path(file_okay=False) accepts without a message: a missing path, or an
    existing one that is not a file and is readable."""
    try:
        st = os.stat(path)
    except OSError:
        return True
    return not stat.S_ISREG(st.st_mode) and os.access(path, os.R_OK)
