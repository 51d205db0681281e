"""COMPACT: merge sealed segments (keeping every event), or discard history before a horizon.

Both keep every answer at or after the horizon identical; both are crash-safe through the
rewrite manifest (storage/rewrite.py). Frames are copied byte for byte, never re-encoded, so
their CRCs and payloads (batch marks included) are exactly what was acknowledged.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace

from driftdb.engine.handle import TableHandle
from driftdb.errors import InvalidInputError
from driftdb.index.keycodec import encode_key
from driftdb.maintenance.logrewrite import (
    Plan,
    covered_end,
    log_bytes,
    pack,
    read_log,
    relocated,
    remove_replaced_segments,
    stage_plan,
)
from driftdb.model.events import Document, Event, Key
from driftdb.model.replay import apply_event
from driftdb.model.retention import Horizon
from driftdb.model.timepoint import AsOf, TimePoint, parse_timepoint
from driftdb.storage import paths
from driftdb.storage.paths import list_segments, snapshot_name
from driftdb.storage.rewrite import Rewrite
from driftdb.storage.snapshot import SnapshotInfo, encode_snapshot


@dataclass(frozen=True)
class CompactReport:
    """What COMPACT did. `bytes_*` count the table's segment files."""

    table: str
    segments_before: int
    segments_after: int
    bytes_before: int
    bytes_after: int
    seconds: float
    horizon: int | None = None
    events_dropped: int = 0
    snapshot: SnapshotInfo | None = None
    note: str | None = None  # why a BEFORE discarded nothing, when it did not

    def __str__(self) -> str:
        text = (
            f'compacted table "{self.table}": {self.segments_before} -> '
            f"{self.segments_after} segments, {self.bytes_before} -> {self.bytes_after} "
            f"bytes in {self.seconds:.2f}s"
        )
        if self.horizon is not None:
            text += (
                f"; history kept from @seq:{self.horizon} "
                f"({self.events_dropped} events folded into the base snapshot)"
            )
        if self.note is not None:
            text += f"; {self.note}"
        return text


def compact(table: TableHandle, before: AsOf = None, force: bool = False) -> CompactReport:
    """Merge sealed segments; with `before`, also discard history before that horizon.

    A `before` with no event of the table before it discards nothing and sets no horizon (the
    report says so). One past the head (a seq beyond the newest, a time in the future) would
    discard the whole history, keeping only the current state: InvalidInputError unless
    `force`.

    Plan:
    1. With `before`: resolve the horizon H (never inside a batch, never behind the current
       one) and go to `_retain`.
    2. Read every frame of the sealed segments (all but the active one), checking each.
    3. Pack them greedily into segments of up to segment_size_bytes, which take the highest
       input numbers (so numbers keep rising with seqs). Nothing to gain: stop here.
    4. Stage, commit the manifest, apply (rename, remove), remap the key directory to the new
       frame locations in one transaction, sync it, finish.
    5. Refresh a snapshot.
    """
    started = time.monotonic()
    segments_before, bytes_before = log_bytes(table)
    db = table.db
    note = None
    with db.maintenance():
        if before is not None:
            wanted = _resolve_horizon(table, before, force)
            if isinstance(wanted, str):
                note = wanted
            elif wanted is not None:
                return _retain(table, wanted[0], wanted[1], started, segments_before, bytes_before)
        numbers = list_segments(table.segments_dir)[:-1]
        if len(numbers) >= 2:
            frames = read_log(table, numbers, decode=False)
            outputs = pack(frames, table.schema.option("segment_size_bytes"))
            if len(outputs) < len(numbers):
                plan = Plan(numbers[len(numbers) - len(outputs) :], outputs)
                _swap_and_remap(table, plan, numbers)
        snapshot = table.refresh_snapshot()
    report = _report(table, segments_before, bytes_before, started, table.horizon(), 0, snapshot)
    return report if note is None else replace(report, note=note)


def _report(
    table: TableHandle,
    segments_before: int,
    bytes_before: int,
    started: float,
    horizon: int | None,
    events_dropped: int = 0,
    snapshot: SnapshotInfo | None = None,
) -> CompactReport:
    """The report of a compaction that started at `started` from the given log size."""
    segments_after, bytes_after = log_bytes(table)
    return CompactReport(
        table.name,
        segments_before,
        segments_after,
        bytes_before,
        bytes_after,
        time.monotonic() - started,
        horizon,
        events_dropped,
        snapshot,
    )


def _swap_and_remap(table: TableHandle, plan: Plan, inputs: list[int]) -> None:
    with Rewrite(table.directory, "compaction") as rewrite:  # commits at the end, or aborts
        where = stage_plan(table, rewrite, plan)
        remove_replaced_segments(table, rewrite, inputs, plan)
    index = table.index
    assert index is not None
    end = covered_end(index, where)
    rewrite.apply()
    index.remap({seq: (s, o) for seq, (s, o, _) in where.items()}, end)
    index.sync()
    rewrite.finish()


def _resolve_horizon(
    table: TableHandle, before: AsOf, force: bool
) -> tuple[int, int | None] | str | None:
    """The new horizon seq for `before` and the time threshold a time gave; None if it
    discards nothing beyond the current horizon; a note for the report if the table has no
    event before it at all. InvalidInputError for a point past the head without `force`.

    A seq beyond the head is the head; a time T keeps the state at T (the newest event at or
    before T) and makes AS OF times before T errors."""
    point = parse_timepoint(before)
    current = table.horizon_info()
    head = table.db.head()
    with table.view() as view:
        first = view.first_seq()
        if point.kind == "now":
            seq, threshold_ms = head, None
        elif point.kind == "seq":
            assert point.seq is not None
            seq, threshold_ms = min(point.seq, head), None
        else:
            assert point.unix_ms is not None
            if current is not None and point.unix_ms < current.unix_ms:
                return None
            found = view.seq_at_time(point.unix_ms)
            seq, threshold_ms = max(found, 0), point.unix_ms
    if current is not None and seq <= current.seq:
        return None
    where = point.text or f"@seq:{seq}"
    if current is None and (first is None or seq < first):
        return f"nothing before {where} to discard, every event kept (no horizon set)"
    past = _past_the_head(point, head)
    if past is not None and not force:
        raise InvalidInputError(
            f'compacting table "{table.name}" before {where} would discard its whole history '
            f"({where} is {past}); to keep only the current state on purpose, run it again "
            f'with --yes (driftdb compact), FORCE (COMPACT {table.name} BEFORE "{where}" '
            "FORCE) or force=True (Table.compact)"
        )
    return seq, threshold_ms


def _past_the_head(point: TimePoint, head: int) -> str | None:
    """Why `point` lies past the head (a seq beyond the newest, a time in the future), or None.
    Such a point discards the whole history more often by mistake than on purpose; @now and
    the head's own seq or time name the present explicitly."""
    if point.kind == "seq" and point.seq is not None and point.seq > head:
        return f"past the head, @seq:{head}"
    if point.kind == "time" and point.unix_ms is not None and point.unix_ms > time.time() * 1000:
        return "in the future"
    return None


def _align(horizon_seq: int, events: list[Event]) -> int:
    """Move the horizon back until no batch has events on both sides of it (a batch is all
    there or not there: recovery would cut a batch that lost part of its events)."""
    while True:
        straddling = [
            e.txn.first - 1
            for e in events
            if e.txn is not None and e.seq > horizon_seq and e.txn.first <= horizon_seq
        ]
        if not straddling:
            return horizon_seq
        horizon_seq = min(straddling)


def _retain(
    table: TableHandle,
    wanted_seq: int,
    threshold_ms: int | None,
    started: float,
    segments_before: int,
    bytes_before: int,
) -> CompactReport:
    """Retention plan:
    1. Read and decode the whole log; align the horizon H to batch boundaries.
    2. The base: the current base snapshot's rows (if any) with every event <= H replayed
       on top: the state at H, by the reference replay.
    3. Pack the events after H into new segments numbered with the highest old numbers (at
       least one segment, maybe header only, so numbering never goes back).
    4. Stage them and the base snapshot `<H>.base.snap` (its checksummed header records the
       horizon); the manifest removes the old segments, the old base, and every snapshot
       older than H. Commit, apply.
    5. Rebuild the key directory from the base and the kept events in one transaction, sync.
    6. Finish, reopen the appender, refresh a snapshot.
    """
    numbers = list_segments(table.segments_dir)
    frames = read_log(table, numbers, decode=True)
    events = [f.event for f in frames if f.event is not None]
    current = table.horizon_info()
    horizon_seq = _align(wanted_seq, events)
    if current is not None and horizon_seq <= current.seq:
        return _report(table, segments_before, bytes_before, started, current.seq)
    state: dict[Key, Document] = dict(table.base_rows()) if current is not None else {}
    base_ms = current.base_unix_ms if current is not None else 0
    folded = 0
    for event in events:
        if event.seq > horizon_seq:
            break
        apply_event(state, event, table.primary_key)
        base_ms = max(base_ms, event.unix_ms)
        folded += 1
    threshold = threshold_ms if threshold_ms is not None else base_ms
    horizon = Horizon(horizon_seq, max(threshold, base_ms), base_ms)
    kept = [f for f in frames if f.seq > horizon_seq]
    outputs = pack(kept, table.schema.option("segment_size_bytes")) or [[]]
    if len(outputs) > max(len(numbers), 1):
        # Only the old numbers are free below the active one: the last takes the overflow.
        cap = max(len(numbers), 1)
        outputs = [*outputs[: cap - 1], [f for out in outputs[cap - 1 :] for f in out]]
    plan = Plan(numbers[len(numbers) - len(outputs) :] if numbers else [1], outputs)
    rows = sorted(state.items(), key=lambda kv: encode_key(kv[0]))
    base_data, _ = encode_snapshot(rows, horizon_seq, base_ms, horizon, base=True)

    with Rewrite(table.directory, "retention") as rewrite:  # commits at the end, or aborts
        where = stage_plan(table, rewrite, plan)
        rewrite.stage_file(paths.snapshot_rel(snapshot_name(horizon_seq, True)), base_data)
        remove_replaced_segments(table, rewrite, numbers, plan)
        for name in _snapshot_files(table):
            seq = int(name.split(".")[0])
            if seq < horizon_seq or (paths.is_base_snapshot(name) and seq != horizon_seq):
                rewrite.remove_file(paths.snapshot_rel(name))
    index = table.index
    assert index is not None
    table.close_appender()
    rewrite.apply()
    index.rebuild(relocated(kept, where), table.primary_key, (horizon, rows))
    index.sync()
    rewrite.finish()
    table.events_since_snapshot = table.bytes_since_snapshot = None  # recount from the base
    snapshot = table.refresh_snapshot()
    return _report(table, segments_before, bytes_before, started, horizon_seq, folded, snapshot)


def _snapshot_files(table: TableHandle) -> list[str]:
    try:
        return sorted(n for n in os.listdir(table.snapshots_dir) if paths.is_snapshot_file(n))
    except FileNotFoundError:
        return []
