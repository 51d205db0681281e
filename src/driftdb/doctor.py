"""doctor: check every file of a database, and repair what can be repaired without losing
acknowledged data.

`check(path, full=False)` only reads (it takes no lock, like any reader). `repair(path)` takes
the writer lock and never deletes the only copy of anything: damaged bytes are moved to
`tables/<t>/quarantine/` before the files that held them are replaced (crash-safely, through
the same manifest as compaction).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from driftdb.errors import CorruptionError, DriftError, InvalidInputError, UnsafeFileError
from driftdb.index.store import NO_SEGMENT, TableIndex
from driftdb.model.events import Document, Event, EventType, Key, unpack_event
from driftdb.model.replay import apply_event
from driftdb.model.schema import TableSchema
from driftdb.model.untrusted import MAX_META_BYTES, MAX_SCHEMA_BYTES, load_json
from driftdb.retention import Horizon
from driftdb.snapshot import (
    SnapshotError,
    encode_snapshot,
    find_base,
    list_snapshots,
    read_snapshot,
    snapshot_name,
)
from driftdb.storage import fs, rewrite, safe_path
from driftdb.storage.frame import HEADER_SIZE, check_segment_header, segment_header
from driftdb.storage.lock import WriterLock
from driftdb.storage.segment import (
    find_next_good_frame,
    list_segments,
    read_frame,
    read_frame_at,
    segment_path,
)

Severity = Literal["error", "warning", "info", "fixed"]
SAMPLE_KEYS = 1000  # keys compared between the key directory and the replay without full=True


@dataclass(frozen=True)
class Finding:
    """One thing doctor found (or, with severity "fixed", did): where and what."""

    severity: Severity
    file: str
    offset: int | None
    message: str

    def render(self) -> str:
        where = self.file if self.offset is None else f"{self.file} offset {self.offset}"
        return f"{self.severity}: {where}: {self.message}"


@dataclass
class Report:
    """Findings in the order found. `ok` means no errors remain."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    repaired: bool = False

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def add(self, severity: Severity, file: str, offset: int | None, message: str) -> None:
        self.findings.append(Finding(severity, file, offset, message))

    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def render(self) -> str:
        """A text report, one finding per line, and a verdict."""
        lines = [f.render() for f in self.findings]
        errors = len(self.errors())
        warnings_ = sum(1 for f in self.findings if f.severity == "warning")
        fixed = sum(1 for f in self.findings if f.severity == "fixed")
        verdict = "ok" if self.ok else "damaged"
        summary = f"{self.path}: {verdict} ({errors} errors, {warnings_} warnings"
        summary += f", {fixed} repairs)" if self.repaired else ")"
        if not self.ok and not self.repaired:
            summary += '; run "driftdb doctor --repair"'
        return "\n".join([*lines, summary])


# -- reading a segment, damage and all ---------------------------------------------------


@dataclass
class GoodFrame:
    segment: int
    offset: int
    size: int
    seq: int
    event: Event  # decoded only when the survey decodes (else a stand-in with the seq)


@dataclass
class BadRegion:
    offset: int
    end: int
    reason: str
    torn: bool  # nothing valid after it in the whole log: an interrupted write


@dataclass
class SegmentSurvey:
    number: int
    size: int
    header_problem: str | None
    frames: list[GoodFrame]
    bad: list[BadRegion]


def survey_segment(
    path: str, number: int, last_seq: int, is_last: bool, decode: bool = True
) -> SegmentSurvey:
    """Every good frame of a segment, and every damaged byte range between them. Unlike the
    reader on open, it does not stop at the first bad frame: it looks for the next good one
    (with a later seq) and goes on."""
    with safe_path.open_read(path) as handle:
        data = handle.read()
    header_problem = check_segment_header(data[:HEADER_SIZE])
    frames: list[GoodFrame] = []
    bad: list[BadRegion] = []
    if header_problem is not None and len(data) <= HEADER_SIZE:
        torn = is_last and data == segment_header()[: len(data)]
        bad.append(BadRegion(0, len(data), header_problem, torn))
        return SegmentSurvey(number, len(data), header_problem, frames, bad)
    if header_problem is not None:
        bad.append(BadRegion(0, HEADER_SIZE, header_problem, False))
    offset = HEADER_SIZE
    crc_valid = False
    while offset < len(data):
        found = read_frame_at(data, offset)
        reason = found if isinstance(found, str) else None
        if not isinstance(found, str):
            body, size = found
            if body.seq <= last_seq:
                reason = f"seq {body.seq} does not follow seq {last_seq}"
            elif not decode:
                frames.append(
                    GoodFrame(
                        number,
                        offset,
                        size,
                        body.seq,
                        Event(body.seq, body.unix_ms, EventType(body.event_type), ""),
                    )
                )
                last_seq = body.seq
                offset += size
                continue
            else:
                try:
                    event = unpack_event(body.seq, body.unix_ms, body.event_type, body.payload)
                except ValueError as exc:
                    # The CRC matched, so these bytes were written this way: never a tear.
                    reason = f"undecodable event ({exc})"
                    crc_valid = True
                else:
                    frames.append(GoodFrame(number, offset, size, body.seq, event))
                    last_seq = body.seq
                    offset += size
                    continue
        assert reason is not None
        rescan = find_next_good_frame(data, offset, last_seq)
        nxt = rescan.offset
        end = len(data) if nxt is None else nxt
        torn = nxt is None and is_last and not crc_valid and not rescan.gave_up
        bad.append(BadRegion(offset, end, reason + rescan.describe(offset), torn=torn))
        crc_valid = False
        offset = end
    return SegmentSurvey(number, len(data), header_problem, frames, bad)


def survey_log(segments_dir: str, decode: bool = True) -> list[SegmentSurvey]:
    numbers = list_segments(segments_dir)
    out = []
    last_seq = -1
    for i, number in enumerate(numbers):
        survey = survey_segment(
            segment_path(segments_dir, number), number, last_seq, i == len(numbers) - 1, decode
        )
        if survey.frames:
            last_seq = survey.frames[-1].seq
        out.append(survey)
    return out


# -- check -----------------------------------------------------------------------------


@dataclass
class TableState:
    """What check learned about one table (repair acts on it)."""

    name: str
    directory: str
    schema: TableSchema | None = None
    surveys: list[SegmentSurvey] = field(default_factory=list)
    base: tuple[Horizon, list[tuple[Key, Document]]] | None = None
    base_damaged: bool = False
    damaged_snapshots: list[str] = field(default_factory=list)
    stale_snapshots: list[str] = field(default_factory=list)  # newer than repaired damage
    index_bad: bool = False
    meta_bad: bool = False
    decoded: bool = True

    def last_seq(self) -> int:
        seqs = [s.frames[-1].seq for s in self.surveys if s.frames]
        return seqs[-1] if seqs else -1

    def events(self) -> list[Event]:
        return [f.event for s in self.surveys for f in s.frames]

    def log_damaged(self) -> bool:
        """Bad bytes that are not a torn tail: a replay is then no oracle for the caches."""
        return any(not r.torn for s in self.surveys for r in s.bad)


def check(path: str | os.PathLike[str], full: bool = False) -> Report:
    """Check a database without changing it: segment headers, every frame's length and CRC,
    seq order across segments, snapshot checksums (and, with full=True, their contents
    against a replay), the key directory against a replay of the log (a sample of keys, or
    every key with full=True), schema.yaml and meta.json."""
    report = Report(os.fspath(path))
    _check_all(os.path.abspath(path), full, report)
    return report


def _check_all(root: str, full: bool, report: Report) -> list[TableState]:
    tables_dir = os.path.join(root, "tables")
    unsafe = safe_path.unsafe_entries(root)
    for path, reason in unsafe:
        report.add(
            "error", _rel(root, path), None, f"{reason}; never followed: replace or remove it"
        )
    if not os.path.isdir(tables_dir) or os.path.islink(tables_dir):
        if not unsafe:
            report.add("error", root, None, "not a DriftDB database (no tables/ directory)")
        return []
    states = []
    for name in sorted(os.listdir(tables_dir)):
        directory = os.path.join(tables_dir, name)
        if any(p == directory or p.startswith(directory + os.sep) for p, _ in unsafe):
            continue  # a table holding a link or special file is not read at all
        if os.path.isdir(directory):
            states.append(_check_table(root, name, directory, full, report))
    return states


def _rel(root: str, path: str) -> str:
    return os.path.relpath(path, root)


def _check_table(root: str, name: str, directory: str, full: bool, report: Report) -> TableState:
    state = TableState(name, directory)
    schema_path = os.path.join(directory, "schema.yaml")
    try:
        with safe_path.open_read(schema_path) as handle:
            text = handle.read(MAX_SCHEMA_BYTES + 1)
            state.schema = TableSchema.from_yaml(text, _rel(root, schema_path))
    except FileNotFoundError:
        report.add("error", _rel(root, schema_path), None, "missing; a table needs its schema")
    except DriftError as exc:
        report.add("error", _rel(root, schema_path), None, str(exc))
    _check_meta(root, state, report)
    try:
        rewrite.read_manifest(directory)
    except CorruptionError as exc:
        report.add("error", _rel(root, exc.path), None, exc.reason)
    if os.path.exists(os.path.join(directory, rewrite.MANIFEST_NAME)):
        report.add(
            "warning",
            _rel(root, os.path.join(directory, rewrite.MANIFEST_NAME)),
            None,
            "an interrupted maintenance; the next writer open (or repair) finishes it",
        )
    segments_dir = os.path.join(directory, "segments")
    state.surveys = survey_log(segments_dir, decode=full)
    state.decoded = full
    for survey in state.surveys:
        file = _rel(root, segment_path(segments_dir, survey.number))
        for region in survey.bad:
            if region.torn:
                report.add(
                    "warning",
                    file,
                    region.offset,
                    f"torn tail of {region.end - region.offset} bytes ({region.reason}): "
                    "an interrupted write, truncated by the next writer open",
                )
            else:
                report.add(
                    "error",
                    file,
                    region.offset,
                    f"{region.reason}; {region.end - region.offset} damaged bytes"
                    + (
                        f", good frames follow at offset {region.end}"
                        if region.end < survey.size
                        else ""
                    ),
                )
    _check_snapshots(root, state, full, report)
    if state.schema is not None:
        _check_index(root, state, full, report)
    return state


def _check_meta(root: str, state: TableState, report: Report) -> None:
    path = os.path.join(state.directory, "meta.json")
    try:
        with safe_path.open_read(path) as handle:
            raw = load_json(handle.read(MAX_META_BYTES + 1), "meta.json")
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        report.add("info", _rel(root, path), None, "missing (a cache, written on close)")
    except (ValueError, OSError, InvalidInputError) as exc:
        state.meta_bad = True
        report.add("error", _rel(root, path), None, f"unreadable ({exc}); repair rewrites it")


def _check_snapshots(root: str, state: TableState, full: bool, report: Report) -> None:
    directory = os.path.join(state.directory, "snapshots")
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".snap"))
    except FileNotFoundError:
        names = []
    try:
        info = find_base(directory)
        if info is not None:
            rows = read_snapshot(info.path)[1]
            assert info.horizon is not None
            state.base = (info.horizon, rows)
    except SnapshotError as exc:
        state.base_damaged = True
        report.add(
            "error",
            _rel(root, exc.path),
            None,
            f"{exc.reason}: the retention base snapshot is damaged",
        )
    compare = full and state.schema is not None and not state.log_damaged()
    readable: list[tuple[str, int, dict[Key, Document]]] = []
    for name in names:
        path = os.path.join(directory, name)
        if name.endswith(".base.snap"):
            continue
        try:
            info, rows = read_snapshot(path)
        except SnapshotError as exc:
            state.damaged_snapshots.append(name)
            report.add(
                "error",
                _rel(root, path),
                None,
                f"{exc.reason}; reads ignore it, repair replaces it",
            )
            continue
        if compare and (state.base is None or info.seq >= state.base[0].seq):
            readable.append((name, info.seq, dict(rows)))
    if not readable:
        return
    expected = _replay_at(state, state.events(), sorted({seq for _, seq, _ in readable}))
    for name, seq, snapshot_rows in readable:
        if snapshot_rows != expected[seq]:
            state.damaged_snapshots.append(name)
            report.add(
                "error",
                _rel(root, os.path.join(directory, name)),
                None,
                "its rows differ from a replay of the log at its seq",
            )


def _compare_all(state: TableState, reader: Any, seq: int, report: Report, file: str) -> list[Key]:
    """Every key's row at `seq` and the live count, against a replay of the whole log."""
    expected = _replay(state, state.events(), seq)
    covered = reader.covered()
    if covered.live != len(expected):
        report.add(
            "error",
            file,
            None,
            f"counts {covered.live} live rows at @seq:{seq}, the log gives {len(expected)}",
        )
    wrong = [
        k for k in expected if (v := reader.version_at(k, seq)) is None or v.row != expected[k]
    ]
    wrong += [k for k, _ in reader.rows_at(seq) if k not in expected]
    return wrong


def _compare_sample(state: TableState, reader: Any, seq: int) -> list[Key]:
    """Up to SAMPLE_KEYS keys, spread over the key directory: each version's row image
    against a replay of that key's own frames, read where the index says they are."""
    assert state.schema is not None
    keys = list(reader.distinct_keys())
    if len(keys) > SAMPLE_KEYS:
        step = len(keys) / SAMPLE_KEYS
        keys = [keys[int(i * step)] for i in range(SAMPLE_KEYS)]
    base = dict(state.base[1]) if state.base is not None else {}
    segments_dir = os.path.join(state.directory, "segments")
    wrong: list[Key] = []
    for key in keys:
        rows: dict[Key, Document] = {}
        for version in reader.versions(key):
            if version.seq > seq:
                break
            if version.segment == NO_SEGMENT:
                if key in base:
                    rows[key] = base[key]
            else:
                found = read_frame(segments_dir, version.segment, version.offset)
                try:
                    if isinstance(found, str) or found.seq != version.seq:
                        raise ValueError("not the frame the index names")
                    event = unpack_event(found.seq, found.unix_ms, found.event_type, found.payload)
                    if event.key != key:
                        raise ValueError("another key's frame")
                except ValueError:
                    wrong.append(key)
                    break
                apply_event(rows, event, state.schema.primary_key)
            if rows.get(key) != version.row:
                wrong.append(key)
                break
    return wrong


def _replay_at(
    state: TableState, events: list[Event], seqs: list[int]
) -> dict[int, dict[Key, Document]]:
    """The replayed state at each of `seqs` (ascending), in one pass over the events."""
    assert state.schema is not None
    rows: dict[Key, Document] = dict(state.base[1]) if state.base is not None else {}
    out: dict[int, dict[Key, Document]] = {}
    pending = list(seqs)
    for event in events:
        while pending and event.seq > pending[0]:
            out[pending.pop(0)] = dict(rows)
        apply_event(rows, event, state.schema.primary_key)
    for seq in pending:
        out[seq] = dict(rows)
    return out


def _replay(state: TableState, events: Iterable[Event], seq: int) -> dict[Key, Document]:
    assert state.schema is not None
    rows: dict[Key, Document] = dict(state.base[1]) if state.base is not None else {}
    for event in events:
        if event.seq > seq:
            break
        apply_event(rows, event, state.schema.primary_key)
    return rows


def _check_index(root: str, state: TableState, full: bool, report: Report) -> None:
    assert state.schema is not None
    index_dir = os.path.join(state.directory, "indexes")
    file = _rel(root, index_dir)
    if not os.path.exists(os.path.join(index_dir, "data.mdb")):
        state.index_bad = True
        report.add("warning", file, None, "missing; rebuilt from the log by the next writer open")
        return
    try:
        index = TableIndex(index_dir, state.schema.indexes, readonly=True)
    except Exception as exc:  # lmdb raises its own types for a damaged file
        state.index_bad = True
        report.add("error", file, None, f"cannot be opened ({exc}); repair rebuilds it")
        return
    try:
        with index.read() as reader:
            covered = reader.covered()
            horizon = reader.horizon()
            last = state.last_seq()
            if covered is None:
                if last >= 0:
                    state.index_bad = True
                    report.add(
                        "warning",
                        file,
                        None,
                        "empty or in an older format; rebuilt by the next writer open",
                    )
                return
            wanted = state.base[0] if state.base is not None else None
            if state.base_damaged:
                return  # nothing to replay from; repair restores the base from this index
            if horizon != wanted:
                state.index_bad = True
                report.add(
                    "error",
                    file,
                    None,
                    f"its retention horizon ({horizon}) is not the base snapshot's ({wanted})",
                )
                return
            if state.log_damaged() or covered.seq > last:
                report.add(
                    "info",
                    file,
                    None,
                    "not compared with the log, which is damaged or ends before "
                    f"@seq:{covered.seq} (the index may hold what the log lost)",
                )
                state.index_bad = True
                return
            wrong = (
                _compare_all(state, reader, covered.seq, report, file)
                if state.decoded
                else _compare_sample(state, reader, covered.seq)
            )
            if wrong:
                state.index_bad = True
                report.add(
                    "error",
                    file,
                    None,
                    f"{len(wrong)} keys disagree with a replay of the log "
                    f"(e.g. {wrong[0]!r}); repair rebuilds it",
                )
            if covered.seq < last:
                report.add(
                    "info",
                    file,
                    None,
                    f"covers up to @seq:{covered.seq}, the log to @seq:{last}; the next "
                    "writer open catches it up",
                )
    except Exception as exc:
        state.index_bad = True
        report.add("error", file, None, f"unreadable ({exc}); repair rebuilds it")
    finally:
        index.close()


# -- repair ----------------------------------------------------------------------------


def repair(path: str | os.PathLike[str], lock_timeout_s: float = 0.0) -> Report:
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
    lock = WriterLock(os.path.join(root, "LOCK"), lock_timeout_s)
    handed_over = False
    try:
        tables_dir = os.path.join(root, "tables")
        if os.path.isdir(tables_dir):
            for name in sorted(os.listdir(tables_dir)):
                finished = rewrite.recover(os.path.join(tables_dir, name))
                if finished is not None:
                    report.add("fixed", f"tables/{name}", None, finished[0])
                    if finished[1]:
                        _remove_index(root, os.path.join(tables_dir, name), report)
        states = _check_all(root, True, report)
        if not states:
            return report
        all_events = {s.name: s.events() for s in states}
        horizons = {s.name: s.base[0] if s.base else None for s in states}
        cut = _incomplete_batches(all_events, horizons)
        snapshot_again: list[str] = []
        for state in states:
            if state.schema is None:
                continue
            changed = _repair_segments(root, state, cut, report)
            if changed is not None:
                # Snapshots taken after the damage may hold what the log lost: they would no
                # longer agree with it. Quarantine them; a fresh one is taken below.
                first_bad = min(changed, _first_damaged_seq(state))
                for seq in list_snapshots(os.path.join(state.directory, "snapshots")):
                    name = snapshot_name(seq)
                    if seq >= first_bad and name not in state.damaged_snapshots:
                        state.stale_snapshots.append(name)
            _repair_snapshots(root, state, report)
            if state.damaged_snapshots or state.stale_snapshots:
                snapshot_again.append(state.name)
            if changed is not None or state.index_bad:
                _remove_index(root, state.directory, report)
        # Step 6: a writer open rebuilds what is missing; it takes over the lock.
        from driftdb.database import Database

        handed_over = True
        db = Database(root, _lock=lock)
        try:
            for name in snapshot_again:
                info = db.table(name).snapshot()
                report.add("fixed", _rel(root, info.path), None, "took a fresh snapshot")
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
        _check_all(root, False, after)
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
    index_dir = os.path.join(table_dir, "indexes")
    data = os.path.join(index_dir, "data.mdb")
    if not os.path.exists(data):
        return
    quarantine = os.path.join(table_dir, "quarantine")
    fs.make_dirs_durably(quarantine)
    target = os.path.join(quarantine, "indexes-data.mdb")
    fs.layer().rename(data, target)
    fs.layer().fsync_dir(quarantine)
    fs.remove_durably([os.path.join(index_dir, "lock.mdb")])
    report.add(
        "fixed",
        _rel(root, index_dir),
        None,
        f"moved the index to {_rel(root, target)}; rebuilt from the log",
    )


def _incomplete_batches(
    events: dict[str, list[Event]], horizons: dict[str, Horizon | None]
) -> set[int]:
    """First seqs of batches some of whose events are gone (a table's share that was folded
    into its base before the horizon counts as whole)."""
    counts: dict[tuple[int, str], int] = {}
    txns = {}
    for table, table_events in events.items():
        for event in table_events:
            if event.txn is not None:
                counts[(event.txn.first, table)] = counts.get((event.txn.first, table), 0) + 1
                txns[event.txn.first] = (event.txn, table)
    cut = set()
    for first, (txn, table) in txns.items():
        parts = txn.parts or {table: txn.count}
        for name, wanted in parts.items():
            horizon = horizons.get(name)
            if horizon is not None and horizon.seq >= first:
                continue
            if counts.get((first, name), 0) < wanted:
                cut.add(first)
    return cut


def _quarantine(
    root: str, table_dir: str, name: str, data: bytes, report: Report, why: str
) -> None:
    directory = os.path.join(table_dir, "quarantine")
    fs.make_dirs_durably(directory)
    path = os.path.join(directory, name)
    if os.path.exists(path):
        with safe_path.open_read(path) as handle:
            if handle.read() == data:
                return
        path += f".{len(os.listdir(directory))}"
    fs.write_file_atomically(path, data)
    report.add("fixed", _rel(root, path), None, why)


def _repair_segments(root: str, state: TableState, cut: set[int], report: Report) -> int | None:
    """Rewrite damaged segments; returns the first seq whose event was removed from a batch
    (or a huge number), or None when nothing changed."""
    segments_dir = os.path.join(state.directory, "segments")
    rw = rewrite.Rewrite(state.directory, "repair")
    changed = False
    first_dropped = 2**64
    previous_seq = -1
    for survey in state.surveys:
        path = segment_path(segments_dir, survey.number)
        dropped = [f for f in survey.frames if f.event.txn is not None and f.event.txn.first in cut]
        if not survey.bad and not dropped:
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
                f"{survey.number:08d}-{region.offset}.bin",
                data[region.offset : region.end],
                report,
                f"moved {region.end - region.offset} {what} from "
                f"{_rel(root, path)} offset {region.offset}; {lost}",
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
                f"{survey.number:08d}-{members[0].offset}.bin",
                b"".join(data[f.offset : f.offset + f.size] for f in members),
                report,
                f"moved {span} out of {_rel(root, path)}: their batch (first seq {first}) "
                "lost other events, and a batch is all or nothing",
            )
        gone = {id(f) for f in dropped}
        first_dropped = min([first_dropped, *(f.event.seq for f in dropped)])
        kept = [data[f.offset : f.offset + f.size] for f in survey.frames if id(f) not in gone]
        rw.stage_segment(survey.number, kept)
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
        _rel(root, segments_dir),
        None,
        "rewrote the damaged segments with every good frame",
    )
    return first_dropped


def _repair_snapshots(root: str, state: TableState, report: Report) -> None:
    directory = os.path.join(state.directory, "snapshots")
    for name in [*state.damaged_snapshots, *state.stale_snapshots]:
        path = os.path.join(directory, name)
        quarantine = os.path.join(state.directory, "quarantine")
        fs.make_dirs_durably(quarantine)
        target = os.path.join(quarantine, f"snapshot-{name}")
        fs.layer().rename(path, target)
        fs.layer().fsync_dir(quarantine)
        fs.layer().fsync_dir(directory)
        why = (
            f"moved the damaged snapshot {name} here"
            if name in state.damaged_snapshots
            else f"moved snapshot {name} here: taken after the repaired damage, it may "
            "hold what the log lost"
        )
        report.add("fixed", _rel(root, target), None, why)
    if state.base_damaged:
        _rebuild_base(root, state, report)


def _rebuild_base(root: str, state: TableState, report: Report) -> None:
    """A damaged base can be rewritten from the key directory, which holds the base state as
    synthetic versions at the horizon (when it is intact)."""
    assert state.schema is not None
    index_dir = os.path.join(state.directory, "indexes")
    directory = os.path.join(state.directory, "snapshots")
    try:
        index = TableIndex(index_dir, state.schema.indexes, readonly=True)
    except Exception:
        report.add(
            "error",
            _rel(root, directory),
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
            _rel(root, directory),
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
    report.add("fixed", _rel(root, path), None, "rewrote the base snapshot from the index")
