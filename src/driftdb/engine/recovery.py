"""Recovery: what the writer does on open so that the log and the indexes agree before the
first write. Its plan is in `recover`'s docstring; docs/format.md says what each case means
on disk (a torn tail, a cut batch, an index ahead of its log)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

from driftdb.engine.handle import TableHandle
from driftdb.errors import CorruptionError
from driftdb.index.store import NO_SEGMENT
from driftdb.model.clock import Clock
from driftdb.model.events import Document, Key, Txn
from driftdb.model.progress import progress_reporter
from driftdb.model.retention import Horizon
from driftdb.model.wording import plural
from driftdb.storage import fs, rewrite
from driftdb.storage.appender import SegmentAppender
from driftdb.storage.frame import HEADER_SIZE, segment_header
from driftdb.storage.paths import list_segments, segment_path
from driftdb.storage.position import Covered, Located
from driftdb.storage.tail import Tail, batch_share, cut_batches, read_tail
from driftdb.storage.witness import Witness, covered_damage, read_witness, witnessed_error


def recover(  # noqa: C901 (recovery's numbered plan, one branch per case it tells apart)
    root: str, tables: Mapping[str, TableHandle], notes: list[str]
) -> tuple[int, Clock]:
    """Make the log and indexes agree before the first write.

    0. For each table, finish a maintenance rewrite its manifest says was committed (its
       indexes are cleared first, so no reader pairs old locations with new files), or
       remove the leftovers of one that was not.
    1. Read the log after what its indexes cover (all of it if the indexes are missing,
       in another format, point past the log, or disagree with the base snapshot about
       the retention horizon).
    2. A bad frame followed by good ones is corruption: refuse, naming file and offset.
       A torn final frame is an interrupted write: note it for truncation.
    3. A batch not wholly on disk in every table it touches was never acknowledged:
       note its frames for truncation too.
    4. Truncate (fsynced), catch the indexes up (a rebuild starts from the base snapshot
       and replaces the old entries in one transaction), set the next seq and the clock.
       Zeros after the last frame (space the writer preallocated and never wrote) are
       trimmed too, without a note: they were never a write.
    """
    tails: dict[str, Tail] = {}
    rebuild: dict[str, tuple[Horizon, list[tuple[Key, Document]]] | None] = {}
    covers: dict[str, Covered | None] = {}
    horizons: dict[str, Horizon | None] = {}
    witnesses: dict[str, Witness] = {}
    for name, table in tables.items():
        assert table.index is not None
        finished = rewrite.recover(table.directory)
        if finished is not None:
            note, replaced = finished
            notes.append(f'table "{name}": {note}')
            if replaced:
                table.index.clear()
        with table.index.read() as reader:
            covered = reader.covered()
            index_horizon = reader.horizon()
            start = (
                reader.frame_of(covered.seq)
                if covered is not None and covered.segment != NO_SEGMENT
                else None
            )
        witness = read_witness(table.directory, index_covers=covered is not None)
        if covered is not None:
            witness = Witness(covered.seq, "the index", -1).merge(witness)
        witnesses[name] = witness
        try:
            base_info = table.base_info()
            wanted = base_info.horizon if base_info is not None else None
        except CorruptionError as exc:
            if covered is None or index_horizon is None:
                raise
            # The index still holds the base state: go on, and let doctor rewrite it.
            notes.append(f'table "{name}": {exc}')
            base_info, wanted = None, index_horizon
        if covered is not None:
            # The index witnesses the events it covers: their frame must still be there,
            # whole (docs/format.md, "Witnesses"); a damaged one is never a torn tail.
            damage = covered_damage(root, table.directory, covered, start)
            if damage is not None:
                raise damage
        stale = covered is not None and index_horizon != wanted
        if stale:
            notes.append(f'table "{name}": indexes did not match the log; rebuilt')
        tail = read_tail(table.segments_dir, None if stale else covered)
        if (
            not stale
            and covered is not None
            and tail.problem is not None
            and not tail.problem.torn
            and not tail.located
            and (tail.problem_segment, tail.problem.offset) == (covered.segment, covered.offset)
        ):
            # The covered position is not a frame boundary: the index is stale.
            notes.append(f'table "{name}": indexes did not match the log; rebuilt')
            stale = True
            tail = read_tail(table.segments_dir, None)
        if stale or covered is None:
            covered = None
            rebuild[name] = None
            if wanted is not None:
                rebuild[name] = (wanted, table.base_rows())
        covers[name] = covered
        horizons[name] = wanted
        if tail.problem is not None and not tail.problem.torn:
            p = tail.problem
            follow = (
                f"; good frames follow at offset {p.next_good_offset}"
                if p.next_good_offset is not None
                else ""
            )
            raise CorruptionError(os.path.relpath(p.path, root), p.offset, p.reason + follow)
        if (
            tail.problem is not None
            and tail.problem_segment is not None
            and tail.problem_segment != tail.last_segment
        ):
            p = tail.problem
            raise CorruptionError(
                os.path.relpath(p.path, root),
                p.offset,
                p.reason + "; later segments follow",
            )
        tails[name] = tail

    events = {name: [item.event for item in tail.located] for name, tail in tails.items()}

    def count_in_tails(other: str, txn: Txn) -> int:
        return batch_share(
            other, txn, covers.get(other), horizons.get(other), lambda: events.get(other, [])
        )

    # Decide every table's cut first, and check it against the witnesses, so that a refusal
    # leaves every file as it was.
    plans: dict[str, tuple[list[Located], tuple[int, int, str] | None]] = {}
    for name, tail in tails.items():
        table = tables[name]
        cut = cut_batches(name, events[name], count_in_tails)
        keep = tail.located
        spot: tuple[int, int, str] | None = None
        if cut:
            first_cut = next(
                i
                for i, item in enumerate(tail.located)
                if item.event.txn is not None and item.event.txn.first in cut
            )
            keep = tail.located[:first_cut]
            dropped = tail.located[first_cut:]
            spot = (
                dropped[0].segment,
                dropped[0].offset,
                f"an incomplete batch (seqs {dropped[0].event.seq}-"
                f"{dropped[-1].event.seq}) that was never acknowledged",
            )
        elif tail.problem is not None:
            p = tail.problem
            assert tail.problem_segment is not None
            spot = (tail.problem_segment, p.offset, f"a torn final frame ({p.reason})")
        reach = _reach(keep, covers[name], horizons[name])
        witness = witnesses[name]
        if reach < witness.seq:
            path, offset = _where_log_stops(table, spot, keep, tail)
            raise witnessed_error(
                root,
                path,
                offset,
                "the log ends at @seq:"
                f"{reach if reach >= 0 else 0}" + (f" here ({spot[2]})" if spot else ""),
                witness,
                reach,
            )
        plans[name] = (keep, spot)

    for name, (keep, spot) in plans.items():
        table = tables[name]
        if spot is not None:
            _truncate(root, notes, table, *spot)
        for segment, offset in tails[name].zero_tails.items():
            if spot is None or spot[0] != segment:  # (a cut there takes the zeros too)
                fs.layer().truncate(segment_path(table.segments_dir, segment), offset)
        assert table.index is not None
        if name in rebuild:
            if table.index.was_missing and keep:
                # (a stale or distrusted index has its note already)
                notes.append(
                    f'table "{name}": no index files; built them from the log '
                    f"({plural(len(keep), 'event')})"
                )
            report = progress_reporter.get()
            what = f'rebuilding the index of table "{name}" from its log (events)'
            table.index.rebuild(
                keep,
                table.primary_key,
                rebuild[name],
                functools.partial(report, what) if report else None,
            )
        else:
            table.index.apply(keep, table.primary_key)
        table.appender = SegmentAppender(
            table.segments_dir, table.schema.option("segment_size_bytes")
        )

    # A seq is never reused: the next one is past the log and past every witness.
    newest_seq, newest_ms = 0, 0
    for name, table in tables.items():
        assert table.index is not None
        with table.index.read() as reader:
            covered = reader.covered()
        if covered is not None:
            newest_seq = max(newest_seq, covered.seq)
            newest_ms = max(newest_ms, covered.unix_ms)
        newest_seq = max(newest_seq, witnesses[name].seq, witnesses[name].floor)
    return newest_seq + 1, Clock(newest_ms)


def _reach(keep: list[Located], covered: Covered | None, horizon: Horizon | None) -> int:
    """The newest seq the log (with the base snapshot) will hold after recovery's cut."""
    reach = -1
    if keep:
        reach = keep[-1].event.seq
    elif covered is not None:
        reach = covered.seq
    if horizon is not None:
        reach = max(reach, horizon.seq)
    return reach


def _where_log_stops(
    table: TableHandle, spot: tuple[int, int, str] | None, keep: list[Located], tail: Tail
) -> tuple[str, int | None]:
    """The file and offset at which the log stops holding what was acknowledged (the end of
    its last frame: zeros after it are unwritten space)."""
    if spot is not None:
        return segment_path(table.segments_dir, spot[0]), spot[1]
    numbers = list_segments(table.segments_dir)
    if not numbers:
        return table.segments_dir, None
    path = segment_path(table.segments_dir, numbers[-1])
    if keep:
        return path, keep[-1].end_offset
    return path, tail.zero_tails.get(numbers[-1], os.path.getsize(path))


def _truncate(
    root: str, notes: list[str], table: TableHandle, segment: int, offset: int, why: str
) -> None:
    path = segment_path(table.segments_dir, segment)
    size = os.path.getsize(path)
    rel = os.path.relpath(path, root)
    if offset < HEADER_SIZE:
        # A segment whose header was cut: it never held a frame. Rewrite the header.
        fs.layer().truncate(path, 0)
        fd = fs.layer().open_append(path, create=False)
        try:
            fs.layer().write(fd, segment_header())
            fs.layer().fsync(fd)
        finally:
            fs.layer().close(fd)
        notes.append(f"{rel}: rewrote a torn segment header ({size} bytes)")
        return
    fs.layer().truncate(path, offset)
    notes.append(f"{rel}: truncated {size - offset} bytes at offset {offset}: {why}")
