"""DriftDB under the workload, through its public Python API only.

Every query returns plain, comparable values (dicts, ints, lists of tuples) so the harness can
check the answer against SQLite's; `history` is normalised to (seq, op, row-after) with op one
of "I", "U", "D".
"""

from __future__ import annotations

import time
from typing import Any

from measure import FsyncMeter

import driftdb
from driftdb.model.events import EventType

_OP = {EventType.INSERT: "I", EventType.PATCH: "U", EventType.SOFT_DELETE: "D"}


class DriftSide:
    """One DriftDB database holding the workload's orders table."""

    label = "DriftDB"

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.db: driftdb.Database | None = None
        self.table: driftdb.Table | None = None
        self.fsync_split: dict[str, list[Any]] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def create(self) -> None:
        self.db = driftdb.open(self.directory, create=True)
        self.table = self.db.create_table(
            "orders", primary_key="id", indexes=["status", "customer"]
        )

    def open(self) -> float:
        """Open as the writer; returns the seconds it took (recovery and index catch-up)."""
        start = time.perf_counter()
        self.db = driftdb.open(self.directory)
        self.table = self.db.table("orders")
        return time.perf_counter() - start

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        self.db = None
        self.table = None

    @property
    def t(self) -> driftdb.Table:
        assert self.table is not None, "database is not open"
        return self.table

    # -- the three load phases, one batch (one atomic commit, one fsync) per call ----------

    def insert_batch(self, docs: list[dict[str, Any]]) -> int:
        """Insert the docs in one batch; the seq of the last."""
        return self.t.insert_many(docs)[-1]

    def patch_batch(self, patches: list[tuple[int, str]]) -> int:
        assert self.db is not None
        last = 0
        with self.db.batch():
            for order_id, status in patches:
                last = self.t.patch(order_id, {"status": status})
        return last

    def delete_batch(self, ids: list[int]) -> int:
        assert self.db is not None
        last = 0
        with self.db.batch():
            for order_id in ids:
                last = self.t.soft_delete(order_id)
        return last

    def last_seq(self) -> int:
        assert self.db is not None
        return self.db.head()

    def single_commits(self, docs: list[dict[str, Any]]) -> list[float]:
        """Each insert is its own durable commit (one fsync); returns seconds per commit.
        Also fills `self.fsync_split`: per commit, the seconds spent inside fsync calls and
        how many there were (to tell a slow disk from slow code)."""
        out = []
        in_fsync: list[float] = []
        calls: list[int] = []
        for doc in docs:
            seconds, meter = self._timed_insert(doc)
            out.append(seconds)
            in_fsync.append(meter.seconds)
            calls.append(meter.calls)
        self.fsync_split = {"in_fsync_s": in_fsync, "fsync_calls": calls}
        return out

    def _timed_insert(self, doc: dict[str, Any]) -> tuple[float, FsyncMeter]:
        """One single durable insert: its seconds, and the fsyncs it made (time and calls)."""
        with FsyncMeter() as meter:
            start = time.perf_counter()
            self.t.insert(doc)
            seconds = time.perf_counter() - start
        return seconds, meter

    def snapshot_crossing_commits(self, docs: list[dict[str, Any]]) -> dict[str, Any]:
        """Single durable inserts, one of which crosses the automatic-snapshot threshold half
        way, then more while the snapshot runs: the table's count of events since its newest
        snapshot is set just short of it
        (an internal of the engine, `events_since_snapshot`: the only way to place the
        crossing without writing 100,000 events first), so that commit triggers a snapshot of
        the whole loaded table. Returns the per-commit seconds and whether a new snapshot
        file appeared (the crossing really happened)."""
        import os

        t = self.t
        before = set(os.listdir(t.snapshots_dir)) if os.path.isdir(t.snapshots_dir) else set()
        t.insert(docs[0])  # initialises the counters from disk
        threshold = t.schema.option("snapshot_every_events")
        t.events_since_snapshot = threshold - len(docs) // 2
        out: list[float] = []
        in_fsync: list[float] = []  # per commit, seconds inside fsync: the disk, not the code

        def timed_insert(doc: dict[str, Any]) -> None:
            seconds, meter = self._timed_insert(doc)
            out.append(seconds)
            in_fsync.append(meter.seconds)

        for doc in docs[1:]:
            timed_insert(doc)
        # Go on committing while the background snapshot runs (up to 100,000 more), so the
        # commits cover the whole snapshot, not only its start.
        extra = max(d["id"] for d in docs) + 1
        running = getattr(t, "_snapshot_thread", None)
        while running is not None and running.is_alive() and extra < docs[0]["id"] + 100_000:
            timed_insert(dict(docs[-1], id=extra))
            extra += 1
        finish = getattr(t, "finish_snapshot", None)
        if finish is not None:
            finish()  # a background snapshot: wait for it before looking for its file
        after = set(os.listdir(t.snapshots_dir)) if os.path.isdir(t.snapshots_dir) else set()
        return {"samples": out, "in_fsync_s": in_fsync, "snapshot_taken": bool(after - before)}

    def threaded_commits(self, docs: list[dict[str, Any]], threads: int) -> float:
        """`threads` threads, each doing single durable inserts of its share of `docs`;
        returns commits per second over the wall time of the whole run."""
        import threading

        t = self.t
        shares = [docs[i::threads] for i in range(threads)]
        errors: list[BaseException] = []

        def work(share: list[dict[str, Any]]) -> None:
            try:
                for doc in share:
                    t.insert(doc)
            except BaseException as exc:  # reported, never swallowed
                errors.append(exc)

        workers = [threading.Thread(target=work, args=(share,)) for share in shares]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        seconds = time.perf_counter() - start
        if errors:
            raise errors[0]
        return len(docs) / seconds

    def time_snapshot(self) -> float | None:
        """Seconds for an explicit `Table.snapshot()` of the whole table (None if the API
        has no snapshot): what an automatic snapshot taken inside a commit adds to it."""
        snapshot = getattr(self.t, "snapshot", None)
        if snapshot is None:
            return None
        start = time.perf_counter()
        snapshot()
        return time.perf_counter() - start

    # -- queries (the same questions SQLiteSide answers) -----------------------------------

    def q_get(self, key: int, as_of: int | None = None) -> dict[str, Any] | None:
        return self.t.get(key, as_of=as_of)

    def q_count_status(self, status: str, as_of: int | None = None) -> int:
        return self.t.count(where={"status": status}, as_of=as_of)

    def q_first_status(
        self, status: str, as_of: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return list(self.t.select(where={"status": status}, as_of=as_of, limit=limit))

    def q_first_status_by_id(
        self, status: str, as_of: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        return list(
            self.t.select(where={"status": status}, as_of=as_of, order_by="id", limit=limit)
        )

    def q_count_all(self, as_of: int | None = None) -> int:
        return self.t.count(as_of=as_of)

    def q_rows_all(self, as_of: int | None = None) -> list[dict[str, Any]]:
        return list(self.t.select(as_of=as_of))

    def q_history(self, key: int) -> list[tuple[int, str, dict[str, Any] | None]]:
        return [(e.seq, _OP[e.type], e.row) for e in self.t.history(key)]


class DriftIndexLayer:
    """The same questions answered one layer down, through `TableView` (the key directory and
    temporal indexes) instead of `Table.select`/`count`. Used only when the public query API
    fails (e.g. while the query engine is being rewritten), and labelled so in the results;
    it is what the engine does for these plans, minus parsing and planning."""

    def __init__(self, side: DriftSide) -> None:
        self.side = side

    def _seq(self, view: Any, as_of: int | None) -> int:
        return self.side.t.resolve(view, as_of)

    def q_count_status(self, status: str, as_of: int | None = None) -> int:
        with self.side.t.view() as view:
            seq = self._seq(view, as_of)
            return sum(1 for _ in view.keys_in_range("status", status, status, seq, True, True))

    def q_first_status(
        self, status: str, as_of: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        with self.side.t.view() as view:
            seq = self._seq(view, as_of)
            for key in view.keys_in_range("status", status, status, seq, True, True):
                if len(out) >= limit:
                    break
                row = view.get(key, seq)
                if row is not None and row.get("status") == status:
                    out.append(row)
        return out

    def q_first_status_by_id(
        self, status: str, as_of: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        with self.side.t.view() as view:
            seq = self._seq(view, as_of)
            keys = sorted(view.keys_in_range("status", status, status, seq, True, True))
            rows = [view.get(k, seq) for k in keys]
        return [r for r in rows if r is not None and r.get("status") == status][:limit]

    def q_count_all(self, as_of: int | None = None) -> int:
        with self.side.t.view() as view:
            return int(view.count(self._seq(view, as_of)))

    def q_rows_all(self, as_of: int | None = None) -> list[dict[str, Any]]:
        with self.side.t.view() as view:
            return [row for _, row in view.rows(self._seq(view, as_of))]
