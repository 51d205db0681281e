"""The crash oracle itself can fail: a harness that never reports anything proves nothing.

Each test feeds `verify` / `check_log_against_record` a history with a known defect (an engine
that forgets to fsync, an acknowledged write that is missing, an event nobody attempted, half a
batch) and checks that the defect is counted.
"""

from __future__ import annotations

import random
from pathlib import Path

from crash_support import (
    PowerLossLayer,
    Record,
    Verdict,
    Workload,
    abandon,
    check_log_against_record,
    create_tables,
    verify,
)

import driftdb
from driftdb.model.events import Event, EventType, Txn
from driftdb.storage import fs


class ForgetfulFsync(PowerLossLayer):
    """An engine bug, simulated: fsync returns without making anything durable."""

    def fsync(self, fd: int) -> None:
        self._path_of(fd)


def test_a_missing_fsync_is_caught_as_lost_acknowledged_writes(tmp_path: Path) -> None:
    rng = random.Random(1)
    record = Record()
    layer = ForgetfulFsync(rng, modes=("drop",))
    with driftdb.open(tmp_path / "db", create=True) as db:
        create_tables(db)
    with fs.use(layer):
        db = driftdb.open(tmp_path / "db")
        workload = Workload(db, rng, "r1", record)
        for _ in range(20):
            workload.step()
        layer.crash()
    abandon(db)
    verdict = verify(tmp_path / "db", record, rng, reader_first=False)
    assert verdict.acked > 20
    assert verdict.lost == verdict.acked


def _event(seq: int, key: int, tag: str, txn: Txn | None = None) -> Event:
    return Event(seq, 1000 + seq, EventType.INSERT, key, {"id": key, "w": tag}, {"w": tag}, txn)


def _insert(table: str, key: int, tag: str, group: str | None = None) -> dict[str, object]:
    return {
        "t": table,
        "type": "INSERT",
        "key": key,
        "data": {"id": key, "w": tag},
        "w": tag,
        "group": group,
    }


def test_missing_invented_and_half_batches_are_counted() -> None:
    record = Record()
    record.attempt("1", [_insert("a", 1, "t1")])
    record.ack("1", [1])
    record.attempt("2", [_insert("a", 2, "t2")])
    record.ack("2", [2])  # acknowledged, but its event is missing below
    record.attempt("3", [_insert("a", 3, "t3", "batch"), _insert("b", 3, "t4", "batch")])
    txn = Txn(3, 2, {"a": 1, "b": 1})
    events = {
        "a": [_event(1, 1, "t1"), _event(3, 3, "t3", txn), _event(5, 9, "nobody")],
        "b": [_event(2, 7, "t1")],  # a reused tag, a seq that also... is fine, but twice t1
    }
    verdict = Verdict()
    check_log_against_record(events, record, verdict)
    assert verdict.lost == 1
    assert verdict.invented == 2  # "nobody", and t1 seen a second time
    assert verdict.partial_batches == 1  # t3 without t4
    assert any("missing" in p for p in verdict.problems)


def test_seqs_out_of_order_and_time_going_back_are_reported() -> None:
    record = Record()
    record.attempt("1", [_insert("a", 1, "t1"), _insert("a", 2, "t2")])
    early = Event(1, 5000, EventType.INSERT, 2, {"id": 2, "w": "t2"}, {"w": "t2"})
    events = {"a": [_event(2, 1, "t1"), early]}
    verdict = Verdict()
    check_log_against_record(events, record, verdict)
    assert any("does not follow" in p for p in verdict.problems)
    assert any("time goes back" in p for p in verdict.problems)
