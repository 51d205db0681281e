"""What the query layer reads and writes through: small Protocols it defines itself.

The query layer never imports the API (`Database`, `Table`) nor the engine's concrete classes
(`TableView`): they satisfy these Protocols structurally, so queries stay pure over an injected
source, like TinyDB's queries over a `Storage`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from driftdb.model.events import Document, Event, Key
from driftdb.model.replay import DriftEntry
from driftdb.model.schema import TableSchema
from driftdb.model.timepoint import TimePoint

Where = Mapping[str, Any] | str | None


class ReadView(Protocol):
    """A consistent read of one table at any seq it covers."""

    @property
    def overlay(self) -> Mapping[Key, Sequence[Event]]:
        """Events read from the log tail after the indexes: empty when the indexes answer."""
        ...

    def __enter__(self) -> ReadView: ...

    def __exit__(self, *exc: object) -> None: ...

    def first_seq(self) -> int | None: ...

    def last_seq(self) -> int: ...

    def get(self, key: Key, seq: int) -> Document | None: ...

    def rows(self, seq: int, streamed: bool = False) -> Iterator[tuple[Key, Document]]: ...

    def row_list(self, seq: int) -> list[Document]:
        """The rows of `rows(seq)` without their keys (the whole table: never streamed)."""
        ...

    def keys_in_range(
        self,
        column: str,
        lower: Any,
        upper: Any,
        seq: int,
        include_lower: bool,
        include_upper: bool,
    ) -> Iterator[Key]: ...

    def candidates_exact(self, column: str) -> bool:
        """Whether keys_in_range yields exactly the keys in range (else: re-check rows)."""
        ...

    def rows_with_value(self, column: str, value: Any, seq: int) -> Iterator[Document] | None:
        """Rows holding exactly `value` (in key order at now), or None: use keys_in_range."""
        ...

    def count_with_value(self, column: str, value: Any, seq: int) -> int | None: ...

    def count(self, seq: int) -> int: ...

    def value_counts(self, column: str, seq: int) -> list[tuple[Any, int]] | None:
        """(value, live rows holding it) for every value of an indexed column at `seq`, or
        None when the value counts cannot answer alone."""
        ...


class ReadTable(Protocol):
    """A table as reads see it: its schema, read views, and how an AS OF point resolves."""

    @property
    def name(self) -> str: ...

    @property
    def primary_key(self) -> str: ...

    @property
    def schema(self) -> TableSchema: ...

    def view(self) -> ReadView: ...

    def resolve_point(self, view: Any, point: TimePoint) -> int: ...


class WriteTable(ReadTable, Protocol):
    """A table as statements see it: reads, writes, history and maintenance."""

    def insert(self, doc: Document) -> int: ...

    def insert_many(self, docs: Iterable[Document]) -> list[int]: ...

    def patch(self, key: Key, changes: Document) -> int: ...

    def soft_delete(self, key: Key) -> int: ...

    def history(self, key: Key) -> list[DriftEntry]: ...

    def horizon(self) -> int | None: ...

    def snapshot(self) -> object: ...

    def compact(self, before: Any = None, *, force: bool = False) -> object: ...

    def purge(self, key: Key, reason: str | None = None) -> object: ...

    def restore(
        self, as_of: Any, key: Key | None = None, meta: Mapping[str, Any] | None = None
    ) -> RestoreReport: ...

    def add_index(self, columns: list[str]) -> str: ...

    def drop_index(self, columns: list[str]) -> str: ...


class RestoreReport(Protocol):
    """What a RESTORE wrote (its str says it in a sentence); last_seq None if nothing."""

    @property
    def last_seq(self) -> int | None: ...


class Catalog(Protocol):
    """The tables of a database, as statements reach them."""

    def table(self, name: str) -> WriteTable: ...

    def tables(self) -> list[str]: ...

    def create_table(
        self, name: str, primary_key: str = ..., indexes: list[str] = ...
    ) -> WriteTable: ...

    def begin(self) -> None: ...

    def commit(self) -> int | None: ...

    def transaction_seqs(self) -> range | None: ...

    def rollback(self) -> None: ...
