"""RESTORE: append the events that make current rows equal their state at an earlier point.

History is never rewritten. For each key: its row at the point (the target) and its row now;
equal, nothing; target missing, a SOFT DELETE; nothing now, an INSERT of the target; both, a
PATCH with the merge patch between them (`model/docdiff.patch_between`), or, when the target
holds a null inside an object that no merge patch can write (RFC 7386: null removes), a SOFT
DELETE and an INSERT. Every event's meta records {"restored_from": <seq>}. All events of one
RESTORE are one batch: one fsync, all or nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from driftdb.engine.view import TableView
from driftdb.index.keycodec import MAX_U64
from driftdb.model.docdiff import patch_between, patch_reaches, same_value
from driftdb.model.events import Document, Key
from driftdb.model.timepoint import TimePoint
from driftdb.model.wording import plural, seq_span


class _Batch(Protocol):
    def current_row(self, table: Any, key: Key) -> Document | None: ...


class _Database(Protocol):
    def batch(self) -> AbstractContextManager[_Batch]: ...

    def head(self) -> int: ...


class RestoringTable(Protocol):
    """What RESTORE needs of a table (driftdb.table.Table)."""

    @property
    def name(self) -> str: ...

    @property
    def db(self) -> _Database: ...

    def view(self) -> TableView: ...

    def resolve_point(self, view: TableView, point: TimePoint) -> int: ...

    def insert(self, doc: Document, *, meta: Mapping[str, Any] | None = None) -> int: ...

    def patch(
        self, key: Key, changes: Document, *, meta: Mapping[str, Any] | None = None
    ) -> int: ...

    def soft_delete(self, key: Key, *, meta: Mapping[str, Any] | None = None) -> int: ...


@dataclass
class RestoreReport:
    """What a RESTORE wrote: per key, what it did and the seqs of its events."""

    table: str
    restored_from: int
    key: Key | None
    changes: list[tuple[Key, str, list[int]]] = field(default_factory=list)

    @property
    def last_seq(self) -> int | None:
        return self.changes[-1][2][-1] if self.changes else None

    def __str__(self) -> str:
        point = f"@seq:{self.restored_from}"
        if not self.changes:
            if self.key is not None:
                return f"key {self.key!r} already equals its state at {point}; nothing written"
            return (
                f'every row of "{self.table}" already equals its state at {point}; nothing written'
            )
        seqs = [s for _, _, spots in self.changes for s in spots]
        span = seq_span(seqs)
        if self.key is not None:
            return f"restored key {self.key!r} to {point}: {self.changes[0][1]} ({span})"
        counts: dict[str, int] = {}
        for _, action, _ in self.changes:
            counts[action] = counts.get(action, 0) + 1
        done = ", ".join(f"{n} {action}" for action, n in counts.items())
        return f"restored {plural(len(self.changes), 'key')} to {point}: {done} ({span})"


def restore(
    table: RestoringTable, point: TimePoint, key: Key | None, meta: dict[str, Any] | None
) -> RestoreReport:
    """Plan and write the events (see the module docstring); returns what was written."""
    with table.db.batch() as batch:
        with table.view() as view:
            seq = table.resolve_point(view, point)
            keys = [key] if key is not None else view.keys_changed(seq, MAX_U64)
            targets = {k: view.get(k, seq) for k in keys}
        restored_from = max(0, min(seq, table.db.head()))
        report = RestoreReport(table.name, restored_from, key)
        event_meta = {**(meta or {}), "restored_from": restored_from}
        for k in keys:
            current = batch.current_row(table, k)
            target = targets[k]
            if current is None and target is None:
                continue
            if current is not None and target is not None and same_value(current, target):
                continue
            if target is None:
                report.changes.append((k, "soft-deleted", [table.soft_delete(k, meta=event_meta)]))
            elif current is None:
                report.changes.append((k, "inserted", [table.insert(target, meta=event_meta)]))
            else:
                patch = patch_between(current, target)
                if patch_reaches(current, patch, target):
                    report.changes.append((k, "patched", [table.patch(k, patch, meta=event_meta)]))
                else:
                    spots = [
                        table.soft_delete(k, meta=event_meta),
                        table.insert(target, meta=event_meta),
                    ]
                    report.changes.append((k, "soft-deleted and re-inserted", spots))
    return report
