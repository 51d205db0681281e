"""DriftDB: an embedded time-travel database in which nothing is ever overwritten.

import driftdb
with driftdb.open("shop.db", create=True) as db:
    orders = db.create_table("orders", primary_key="id", indexes=["status"])
    seq = orders.insert({"id": 1, "status": "new"})
    orders.patch(1, {"status": "paid"})
    orders.get(1, as_of=seq)          # {"id": 1, "status": "new"}

The public names are loaded when first used (PEP 562): `import driftdb` alone, or a tool that
needs one module of the package (the command line), does not pay for loading all of them.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any

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

# Each public name and the module that defines it.
_ERRORS = (
    "CorruptionError",
    "DriftError",
    "DriftIOError",
    "DriftWarning",
    "DuplicateKeyError",
    "HistoryUnavailableError",
    "InvalidInputError",
    "KeyNotFoundError",
    "LockedError",
    "MissingDependencyError",
    "NotFoundError",
    "QuerySyntaxError",
    "ReadOnlyError",
    "TableNotFoundError",
    "WriterStoppedError",
)
_HOMES = {
    "Batch": "driftdb.database",
    "Database": "driftdb.database",
    "open": "driftdb.database",
    "EventType": "driftdb.model.events",
    "DriftEntry": "driftdb.model.replay",
    "Table": "driftdb.table",
    **dict.fromkeys(_ERRORS, "driftdb.errors"),
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'driftdb' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
