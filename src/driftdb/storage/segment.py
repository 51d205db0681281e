"""Segment files: a reader that tells a torn tail from corruption (the writer is
storage/appender.py).

The reader reports rather than decides: `scan_segment` returns the good frames and at most one
`Problem`; the writer's recovery truncates a torn tail, `open` refuses corruption, and `doctor`
collects everything with file and offset. A run of zero bytes from the end of the last frame
to the end of the file is unwritten space the writer preallocated (docs/format.md,
"Segments"): the end of the frames, not a problem (`ScanResult.zero_tail`).
"""

from __future__ import annotations

import heapq
import os
import re
import zlib
from collections.abc import Iterator

from driftdb.model.frozen import Frozen, set_field
from driftdb.storage import safe_path
from driftdb.storage.frame import (
    HEADER_SIZE,
    MAX_FRAME_BYTES,
    MIN_BODY_BYTES,
    PREFIX,
    PREFIX_SIZE,
    FrameBody,
    check_segment_header,
    decode_body,
    segment_header,
)
from driftdb.storage.paths import list_segments, segment_path
from driftdb.storage.varint import decode_varint


class FrameRecord(Frozen):
    """A good frame and where it lies: segment number, byte offset and total size."""

    __slots__ = __match_args__ = ("segment", "offset", "size", "body")
    segment: int
    offset: int
    size: int
    body: FrameBody

    def __init__(self, segment: int, offset: int, size: int, body: FrameBody) -> None:
        set_field(self, "segment", segment)
        set_field(self, "offset", offset)
        set_field(self, "size", size)
        set_field(self, "body", body)


class Problem(Frozen):
    """Why reading stopped at `offset`. `torn` means nothing valid follows: an interrupted
    write, safe to truncate; otherwise good frames follow and this is corruption."""

    __slots__ = __match_args__ = ("path", "offset", "reason", "torn", "next_good_offset")
    path: str
    offset: int
    reason: str
    torn: bool
    next_good_offset: int | None

    def __init__(
        self, path: str, offset: int, reason: str, torn: bool, next_good_offset: int | None = None
    ) -> None:
        set_field(self, "path", path)
        set_field(self, "offset", offset)
        set_field(self, "reason", reason)
        set_field(self, "torn", torn)
        set_field(self, "next_good_offset", next_good_offset)


class ScanResult(Frozen):
    """The good frames of one segment (`segment`) from where the scan started, the offset just
    after the last of them, the problem that stopped the scan if any, and whether a run of
    zeros (unwritten space) follows the last frame to the end of the file."""

    __slots__ = __match_args__ = ("frames", "end_offset", "problem", "segment", "zero_tail")
    frames: list[FrameRecord]
    end_offset: int  # just after the last good frame
    problem: Problem | None
    segment: int
    zero_tail: bool

    def __init__(
        self,
        frames: list[FrameRecord],
        end_offset: int,
        problem: Problem | None,
        segment: int = 0,
        zero_tail: bool = False,
    ) -> None:
        set_field(self, "frames", frames)
        set_field(self, "end_offset", end_offset)
        set_field(self, "problem", problem)
        set_field(self, "segment", segment)
        set_field(self, "zero_tail", zero_tail)


# Compared against in blocks (bytes.startswith: a memcmp, no copy): ~50 us per MiB.
_ZERO_BLOCK = bytes(64 * 1024)
_ZERO_VIEW = memoryview(_ZERO_BLOCK)
# A reader (not the writer's recovery, not doctor) takes a run of zeros this long after the
# last frame as the end without reading on to the end of the file: the writer fills its
# preallocated zeros front to back, so no frame of its lies after such a run (only damage
# could put one there, which opening as the writer and doctor read to the end for). Reading
# the whole preallocated region on every read would cost ~0.1 ms per MiB.
ZERO_PROOF_BYTES = 64 * 1024


# A segment whose bytes end in at least this many zeros was held by a writer (which always
# keeps zeros after its last frame, storage/appender.py) when it was read or when the writer
# stopped. Damage there that shows where a write stopped (`interrupted_overwrite`), even with
# good frames after it, is an interrupted write: the writer writes frames over durable zeros,
# a power cut (or a read racing the write) may keep the sectors of an unsynced write in any
# order, and none of those frames was acknowledged, since the sync that acknowledges a frame
# makes every frame before it durable too.
UNWRITTEN_END_BYTES = 512

# Sectors: a device writes a sector (512 bytes, or a multiple) front to back, and the sectors
# of one write in any order. A write over zeros that a power cut stopped therefore leaves
# zeros from where it stopped to the end of that sector.
SECTOR_BYTES = 512
# A run of zeros ending at a sector boundary counts as a stopped write from this length on
# (shorter runs occur in frames: a 0.0 float is 8 zero bytes; a write that stopped closer to
# a boundary than this is reported as damage, which `doctor --repair` then resolves).
STOPPED_WRITE_MIN_ZEROS = 9


def frames_end(data: bytes) -> int:
    """Where the run of zeros at the end of `data` begins (len(data) if it ends otherwise)."""
    end = len(data)
    block = len(_ZERO_BLOCK)
    while end > 0:
        n = min(end, block)
        if not data.endswith(_ZERO_BLOCK if n == block else _ZERO_VIEW[:n], 0, end):
            return end - n + len(data[end - n : end].rstrip(b"\0"))
        end -= n
    return 0


def interrupted_overwrite(
    data: bytes, offset: int, base: int = 0, next_good: int | None = None
) -> bool:
    """Whether the bad frame at `offset` of `data` (which begins at file offset `base`, and
    ends in unwritten space; `next_good`: where the next good frame starts, if one does)
    shows the sign of a write over zeros that stopped: its bytes run into the unwritten space
    at the end (the write stopped inside the frame), or hold a run of at least
    STOPPED_WRITE_MIN_ZEROS zeros ending at a sector boundary (a sector the write never
    reached, or left part way). A byte changed in a frame written whole shows neither, and is
    damage: an acknowledged event may be at stake (the index lags the log), so it is never
    truncated as a torn write (docs/format.md, "Segments")."""
    tail = frames_end(data)
    end = len(data)
    if len(data) - offset >= PREFIX_SIZE:
        length, crc = PREFIX.unpack_from(data, offset)
        end = offset + PREFIX_SIZE + length
        limit = len(data) if next_good is None else next_good
        if not (0 < length <= MAX_FRAME_BYTES and end <= limit):
            # a length that cannot be this frame's (a stopped write leaves it right or zero)
            end = tail if next_good is None else min(tail, next_good)
        elif end > tail:
            # The frame's last bytes are still zeros: the write stopped there, unless the
            # bytes before the zeros are the whole body (its CRC matches): then only the
            # length field was changed.
            body = data[offset + PREFIX_SIZE : tail]
            return not body or zlib.crc32(body) != crc
    first = (base + offset) // SECTOR_BYTES * SECTOR_BYTES + SECTOR_BYTES
    for boundary in range(first, base + min(end, tail) + 1, SECTOR_BYTES):
        at = boundary - base
        start = max(offset, at - STOPPED_WRITE_MIN_ZEROS)
        if at - start >= STOPPED_WRITE_MIN_ZEROS and not any(data[start:at]):
            return True
    return False


def ends_unwritten(data: bytes) -> bool:
    """Whether `data` (read to the end of its file) ends in UNWRITTEN_END_BYTES zeros."""
    return len(data) >= UNWRITTEN_END_BYTES and zeros_to_end(data, len(data) - UNWRITTEN_END_BYTES)


def zeros_to_end(data: bytes, start: int) -> bool:
    """Whether every byte of `data` from `start` on is zero."""
    end = len(data)
    block = len(_ZERO_BLOCK)
    while start < end:
        n = min(end - start, block)
        if not data.startswith(_ZERO_BLOCK if n == block else _ZERO_VIEW[:n], start):
            return False
        start += n
    return True


def read_frame_at(data: bytes, offset: int) -> tuple[FrameBody, int] | str:
    """Decode the frame at `offset` of `data`: (body, size) or the reason it is not valid.

    The reasons are distinct on purpose; each branch says why it is not trusted.
    """
    remaining = len(data) - offset
    if remaining < PREFIX_SIZE:
        # Short header at end of data: the writer died inside the length/crc prefix.
        return f"incomplete frame header ({remaining} of {PREFIX_SIZE} bytes)"
    length, crc = PREFIX.unpack_from(data, offset)
    if length > MAX_FRAME_BYTES:
        # The CRC does not cover the length, so an absurd one is damage, never an allocation.
        return f"frame length {length} exceeds the {MAX_FRAME_BYTES}-byte bound"
    if length < MIN_BODY_BYTES:
        return f"frame length {length} is shorter than any valid frame"
    if remaining - PREFIX_SIZE < length:
        # Short payload at end of data: the writer died inside the body.
        return f"incomplete frame ({remaining - PREFIX_SIZE} of {length} body bytes)"
    body = data[offset + PREFIX_SIZE : offset + PREFIX_SIZE + length]
    if zlib.crc32(body) != crc:
        # Any byte of the body (or the crc field) changed; the length is not trusted either.
        return "CRC mismatch"
    try:
        decoded = decode_body(body)
    except ValueError as exc:
        return f"malformed frame body ({exc})"
    if decoded.event_type not in (1, 2, 3):
        return f"unknown event type {decoded.event_type}"
    return decoded, PREFIX_SIZE + length


class Rescan(Frozen):
    """What the search for the next good frame found: `offset` (None if nothing), how far it
    looked (`searched_to`, an offset into the data), and whether it `gave_up` before the end
    because its work budget ran out (then nothing after `searched_to` may be called torn)."""

    __slots__ = __match_args__ = ("offset", "searched_to", "gave_up")
    offset: int | None
    searched_to: int
    gave_up: bool

    def __init__(self, offset: int | None, searched_to: int, gave_up: bool = False) -> None:
        set_field(self, "offset", offset)
        set_field(self, "searched_to", searched_to)
        set_field(self, "gave_up", gave_up)

    def describe(self, start: int, base: int = 0) -> str:
        """The reason suffix for a search that gave up ("" otherwise)."""
        if not self.gave_up:
            return ""
        return (
            f"; looked at {self.searched_to - start} bytes for a later frame, up to offset "
            f"{base + self.searched_to}, and gave up"
        )


# Where a frame's event_type could be: one of the three types, then the first byte of a
# msgpack map (fixmap, map16, map32), which every payload is; before them the 8-byte unix_ms
# and the last byte of a varint seq (no continuation bit, checked by a lookbehind only once the
# two bytes matched). Found by the regex engine, so the search does not visit every byte in
# Python; two matches never overlap (a map marker is never an event type).
_EVENT_TYPE = re.compile(rb"[\x01-\x03][\x80-\x8f\xde\xdf](?<=[\x00-\x7f][\x00-\xff]{10})")
_EVENT_TYPE_AT = PREFIX_SIZE + 1 + 8  # offset of event_type in a frame with a 1-byte varint
_MATCH_COST = 256  # budget units per place the regex finds (its Python work)...
_CANDIDATE_COST = 1024  # ...and per candidate frame offset examined
_BUDGET_PER_BYTE = 16  # the search may spend 16 units (one CRC'd byte is one unit) per byte...
_BUDGET_FLOOR = 2 * MAX_FRAME_BYTES  # ...plus enough for two of the largest frames


def find_next_good_frame(data: bytes, start: int, after_seq: int) -> Rescan:
    """The offset of the first valid frame after `start` whose seq exceeds `after_seq`.

    A corrupted length field makes a middle frame look like a torn tail; looking past it for a
    later valid frame is what tells the two apart. A candidate must be believable as the start
    of the rest of the log, not merely CRC-valid bytes (a document may contain frame-like
    text): its payload must decode, and it must end exactly at the end of the data or be
    followed by another such frame.

    The work is linear in the size of the data: only offsets whose event_type byte is 1-3
    followed by a msgpack map marker are candidates (found by a regex), a candidate's CRC is
    computed only after its length, varint seq and timestamp pass, and the total work is
    budgeted. A search that exhausts its budget says so (`gave_up`): its caller must treat the
    damage as corruption, never as a torn tail, since a good frame may lie beyond.
    """
    budget = _BUDGET_PER_BYTE * max(0, len(data) - start) + _BUDGET_FLOOR
    pending: list[int] = []  # candidate offsets found, not yet examined (a heap)
    for match in _EVENT_TYPE.finditer(data, start + _EVENT_TYPE_AT + 1):
        last = match.start() - 9  # where the varint seq ends
        budget -= _MATCH_COST
        # This match's candidates, and every later one's, start at last - 17 or after.
        while pending and pending[0] < last - PREFIX_SIZE - 9:
            offset = heapq.heappop(pending)
            spent = _examine(data, offset, after_seq)
            if spent is True:
                return Rescan(offset, offset)
            budget -= _CANDIDATE_COST + spent
        if budget < 0:
            return Rescan(None, last, gave_up=True)
        for offset in _varint_starts(data, last):
            if offset > start and offset not in pending:
                heapq.heappush(pending, offset)
    while pending:
        offset = heapq.heappop(pending)
        spent = _examine(data, offset, after_seq)
        if spent is True:
            return Rescan(offset, offset)
        budget -= _CANDIDATE_COST + spent
        if budget < 0:
            return Rescan(None, offset, gave_up=True)
    return Rescan(None, len(data))


def _varint_starts(data: bytes, last: int) -> list[int]:
    """Frame offsets whose varint seq ends at `last`: that byte has no continuation bit, the
    bytes before it (up to 9) all have one."""
    out = []
    first = last
    while True:
        offset = first - PREFIX_SIZE
        if offset >= 0:
            out.append(offset)
        if last - first >= 9 or first == 0 or not data[first - 1] & 0x80:
            return out
        first -= 1


def _examine(data: bytes, offset: int, after_seq: int) -> int | bool:
    """True if a believable run starts at `offset`; else the budget units spent (CRC bytes)."""
    length: int = PREFIX.unpack_from(data, offset)[0]
    if (
        length < MIN_BODY_BYTES
        or length > MAX_FRAME_BYTES
        or offset + PREFIX_SIZE + length > len(data)
    ):
        return 0
    try:
        seq, _ = decode_varint(data, offset + PREFIX_SIZE)
    except ValueError:
        return 0
    if seq <= after_seq:
        return 0
    found = read_frame_at(data, offset)
    if isinstance(found, str) or found[0].seq <= after_seq:
        return length
    if _believable_run(data, offset, after_seq):
        return True
    return 2 * length


def _believable_run(data: bytes, offset: int, after_seq: int) -> bool:
    """Whether the frame at `offset` decodes and is followed by the end of the data (or by
    zeros to its end: unwritten space), by another
    decodable frame, by an incomplete final frame (a torn tail after the good frames), or by a
    whole final frame that fails its CRC (a second damage site: one good frame between two
    damaged ones is still a good frame, and the damage around it is corruption)."""
    from driftdb.model.events import unpack_event

    first = True
    while True:
        found = read_frame_at(data, offset)
        if isinstance(found, str):
            return not first and (
                found.startswith("incomplete") or _damaged_final_frame(data, offset, found)
            )
        body, size = found
        if body.seq <= after_seq:
            return False
        try:
            unpack_event(body.seq, body.unix_ms, body.event_type, body.payload)
        except ValueError:
            return False
        if not first or zeros_to_end(data, offset + size):  # the end, or unwritten space
            return True
        first = False
        after_seq = body.seq
        offset += size


def _damaged_final_frame(data: bytes, offset: int, reason: str) -> bool:
    """A frame at `offset` whose length field ends it exactly at the end of the data (or of
    the frames: only zeros follow) but whose CRC fails: the last frame of the log, damaged
    after it was written whole, or torn while it overwrote preallocated zeros."""
    if reason != "CRC mismatch":
        return False
    length: int = PREFIX.unpack_from(data, offset)[0]
    end = offset + PREFIX_SIZE + length
    return end <= len(data) and zeros_to_end(data, end)


def scan_bytes(
    data: bytes, path: str, segment: int, start: int, last_seq: int = -1, base: int = 0
) -> ScanResult:
    """Read frames from file offset `start` to the end of `data` (which begins at file offset
    `base`), stopping at the first bad one. Offsets in the result are file offsets."""
    frames: list[FrameRecord] = []
    local = start - base
    while local < len(data):
        found = read_frame_at(data, local)
        if isinstance(found, str):
            # A length field of 0 starts a run of zeros (a frame's length is never 0).
            zero_run = not any(data[local : local + 4])
            if zero_run and zeros_to_end(data, local):
                # Unwritten space the writer preallocated: the end of the frames.
                return ScanResult(frames, base + local, None, segment, zero_tail=True)
            rescan = find_next_good_frame(data, local, last_seq)
            reason = found + rescan.describe(local, base)
            torn = rescan.offset is None and not rescan.gave_up
            if ends_unwritten(data):
                stopped = interrupted_overwrite(data, local, base, rescan.offset)
                if stopped and not torn:  # an interrupted write over preallocated zeros
                    reason += "; the frames after it were written over preallocated space "
                    reason += "and never synced"
                elif not stopped:
                    reason += "; no zeros where a write stopped: damage, not an interrupted write"
                torn = stopped
            elif zero_run and torn:
                # The writer never leaves bytes after its zeros at the end of a file.
                reason += "; bytes that are not zero follow a run of zeros"
                torn = False
            problem = Problem(
                path,
                base + local,
                reason,
                torn=torn,
                next_good_offset=None if rescan.offset is None else base + rescan.offset,
            )
            return ScanResult(frames, base + local, problem, segment)
        body, size = found
        if body.seq <= last_seq:
            rescan = find_next_good_frame(data, local, last_seq)
            nxt = rescan.offset
            reason = f"seq {body.seq} does not follow seq {last_seq}" + rescan.describe(local, base)
            return ScanResult(
                frames,
                base + local,
                Problem(path, base + local, reason, False, None if nxt is None else base + nxt),
                segment,
            )
        frames.append(FrameRecord(segment, base + local, size, body))
        last_seq = body.seq
        local += size
    return ScanResult(frames, base + local, None, segment)


def scan_segment(
    directory: str,
    segment: int,
    start: int = HEADER_SIZE,
    last_seq: int = -1,
    proof: int | None = None,
) -> ScanResult:
    """Scan one segment file from `start` (default: just after its header), reading only the
    bytes from `start` on, so catching up a long segment's tail stays cheap.

    `proof` None reads to the end of the file (a zero run must reach it to be unwritten
    space). A reader passes ZERO_PROOF_BYTES: it reads a window, and takes a zero run after the
    last frame that fills `proof` bytes of it as the end; anything else in the window (a
    frame cut by the window, a bad byte) makes it read on, up to the whole file, so a
    problem is judged exactly as the full read judges it."""
    path = segment_path(directory, segment)
    with safe_path.open_read(path) as handle:
        header = handle.read(HEADER_SIZE)
        reason = check_segment_header(header)
        if reason is not None:
            # A header cut short, or left as zeros by a power cut (the header is written and
            # fsynced before any frame, so a segment no longer than a header never held one).
            partial = header == segment_header()[: len(header)] or not any(header)
            torn = partial and not handle.read(1)
            return ScanResult([], 0, Problem(path, 0, reason, torn=torn), segment)
        start = max(start, HEADER_SIZE)
        if proof is None:
            handle.seek(start)
            return scan_bytes(handle.read(), path, segment, start, last_seq, base=start)
        fd = handle.fileno()
        size = os.fstat(fd).st_size
        want = 2 * proof
        while True:
            asked = max(0, min(want, size - start))
            data = os.pread(fd, asked, start)
            result = scan_bytes(data, path, segment, start, last_seq, base=start)
            read_to = start + len(data)
            # (a short read is the end of the file: the writer may trim it while we read)
            if len(data) < asked or read_to >= size:
                return result
            if result.zero_tail and read_to - result.end_offset >= proof:
                return result
            want = 4 * want if result.problem is None else size  # a problem: judge it whole


def read_frame(directory: str, segment: int, offset: int) -> FrameBody | str:
    """Read one frame by location (a key directory entry); a reason string if it is bad."""
    path = segment_path(directory, segment)
    with safe_path.open_read(path) as handle:
        handle.seek(offset)
        prefix = handle.read(PREFIX_SIZE)
        if len(prefix) < PREFIX_SIZE:
            return "frame beyond end of segment"
        length, _ = PREFIX.unpack(prefix)
        if length > MAX_FRAME_BYTES:
            return f"frame length {length} exceeds the {MAX_FRAME_BYTES}-byte bound"
        data = prefix + handle.read(length)
    found = read_frame_at(data, 0)
    return found if isinstance(found, str) else found[0]


class FrameReader:
    """Reads frames by location with one descriptor per segment and, for most frames, one
    pread: what a history read needs (many frames, a few segments)."""

    GUESS_BYTES = 4096

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._fds: dict[int, int] = {}

    def read(self, segment: int, offset: int) -> FrameBody | str:
        fd = self._fds.get(segment)
        if fd is None:
            fd = self._fds[segment] = safe_path.open_fd(
                segment_path(self.directory, segment), os.O_RDONLY
            )
        data = os.pread(fd, self.GUESS_BYTES, offset)
        if len(data) < PREFIX_SIZE:
            return "frame beyond end of segment"
        length, _ = PREFIX.unpack_from(data)
        if length > MAX_FRAME_BYTES:
            return f"frame length {length} exceeds the {MAX_FRAME_BYTES}-byte bound"
        if PREFIX_SIZE + length > len(data):
            data += os.pread(fd, PREFIX_SIZE + length - len(data), offset + len(data))
        found = read_frame_at(data, 0)
        return found if isinstance(found, str) else found[0]

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def iter_frames(
    directory: str,
    from_segment: int = 0,
    from_offset: int = 0,
    last_seq: int = -1,
    proof: int | None = None,
) -> Iterator[ScanResult]:
    """Scan every segment from (from_segment, from_offset) on, one ScanResult each (`proof`:
    see scan_segment)."""
    for number in list_segments(directory):
        if number < from_segment:
            continue
        start = from_offset if number == from_segment else HEADER_SIZE
        result = scan_segment(directory, number, start, last_seq, proof)
        if result.frames:
            last_seq = result.frames[-1].body.seq
        yield result
