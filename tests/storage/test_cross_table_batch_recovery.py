"""A batch across two tables stays whole when one table's indexes are lost.

An index that covers a seq proves the batch holding that seq was acknowledged whole. The edge
case is a table whose only event in the batch is the batch's FIRST event: its index covers
exactly `txn.first`. If the other table's indexes are lost (deleted, or damaged so that the
writer drops and rebuilds them), recovery reads that table's whole log and must count the lone
table's share as present, not truncate the batch as cut. Each case below is checked against the
replay of the log as it was acknowledged: nothing truncated, every row at every seq as replayed,
and the next write takes the next unused seq.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import driftdb
from driftdb.model.events import Event
from driftdb.model.replay import state_at
from helpers.bytes_edit import log_bytes
from helpers.gap_support_a import (
    damage_index,
    delete_indexes,
    keys_of,
    log_events,
    mismatches,
    open_recording_warnings,
)


def build(db_path: Path, lone: str, position: str) -> None:
    """Two tables with some history, then one batch in which table `lone` holds one event, at
    the batch's `position` ("first" or "last"), and the other table three (insert, patch,
    soft delete). The batch is the last write: the lone table's index ends inside it."""
    other = "b" if lone == "a" else "a"
    with driftdb.open(db_path, create=True) as db:
        tables = {name: db.create_table(name) for name in ("a", "b")}
        for i in range(3):
            for name in ("a", "b"):
                tables[name].insert({"id": i, "v": f"{name}{i}"})
        with db.batch():
            if position == "first":
                tables[lone].insert({"id": "batch", "v": "lone"})
            tables[other].insert({"id": "batch", "v": "other"})
            tables[other].patch(0, {"v": "patched in the batch"})
            tables[other].soft_delete(1)
            if position == "last":
                tables[lone].insert({"id": "batch", "v": "lone"})


def batch_seqs(events: dict[str, list[Event]]) -> list[int]:
    return sorted(e.seq for evs in events.values() for e in evs if e.txn is not None)


@pytest.mark.parametrize("how", ["deleted", "damaged"])
@pytest.mark.parametrize("lost", ["lone", "other", "both"])
@pytest.mark.parametrize("position", ["first", "last"])
@pytest.mark.parametrize("lone", ["a", "b"])
def test_batch_stays_whole_in_every_table_when_an_index_is_lost(
    db_path: Path, lone: str, position: str, lost: str, how: str
) -> None:
    build(db_path, lone, position)
    other = "b" if lone == "a" else "a"
    events = {name: log_events(db_path, name) for name in ("a", "b")}
    seqs = batch_seqs(events)
    lone_seq = [e.seq for e in events[lone] if e.txn is not None]
    # The case under test: the lone table's share is exactly the batch's first (or last) seq.
    assert lone_seq == [seqs[0] if position == "first" else seqs[-1]]
    assert events[lone][-1].seq == lone_seq[0]
    head = max(e.seq for evs in events.values() for e in evs)
    acknowledged = log_bytes(db_path)

    losers = {"lone": [lone], "other": [other], "both": ["a", "b"]}[lost]
    for name in losers:
        (delete_indexes if how == "deleted" else damage_index)(db_path, name)

    db, notes = open_recording_warnings(db_path)
    with db:
        assert not [n for n in notes if "truncated" in n], notes
        assert log_bytes(db_path) == acknowledged  # not one byte of the batch was cut
        assert db.head() == head
        for name in ("a", "b"):
            table = db.table(name)
            assert table.get("batch") == state_at(events[name], head, "id")["batch"]
            assert mismatches(table, events[name], range(head + 1), keys_of(events[name])) == []
        # The next write takes the next seq: no seq of the batch is handed out again.
        assert db.table(lone).insert({"id": "after", "v": "next"}) == head + 1
        assert db.table(other).insert({"id": "after", "v": "next"}) == head + 2
