"""Full SQL over any point in history, through DuckDB: `db.duckdb(as_of=None)`.

DriftQL is not a SQL engine and does not pretend to be one. This returns an in-memory DuckDB
connection in which every DriftDB table is a view of its rows at `as_of` (an Arrow table, read
through one consistent view per table, registered without a copy), and `<table>__versions` a
view of its events up to that point with the system columns seq, ts, op, meta (see
driftdb/frames.py). Joins, window functions and everything else DuckDB does then work over
that point. Columns follow the Arrow mapping of model/columnar.py: nested objects are
STRUCTs, lists are LISTs, a field whose types conflict is a VARCHAR of JSON text.

The views are taken when the connection is made: later writes are not seen (make another
connection). `pip install "driftdb[duckdb]"`.
"""

from __future__ import annotations

from typing import Any

from driftdb import frames
from driftdb.model.columnar import require
from driftdb.model.timepoint import AsOf, parse_timepoint
from driftdb.query.source import Catalog

VERSIONS_SUFFIX = "__versions"


def connect(db: Catalog, as_of: AsOf = None, versions: bool = True) -> Any:
    """A DuckDB connection with each table of `db` as it stood at `as_of` (and, unless
    `versions` is False, its events as `<table>__versions`)."""
    duckdb = require("duckdb", "duckdb")
    point = parse_timepoint(as_of)
    connection = duckdb.connect(":memory:")
    for name in db.tables():
        table = db.table(name)
        connection.register(name, frames.to_arrow(table, point))
        if versions:
            events = frames.history_reader(table, None, point).read_all()
            connection.register(name + VERSIONS_SUFFIX, events)
    return connection
