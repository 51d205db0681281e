"""A table: the Python API for writing events and reading any past state of its rows."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from driftdb.errors import (
    DriftWarning,
    DuplicateKeyError,
    InvalidInputError,
    KeyNotFoundError,
)
from driftdb.index.keycodec import MAX_U64
from driftdb.index.store import TableIndex
from driftdb.model.document import check_document, check_key
from driftdb.model.events import Document, EventType, Key
from driftdb.model.replay import DriftEntry
from driftdb.model.schema import TableSchema
from driftdb.model.timepoint import AsOf, TimePoint, parse_timepoint
from driftdb.storage.segment import SegmentAppender
from driftdb.view import TableView

if TYPE_CHECKING:
    from driftdb.database import Database

Where = Mapping[str, Any] | str | None


class Table:
    """One table of a database. Writes return the event's seq once it is durable (or, inside
    `db.batch()`, the seq it will have when the batch commits)."""

    def __init__(self, db: Database, schema: TableSchema, directory: str) -> None:
        self.db = db
        self.schema = schema
        self.directory = directory
        self.segments_dir = os.path.join(directory, "segments")
        self.index_dir = os.path.join(directory, "indexes")
        self.index: TableIndex | None = None
        self.appender: SegmentAppender | None = None

    @property
    def name(self) -> str:
        return self.schema.name

    @property
    def primary_key(self) -> str:
        return self.schema.primary_key

    def __repr__(self) -> str:
        return f"<Table {self.name} pk={self.primary_key}>"

    # -- writes ----------------------------------------------------------------------------

    def insert(self, doc: Document, *, meta: Mapping[str, Any] | None = None) -> int:
        """Insert a new row (or re-create a soft-deleted one). Raises DuplicateKeyError if the
        key is live, InvalidInputError for a bad document."""
        where = f"INSERT INTO {self.name}"
        check_document(doc, where)
        if self.primary_key not in doc:
            raise InvalidInputError(
                f'{where}: document has no primary key field "{self.primary_key}"'
            )
        key = check_key(doc[self.primary_key], where)
        with self.db.batch() as batch:
            if batch.current_row(self, key) is not None:
                raise DuplicateKeyError(
                    f'table "{self.name}" already has a live row with key {key!r}; '
                    "use PATCH to change it"
                )
            return batch.add(self, EventType.INSERT, key, dict(doc), meta)

    def insert_many(
        self, docs: Iterable[Document], *, meta: Mapping[str, Any] | None = None
    ) -> list[int]:
        """Insert several rows as one atomic batch with one fsync: all of them or none."""
        with self.db.batch():
            return [self.insert(doc, meta=meta) for doc in docs]

    def patch(self, key: Key, changes: Document, *, meta: Mapping[str, Any] | None = None) -> int:
        """Apply a JSON Merge Patch (RFC 7386) to a live row. The primary key cannot change."""
        where = f"PATCH {self.name} KEY {key!r}"
        check_key(key, where)
        check_document(changes, where)
        if self.primary_key in changes and changes[self.primary_key] != key:
            raise InvalidInputError(
                f'{where}: a patch cannot change or remove the primary key "{self.primary_key}"'
            )
        with self.db.batch() as batch:
            if batch.current_row(self, key) is None:
                raise KeyNotFoundError(self._missing(key, "PATCH"))
            return batch.add(self, EventType.PATCH, key, dict(changes), meta)

    def soft_delete(self, key: Key, *, meta: Mapping[str, Any] | None = None) -> int:
        """Remove a row from the current state; its history stays readable."""
        where = f"SOFT DELETE FROM {self.name} KEY {key!r}"
        check_key(key, where)
        with self.db.batch() as batch:
            if batch.current_row(self, key) is None:
                raise KeyNotFoundError(self._missing(key, "SOFT DELETE"))
            return batch.add(self, EventType.SOFT_DELETE, key, None, meta)

    def _missing(self, key: Key, verb: str) -> str:
        return (
            f'{verb}: table "{self.name}" has no live row with key {key!r} '
            "(never inserted, or soft-deleted)"
        )

    # -- reads -----------------------------------------------------------------------------

    def view(self) -> TableView:
        """A consistent read of this table (close it, or use it as a context manager)."""
        return self.db.view_of(self)

    def resolve(self, view: TableView, as_of: AsOf) -> int:
        """The seq an AS OF point means for this table (MAX_U64 for now; -1 before the
        table's first event). Warns when a seq lies beyond the head."""
        point = parse_timepoint(as_of)
        return self.resolve_point(view, point)

    def resolve_point(self, view: TableView, point: TimePoint) -> int:
        if point.kind == "now":
            return MAX_U64
        if point.kind == "seq":
            assert point.seq is not None
            head = self.db.head()
            if point.seq > head:
                warnings.warn(
                    DriftWarning(
                        f"AS OF {point.text} is beyond the head (@seq:{head}); "
                        "showing the current state"
                    ),
                    stacklevel=3,
                )
            return point.seq
        assert point.unix_ms is not None
        return view.seq_at_time(point.unix_ms)

    def get(self, key: Key, as_of: AsOf = None) -> Document | None:
        """The row with `key` as it stood at `as_of` (now by default), or None."""
        check_key(key, f"get from {self.name}")
        with self.view() as view:
            return view.get(key, self.resolve(view, as_of))

    def select(
        self,
        where: Where = None,
        as_of: AsOf = None,
        order_by: str | Sequence[str] | None = None,
        limit: int | None = None,
        params: Sequence[Any] = (),
    ) -> Iterator[Document]:
        """Rows matching `where` at `as_of`. `where` is a mapping of column (dotted paths
        allowed) to value, AND-ed, or a DriftQL expression with `?` placeholders bound from
        `params`. `order_by` takes column names, each optionally followed by " DESC"."""
        from driftdb.query.engine import run_select

        rows = run_select(self, where, params, as_of, order_by, limit)
        return iter(rows)

    def count(self, where: Where = None, as_of: AsOf = None, params: Sequence[Any] = ()) -> int:
        """How many rows match `where` at `as_of`."""
        from driftdb.query.engine import run_count

        return run_count(self, where, params, as_of)

    def history(self, key: Key) -> list[DriftEntry]:
        """Every event of `key` in seq order, each with the row as it stood after it."""
        check_key(key, f"history of {self.name}")
        with self.view() as view:
            return view.history(key)

    def head(self) -> int:
        """The seq of this table's newest event (0 if it has none)."""
        with self.view() as view:
            return max(view.last_seq(), 0)
