"""Read views: a consistent read of one table, for the writer and for reader processes.

The writer's indexes cover everything it acknowledged once Database.view_of has caught them
up (write-behind, engine/commit.py), so its views read the indexes alone. A
reader process (no lock) also reads the log after what the indexes cover (the writer may have
appended and not yet indexed), hides batches that are not whole (storage/tail.py), and
checks that no maintenance rewrite overlapped its read, reading again if one did
(storage/rewrite.py stamps), for up to READ_RETRY_S.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import warnings
from collections.abc import Mapping
from typing import Any

from driftdb.engine.handle import TableHandle
from driftdb.engine.view import TableView
from driftdb.errors import CorruptionError, DriftError, DriftWarning
from driftdb.model.events import Document, Event, Key, Txn
from driftdb.model.retention import Horizon
from driftdb.storage import rewrite
from driftdb.storage.paths import segment_path
from driftdb.storage.position import NO_SEGMENT, Covered
from driftdb.storage.segment import ZERO_PROOF_BYTES
from driftdb.storage.tail import batch_share, cut_batches, read_tail
from driftdb.storage.witness import covered_damage

READ_RETRY_S = 5.0  # how long a reader waits out a maintenance rewrite before giving up
# A reader whose index is missing, unusable or this many events behind the log replays the
# log in memory on every read: it says so (once per table), as only the writer rebuilds.
STALE_TAIL_EVENTS = 10_000


class ReadViews:
    """Builds read views of the tables of the database at `root` (the mapping is the
    catalog's own, so tables created later are seen)."""

    def __init__(
        self,
        root: str,
        tables: Mapping[str, TableHandle],
        readonly: bool,
        mutex: threading.RLock | None = None,
    ) -> None:
        self.root = root
        self.tables = tables
        self.readonly = readonly
        self.mutex = mutex  # the writer's: a rebuild must not interleave with a commit
        self._checked: dict[str, tuple[Covered, int, int, int]] = {}  # see _check_covered
        # The writer's maintenance counters: how many snapshots, compactions, purges or
        # repairs have started, and how many are running. In the writer process every
        # rewrite runs under `mutex` in this process, so a read that began and ended with
        # none running and the same count overlapped none: an integer compare instead of
        # listing the segments twice (a reader process cannot know, and compares stamps).
        self.rewrites = 0
        self.rewriting = 0
        self._warned: set[str] = set()  # tables whose slow reads a reader has reported

    def read_stamp(self, table: TableHandle) -> rewrite.Stamp | int:
        """Taken before a read that opens frames by location; see `read_was_stable`."""
        if self.readonly:
            return rewrite.stamp(table.directory)
        return self.rewrites if not self.rewriting else -1

    def view_of(self, table: TableHandle) -> TableView:
        """A consistent view of `table`. A reader process checks that no maintenance rewrite
        overlapped its read of the log (see storage/rewrite.py) and reads again if one did,
        waiting up to READ_RETRY_S for it to finish."""
        index = table.index
        if index is not None and index.damaged:
            self._replace_damaged_index(table)
            index = table.index
        if index is not None and not self.readonly:
            # The writer's indexes cover everything it acknowledged (Database.view_of caught
            # them up; a batch's own view has the rest in `pending`), no tail, no rewrite from
            # another process: one read transaction; its meta entries are decoded once per
            # committed transaction (index/store.py, _TxnMeta), and only if asked for.
            fast = index.read()
            try:
                return TableView(table.primary_key, table.segments_dir, fast, [])
            except BaseException:
                fast.close()
                raise
        deadline = time.monotonic() + READ_RETRY_S
        failures = 0
        while True:
            before = rewrite.stamp(table.directory) if self.readonly else None
            reader = table.index.read() if table.index is not None else None
            try:
                view = self._view_once(table, reader)
            except (CorruptionError, FileNotFoundError):
                if reader is not None:
                    reader.close()
                failures += 1
                if (
                    before is None
                    or time.monotonic() > deadline
                    or (failures >= 2 and rewrite.unchanged(before, rewrite.stamp(table.directory)))
                ):
                    raise
                time.sleep(0.02)
                continue
            except BaseException:
                if reader is not None:
                    reader.close()
                raise
            if before is None or self.read_was_stable(table, before, view):
                return view
            view.close()
            if time.monotonic() > deadline:
                raise DriftError(
                    f'table "{table.name}" is being rewritten by maintenance; try again'
                )
            time.sleep(0.02)

    def _replace_damaged_index(self, table: TableHandle) -> None:
        """An index entry failed its checksum: the writer rebuilds the index from the log (in
        one transaction, as on open); a reader stops using it and reads the log."""
        assert table.index is not None
        if self.readonly:
            table.index.close()
            table.index = None
            return
        with self.mutex if self.mutex is not None else contextlib.nullcontext():
            base_info = table.base_info()
            horizon = base_info.horizon if base_info is not None else None
            base = (horizon, list(table.base_rows())) if horizon is not None else None
            tail = read_tail(table.segments_dir, None)
            if tail.problem is not None and not tail.problem.torn:
                raise CorruptionError(tail.problem.path, tail.problem.offset, tail.problem.reason)
            table.index.rebuild(tail.located, table.primary_key, base)
        warnings.warn(
            DriftWarning(f'table "{table.name}": a damaged index entry; rebuilt from the log'),
            stacklevel=5,
        )

    def read_was_stable(
        self, table: TableHandle, before: rewrite.Stamp | int, view: TableView | None
    ) -> bool:
        """No rewrite of the table's files overlapped a read that began at `before` (a
        `read_stamp`)."""
        if isinstance(before, int):
            return before == self.rewrites and not self.rewriting
        if not rewrite.unchanged(before, rewrite.stamp(table.directory)):
            return False
        if view is not None and view.reader is not None and table.index is not None:
            return view.reader.generation() == table.index.generation()
        return True

    def _view_once(self, table: TableHandle, reader: Any) -> TableView:
        covered = reader.covered() if reader is not None else None
        if reader is not None and covered is None and self.readonly:
            reader.close()  # an empty index, or one in an older format: read the log
            reader = None
        events: list[Event] = []
        horizon = None
        base = None
        if self.readonly:
            if reader is None:
                horizon, base = self._base_of(table)
            else:
                self._check_covered(table, reader, covered)
            events = self._visible_tail(table, covered)
            if len(events) > STALE_TAIL_EVENTS:  # (a short tail is a writer mid-commit)
                self._warn_slow(table, reader is None, len(events))
        return TableView(table.primary_key, table.segments_dir, reader, events, horizon, base)

    def _check_covered(self, table: TableHandle, reader: Any, covered: Covered | None) -> None:
        """The cheap facts the writer checks on open, checked before a reader trusts the
        index: the log reaches the covered position and the covered frame is intact
        (storage/witness.py); else the writer's own CorruptionError."""
        if covered is None or covered.segment == NO_SEGMENT:
            return
        # A check that passed holds while the covered segment file is the same, unchanged
        # (same inode, size and mtime): then one stat is the whole cost.
        try:
            st = os.stat(segment_path(table.segments_dir, covered.segment))
            seen = (covered, st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            seen = None
        if seen is not None and self._checked.get(table.directory) == seen:
            return
        damage = covered_damage(self.root, table.directory, covered, reader.frame_of(covered.seq))
        if damage is not None:
            raise damage
        if seen is not None:
            self._checked[table.directory] = seen

    def _warn_slow(self, table: TableHandle, missing: bool, events: int) -> None:
        """A reader never rebuilds an index (only the writer does, once, on open): it says
        that it reads the log instead, and how to make reads fast again."""
        if table.name in self._warned:
            return
        self._warned.add(table.name)
        why = "has no usable index" if missing else f"has an index {events:,} events behind"
        warnings.warn(
            DriftWarning(
                f'table "{table.name}" {why}: this reader replays its log in memory on every '
                "read; open the database once as the writer (driftdb.open(path), or a "
                "writing command such as driftdb snapshot) to rebuild the index"
            ),
            stacklevel=7,
        )

    def horizon_of(self, table: TableHandle) -> Horizon | None:
        """The horizon from the index, or the base snapshot's header (no view, no tail)."""
        if table.index is not None:
            with table.index.read() as reader:
                if reader.covered() is not None:
                    return reader.horizon()
        info = table.base_info()
        return info.horizon if info is not None else None

    def _base_of(self, table: TableHandle) -> tuple[Horizon | None, dict[Key, Document] | None]:
        """The horizon and base rows from the base snapshot (for a read without an index)."""
        info = table.base_info()
        if info is None:
            return None, None
        return info.horizon, dict(table.base_rows())

    def _visible_tail(self, table: TableHandle, covered: Covered | None) -> list[Event]:
        """A reader's view of the log after the indexes: complete batches only; a torn tail
        (the writer mid-append) is simply not there yet."""
        tail = read_tail(table.segments_dir, covered, ZERO_PROOF_BYTES)
        if tail.problem is not None and not tail.problem.torn:
            raise CorruptionError(tail.problem.path, tail.problem.offset, tail.problem.reason)
        events = [item.event for item in tail.located]
        cut = cut_batches(table.name, events, self._count_elsewhere)
        return [e for e in events if e.txn is None or e.txn.first not in cut]

    def _count_elsewhere(self, name: str, txn: Txn) -> int:
        other = self.tables.get(name)
        if other is None:
            return 0
        covered = None
        if other.index is not None:
            with other.index.read() as reader:
                covered = reader.covered()
        return batch_share(
            name,
            txn,
            covered,
            self.horizon_of(other),
            lambda: (
                item.event
                for item in read_tail(other.segments_dir, covered, ZERO_PROOF_BYTES).located
            ),
        )

    def last_seq(self, table: TableHandle) -> int:
        """A reader's newest visible seq of `table` without building a view: what the index
        covers (or the base snapshot's horizon without one), then the visible tail after it."""
        covered = None
        if table.index is not None:
            with table.index.read() as reader:
                covered = reader.covered()
        tail = self._visible_tail(table, covered)
        if tail:
            return tail[-1].seq
        if covered is not None:
            return covered.seq
        horizon = self.horizon_of(table)
        return horizon.seq if horizon is not None else -1
