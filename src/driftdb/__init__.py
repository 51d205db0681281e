"""DriftDB: an embedded time-travel database in which nothing is ever overwritten.

import driftdb
with driftdb.open("shop.db", create=True) as db:
    orders = db.create_table("orders", primary_key="id", indexes=["status"])
    seq = orders.insert({"id": 1, "status": "new"})
    orders.patch(1, {"status": "paid"})
    orders.get(1, as_of=seq)          # {"id": 1, "status": "new"}
"""

from driftdb.database import Batch, Database, open
from driftdb.errors import (
    CorruptionError,
    DriftError,
    DriftIOError,
    DriftWarning,
    DuplicateKeyError,
    HistoryUnavailableError,
    InvalidInputError,
    KeyNotFoundError,
    LockedError,
    MissingDependencyError,
    NotFoundError,
    QuerySyntaxError,
    ReadOnlyError,
    TableNotFoundError,
    WriterStoppedError,
)
from driftdb.model.events import EventType
from driftdb.model.replay import DriftEntry
from driftdb.table import Table

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "CorruptionError",
    "Database",
    "DriftEntry",
    "DriftError",
    "DriftIOError",
    "DriftWarning",
    "DuplicateKeyError",
    "EventType",
    "HistoryUnavailableError",
    "InvalidInputError",
    "KeyNotFoundError",
    "LockedError",
    "MissingDependencyError",
    "NotFoundError",
    "QuerySyntaxError",
    "ReadOnlyError",
    "Table",
    "TableNotFoundError",
    "WriterStoppedError",
    "__version__",
    "open",
]
