"""COMPACT ... BEFORE a seq inside a batch never splits the batch, even at its first seq.

Retention folds every event up to the horizon into a base snapshot and drops those frames. A
batch is all or nothing, so the horizon is moved back to just before a batch it would split.
If a batch were split (its first event folded, the rest kept), the kept frames would name a
batch of which the log holds only part, and the next index rebuild would truncate them as an
unacknowledged, cut batch. So for every seq h of a multi-event batch (first, middle, last),
`compact(before=h)` (by the Table API and by DriftQL), then lose the indexes and reopen: every
event after the horizon is still in the log, and every answer AS OF the horizon or later is
the replay of the log as it was before retention.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import driftdb
from driftdb.model.events import Event
from helpers.gap_support_a import (
    delete_indexes,
    keys_of,
    log_events,
    mismatches,
    open_recording_warnings,
)


def build(db_path: Path) -> None:
    """One table: single writes, a four-event batch (insert, patch, soft delete, insert), more
    single writes, an insert_many batch, and a last soft delete."""
    with driftdb.open(db_path, create=True) as db:
        t = db.create_table("t", indexes=["v"])
        for i in range(3):
            t.insert({"id": i, "v": f"start {i}"})
        t.patch(0, {"v": "patched before"})
        with db.batch():
            t.insert({"id": 10, "v": "in the batch"})
            t.patch(1, {"v": "patched in the batch"})
            t.soft_delete(2)
            t.insert({"id": 11, "v": "in the batch"})
        t.patch(10, {"v": "patched after"})
        t.insert({"id": 2, "v": "back"})
        t.patch(11, {"extra": {"n": 1}})
        t.insert_many([{"id": 20 + i, "v": "many"} for i in range(3)])
        t.soft_delete(0)


def batches(events: list[Event]) -> dict[int, list[int]]:
    """The seqs of each batch, by its first seq."""
    out: dict[int, list[int]] = {}
    for e in events:
        if e.txn is not None:
            out.setdefault(e.txn.first, []).append(e.seq)
    return out


@pytest.mark.parametrize("via", ["api", "driftql"])
@pytest.mark.parametrize("position", [0, 1, 2, 3], ids=["first", "second", "third", "last"])
def test_compact_before_any_seq_of_a_batch_keeps_the_batch_whole_through_an_index_rebuild(
    db_path: Path, position: int, via: str
) -> None:
    build(db_path)
    events = log_events(db_path, "t")
    head = events[-1].seq
    batch = next(seqs for seqs in batches(events).values() if len(seqs) == 4)
    h = batch[position]
    with driftdb.open(db_path) as db:
        if via == "api":
            db.table("t").compact(before=h)
        else:
            db.execute(f"COMPACT t BEFORE @seq:{h}")
        horizon = db.table("t").horizon()
    assert horizon is not None and horizon <= h

    delete_indexes(db_path, "t")
    db, notes = open_recording_warnings(db_path)
    with db:
        assert not [n for n in notes if "truncated" in n], notes
        # No acknowledged event after the horizon was lost, and none before it kept.
        assert log_events(db_path, "t") == [e for e in events if e.seq > horizon]
        table = db.table("t")
        assert table.horizon() == horizon
        assert db.head() == head
        assert mismatches(table, events, range(horizon, head + 1), keys_of(events)) == []
        if horizon > 0:
            with pytest.raises(driftdb.HistoryUnavailableError):
                table.get(0, as_of=horizon - 1)
    # The horizon lies between batches, never inside one.
    for seqs in batches(events).values():
        assert seqs[-1] <= horizon or seqs[0] > horizon, (seqs, horizon)
