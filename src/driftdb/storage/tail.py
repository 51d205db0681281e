"""Reading a table's log after the point its indexes cover, hiding batches that are cut.

Both the writer (catching its indexes up on open) and readers (seeing what the writer has
appended but not yet indexed) read the tail here. A batch is visible only when every one of its
events is on disk, in every table it touches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from driftdb.model.events import Event, Txn, unpack_event
from driftdb.model.frozen import Record
from driftdb.model.retention import Horizon
from driftdb.storage.frame import HEADER_SIZE
from driftdb.storage.paths import list_segments, segment_number, segment_path
from driftdb.storage.position import Covered, Located
from driftdb.storage.segment import Problem, iter_frames


class Tail(Record):
    """Events after the covered point (`located`, in seq order), the first problem found, and
    where each segment read has a run of zeros after its last frame (`zero_tails`: segment ->
    offset; unwritten space the writer preallocated, which recovery trims)."""

    __slots__ = __match_args__ = (
        "located",
        "problem",
        "problem_segment",
        "last_segment",
        "zero_tails",
    )
    located: list[Located]
    problem: Problem | None
    problem_segment: int | None
    last_segment: int
    zero_tails: dict[int, int]

    def __init__(
        self,
        located: list[Located] | None = None,
        problem: Problem | None = None,
        problem_segment: int | None = None,
        last_segment: int = 0,
        zero_tails: dict[int, int] | None = None,
    ) -> None:
        self.located = [] if located is None else located
        self.problem = problem
        self.problem_segment = problem_segment
        self.last_segment = last_segment
        self.zero_tails = {} if zero_tails is None else zero_tails


def read_tail(segments_dir: str, covered: Covered | None, proof: int | None = None) -> Tail:
    """Every good frame after `covered` (or from the start), up to the first problem. `proof`:
    how a zero run is judged (storage/segment.py, scan_segment; readers pass
    ZERO_PROOF_BYTES, the writer's recovery reads to the end)."""
    tail = Tail()
    numbers = list_segments(segments_dir)
    tail.last_segment = numbers[-1] if numbers else 0
    start_segment = covered.segment if covered else 0
    start_offset = covered.offset if covered else HEADER_SIZE
    last_seq = covered.seq if covered else -1
    for result in iter_frames(segments_dir, start_segment, start_offset, last_seq, proof):
        if result.zero_tail:
            tail.zero_tails[result.segment] = result.end_offset
        for record in result.frames:
            body = record.body
            try:
                event = unpack_event(body.seq, body.unix_ms, body.event_type, body.payload)
            except ValueError as exc:
                # The CRC matched, so these bytes were written this way: corruption, not a tear.
                tail.problem = Problem(
                    segment_path(segments_dir, record.segment),
                    record.offset,
                    f"undecodable event ({exc})",
                    torn=False,
                )
                tail.problem_segment = record.segment
                return tail
            tail.located.append(
                Located(event, record.segment, record.offset, record.offset + record.size)
            )
        if result.problem is not None:
            tail.problem = result.problem
            tail.problem_segment = segment_number(result.problem.path)
            return tail
    return tail


def cut_batches(
    table: str, events: list[Event], count_elsewhere: Callable[[str, Txn], int]
) -> set[int]:
    """The `first` seq of every batch in `events` that is not wholly on disk: the one
    batch-completeness check, used by recovery, by readers (the visible tail) and by doctor.

    A batch's share in this table must all be in `events` (indexes take whole batches, after
    the batch was fsynced everywhere); the share of every other table it names is counted by
    `count_elsewhere`, which answers with `batch_share`. A single-table batch has empty
    `parts`: its share here is its whole `count` (docs/format.md, "Batches").
    """
    here: dict[int, int] = {}
    txns: dict[int, Txn] = {}
    for event in events:
        if event.txn is not None:
            here[event.txn.first] = here.get(event.txn.first, 0) + 1
            txns[event.txn.first] = event.txn
    cut: set[int] = set()
    for first, txn in txns.items():
        parts = txn.parts or {table: txn.count}
        if here[first] < parts.get(table, txn.count):
            cut.add(first)
            continue
        for other, wanted in parts.items():
            if other != table and count_elsewhere(other, txn) < wanted:
                cut.add(first)
                break
    return cut


def batch_share(
    table: str,
    txn: Txn,
    covered: Covered | None,
    horizon: Horizon | None,
    events: Callable[[], Iterable[Event]],
) -> int:
    """How many events of the batch `txn` are on disk in `table`: its whole share when the
    table's indexes cover the batch's first seq or its base snapshot holds it (the writer had
    committed it whole), else the batch's events among the table's `events` after `covered`
    (read only when needed)."""
    if (covered is not None and covered.seq >= txn.first) or (
        horizon is not None and horizon.seq >= txn.first
    ):
        # Indexed, or folded into a base: the writer had committed it whole.
        return txn.parts.get(table, 0)
    return sum(1 for e in events() if e.txn is not None and e.txn.first == txn.first)
