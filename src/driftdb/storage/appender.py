"""The segment writer: appends frames to a table's active segment, rotates it by size, and
keeps written zeros ahead of its frames so that a commit's sync is a data-only flush.

Why the zeros: appending to a file changes its length (and, every few KiB, its block map),
and making that durable costs the file system a journal commit on every fsync. Overwriting
bytes that are already written and durable changes neither, so `fdatasync` only writes the
data blocks (measured on ext4: ~0.10 ms instead of ~0.15 ms per commit). So before frames
would come within ZERO_GUARD_BYTES of the end of the file, the writer appends zeros (64 KiB
to PREALLOC_BYTES past the new frames) and fsyncs them, then writes the frames over them.
Frames are thus always written over durable zeros, and the file always ends in at least
ZERO_GUARD_BYTES of them while a writer holds it: a power cut can keep the sectors of an
unsynced overwrite in any order, and that run of zeros at the end is how readers tell such an
interrupted write from damage (docs/format.md, "Segments"; storage/segment.py).

A segment is trimmed to its last frame (ftruncate, fsynced) whenever the writer lets go of
it: on rotation and on close. Recovery trims what a crash left (engine/recovery.py). So a
segment that no writer holds ends with its last frame, and a new appender starts at the
file's length.
"""

from __future__ import annotations

import os

from driftdb.storage import fs
from driftdb.storage.frame import HEADER_SIZE, segment_header
from driftdb.storage.paths import list_segments, segment_path

# Zeros written ahead of the frames, per extension: FIRST_PREALLOC_BYTES, doubling with each
# extension up to PREALLOC_BYTES (a short session, such as one CLI write, writes and trims
# little). An extension costs its commit a write of that many bytes and one more fsync
# (measured: 1 MiB ~1.2 ms); every commit until the next one syncs without a length change.
# Past the segment size only the guard is added (a segment rotates there; zeros are trimmed).
FIRST_PREALLOC_BYTES = 64 * 1024
PREALLOC_BYTES = 1024 * 1024
# Zeros always left after the last frame while a writer holds the segment: at least
# UNWRITTEN_END_BYTES (storage/segment.py), so an interrupted overwrite is recognisable.
ZERO_GUARD_BYTES = 4096
_ZEROS = bytes(PREALLOC_BYTES)


class SegmentAppender:
    """Appends frames to a table's active segment and rotates it by size.

    Durability is the caller's: `sync()` (or `fs.layer().fdatasync(fd)`) makes everything
    appended so far durable. New segments are created with their header, fsynced, and their
    directory fsynced before use. `size` is the end of the last frame (where the next one
    goes); `allocated` the file's length (the frames, then zeros).
    """

    def __init__(self, directory: str, segment_size_bytes: int) -> None:
        self.directory = directory
        self.segment_size_bytes = segment_size_bytes
        numbers = list_segments(directory)
        self.segment = numbers[-1] if numbers else 0
        self.fd: int | None = None
        self.size = 0
        self.allocated = 0
        self.dirty = False
        self.prealloc = FIRST_PREALLOC_BYTES  # the next extension's zeros past the frames
        if self.segment:
            path = segment_path(directory, self.segment)
            self.fd = fs.layer().open_append(path, create=False)
            # Trimmed by whoever let go of it (see the module docstring): its end is its length.
            self.size = self.allocated = os.fstat(self.fd).st_size

    def _start_segment(self) -> None:
        fl = fs.layer()
        if self.fd is not None:
            self._seal()
            fl.close(self.fd)
            self.fd = None
        self.segment += 1
        path = segment_path(self.directory, self.segment)
        fd = fl.open_append(path, create=True)
        try:
            fl.write(fd, segment_header())
            fl.fsync(fd)
            fl.fsync_dir(self.directory)
        except BaseException:
            fl.close(fd)
            raise
        self.fd = fd
        self.size = self.allocated = HEADER_SIZE

    def _seal(self) -> None:
        """Make the active segment durable and end it at its last frame (the zeros after it
        are cut: a sealed segment is frames only)."""
        assert self.fd is not None
        if self.allocated > self.size:
            fs.layer().truncate(segment_path(self.directory, self.segment), self.size)
            self.allocated = self.size
            self.dirty = False  # the truncate's fsync made the frames durable too
        elif self.dirty:
            fs.layer().fsync(self.fd)
            self.dirty = False

    def append(self, frames: bytes) -> tuple[int, int]:
        """Append whole frames (one write, over zeros already durable); returns (segment,
        offset of the first byte)."""
        if self.fd is None or self.size >= self.segment_size_bytes:
            self._start_segment()
        assert self.fd is not None
        offset = self.size
        end = offset + len(frames)
        if end + ZERO_GUARD_BYTES > self.allocated:
            self._extend(end)
        self.dirty = True
        fs.layer().write(self.fd, frames)  # the descriptor stands at `size`
        self.size = end
        return self.segment, offset

    def _extend(self, end: int) -> None:
        """Append zeros so that frames up to `end` fit with ZERO_GUARD_BYTES after them (and
        `prealloc` more, not past the segment size), fsync them (the file's length
        changed), and move the descriptor back to the end of the frames. A failure (a full
        disk) leaves only zeros behind: the commit fails before any frame is written."""
        assert self.fd is not None
        room = max(0, self.segment_size_bytes - end)
        target = end + ZERO_GUARD_BYTES + min(self.prealloc, room)
        self.prealloc = min(2 * self.prealloc, PREALLOC_BYTES)
        fl = fs.layer()
        os.lseek(self.fd, self.allocated, os.SEEK_SET)
        while self.allocated < target:
            piece = min(target - self.allocated, PREALLOC_BYTES)
            fl.write(self.fd, _ZEROS if piece == PREALLOC_BYTES else _ZEROS[:piece])
            self.allocated += piece
        fl.fsync(self.fd)
        self.dirty = False  # (the frames before it are durable too)
        os.lseek(self.fd, self.size, os.SEEK_SET)

    def sync(self) -> None:
        if self.fd is not None and self.dirty:
            fs.layer().fdatasync(self.fd)
            self.dirty = False

    def close(self, trim: bool = True) -> None:
        """Let go of the active segment: trim its zeros (fsynced) unless `trim` is False (a
        writer stopped by a failed write leaves the file as it is; the next open trims).
        Raises OSError if the trim fails, after closing the descriptor."""
        if self.fd is None:
            return
        try:
            if trim:
                self._seal()
        finally:
            fs.layer().close(self.fd)
            self.fd = None


def segment_bytes(directory: str, number: int, held: SegmentAppender | None) -> int:
    """The bytes of segment `number` that hold frames: of the segment a writer holds (`held`),
    its frames, not the zeros written ahead of them; of any other, its length."""
    if held is not None and held.fd is not None and held.segment == number:
        return held.size
    return os.path.getsize(segment_path(directory, number))
