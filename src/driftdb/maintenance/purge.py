"""PURGE: erase one key's data from every file DriftDB reads, leaving a trace in the log.

Each of the key's frames is rewritten in place of its data: same seq, time and event type, a
payload `{"key": k, "purged": {"unix_ms": when, "reason": why}, "txn": ...}` (the document,
patch and audit meta are gone; the batch mark stays so recovery still sees whole batches).
The key then never appears in any query at any seq; `history(key)` lists the redacted events
(type, seq, time, the "purged" entry) with no data and no row.

The index is then rewritten as a compacted copy (LMDB keeps old values in free pages), and
copies an earlier repair left in `quarantine/` that hold the key or one of its values are
removed, so no byte of the purged values is left in the database directory. What a purge
cannot do: scrub freed blocks of the file system beneath the files it replaced.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import msgpack

from driftdb.engine.handle import TableHandle
from driftdb.errors import CorruptionError, KeyNotFoundError
from driftdb.index.store import NO_SEGMENT
from driftdb.maintenance.logrewrite import Plan, covered_end, read_log, stage_plan
from driftdb.model.events import Event, Key, pack_payload
from driftdb.model.wording import plural
from driftdb.storage import fs, paths, safe_path
from driftdb.storage.frame import encode_frame
from driftdb.storage.paths import list_segments
from driftdb.storage.rewrite import Rewrite
from driftdb.storage.snapshot import SnapshotError, encode_snapshot, read_snapshot


@dataclass(frozen=True)
class PurgeReport:
    """What PURGE did."""

    table: str
    key: Key
    events_redacted: int
    segments_rewritten: int
    snapshots_rewritten: int
    seconds: float

    def __str__(self) -> str:
        return (
            f'purged key {self.key!r} from table "{self.table}": '
            f"{plural(self.events_redacted, 'event')} redacted in "
            f"{plural(self.segments_rewritten, 'segment')}, "
            f"{plural(self.snapshots_rewritten, 'snapshot')} rewritten "
            f"({self.seconds:.2f}s)"
        )


def redacted(event: Event, purged: dict[str, object], size: int) -> bytes:
    """The frame that replaces `event`'s: same seq, time and type; no data. A `"pad"` entry
    (zero bytes, ignored by readers) makes it exactly `size` bytes when the trace is shorter,
    so no later frame moves and the key directory needs no remapping."""
    trace = Event(
        event.seq, event.unix_ms, event.type, event.key, None, None, event.txn, dict(purged)
    )
    payload = trace.payload()
    frame = encode_frame(event.seq, event.unix_ms, int(event.type), pack_payload(trace))
    missing = size - len(frame)
    for header in (2, 3, 5):  # msgpack: fixstr "pad" (4 bytes) + a bin8/16/32 header
        pad = missing - 4 - header
        if pad >= 0:
            payload["pad"] = bytes(pad)
            padded = encode_frame(
                event.seq, event.unix_ms, int(event.type), msgpack.packb(payload, use_bin_type=True)
            )
            if len(padded) == size:
                return padded
    return frame


def purge(table: TableHandle, key: Key, reason: str | None) -> PurgeReport:
    """Plan:
    1. Find the key's versions in the key directory (KeyNotFoundError if it has none).
    2. For each segment holding one of its frames: a copy with those frames redacted.
    3. For each snapshot holding the key: a copy without it (a damaged plain snapshot is
       removed instead, as it might hold the key; a damaged base stops the purge).
    4. Stage all of it, commit the manifest, apply; in one index transaction erase the key
       (as a rebuild from the redacted log would) and remap the frames that moved; sync,
       finish. Only the segments holding the key are read or rewritten.
    """
    started = time.monotonic()
    with table.db.maintenance():
        index = table.index
        assert index is not None
        with index.read() as reader:
            versions = reader.versions(key)
        secrets = _secrets(key, [v.row for v in versions if v.row is not None])
        if not versions:
            raise KeyNotFoundError(f'PURGE: table "{table.name}" has no history for key {key!r}')
        purged: dict[str, object] = {"unix_ms": table.db.clock.now()}
        if reason is not None:
            purged["reason"] = reason
        touched = sorted({v.segment for v in versions if v.segment != NO_SEGMENT})
        numbers = list_segments(table.segments_dir)
        mine = {v.seq for v in versions if v.segment != NO_SEGMENT}
        frames = read_log(table, touched, decode=mine)
        plan = Plan(touched, [[f for f in frames if f.segment == n] for n in touched])
        redacted_count = 0
        for frame in frames:
            event = frame.event
            if event is not None and event.key == key and event.purged is None:
                plan.replaced[frame.seq] = redacted(event, purged, frame.size)
                redacted_count += 1
        snapshots_rewritten = 0
        with Rewrite(table.directory, "purge") as rewrite:  # commits at the end, or aborts
            where = stage_plan(table, rewrite, plan)
            for name in sorted(
                os.listdir(table.snapshots_dir) if os.path.isdir(table.snapshots_dir) else []
            ):
                if not paths.is_snapshot_file(name):
                    continue
                path = os.path.join(table.snapshots_dir, name)
                try:
                    info, rows = read_snapshot(path)
                except SnapshotError as exc:
                    if paths.is_base_snapshot(name):
                        raise CorruptionError(
                            os.path.relpath(path, table.db.path), None, exc.reason
                        ) from None
                    rewrite.remove_file(paths.snapshot_rel(name))
                    continue
                kept = [(k, row) for k, row in rows if k != key]
                if len(kept) != len(rows):
                    data, _ = encode_snapshot(kept, info.seq, info.unix_ms, info.horizon, info.base)
                    rewrite.stage_file(paths.snapshot_rel(name), data)
                    snapshots_rewritten += 1
        frame_at = {f.seq: f for f in frames}
        end = covered_end(index, where)
        if numbers and numbers[-1] in touched:
            table.close_appender()
        rewrite.apply()
        moved = {
            seq: (s, o)
            for seq, (s, o, _) in where.items()
            if (s, o) != (frame_at[seq].segment, frame_at[seq].offset)
        }
        index.purge_key(key, moved, end)
        index.sync()
        rewrite.finish()
        index.rewrite_compacted()
        _scrub_quarantine(table, secrets)
    return PurgeReport(
        table.name,
        key,
        redacted_count,
        len(touched),
        snapshots_rewritten,
        time.monotonic() - started,
    )


def _secrets(key: Key, rows: list[dict[str, object]]) -> set[bytes]:
    """The byte strings a leftover copy of the key's data would contain: the key and every
    string value of four bytes or more in its row images (a patch's values are in the row
    after it). Values the key shares with other keys are included: for a copy in quarantine,
    erasure wins over keeping evidence."""
    found: set[bytes] = set()

    def walk(value: object) -> None:
        if isinstance(value, str):
            if len(value.encode("utf-8", "surrogatepass")) >= 4:
                found.add(value.encode("utf-8", "surrogatepass"))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(key)
    for row in rows:
        walk(row)
    return found


def _scrub_quarantine(table: TableHandle, secrets: set[bytes]) -> None:
    """Remove the quarantined copies (damaged frames, an old index) that hold the key or one
    of its values: a purge erases every copy, evidence included."""
    directory = paths.quarantine_dir(table.directory)
    if not secrets or not os.path.isdir(directory):
        return
    doomed = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        with safe_path.open_read(path) as handle:
            data = handle.read()
        if any(secret in data for secret in secrets):
            doomed.append(path)
    if doomed:
        fs.remove_durably(doomed)
