"""The fast read paths of issue 11 against the replay oracle, with reads between writes.

- Point reads share the meta entries decoded once per committed LMDB transaction
  (index/store.py, _TxnMeta): a read right after each write, in the writer and in a reader
  opened beside it, must see that write and nothing stale.
- `WHERE col = v ORDER BY pk LIMIT n` at now reads the temporal index's open runs in key order
  (rows fetched in the same loop); AS OF a point it may walk the key directory in key order:
  both must give the replay's first n rows in key order.
- History reads (frames by location) straddle nothing in the writer unless maintenance ran.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.engine import view as view_module
from driftdb.model.replay import drift_of, state_at
from driftdb.storage.tail import read_tail
from helpers.depth import examples

KEYS: list[int | str] = [1, 2, 3, 10, "a", "b"]
STATUS = st.sampled_from(["new", "paid", "shipped", 1, None])

operation = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(KEYS), STATUS),
    st.tuples(st.just("patch"), st.sampled_from(KEYS), STATUS),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none()),
    st.tuples(st.just("snapshot"), st.none(), st.none()),
    st.tuples(st.just("retain"), st.none(), st.none()),
)


def key_order(key: Any) -> tuple[int, Any]:
    return (0, key) if isinstance(key, int) else (1, key)


def events(path: Path) -> list[Any]:
    return [item.event for item in read_tail(str(path / "tables" / "t" / "segments"), None).located]


def model_at(model: dict[int, dict[Any, Any]], seq: int) -> dict[Any, Any]:
    """The model's state after the last write at or before `seq` (retention leaves the log
    without the events before the horizon, so the model, not the log, is the oracle here)."""
    return model[max(s for s in model if s <= seq)]


def check_point(
    db: driftdb.Database, path: Path, seqs: list[int], limit: int, model: dict[int, Any]
) -> None:
    table = db.table("t")
    log = events(path)
    horizon = table.horizon()
    if horizon is not None and horizon > 0:
        with pytest.raises(driftdb.HistoryUnavailableError):
            table.get(KEYS[0], as_of=horizon - 1)  # the horizon seen right after it moved
    for seq in seqs:
        if horizon is not None and seq < horizon:
            continue
        state = model_at(model, seq)
        if horizon is None:
            assert state == state_at(log, seq, "id")  # the model agrees with a replay
        as_of = None if seq == db.head() else seq
        for key in KEYS:
            assert table.get(key, as_of=as_of) == state.get(key), (key, seq)
        for value in ("paid", "new", 1):
            want = sorted((k for k, r in state.items() if r.get("status") == value), key=key_order)
            got = [r["id"] for r in table.select({"status": value}, as_of, "id", limit)]
            assert got == want[:limit], (value, seq)
            assert table.count({"status": value}, as_of) == len(want)
            unordered = [r["id"] for r in table.select({"status": value}, as_of, limit=limit)]
            assert len(unordered) == min(limit, len(want)) and set(unordered) <= set(want)
        everything = sorted(state, key=key_order)
        assert [r["id"] for r in table.select(as_of=as_of, order_by="id", limit=limit)] == (
            everything[:limit]
        )
        assert {r["id"]: r for r in table.select(as_of=as_of)} == state
    for key in KEYS if horizon is None else ():  # (retention rewrites history's start)
        want = drift_of(log, key, "id")
        assert [(e.seq, e.type, e.row) for e in table.history(key)] == [
            (e.seq, e.type, e.row) for e in want
        ]


settings_ = settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings_
@given(
    ops=st.lists(operation, min_size=1, max_size=18),
    limit=st.integers(1, 4),
    snapshots=st.sampled_from(["auto", "always", "never"]),
)
def test_reads_between_writes_equal_replay(
    tmp_path_factory: Any, ops: list[Any], limit: int, snapshots: Any
) -> None:
    path = tmp_path_factory.mktemp("db") / "db"
    saved = view_module.SNAPSHOT_READS
    view_module.SNAPSHOT_READS = snapshots
    try:
        with driftdb.open(path, create=True) as db:
            table = db.create_table("t", primary_key="id", indexes=["status"])
            model: dict[int, dict[Any, Any]] = {0: {}}
            with driftdb.open(path, readonly=True) as reader:
                for kind, key, status in ops:
                    live = table.get(key) is not None if key is not None else False
                    if kind == "insert" and not live:
                        table.insert({"id": key, "status": status})
                    elif kind == "patch" and live:
                        table.patch(key, {"status": status})
                    elif kind == "delete" and live:
                        table.soft_delete(key)
                    elif kind == "snapshot" and db.head() > 0:
                        table.snapshot()
                    elif kind == "retain" and db.head() > 1:
                        table.compact(before=db.head() // 2 + 1)
                    head = db.head()
                    model[head] = {k: r for k in KEYS if (r := table.get(k)) is not None}
                    if kind == "insert" and not live:
                        assert model[head][key] == {"id": key, "status": status}
                    seqs = sorted({head, max(head - 1, 0), head // 2})
                    check_point(db, path, seqs, limit, model)  # the writer, right after it
                    # A reader opened before (in this process it cannot open the writer's
                    # LMDB environment, so it reads the log and the retention base).
                    check_point(reader, path, seqs, limit, model)
    finally:
        view_module.SNAPSHOT_READS = saved


def test_a_reader_says_when_it_replays_the_log_instead_of_an_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Readers never rebuild an index: without a usable one they read the log, and say so
    once per table, naming it and advising to open the database as the writer."""
    import shutil

    from driftdb.engine import reads

    monkeypatch.setattr(reads, "STALE_TAIL_EVENTS", 2)
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", primary_key="id", indexes=["status"])
        table.insert_many([{"id": i, "status": "new"} for i in range(5)])
    shutil.rmtree(path / "tables" / "t" / "indexes")
    with driftdb.open(path, readonly=True) as reader:
        with pytest.warns(driftdb.DriftWarning, match='table "t" has no usable index.*writer'):
            assert reader.table("t").get(3) == {"id": 3, "status": "new"}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once per table, not on every read
            assert reader.table("t").count() == 5
    with driftdb.open(path) as writer:  # the writer rebuilds it, once, on open
        assert writer.table("t").count(where={"status": "new"}) == 5
    with driftdb.open(path, readonly=True) as reader, warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reader.table("t").get(3) == {"id": 3, "status": "new"}
