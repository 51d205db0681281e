"""The log-rewrite toolkit compaction, retention and purge share: read a table's log as
frames, pack them into new segments, stage those through a rewrite manifest
(storage/rewrite.py) and say where each frame now lies. Frames are copied byte for byte
unless a plan replaces one (purge's redactions).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from driftdb.engine.handle import TableHandle
from driftdb.errors import CorruptionError
from driftdb.index.store import TableIndex
from driftdb.model.events import Event, unpack_event
from driftdb.storage import safe_path
from driftdb.storage.appender import segment_bytes
from driftdb.storage.frame import HEADER_SIZE, check_segment_header
from driftdb.storage.paths import list_segments, segment_path
from driftdb.storage.position import Located
from driftdb.storage.rewrite import Rewrite
from driftdb.storage.segment import scan_bytes


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
        with safe_path.open_read(path) as handle:
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
            with safe_path.open_read(segment_path(table.segments_dir, frame.segment)) as handle:
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
    """(segment count, total bytes) of the table's log: of the segment the writer holds, its
    frames, not the zeros written ahead of them (storage/appender.py)."""
    numbers = list_segments(table.segments_dir)
    held = table.appender
    return len(numbers), sum(segment_bytes(table.segments_dir, n, held) for n in numbers)


def remove_replaced_segments(
    table: TableHandle, rewrite: Rewrite, numbers: Iterable[int], plan: Plan
) -> None:
    """Stage the removal of every segment of `numbers` the plan does not write again."""
    for number in numbers:
        if number not in plan.numbers:
            rewrite.remove_file(
                os.path.relpath(segment_path(table.segments_dir, number), table.directory)
            )


def covered_end(
    index: TableIndex, where: dict[int, tuple[int, int, int]]
) -> tuple[int, int] | None:
    """Where the index's covered point ends in the new layout (None if its frame stays)."""
    with index.read() as reader:
        covered = reader.covered()
    if covered is not None and covered.seq in where:
        segment, _, end = where[covered.seq]
        return segment, end
    return None
