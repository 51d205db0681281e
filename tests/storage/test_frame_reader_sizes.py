"""History reads frames of every size around the reader's first-read guess (4,096 bytes).

`history()` opens frames by location: one pread of 4,096 bytes, then a second read for the
rest when the frame is longer. A frame just over the guess, followed by more bytes in the
segment, is the case a misplaced bound gets wrong. Every frame size from 4,040 to 4,110 bytes
is written (each followed by another frame of the same key), and the history of every key must
equal the replay of the log read front to back.
"""

from __future__ import annotations

from pathlib import Path

import driftdb
from driftdb.model.events import Event, EventType, pack_payload
from driftdb.model.replay import drift_of
from driftdb.storage.frame import encode_frame
from driftdb.storage.segment import FrameReader
from driftdb.storage.tail import read_tail

SIZES = range(4040, 4111)
PAD = "pad"


def frame_size(seq: int, doc: dict[str, object]) -> int:
    event = Event(seq, 0, EventType.INSERT, doc["id"], data=doc)  # type: ignore[arg-type]
    return len(encode_frame(seq, 0, EventType.INSERT, pack_payload(event)))


def doc_with_frame_of(size: int, key: str, seq: int) -> dict[str, object]:
    """A document whose INSERT frame at `seq` is exactly `size` bytes."""
    doc: dict[str, object] = {"id": key, PAD: "x" * 3000}
    doc[PAD] = "x" * (3000 + size - frame_size(seq, doc))
    assert frame_size(seq, doc) == size
    return doc


def segments_dir(db: driftdb.Database, table: str) -> str:
    return str(Path(db.path) / "tables" / table / "segments")


def test_history_returns_every_event_of_frames_around_the_first_read_size(
    db: driftdb.Database,
) -> None:
    table = db.create_table("docs", primary_key="id")
    keys = []
    for size in SIZES:
        key = f"k{size}"
        table.insert(doc_with_frame_of(size, key, db.head() + 1))
        table.patch(key, {"after": size})  # another frame follows the big one
        keys.append(key)

    log = read_tail(segments_dir(db, "docs"), None)
    assert log.problem is None
    inserts = [item for item in log.located if item.event.type == EventType.INSERT]
    assert [item.end_offset - item.offset for item in inserts] == list(SIZES)  # as asked

    events = [item.event for item in log.located]
    for key in keys:
        assert table.history(key) == drift_of(events, key, "id"), key


def test_the_frame_reader_reads_every_frame_whole_by_its_location(db: driftdb.Database) -> None:
    table = db.create_table("docs", primary_key="id")
    for size in SIZES:
        key = f"k{size}"
        table.insert(doc_with_frame_of(size, key, db.head() + 1))
        table.patch(key, {"after": size})

    log = read_tail(segments_dir(db, "docs"), None)
    reader = FrameReader(segments_dir(db, "docs"))
    try:
        for item in log.located:
            body = reader.read(item.segment, item.offset)
            assert not isinstance(body, str), (item.event.seq, body)
            assert body.seq == item.event.seq
            assert body.payload == pack_payload(item.event)
    finally:
        reader.close()
