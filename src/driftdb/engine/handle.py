"""The engine's per-table handle, as recovery and maintenance use it: Protocols, so that the
engine and maintenance never import the API's `Table` or `Database` (which satisfy them)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol

from driftdb.engine.view import TableView
from driftdb.index.store import TableIndex
from driftdb.model.clock import Clock
from driftdb.model.events import Document, Key
from driftdb.model.retention import Horizon
from driftdb.model.schema import TableSchema
from driftdb.storage.appender import SegmentAppender
from driftdb.storage.snapshot import SnapshotInfo


class DatabaseHandle(Protocol):
    """The writer's database: its directory, clock, head and exclusive maintenance mode."""

    @property
    def path(self) -> str: ...

    @property
    def clock(self) -> Clock: ...

    def head(self) -> int: ...

    def maintenance(self) -> AbstractContextManager[None]: ...


class TableHandle(Protocol):
    """One table held by the writer: its files, its index, its snapshot bookkeeping."""

    events_since_snapshot: int | None
    bytes_since_snapshot: int | None
    appender: SegmentAppender | None

    @property
    def db(self) -> DatabaseHandle: ...

    @property
    def name(self) -> str: ...

    @property
    def primary_key(self) -> str: ...

    @property
    def schema(self) -> TableSchema: ...

    @property
    def directory(self) -> str: ...

    @property
    def segments_dir(self) -> str: ...

    @property
    def snapshots_dir(self) -> str: ...

    index: TableIndex | None

    def view(self) -> TableView: ...

    def horizon(self) -> int | None: ...

    def horizon_info(self) -> Horizon | None: ...

    def base_info(self) -> SnapshotInfo | None: ...

    def base_rows(self) -> list[tuple[Key, Document]]: ...

    def refresh_snapshot(self) -> SnapshotInfo | None: ...

    def close_appender(self) -> None: ...

    def note_commit(
        self,
        events: int,
        size_bytes: int,
        last: tuple[int, int] | None = None,
        index_up_to_date: Callable[[], None] | None = None,
    ) -> None: ...
