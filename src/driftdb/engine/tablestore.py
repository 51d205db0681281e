"""One table as the engine holds it: its files, its LMDB environment (the indexes), its active
segment, and the snapshot policy (a snapshot every `snapshot_every_events` events or
`snapshot_every_bytes` bytes of log, counted from the newest snapshot).

Automatic snapshots are taken off the commit path: the commit that crosses the threshold
starts a background thread and returns. The thread has the write-behind indexes commit every
entry up to the covered seq, then runs a child process that reads the rows live at that seq
from the index (read-only, as a reader process; the key directory is temporal: later commits
add versions after it, so the read is consistent however long it takes) and writes
`<seq>.snap` (temp file, fsync, rename: published atomically); see engine/snapshot_child.py.
The thread only waits for it, so the copy, compression and write run on another core and
never hold the interpreter lock the commits need. After the child succeeds the thread prunes
plain snapshots to the newest `snapshots_keep` (a base snapshot is never pruned). Maintenance
and close wait for a running snapshot (thread and child) first. A writer killed mid-snapshot
takes its child with it (snapshot_child.py says why and how): at most a temp file is left.

The thread takes the snapshot itself, as the child would, when no child can be started (no
interpreter to run it with: an embedded or frozen application; or an OSError: no process or
descriptor left) and while a test's file layer is in force (storage/fs.py: the faults it
injects and the power losses it simulates exist only in this process)."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Callable

from driftdb.errors import CorruptionError, DriftWarning
from driftdb.index.keycodec import MAX_U64
from driftdb.index.store import NO_SEGMENT, TableIndex
from driftdb.model.events import Document, Key
from driftdb.model.schema import TableSchema
from driftdb.storage import fs, paths
from driftdb.storage.appender import SegmentAppender, segment_bytes
from driftdb.storage.paths import list_bases, list_segments, list_snapshots
from driftdb.storage.snapshot import (
    SnapshotError,
    SnapshotInfo,
    find_base,
    prune_snapshots,
    read_snapshot,
    write_snapshot,
)

SNAPSHOT_SWITCH_S = 0.0005  # the GIL switch interval while a snapshot runs in the thread


class TableStore:
    """The engine's handle on one table of the database at `root`."""

    def __init__(self, root: str, schema: TableSchema, directory: str) -> None:
        self.root = root
        self.schema = schema
        self.directory = directory
        self.segments_dir = paths.segments_dir(directory)
        self.index_dir = paths.index_dir(directory)
        self.snapshots_dir = paths.snapshots_dir(directory)
        self.index: TableIndex | None = None
        self.appender: SegmentAppender | None = None
        # Events and log bytes since the newest snapshot: kept by the writer, initialised
        # from disk at its first commit to this table (None until then).
        self.events_since_snapshot: int | None = None
        self.bytes_since_snapshot: int | None = None
        self._snapshot_thread: threading.Thread | None = None
        self._snapshot_due: tuple[int, int] | None = None  # (seq, unix_ms) to snapshot next
        self._snapshot_lock = threading.Lock()
        self._index_up_to_date: Callable[[], None] | None = None  # see note_commit

    @property
    def name(self) -> str:
        return self.schema.name

    @property
    def primary_key(self) -> str:
        return self.schema.primary_key

    def base_info(self) -> SnapshotInfo | None:
        """The checked header of the base snapshot (None without retention); raises
        CorruptionError if it is damaged: it is the only record of the horizon."""
        try:
            return find_base(self.snapshots_dir)
        except SnapshotError as exc:
            raise self._damaged_base(exc) from None

    def base_rows(self) -> list[tuple[Key, Document]]:
        """The rows of the base snapshot ([] without retention); CorruptionError if damaged."""
        info = self.base_info()
        if info is None:
            return []
        try:
            return read_snapshot(info.path)[1]
        except SnapshotError as exc:
            raise self._damaged_base(exc) from None

    def _damaged_base(self, exc: SnapshotError) -> CorruptionError:
        return CorruptionError(
            os.path.relpath(exc.path, self.root),
            None,
            f"{exc.reason} (the retention base snapshot)",
        )

    def _take_snapshot(self) -> SnapshotInfo:
        assert self.index is not None
        with self.index.read() as reader:
            covered = reader.covered()
            horizon = reader.horizon()
            rows = list(reader.rows_at(MAX_U64))
        seq = covered.seq if covered is not None and covered.seq >= 0 else 0
        unix_ms = covered.unix_ms if covered is not None else 0
        info = write_snapshot(self.snapshots_dir, rows, seq, unix_ms, horizon, base=False)
        self.reset_snapshot_counters()
        return info

    def refresh_snapshot(self) -> SnapshotInfo | None:
        """A new snapshot if events were written since the newest one (else None)."""
        self._init_snapshot_counters()
        newest = max(
            [*list_snapshots(self.snapshots_dir), *list_bases(self.snapshots_dir)], default=None
        )
        if newest is not None and not self.events_since_snapshot:
            return None
        return self._take_snapshot()

    def reset_snapshot_counters(self) -> None:
        self.events_since_snapshot = 0
        self.bytes_since_snapshot = 0

    def _init_snapshot_counters(self) -> bool:
        """Count from the indexes and the segment files (once per session or rewrite);
        whether the bytes were measured on disk (they then include frames appended and not
        yet indexed)."""
        if self.events_since_snapshot is not None:
            return False
        assert self.index is not None
        newest = max(
            [*list_snapshots(self.snapshots_dir), *list_bases(self.snapshots_dir)], default=-1
        )
        budget = self.schema.option("snapshot_every_events")
        with self.index.read() as reader:
            count, first = reader.count_after(newest, budget)
        size = 0
        measured = first is not None and first[0] != NO_SEGMENT
        if first is not None and measured:
            for number in list_segments(self.segments_dir):
                if number >= first[0]:
                    size += segment_bytes(self.segments_dir, number, self.appender)
            size -= first[1]
        self.events_since_snapshot = count
        self.bytes_since_snapshot = max(size, 0)
        return measured

    def note_commit(
        self,
        events: int,
        size_bytes: int,
        last: tuple[int, int] | None = None,
        index_up_to_date: Callable[[], None] | None = None,
    ) -> None:
        """Count a durable commit (whose newest event has (seq, unix_ms) `last`) towards the
        next automatic snapshot; when due, have the background thread take one at that seq,
        after `index_up_to_date()` (the indexes may not hold the commit yet: write-behind,
        engine/commit.py). A failed automatic snapshot does not fail the commit: it warns."""
        # The first count is from what the indexes hold (everything before this commit's
        # group: they are caught up on open and by maintenance) and the log on disk (this
        # commit's frames included).
        on_disk = self._init_snapshot_counters()
        assert self.events_since_snapshot is not None and self.bytes_since_snapshot is not None
        self.events_since_snapshot += events
        if not on_disk:
            self.bytes_since_snapshot += size_bytes
        if last is None:
            return
        if self.events_since_snapshot >= self.schema.option(
            "snapshot_every_events"
        ) or self.bytes_since_snapshot >= self.schema.option("snapshot_every_bytes"):
            self.reset_snapshot_counters()
            with self._snapshot_lock:
                # One thread at a time; a snapshot due while one runs is taken after it
                # (only the newest due one: an older one would be pruned at once).
                self._snapshot_due = last
                self._index_up_to_date = index_up_to_date
                running = self._snapshot_thread
                if running is not None and running.is_alive():
                    return
                thread = threading.Thread(
                    target=self._background_snapshots,
                    name=f"driftdb-snapshot-{self.name}",
                    daemon=True,
                )
                self._snapshot_thread = thread
                thread.start()

    def _background_snapshots(self) -> None:
        """Take the due snapshots (see the module docstring) until none is due. A failure
        does not touch the log or the indexes: it warns, and the next interval tries again."""
        while True:
            with self._snapshot_lock:
                due, self._snapshot_due = self._snapshot_due, None
                if due is None:
                    self._snapshot_thread = None
                    return
            seq, unix_ms = due
            # (imported here: it loads subprocess, which no read needs; cold starts skip it)
            from driftdb.engine import snapshot_child

            try:
                if self._index_up_to_date is not None:
                    self._index_up_to_date()  # the index must cover `seq`
                if type(fs.layer()) is not fs.FileLayer or not snapshot_child.run(
                    self.directory, seq, unix_ms
                ):
                    self._snapshot_in_thread(seq, unix_ms)
                prune_snapshots(self.snapshots_dir, self.schema.option("snapshots_keep"))
            except Exception as exc:
                warnings.warn(
                    DriftWarning(
                        f'automatic snapshot of table "{self.name}" failed ({exc}); '
                        "the log and indexes are intact"
                    ),
                    stacklevel=2,
                )

    def _snapshot_in_thread(self, seq: int, unix_ms: int) -> None:
        """The child's work, done in this thread (see the module docstring for when).

        While it runs, the interpreter's switch interval is lowered to SNAPSHOT_SWITCH_S
        (and restored after): a commit gives up the GIL at each system call (write, fsync,
        LMDB), and at the default 5 ms it would wait up to that long for this thread at each
        one (measured: the slowest commit 24-48x the median instead of <= 20x)."""
        from driftdb.engine import snapshot_child

        assert self.index is not None
        previous = sys.getswitchinterval()
        if previous > SNAPSHOT_SWITCH_S:
            sys.setswitchinterval(SNAPSHOT_SWITCH_S)
        try:
            snapshot_child.take_snapshot(self.index, self.snapshots_dir, seq, unix_ms)
        finally:
            if previous > SNAPSHOT_SWITCH_S:
                sys.setswitchinterval(previous)

    def finish_snapshot(self) -> None:
        """Wait for the background snapshots of this table, if one is running (the thread
        waits for its child process)."""
        with self._snapshot_lock:
            thread = self._snapshot_thread
        if thread is not None:
            thread.join()

    def close_appender(self) -> None:
        """Close the active segment (maintenance is about to replace it); the next commit
        reopens whatever segment is then the newest."""
        if self.appender is not None:
            self.appender.close()
            self.appender = None
