"""After PURGE, every count and select at every seq is the replay of the log without that key.

Purge erases a key from the indexes in place (no rebuild): among other things it lowers the
live-row count kept for every seq at which the key was live. Each life of the key runs from the
seq that made it live up to, not including, the seq that soft-deleted it, and the count at the
deleting seq already excludes it; an off-by-one there leaves count() one too low at exactly
that seq. Checked for a soft-deleted key, a key deleted and inserted again, and a live key,
with the indexes as purge left them and after a reopen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import driftdb
from driftdb.model.events import Event
from driftdb.model.replay import state_at
from helpers.gap_support_a import keys_of, log_events, mismatches

STATUSES = ["new", "paid", "gone", "back"]


def build(db_path: Path) -> None:
    """Keys "gone" (inserted, patched, soft-deleted), "back" (inserted, soft-deleted,
    inserted again, patched) and "live" (inserted, patched), interleaved with other keys'
    writes and a batch, so that each of their seqs has neighbours."""
    with driftdb.open(db_path, create=True) as db:
        t = db.create_table("t", indexes=["status"])
        t.insert({"id": 1, "status": "new"})
        t.insert({"id": "gone", "status": "new"})
        t.insert({"id": "back", "status": "new"})
        t.insert({"id": "live", "status": "new"})
        t.patch("gone", {"status": "paid"})
        t.insert({"id": 2, "status": "new"})
        t.soft_delete("back")
        t.patch(1, {"status": "paid"})
        t.soft_delete("gone")
        t.insert({"id": 3, "status": "paid"})
        t.insert({"id": "back", "status": "back"})
        with db.batch():
            t.patch("live", {"status": "paid"})
            t.insert({"id": 4, "status": "new"})
        t.patch("back", {"status": "paid"})
        t.soft_delete(2)
        t.insert({"id": 5, "status": "new"})


def by_status(table: driftdb.Table, seq: int) -> dict[str, tuple[int, list[Any]]]:
    """Count and keys of the rows with each status at `seq` (through the status index)."""
    return {
        s: (
            table.count({"status": s}, as_of=seq),
            sorted((r["id"] for r in table.select({"status": s}, as_of=seq)), key=repr),
        )
        for s in STATUSES
    }


def expected_by_status(events: list[Event], seq: int) -> dict[str, tuple[int, list[Any]]]:
    state = state_at(events, seq, "id")
    out = {}
    for s in STATUSES:
        keys = sorted((k for k, r in state.items() if r.get("status") == s), key=repr)
        out[s] = (len(keys), keys)
    return out


def check_every_seq(table: driftdb.Table, events: list[Event], keys: list[Any]) -> None:
    head = events[-1].seq
    assert mismatches(table, events, range(head + 1), keys) == []
    for seq in range(head + 1):
        assert by_status(table, seq) == expected_by_status(events, seq), f"@seq:{seq}"


@pytest.mark.parametrize("key", ["gone", "back", "live"])
def test_counts_and_selects_at_every_seq_match_the_replay_without_the_purged_key(
    db_path: Path, key: str
) -> None:
    build(db_path)
    events = log_events(db_path, "t")
    keys = keys_of(events)
    without = [e for e in events if e.key != key]
    with driftdb.open(db_path) as db:
        table = db.table("t")
        check_every_seq(table, events, keys)  # before: the full replay
        table.purge(key, reason="test")
        check_every_seq(table, without, keys)
    # The redacted log replays to the same states.
    redacted = log_events(db_path, "t")
    assert [e.seq for e in redacted] == [e.seq for e in events]
    assert all(
        state_at(redacted, seq, "id") == state_at(without, seq, "id")
        for seq in range(events[-1].seq + 1)
    )
    with driftdb.open(db_path) as db:  # the purged indexes, as stored
        check_every_seq(db.table("t"), without, keys)
