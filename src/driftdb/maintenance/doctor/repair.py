"""doctor, the repair: fix what can be fixed without losing acknowledged data.

`repair(path)` takes the writer lock and never deletes the only copy of anything: damaged
bytes are moved to `tables/<t>/quarantine/` before the files that held them are replaced
(crash-safely, through the same manifest as compaction). Its last step reopens the database as
its writer through `reopen`, given by the API layer (driftdb/doctor.py), so that this layer
never imports the API.
"""

from __future__ import annotations

import bisect
import json
import os
from collections.abc import Callable
from typing import Protocol

from driftdb.errors import DriftError, UnsafeFileError
from driftdb.index.store import TableIndex
from driftdb.maintenance.doctor.check import (
    Finding,
    GoodFrame,
    Report,
    TableState,
    check_all,
    rel,
)
from driftdb.maintenance.doctor.restore import Restorable, find_restorable
from driftdb.model.events import Event, EventType, Txn, pack_payload
from driftdb.model.frozen import replace
from driftdb.model.retention import Horizon
from driftdb.storage import fs, paths, rewrite, safe_path
from driftdb.storage.frame import encode_frame
from driftdb.storage.lock import WriterLock
from driftdb.storage.paths import list_snapshots, segment_path, snapshot_name
from driftdb.storage.snapshot import encode_snapshot
from driftdb.storage.tail import batch_share, cut_batches
from driftdb.storage.witness import table_id


class _Snapshot(Protocol):
    @property
    def path(self) -> str: ...


class _Table(Protocol):
    def snapshot(self) -> _Snapshot: ...


class Reopened(Protocol):
    """The database opened as its writer (rebuilding what is missing), holding `lock`."""

    notes: list[str]

    def table(self, name: str) -> _Table: ...

    def close(self) -> None: ...


Reopen = Callable[[str, WriterLock], Reopened]


def repair(path: str | os.PathLike[str], reopen: Reopen, lock_timeout_s: float = 0.0) -> Report:  # noqa: C901 (the repair's numbered plan, step by step)
    """Repair a database, as its writer (LockedError if another process writes to it).

    Plan:
    1. Take the writer lock; finish or roll back any interrupted maintenance.
    2. Check everything (as `check(full=True)`).
    3. Segments with damage: copy each damaged byte range to
       `tables/<t>/quarantine/<segment>-<offset>.bin` (fsynced), then rewrite the segment with
       every good frame, crash-safely. A torn tail is quarantined and cut the same way.
    4. Batches that lost events (here or in another table) are all or nothing: their surviving
       frames are quarantined too, so recovery never cuts the log after them.
    5. Damaged plain snapshots go to quarantine; a damaged base is rewritten from the key
       directory when that still holds the base state, else it stays an error.
    6. Damaged or disagreeing indexes are removed; then the database is opened as its writer,
       which rebuilds indexes from the log (and base), takes fresh snapshots where old ones
       were quarantined, and rewrites meta.json on close.
    7. Check again: the report ends with what remains.
    schema.yaml is never rewritten: a bad one stays an error for a person to fix.
    """
    root = os.path.abspath(path)
    report = Report(os.fspath(path), repaired=True)
    unsafe = safe_path.unsafe_entries(root)
    if unsafe:
        # Links and special files are a person's to resolve: repair touches nothing (not even
        # LOCK) while one is there, so it can never write through one.
        raise UnsafeFileError(*unsafe[0])
    if not os.path.isdir(paths.tables_dir(root)):
        # Not a database: repair touches no file here, not even LOCK (it is not ours).
        report.add("error", os.fspath(path), None, "not a DriftDB database (no tables/ directory)")
        return report
    lock = WriterLock(paths.lock_path(root), lock_timeout_s)
    handed_over = False
    try:
        tables_dir = paths.tables_dir(root)
        if os.path.isdir(tables_dir):
            for name in sorted(os.listdir(tables_dir)):
                finished = rewrite.recover(os.path.join(tables_dir, name))
                if finished is not None:
                    report.add("fixed", f"tables/{name}", None, finished[0])
                    if finished[1]:
                        _remove_index(root, os.path.join(tables_dir, name), report)
        states = check_all(root, True, report)
        if not states:
            return report
        # What the witnesses prove was acknowledged, and what the index can rebuild of it,
        # read before anything changes (the index is moved to quarantine below).
        restorable = {s.name: _restorable(s) for s in states}
        all_events = {s.name: s.events() for s in states}
        horizons = {s.name: s.base[0] if s.base else None for s in states}
        _rejoin_batches(restorable, all_events)
        # A batch at or below a witness was acknowledged whole: its surviving frames stay,
        # whatever it lost to damage (never quarantined as an incomplete batch).
        acknowledged = max((r.witness.seq for r in restorable.values()), default=-1)
        cut = {first for first in _incomplete_batches(all_events, horizons) if first > acknowledged}
        snapshot_again: list[str] = []
        for state in states:
            if state.schema is None:
                continue
            found = restorable[state.name]
            changed = _repair_segments(root, state, cut, report, found.events)
            reach = _account_for_witness(root, state, found, report)
            if reach is not None:
                changed = min(changed if changed is not None else 2**64, reach + 1)
            if changed is not None:
                # Snapshots taken after the damage may hold what the log lost: they would no
                # longer agree with it. Quarantine them; a fresh one is taken below.
                first_bad = min(changed, _first_damaged_seq(state))
                for seq in list_snapshots(paths.snapshots_dir(state.directory)):
                    name = snapshot_name(seq)
                    if seq >= first_bad and name not in state.damaged_snapshots:
                        state.stale_snapshots.append(name)
            _repair_snapshots(root, state, report)
            if state.damaged_snapshots or state.stale_snapshots:
                snapshot_again.append(state.name)
            if changed is not None or state.index_bad:
                _remove_index(root, state.directory, report)
        # Step 6: a writer open rebuilds what is missing; it takes over the lock.
        handed_over = True
        db = reopen(root, lock)
        try:
            for name in snapshot_again:
                info = db.table(name).snapshot()
                report.add("fixed", rel(root, info.path), None, "took a fresh snapshot")
            for note in db.notes:
                report.add("fixed", root, None, note)
            for state in states:
                if state.meta_bad:
                    report.add(
                        "fixed",
                        f"tables/{state.name}/meta.json",
                        None,
                        "rewritten from the indexes",
                    )
        finally:
            db.close()
        after = Report(report.path)
        check_all(root, False, after)
        for finding in after.findings:
            if finding.severity in ("error", "warning"):
                report.add(
                    finding.severity,
                    finding.file,
                    finding.offset,
                    "after repair: " + finding.message,
                )
        # Errors found before repair are resolved unless the re-check still reports them.
        report.findings = [
            f
            if f.severity != "error" or f.message.startswith("after repair")
            else Finding("info", f.file, f.offset, "found: " + f.message)
            for f in report.findings
        ]
        return report
    finally:
        if not handed_over:
            lock.release()


def _first_damaged_seq(state: TableState) -> int:
    """The first seq that damage may have taken (the one after the last good frame before
    the first bad region)."""
    previous = -1
    for survey in state.surveys:
        for region in survey.bad:
            before = [f.seq for f in survey.frames if f.offset < region.offset]
            return (before[-1] if before else previous) + 1
        if survey.frames:
            previous = survey.frames[-1].seq
    return previous + 1


def _remove_index(root: str, table_dir: str, report: Report) -> None:
    """Move the index file to quarantine (it may hold the only trace of a damaged frame's
    effect) so that the writer rebuilds it from the log."""
    index_dir = paths.index_dir(table_dir)
    data = paths.index_data_path(table_dir)
    if not os.path.exists(data):
        return
    quarantine = paths.quarantine_dir(table_dir)
    fs.make_dirs_durably(quarantine)
    target = os.path.join(quarantine, paths.QUARANTINED_INDEX)
    fs.layer().rename(data, target)
    fs.layer().fsync_dir(quarantine)
    fs.remove_durably([os.path.join(index_dir, paths.INDEX_LOCK)])
    report.add(
        "fixed",
        rel(root, index_dir),
        None,
        f"moved the index to {rel(root, target)}; rebuilt from the log",
    )


def _incomplete_batches(
    events: dict[str, list[Event]], horizons: dict[str, Horizon | None]
) -> set[int]:
    """First seqs of batches some of whose events are gone (a table's share that was folded
    into its base before the horizon counts as whole): the check recovery and readers make
    (storage/tail.py), over every table's whole log."""

    def share(other: str, txn: Txn) -> int:
        return batch_share(other, txn, None, horizons.get(other), lambda: events.get(other, []))

    cut: set[int] = set()
    for table, table_events in events.items():
        cut |= cut_batches(table, table_events, share)
    return cut


def _quarantine(
    root: str, table_dir: str, name: str, data: bytes, report: Report, why: str
) -> None:
    directory = paths.quarantine_dir(table_dir)
    fs.make_dirs_durably(directory)
    path = os.path.join(directory, name)
    if os.path.exists(path):
        with safe_path.open_read(path) as handle:
            if handle.read() == data:
                return
        path += f".{len(os.listdir(directory))}"
    fs.write_file_atomically(path, data)
    report.add("fixed", rel(root, path), None, why)


def _repair_segments(
    root: str,
    state: TableState,
    cut: set[int],
    report: Report,
    restored: list[tuple[int, Event]] | None = None,
) -> int | None:
    """Rewrite damaged segments, putting back (in seq order, in the segment the index placed
    them) the events `restored` from the index; returns the first seq whose event was removed
    from a batch (or a huge number), or None when nothing changed."""
    segments_dir = paths.segments_dir(state.directory)
    rw = rewrite.Rewrite(state.directory, "repair")
    changed = False
    first_dropped = 2**64
    previous_seq = -1
    extra: dict[int, list[Event]] = {}
    for segment, event in restored or []:
        extra.setdefault(segment, []).append(event)
    present = {survey.number for survey in state.surveys}
    for number in sorted(set(extra) - present):
        # A segment that is gone (deleted): what the index proves of it becomes a new file of
        # the same number, so seq order across segments holds.
        rw.stage_segment(number, [_frame_of(e) for e in extra[number]])
        _report_restored(root, segment_path(segments_dir, number), extra[number], report)
        changed = True
    for survey in state.surveys:
        path = segment_path(segments_dir, survey.number)
        dropped = [f for f in survey.frames if f.event.txn is not None and f.event.txn.first in cut]
        back = extra.get(survey.number, [])
        if not survey.bad and not dropped and not back:
            if survey.frames:
                previous_seq = survey.frames[-1].seq
            continue
        with safe_path.open_read(path) as handle:
            data = handle.read()
        for region in survey.bad:
            following = [f.seq for f in survey.frames if f.offset >= region.end]
            before = [f.seq for f in survey.frames if f.offset < region.offset]
            low = before[-1] if before else previous_seq
            if not following:
                lost = f"any event after seq {low} that was there is lost"
            elif following[0] - low == 2:
                lost = f"seq {low + 1} of this table may be lost"
            else:
                lost = f"seqs {low + 1}..{following[0] - 1} of this table may be lost"
            what = "torn tail" if region.torn else f"damaged bytes ({region.reason})"
            _quarantine(
                root,
                state.directory,
                paths.quarantine_name(survey.number, region.offset),
                data[region.offset : region.end],
                report,
                f"moved {region.end - region.offset} {what} from "
                f"{rel(root, path)} offset {region.offset}; {lost}",
            )
        batches: dict[int, list[GoodFrame]] = {}
        for frame in dropped:
            assert frame.event.txn is not None
            batches.setdefault(frame.event.txn.first, []).append(frame)
        for first, members in batches.items():
            # One file per batch and segment: its surviving frames, back to back.
            seqs = [f.seq for f in members]
            span = (
                f"seq {seqs[0]}"
                if len(seqs) == 1
                else f"{len(seqs)} events (seqs {seqs[0]}-{seqs[-1]})"
            )
            _quarantine(
                root,
                state.directory,
                paths.quarantine_name(survey.number, members[0].offset),
                b"".join(data[f.offset : f.offset + f.size] for f in members),
                report,
                f"moved {span} out of {rel(root, path)}: their batch (first seq {first}) "
                "lost other events, and a batch is all or nothing",
            )
        gone = {id(f) for f in dropped}
        first_dropped = min([first_dropped, *(f.event.seq for f in dropped)])
        ordered = [
            (f.seq, data[f.offset : f.offset + f.size]) for f in survey.frames if id(f) not in gone
        ]
        ordered += [(e.seq, _frame_of(e)) for e in back]
        ordered.sort(key=lambda item: item[0])
        rw.stage_segment(survey.number, [frame for _, frame in ordered])
        if back:
            _report_restored(root, path, back, report)
        changed = True
        if survey.frames:
            previous_seq = survey.frames[-1].seq
    if not changed:
        return None
    rw.commit()
    rw.apply()
    rw.finish()
    report.add(
        "fixed",
        rel(root, segments_dir),
        None,
        "rewrote the damaged segments with every good frame",
    )
    return first_dropped


def _rejoin_batches(restorable: dict[str, Restorable], events: dict[str, list[Event]]) -> None:
    """A restored event inside a batch gets the batch's txn entry back (the index does not
    keep it; the batch's surviving events name its first seq and count), so the batch reads
    as whole again."""
    txns = sorted(
        {e.txn.first: e.txn for table in events.values() for e in table if e.txn}.values(),
        key=lambda txn: txn.first,
    )
    firsts = [txn.first for txn in txns]
    for found in restorable.values():
        for i, (segment, event) in enumerate(found.events):
            at = bisect.bisect_right(firsts, event.seq) - 1
            if at >= 0 and event.seq < txns[at].first + txns[at].count:
                found.events[i] = (segment, replace(event, txn=txns[at]))


def _restorable(state: TableState) -> Restorable:
    in_log = {f.seq for s in state.surveys for f in s.frames}
    base_seq = state.base[0].seq if state.base is not None else -1
    return find_restorable(state.directory, state.schema, in_log, base_seq)


def _frame_of(event: Event) -> bytes:
    return encode_frame(event.seq, event.unix_ms, int(event.type), pack_payload(event))


def _report_restored(root: str, path: str, events: list[Event], report: Report) -> None:
    for event in events:
        how = (
            "as the merge patch between its row images, marked reconstructed in its meta"
            if event.type is EventType.PATCH
            else "exactly, from its row image"
        )
        report.add(
            "fixed",
            rel(root, path),
            None,
            f"restored @seq:{event.seq} ({event.type.name} of key {event.key!r}) from the "
            f"index, {how}",
        )


def _account_for_witness(
    root: str, state: TableState, found: Restorable, report: Report
) -> int | None:
    """After the segments are repaired: if the witnesses show more acknowledged events than
    the log now holds, report by seq what is lost, and record in meta.json that those seqs
    are spent (`retired_seq`), so the writer opens on what is left and never hands them out
    again. Returns the log's new reach when something was lost (None otherwise)."""
    seqs = [f.seq for s in state.surveys for f in s.frames]
    seqs += [e.seq for _, e in found.events]
    reach = max(seqs, default=-1)
    if state.base is not None:
        reach = max(reach, state.base[0].seq)
    witness = found.witness
    if witness.seq <= reach and not found.unrebuildable:
        return None
    lost = [s for s in found.unrebuildable]
    directory = paths.segments_dir(state.directory)
    if lost:
        report.add(
            "warning",
            rel(root, directory),
            None,
            "lost: " + ", ".join(f"@seq:{s}" for s in lost) + " (the index proves they were "
            "acknowledged but its row images cannot rebuild them)",
        )
    if witness.seq > reach:
        report.add(
            "warning",
            rel(root, directory),
            None,
            f"lost: the events of this table after @seq:{max(reach, 0)} up to @seq:{witness.seq}"
            f" ({witness.source} shows them acknowledged; nothing holds their data); those "
            "seqs are never used again",
        )
    meta: dict[str, object] = {
        "table": state.name,
        "id": table_id(state.directory),
        "last_seq": max(reach, 0),
        "retired_seq": max(witness.seq, witness.floor),
    }
    fs.write_file_atomically(paths.meta_path(state.directory), json.dumps(meta, indent=2).encode())
    return reach


def _repair_snapshots(root: str, state: TableState, report: Report) -> None:
    directory = paths.snapshots_dir(state.directory)
    for name in [*state.damaged_snapshots, *state.stale_snapshots]:
        path = os.path.join(directory, name)
        quarantine = paths.quarantine_dir(state.directory)
        fs.make_dirs_durably(quarantine)
        target = os.path.join(quarantine, paths.quarantined_snapshot_name(name))
        fs.layer().rename(path, target)
        fs.layer().fsync_dir(quarantine)
        fs.layer().fsync_dir(directory)
        why = (
            f"moved the damaged snapshot {name} here"
            if name in state.damaged_snapshots
            else f"moved snapshot {name} here: taken after the repaired damage, it may "
            "hold what the log lost"
        )
        report.add("fixed", rel(root, target), None, why)
    if state.base_damaged:
        _rebuild_base(root, state, report)


def _rebuild_base(root: str, state: TableState, report: Report) -> None:
    """A damaged base can be rewritten from the key directory, which holds the base state as
    synthetic versions at the horizon (when it is intact)."""
    assert state.schema is not None
    index_dir = paths.index_dir(state.directory)
    directory = paths.snapshots_dir(state.directory)
    try:
        index = TableIndex(index_dir, state.schema.indexes, readonly=True)
    except Exception:
        report.add(
            "error",
            rel(root, directory),
            None,
            "the base snapshot is damaged and no index holds its rows: the history "
            "before the horizon cannot be rebuilt; the damaged file is kept",
        )
        return
    try:
        with index.read() as reader:
            horizon = reader.horizon()
            if horizon is None:
                raise DriftError("the index has no horizon")
            rows = list(reader.rows_at(horizon.seq))
            live = reader.live_count_at(horizon.seq)
        if live != len(rows):
            raise DriftError("the index's base rows are incomplete")
    except Exception as exc:
        report.add(
            "error",
            rel(root, directory),
            None,
            f"the base snapshot is damaged and the index cannot restore it ({exc})",
        )
        return
    finally:
        index.close()
    name = snapshot_name(horizon.seq, base=True)
    path = os.path.join(directory, name)
    if os.path.exists(path):
        with safe_path.open_read(path) as handle:
            _quarantine(
                root,
                state.directory,
                f"snapshot-{name}",
                handle.read(),
                report,
                f"kept a copy of the damaged base snapshot {name}",
            )
    data, _ = encode_snapshot(rows, horizon.seq, horizon.base_unix_ms, horizon, base=True)
    fs.write_file_atomically(path, data)
    state.base = (horizon, rows)
    state.base_damaged = False
    report.add("fixed", rel(root, path), None, "rewrote the base snapshot from the index")
