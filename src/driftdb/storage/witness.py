"""Witnesses: the files that prove how far a table's log was acknowledged.

Each is written only after the events it names were fsynced (docs/format.md, "Witnesses"):
the index's covered seq, meta.json's `last_seq` and the newest snapshot's seq. A log that no
longer reaches the highest of them has been damaged, not torn by a crash: recovery refuses to
truncate or rebuild over those events, and doctor reports them. meta.json's `retired_seq`
(written by `doctor --repair` when it had to give up acknowledged events) is not a witness of
the log's content, only a floor for the next seq, so that a lost seq is never handed out again.
"""

from __future__ import annotations

import os
from typing import Any

from driftdb.errors import CorruptionError, InvalidInputError
from driftdb.model.frozen import Frozen, set_field
from driftdb.model.untrusted import MAX_META_BYTES, load_json
from driftdb.storage import paths, safe_path
from driftdb.storage.position import NO_SEGMENT, Covered
from driftdb.storage.segment import read_frame_at
from driftdb.storage.tail import read_tail


class Witness(Frozen):
    """The highest seq a table's files prove was acknowledged (-1: none), what proves it,
    and the lowest seq the next event may not go below (`floor`)."""

    __slots__ = __match_args__ = ("seq", "source", "floor")
    seq: int
    source: str
    floor: int

    def __init__(self, seq: int, source: str, floor: int) -> None:
        set_field(self, "seq", seq)
        set_field(self, "source", source)
        set_field(self, "floor", floor)

    def at_least(self, seq: int, source: str) -> Witness:
        """This witness, or `source` at `seq` if it proves more."""
        if seq > self.seq:
            return Witness(seq, source, self.floor)
        return self

    def merge(self, other: Witness) -> Witness:
        """The stronger proof of both, and the higher floor."""
        best = self.at_least(other.seq, other.source)
        return Witness(best.seq, best.source, max(self.floor, other.floor))


def read_witness(directory: str, index_covers: bool = False) -> Witness:
    """The witness of a table's files other than its index: meta.json and snapshot names. A
    damaged or missing meta.json witnesses nothing (doctor reports it); a snapshot's name is
    its seq (a snapshot is written from an index that covered it). With `index_covers` (a
    trusted index covers some seq: it is written in step with the log, meta.json only copies
    it on close) meta.json's `last_seq` is not consulted: a cache never outvotes the index."""
    witness = Witness(-1, "", -1)
    last, retired = _meta_seqs(directory)
    if last is not None and not index_covers:
        witness = witness.at_least(last, "meta.json")
    if retired is not None:
        witness = Witness(witness.seq, witness.source, retired)
    snapshots = paths.snapshots_dir(directory)
    newest = max(paths.list_snapshots(snapshots), default=-1)
    if newest > 0:
        witness = witness.at_least(newest, f"snapshots/{newest}.snap")
    return witness


def _read_meta(directory: str) -> dict[str, Any]:
    try:
        with safe_path.open_read(paths.meta_path(directory)) as handle:
            raw = load_json(handle.read(MAX_META_BYTES + 1), "meta.json")
    except (OSError, ValueError, InvalidInputError):
        return {}
    return raw if isinstance(raw, dict) else {}


def table_id(directory: str) -> str | None:
    """The table's identity from meta.json (`"id"`: random hex written when the table's index
    was first stamped), which the index must carry too; None if not recorded."""
    found = _read_meta(directory).get("id")
    return found if isinstance(found, str) and 0 < len(found) <= 64 else None


def identity_mismatch(name: str, directory: str, identity: dict[str, str] | None) -> str | None:
    """Why an index whose recorded identity is `identity` does not belong to table `name` at
    `directory` (None if it does, or records none)."""
    if identity is None:
        return None
    if identity.get("table") != name:
        return f'the index belongs to table "{identity.get("table")}", not "{name}"'
    expected = table_id(directory)
    if expected is not None and identity.get("id") != expected:
        return f"the index belongs to another log (id {identity.get('id')}, meta.json {expected})"
    return None


def _meta_seqs(directory: str) -> tuple[int | None, int | None]:
    raw = _read_meta(directory)
    if not raw:
        return None, None
    last, retired = raw.get("last_seq"), raw.get("retired_seq")
    return (
        last if type(last) is int and last > 0 else None,
        retired if type(retired) is int and retired > 0 else None,
    )


def witnessed_error(
    root: str, path: str, offset: int | None, reason: str, witness: Witness, reach: int
) -> CorruptionError:
    """Damage to events a witness shows were acknowledged (the log now reaches only `reach`):
    never truncated, never rebuilt over; the message names the seqs at stake and the proof."""
    first = max(reach + 1, 1)
    at_stake = f"@seq:{first}" if first >= witness.seq else f"@seq:{first}-{witness.seq}"
    return CorruptionError(
        os.path.relpath(path, root),
        offset,
        f"{reason}; {witness.source} shows events up to @seq:{witness.seq} were acknowledged, "
        f"so events {at_stake} are at stake: not a torn write",
    )


def covered_damage(
    root: str, directory: str, covered: Covered, start: tuple[int, int] | None
) -> CorruptionError | None:
    """The error the writer and every reader raise when the log no longer holds the frame
    the index covers (`start`: where that frame begins, from the index), else None."""
    if covered.segment == NO_SEGMENT:
        return None  # a base snapshot with nothing indexed after it
    segments_dir = paths.segments_dir(directory)
    damage = check_covered_frame(
        segments_dir,
        covered.seq,
        covered.segment,
        covered.offset,
        start[1] if start is not None and start[0] == covered.segment else None,
    )
    if damage is None:
        return None
    path, offset, reason = damage
    witness = Witness(covered.seq, "the index", -1).merge(read_witness(directory, True))
    # Only on this (rare) path: how far the intact log reaches, to name the seqs at stake.
    reach = max((i.event.seq for i in read_tail(segments_dir, None).located), default=-1)
    return witnessed_error(root, path, offset, reason, witness, min(reach, covered.seq - 1))


def check_covered_frame(
    segments_dir: str, seq: int, segment: int, end: int, start: int | None
) -> tuple[str, int | None, str] | None:
    """The cheap facts an open checks before it trusts an index that covers event `seq`,
    whose frame lies at [`start`, `end`) of `segment`: the log reaches `end`, and that frame
    is intact (its CRC holds and it is event `seq`). None if they hold, else (path, offset,
    reason). `start` None (an index without the frame's place) checks the size only."""
    path = paths.segment_path(segments_dir, segment)
    try:
        size = os.lstat(path).st_size
    except FileNotFoundError:
        return path, None, f"missing, but the index covers @seq:{seq} in it"
    if size < end:
        return path, size, f"ends at offset {size}, before the end of @seq:{seq} at {end}"
    if start is None:
        return None
    fd = safe_path.open_fd(path, os.O_RDONLY)
    try:
        data = os.pread(fd, end - start, start)
    finally:
        os.close(fd)
    found = read_frame_at(data, 0)
    if isinstance(found, str):
        return path, start, f"the frame of @seq:{seq}, which the index covers, is damaged ({found})"
    body, length = found
    if body.seq != seq or length != end - start:
        return path, start, f"the frame at this offset is not @seq:{seq}, which the index covers"
    return None
