"""doctor, the check: read every file of a database and report what is wrong, with file and
offset. `check(path, full=False)` only reads (it takes no lock, like any reader); the repair
(doctor/repair.py) starts from the states it collects."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from driftdb.errors import CorruptionError, DriftError, InvalidInputError
from driftdb.index.store import NO_SEGMENT, TableIndex
from driftdb.maintenance.doctor.restore import find_restorable
from driftdb.model.events import Document, Event, EventType, Key, unpack_event
from driftdb.model.replay import apply_event
from driftdb.model.retention import Horizon
from driftdb.model.schema import TableSchema
from driftdb.model.untrusted import MAX_META_BYTES, MAX_SCHEMA_BYTES, load_json
from driftdb.model.wording import plural
from driftdb.storage import paths, rewrite, safe_path
from driftdb.storage.frame import HEADER_SIZE, check_segment_header, segment_header
from driftdb.storage.paths import list_segments, segment_path
from driftdb.storage.segment import find_next_good_frame, frames_end, read_frame, scan_bytes
from driftdb.storage.snapshot import (
    SnapshotError,
    find_base,
    read_snapshot,
)
from driftdb.storage.witness import identity_mismatch

Severity = Literal["error", "warning", "info", "fixed"]
SCHEMA_FILE = "schema.yaml"
NOT_A_DATABASE = "not a DriftDB database"
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
        # Readers name the file in their errors (schema.yaml's does); the finding names it
        # already, so the message starts after it.
        message = message.removeprefix(f"{file}: ")
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
        summary = f"{self.path}: {verdict} ({plural(errors, 'error')}, "
        summary += plural(warnings_, "warning")
        summary += f", {plural(fixed, 'repair')})" if self.repaired else ")"
        errors_ = self.errors()
        if errors_ and all(f.file.endswith(SCHEMA_FILE) for f in errors_):
            # repair never rewrites schema.yaml (the truth about the table): a person does.
            summary += (
                "; repair cannot fix schema.yaml: restore it from a backup, or rewrite it "
                "(table name, primary key, indexed columns) as docs/format.md describes"
            )
        elif errors_ and all(f.message.startswith(NOT_A_DATABASE) for f in errors_):
            summary += "; check the path (driftdb init creates a database)"
        elif not self.ok and not self.repaired:
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
    """Every good frame of a segment, and every damaged byte range between them. It reads
    through the segment reader (`scan_bytes`) as opening does, but does not stop at the first
    bad frame: from the next good one (with a later seq) it reads on."""
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
    while offset < len(data):
        result = scan_bytes(data, path, number, offset, last_seq)
        undecodable: tuple[int, str] | None = None
        for record in result.frames:
            body = record.body
            if decode:
                try:
                    event = unpack_event(body.seq, body.unix_ms, body.event_type, body.payload)
                except ValueError as exc:
                    undecodable = (record.offset, f"undecodable event ({exc})")
                    break
            else:  # a stand-in with the seq
                event = Event(body.seq, body.unix_ms, EventType(body.event_type), "")
            frames.append(GoodFrame(number, record.offset, record.size, body.seq, event))
            last_seq = body.seq
        if undecodable is not None:
            # The CRC matched, so these bytes were written this way: never a tear.
            start, reason = undecodable
            rescan = find_next_good_frame(data, start, last_seq)
            nxt, torn = rescan.offset, False
            reason += rescan.describe(start)
        elif result.problem is not None:
            start, reason = result.problem.offset, result.problem.reason
            nxt = result.problem.next_good_offset
            torn = result.problem.torn and is_last
        else:
            break
        # (with nothing good after it, the region ends at its last byte that is not zero: the
        # writer's unwritten space after it is neither damage nor anyone's data)
        end = max(start + 1, frames_end(data)) if nxt is None else nxt
        bad.append(BadRegion(start, end, reason, torn=torn))
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
    check_all(os.path.abspath(path), full, report)
    return report


def check_all(root: str, full: bool, report: Report) -> list[TableState]:
    tables_dir = paths.tables_dir(root)
    unsafe = safe_path.unsafe_entries(root)
    for path, reason in unsafe:
        report.add(
            "error", rel(root, path), None, f"{reason}; never followed: replace or remove it"
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


def rel(root: str, path: str) -> str:
    return os.path.relpath(path, root)


def _check_table(root: str, name: str, directory: str, full: bool, report: Report) -> TableState:
    state = TableState(name, directory)
    schema_path = paths.schema_path(directory)
    try:
        with safe_path.open_read(schema_path) as handle:
            text = handle.read(MAX_SCHEMA_BYTES + 1)  # bounded before parsing
        state.schema = TableSchema.from_yaml(text, rel(root, schema_path))
    except FileNotFoundError:
        report.add("error", rel(root, schema_path), None, "missing; a table needs its schema")
    except DriftError as exc:
        report.add("error", rel(root, schema_path), None, str(exc))
    _check_meta(root, state, report)
    try:
        rewrite.read_manifest(directory)
    except CorruptionError as exc:
        report.add("error", rel(root, exc.path), None, exc.reason)
    if os.path.exists(paths.manifest_path(directory)):
        report.add(
            "warning",
            rel(root, paths.manifest_path(directory)),
            None,
            "an interrupted maintenance; the next writer open (or repair) finishes it",
        )
    segments_dir = paths.segments_dir(directory)
    state.surveys = survey_log(segments_dir, decode=full)
    state.decoded = full
    for survey in state.surveys:
        file = rel(root, segment_path(segments_dir, survey.number))
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
    _check_witnesses(root, state, report)
    return state


def _cannot_write_here(exc: BaseException) -> bool:
    """An open that failed because nothing may be written here (EROFS, EACCES)."""
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES):
        return True
    text = str(exc)
    return "Read-only file system" in text or "Permission denied" in text


def _check_witnesses(root: str, state: TableState, report: Report) -> None:
    """Acknowledged events the log no longer holds (docs/format.md, "Witnesses"): those the
    index covers and the log lacks (a deleted or shortened segment, a damaged frame), and any
    witness beyond the end of the log. Never "ok": repair restores what the index proves."""
    in_log = {f.seq for s in state.surveys for f in s.frames}
    base_seq = state.base[0].seq if state.base is not None else -1
    found = find_restorable(state.directory, state.schema, in_log, base_seq)
    segments = rel(root, paths.segments_dir(state.directory))
    missing = sorted([e.seq for _, e in found.events] + found.unrebuildable)
    if missing:
        shown = ", ".join(f"@seq:{s}" for s in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        report.add(
            "error",
            segments,
            None,
            f"{len(missing)} acknowledged events that the index covers are missing from the "
            f"log ({shown}{more}); repair restores {len(found.events)} of them from the index",
        )
    reach = max([state.last_seq(), base_seq, *missing], default=-1)
    if found.witness.seq > reach:
        report.add(
            "error",
            segments,
            None,
            f"the log ends at @seq:{max(reach, 0)}, but {found.witness.source} shows events up "
            f"to @seq:{found.witness.seq} were acknowledged: they are missing or damaged",
        )


def _check_meta(root: str, state: TableState, report: Report) -> None:
    path = paths.meta_path(state.directory)
    try:
        with safe_path.open_read(path) as handle:
            raw = load_json(handle.read(MAX_META_BYTES + 1), "meta.json")
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
    except FileNotFoundError:
        report.add("info", rel(root, path), None, "missing (a cache, written on close)")
    except (ValueError, OSError, InvalidInputError) as exc:
        state.meta_bad = True
        report.add("error", rel(root, path), None, f"unreadable ({exc}); repair rewrites it")


def _check_snapshots(root: str, state: TableState, full: bool, report: Report) -> None:
    directory = paths.snapshots_dir(state.directory)
    try:
        names = sorted(n for n in os.listdir(directory) if paths.is_snapshot_file(n))
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
            rel(root, exc.path),
            None,
            f"{exc.reason}: the retention base snapshot is damaged",
        )
    compare = full and state.schema is not None and not state.log_damaged()
    readable: list[tuple[str, int, dict[Key, Document]]] = []
    for name in names:
        path = os.path.join(directory, name)
        if paths.is_base_snapshot(name):
            continue
        try:
            info, rows = read_snapshot(path)
        except SnapshotError as exc:
            state.damaged_snapshots.append(name)
            report.add(
                "error",
                rel(root, path),
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
                rel(root, os.path.join(directory, name)),
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
    segments_dir = paths.segments_dir(state.directory)
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
    index_dir = paths.index_dir(state.directory)
    file = rel(root, index_dir)
    if not os.path.exists(paths.index_data_path(state.directory)):
        state.index_bad = True
        report.add("warning", file, None, "missing; rebuilt from the log by the next writer open")
        return
    try:
        index = TableIndex(index_dir, state.schema.indexes, readonly=True)
    except Exception as exc:  # lmdb raises its own types for a damaged file
        if _cannot_write_here(exc):
            # A read-only mount (or no write permission): LMDB cannot make its reader lock
            # file. That says nothing about the index's bytes: not damage.
            report.add(
                "warning",
                file,
                None,
                f"not checked: it cannot be opened on this read-only file system ({exc}); "
                "this is not damage: run doctor where the database is writable",
            )
            return
        state.index_bad = True
        report.add("error", file, None, f"cannot be opened ({exc}); repair rebuilds it")
        return
    try:
        with index.read() as reader:
            foreign = identity_mismatch(state.name, state.directory, reader.identity())
            if foreign is not None:
                state.index_bad = True
                report.add("error", file, None, f"{foreign}; repair rebuilds it from the log")
                return
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
