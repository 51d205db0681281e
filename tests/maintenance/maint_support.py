"""Shared helpers for the maintenance tests: the log replay oracle, answers at every seq, and
a file layer that fails (or kills the process) at the Nth call of one kind."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import driftdb
from driftdb.model.events import Event, unpack_event
from driftdb.model.replay import state_at
from driftdb.storage import fs
from driftdb.storage.segment import iter_frames


def log_events(db_path: str | os.PathLike[str], table: str) -> list[Event]:
    """Every event in the table's segments, in order (the reference's input)."""
    out = []
    for result in iter_frames(os.path.join(db_path, "tables", table, "segments")):
        assert result.problem is None, result.problem
        for record in result.frames:
            body = record.body
            out.append(unpack_event(body.seq, body.unix_ms, body.event_type, body.payload))
    return out


def replay_states(
    events: list[Event], head: int, primary_key: str = "id"
) -> dict[int, dict[Any, dict[str, Any]]]:
    """The reference state of the table after every seq 0..head."""
    return {seq: state_at(events, seq, primary_key) for seq in range(head + 1)}


def answers(
    table: driftdb.Table, seq: int, keys: list[Any], column: str | None, values: list[Any]
) -> dict[str, Any]:
    """What the public read API says at `seq`: rows, count, point reads, indexed reads."""
    rows = list(table.select(as_of=seq))
    out: dict[str, Any] = {
        "rows": sorted(rows, key=repr),
        "count": table.count(as_of=seq),
        "get": {k: table.get(k, as_of=seq) for k in keys},
    }
    if column is not None:
        out["by_value"] = {
            v: sorted(
                (r[table.primary_key] for r in table.select({column: v}, as_of=seq)), key=repr
            )
            for v in values
        }
    return out


def expected_answers(
    state: dict[Any, dict[str, Any]], keys: list[Any], column: str | None, values: list[Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rows": sorted(state.values(), key=repr),
        "count": len(state),
        "get": {k: state.get(k) for k in keys},
    }
    if column is not None:
        out["by_value"] = {
            v: sorted((k for k, r in state.items() if r.get(column) == v), key=repr) for v in values
        }
    return out


class Injected(OSError):
    pass


class FailAt(fs.FileLayer):
    """Raise EIO (or call `action`) at the `n`th call of `kind` (write, fsync, fsync_dir,
    rename, remove, open_append, truncate)."""

    def __init__(self, kind: str, n: int, action: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self.n = n
        self.calls = 0
        self.fired = False
        self.action = action

    def _tick(self, kind: str) -> None:
        if kind != self.kind:
            return
        self.calls += 1
        if self.calls == self.n:
            self.fired = True
            if self.action is not None:
                self.action()
            raise Injected(5, "injected I/O error")

    def write(self, fd: int, data: bytes) -> None:
        self._tick("write")
        super().write(fd, data)

    def fsync(self, fd: int) -> None:
        self._tick("fsync")
        super().fsync(fd)

    def fsync_dir(self, path: str) -> None:
        self._tick("fsync_dir")
        super().fsync_dir(path)

    def rename(self, src: str, dst: str) -> None:
        self._tick("rename")
        super().rename(src, dst)

    def remove(self, path: str) -> None:
        self._tick("remove")
        super().remove(path)

    def open_append(self, path: str, create: bool) -> int:
        self._tick("open_append")
        return super().open_append(path, create)


class CountCalls(fs.FileLayer):
    """Counts calls of each kind (to learn how many fault points an operation has)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def _tick(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def write(self, fd: int, data: bytes) -> None:
        self._tick("write")
        super().write(fd, data)

    def fsync(self, fd: int) -> None:
        self._tick("fsync")
        super().fsync(fd)

    def fsync_dir(self, path: str) -> None:
        self._tick("fsync_dir")
        super().fsync_dir(path)

    def rename(self, src: str, dst: str) -> None:
        self._tick("rename")
        super().rename(src, dst)

    def remove(self, path: str) -> None:
        self._tick("remove")
        super().remove(path)


def segment_files(db_path: str | os.PathLike[str], table: str) -> list[Path]:
    return sorted((Path(db_path) / "tables" / table / "segments").glob("*.seg"))


def make_orders(db: driftdb.Database, n: int = 40, segment_size_bytes: int = 400) -> driftdb.Table:
    """A table with inserts, patches, soft deletes and batches over many small segments."""
    orders = db.create_table(
        "orders", indexes=["status"], options={"segment_size_bytes": segment_size_bytes}
    )
    for i in range(n):
        orders.insert({"id": i, "status": "new", "total": i})
        if i % 3 == 0:
            orders.patch(i, {"status": "paid", "note": {"by": "x"}})
        if i % 7 == 0:
            orders.soft_delete(i)
        if i % 5 == 0:
            with db.batch():
                orders.insert({"id": 1000 + i, "status": "batch"})
                if i >= 5:
                    orders.patch(1000 + i - 5, {"status": "shipped"})
    return orders
