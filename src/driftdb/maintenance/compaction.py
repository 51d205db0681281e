"""COMPACT: merge sealed segments (keeping every event), or discard history before a horizon.

Both keep every answer at or after the horizon identical; both are crash-safe through the
rewrite manifest (storage/rewrite.py). Frames are copied byte for byte, never re-encoded, so
their CRCs and payloads (batch marks included) are exactly what was acknowledged.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from driftdb.errors import CorruptionError
from driftdb.index.keycodec import encode_key
from driftdb.maintenance.handle import TableHandle
from driftdb.model.events import Document, Event, Key, unpack_event
from driftdb.model.replay import apply_event
from driftdb.model.retention import Horizon
from driftdb.model.timepoint import AsOf, parse_timepoint
from driftdb.storage import paths
from driftdb.storage.frame import HEADER_SIZE, check_segment_header
from driftdb.storage.paths import list_segments, segment_path, snapshot_name
from driftdb.storage.position import Located
from driftdb.storage.rewrite import Rewrite
from driftdb.storage.segment import scan_bytes
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
        return text


@dataclass
class LogFrame:
    """One frame of the log as maintenance reads it: where it is, and (decoded on demand)
    its event."""

    segment: int
    offset: int
    size: int
    seq: int
    event: Event | None = None


@dataclass
class Plan:
    """New segments: `numbers[i]` will hold the frames `outputs[i]`."""

    numbers: list[int]
    outputs: list[list[LogFrame]]
    replaced: dict[int, bytes] = field(default_factory=dict)  # seq -> new frame bytes (purge)


def read_log(table: TableHandle, numbers: list[int], decode: bool | set[int]) -> list[LogFrame]:
    """Every frame of the segments `numbers`, CRC-checked and in seq order; raises
    CorruptionError on any bad byte (maintenance never guesses: that is doctor's job).
    `decode`: decode every event, none, or those with the given seqs."""
    frames: list[LogFrame] = []
    last_seq = -1
    for number in numbers:
        path = segment_path(table.segments_dir, number)
        with open(path, "rb") as handle:
            data = handle.read()
        reason = check_segment_header(data[:HEADER_SIZE])
        if reason is not None:
            raise CorruptionError(_rel(table, path), 0, reason)
        result = scan_bytes(data, path, number, HEADER_SIZE, last_seq, 0)
        if result.problem is not None:
            raise CorruptionError(_rel(table, path), result.problem.offset, result.problem.reason)
        for record in result.frames:
            item = LogFrame(number, record.offset, record.size, record.body.seq)
            if decode is True or (isinstance(decode, set) and record.body.seq in decode):
                body = record.body
                try:
                    item.event = unpack_event(body.seq, body.unix_ms, body.event_type, body.payload)
                except ValueError as exc:
                    raise CorruptionError(
                        _rel(table, path), record.offset, f"undecodable event ({exc})"
                    ) from None
            frames.append(item)
            last_seq = record.body.seq
    return frames


def _rel(table: TableHandle, path: str) -> str:
    return os.path.relpath(path, table.db.path)


def pack(
    frames: list[LogFrame], size_limit: int, sizes: dict[int, int] | None = None
) -> list[list[LogFrame]]:
    """Greedy: fill each new segment up to `size_limit` bytes (at least one frame each)."""
    outputs: list[list[LogFrame]] = []
    current: list[LogFrame] = []
    used = HEADER_SIZE
    for frame in frames:
        size = sizes.get(frame.seq, frame.size) if sizes else frame.size
        if current and used + size > size_limit:
            outputs.append(current)
            current, used = [], HEADER_SIZE
        current.append(frame)
        used += size
    if current:
        outputs.append(current)
    return outputs


def frame_bytes(
    table: TableHandle, frames: list[LogFrame], replaced: dict[int, bytes]
) -> Iterator[bytes]:
    """The bytes of `frames`, read from their segments (one file held at a time)."""
    loaded: tuple[int, bytes] | None = None
    for frame in frames:
        if frame.seq in replaced:
            yield replaced[frame.seq]
            continue
        if loaded is None or loaded[0] != frame.segment:
            with open(segment_path(table.segments_dir, frame.segment), "rb") as handle:
                loaded = (frame.segment, handle.read())
        yield loaded[1][frame.offset : frame.offset + frame.size]


def stage_plan(table: TableHandle, rewrite: Rewrite, plan: Plan) -> dict[int, tuple[int, int, int]]:
    """Stage the plan's segments; returns seq -> (segment, offset, end offset) of each frame
    in the new layout."""
    where: dict[int, tuple[int, int, int]] = {}
    for number, frames in zip(plan.numbers, plan.outputs, strict=True):
        offset = HEADER_SIZE
        for frame in frames:
            size = len(plan.replaced[frame.seq]) if frame.seq in plan.replaced else frame.size
            where[frame.seq] = (number, offset, offset + size)
            offset += size
        rewrite.stage_segment(number, frame_bytes(table, frames, plan.replaced))
    return where


def relocated(frames: Iterable[LogFrame], where: dict[int, tuple[int, int, int]]) -> list[Located]:
    out = []
    for frame in frames:
        assert frame.event is not None
        segment, offset, end = where[frame.seq]
        out.append(Located(frame.event, segment, offset, end))
    return out


def log_bytes(table: TableHandle) -> tuple[int, int]:
    """(segment count, total bytes) of the table's log."""
    numbers = list_segments(table.segments_dir)
    return len(numbers), sum(os.path.getsize(segment_path(table.segments_dir, n)) for n in numbers)


def compact(table: TableHandle, before: AsOf = None) -> CompactReport:
    """Merge sealed segments; with `before`, also discard history before that horizon.

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
    with db.maintenance():
        if before is not None:
            wanted = _resolve_horizon(table, before)
            if wanted is not None:
                return _retain(table, wanted[0], wanted[1], started, segments_before, bytes_before)
        numbers = list_segments(table.segments_dir)[:-1]
        if len(numbers) >= 2:
            frames = read_log(table, numbers, decode=False)
            outputs = pack(frames, table.schema.option("segment_size_bytes"))
            if len(outputs) < len(numbers):
                plan = Plan(numbers[len(numbers) - len(outputs) :], outputs)
                _swap_and_remap(table, plan, numbers)
        snapshot = table.refresh_snapshot()
    return _report(table, segments_before, bytes_before, started, table.horizon(), 0, snapshot)


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
    rewrite = Rewrite(table.directory, "compaction")
    try:
        where = stage_plan(table, rewrite, plan)
        for number in inputs:
            if number not in plan.numbers:
                rewrite.remove_file(
                    os.path.relpath(segment_path(table.segments_dir, number), table.directory)
                )
        rewrite.commit()
    except BaseException:
        rewrite.abort()
        raise
    index = table.index
    assert index is not None
    with index.read() as reader:
        covered = reader.covered()
    covered_end = None
    if covered is not None and covered.seq in where:
        segment, _, end = where[covered.seq]
        covered_end = (segment, end)
    rewrite.apply()
    index.remap({seq: (s, o) for seq, (s, o, _) in where.items()}, covered_end)
    index.sync()
    rewrite.finish()


def _resolve_horizon(table: TableHandle, before: AsOf) -> tuple[int, int | None] | None:
    """The new horizon seq for `before` and the time threshold a time gave, or None if it
    discards nothing beyond the current horizon.

    A seq beyond the head is the head; a time T keeps the state at T (the newest event at or
    before T) and makes AS OF times before T errors."""
    point = parse_timepoint(before)
    current = table.horizon_info()
    head = table.db.head()
    with table.view() as view:
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
    return seq, threshold_ms


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

    rewrite = Rewrite(table.directory, "retention")
    try:
        where = stage_plan(table, rewrite, plan)
        rewrite.stage_file(paths.snapshot_rel(snapshot_name(horizon_seq, True)), base_data)
        for number in numbers:
            if number not in plan.numbers:
                rewrite.remove_file(
                    os.path.relpath(segment_path(table.segments_dir, number), table.directory)
                )
        for name in _snapshot_files(table):
            seq = int(name.split(".")[0])
            if seq < horizon_seq or (paths.is_base_snapshot(name) and seq != horizon_seq):
                rewrite.remove_file(paths.snapshot_rel(name))
        rewrite.commit()
    except BaseException:
        rewrite.abort()
        raise
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
