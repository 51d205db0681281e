"""The value counts (`cnt:<column>`, sorted fixed-size duplicates, docs/format.md "Value
counts") answer `count_with_value` and `value_counts` at every seq exactly as a replay of the
log does: many values, patches back and forth, soft deletes and reinserts, batches, then after
a packed copy (index/pack.py), a retention horizon (the base rows all counted at one seq),
a purge (values recounted) and a rebuild from the log. The layout itself is checked too:
one key per value, one 14-byte duplicate per seq at which its count changed."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import lmdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.index import store
from driftdb.index.keycodec import encode_value
from driftdb.model.events import Event
from driftdb.model.replay import state_at
from helpers.depth import examples
from helpers.gap_support_a import log_events

KEYS: list[int | str] = [0, 1, 2, 3, 4, 5, 6, 7, "a", "b"]
LONG = "x" * 150  # cut to a prefix and a digest in the index
VALUES = st.one_of(
    st.integers(0, 12),
    st.sampled_from(["new", "paid", "shipped", "", LONG, None, True, 2.5]),
)

operation = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(KEYS), VALUES, VALUES),
    st.tuples(st.just("patch"), st.sampled_from(KEYS), VALUES, VALUES),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none(), st.none()),
    st.tuples(st.just("batch"), st.sampled_from(KEYS), VALUES, VALUES),
)


def apply(db: driftdb.Database, table: driftdb.Table, ops: list[Any]) -> None:
    for kind, key, v, w in ops:
        live = table.get(key) is not None
        if kind == "insert" and not live:
            table.insert({"id": key, "v": v, "w": {"x": w}})
        elif kind == "patch" and live:
            table.patch(key, {"v": v, "w": {"x": w}})
        elif kind == "delete" and live:
            table.soft_delete(key)
        elif kind == "batch":
            # one commit, several seqs: the value goes there and back within it
            with db.batch():
                if not live:
                    table.insert({"id": key, "v": v, "w": {"x": w}})
                table.patch(key, {"v": w})
                table.patch(key, {"v": v})


def resolve(row: dict[str, Any], column: str) -> Any:
    return store.resolve(row, column)


def replay_counts(events: list[Event], seq: int, column: str) -> Counter[bytes]:
    state = state_at(events, seq, "id")
    return Counter(encode_value(resolve(row, column)) for row in state.values())


def check_counts(table: driftdb.Table, events: list[Event], first: int, values: list[Any]) -> None:
    """Every seq from `first` to past the head: each value's count and the whole list."""
    table.count()  # a read: the write-behind index takes every acknowledged event
    head = events[-1].seq if events else 0
    assert table.index is not None
    with table.index.read() as reader:
        for seq in range(first, head + 3):
            for column in ("v", "w.x"):
                want = replay_counts(events, seq, column)
                for value in values:
                    got = reader.count_with_value(column, value, seq)
                    assert got == want[encode_value(value)], (column, value, seq)
                listed = reader.value_counts(column, seq)
                assert listed is not None
                assert dict(listed) == {k: n for k, n in want.items() if n}, (column, seq)
                assert [v for v, _ in listed] == sorted(v for v, n in want.items() if n)


def check_layout(path: Path, events: list[Event], horizon: int | None) -> None:
    """One key per value, one duplicate per seq at which its count changed, 14 bytes each,
    sealed: the number of duplicates under a value is the number of distinct seqs (after the
    horizon, or the horizon itself) at which its replayed count differs from the one before."""
    env = lmdb.open(str(path / "tables" / "t" / "indexes"), readonly=True, lock=False, max_dbs=64)
    try:
        for column in ("v", "w.x"):
            db = env.open_db(f"cnt:{column}".encode(), create=False)
            with env.begin(buffers=False) as txn:
                assert db.flags()["dupsort"] and db.flags()["dupfixed"]
                stored: dict[bytes, list[tuple[int, int]]] = {}
                for key, dup in txn.cursor(db=db):
                    assert len(dup) == store.COUNT_ENTRY_BYTES
                    stored.setdefault(key, []).append(store._read_count("cnt", key, dup))
            want: dict[bytes, list[tuple[int, int]]] = {}
            start = horizon if horizon is not None else 0
            before: Counter[bytes] = Counter()  # the horizon counts every base row afresh
            for seq in sorted({start, *(e.seq for e in events if e.seq > start)}):
                now = replay_counts(events, seq, column)
                for value in set(now) | set(before):
                    if now[value] != before[value]:
                        want.setdefault(value, []).append((seq, now[value]))
                before = now
            assert stored == want, column
    finally:
        env.close()


settings_ = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROBES = [*range(0, 13), "new", "paid", "shipped", "", LONG, None, True, 2.5, "never"]


@settings_
@given(ops=st.lists(operation, min_size=1, max_size=30))
def test_value_counts_equal_the_replay_at_every_seq_before_and_after_packing_and_rebuild(
    tmp_path_factory: Any, ops: list[Any]
) -> None:
    path = tmp_path_factory.mktemp("db") / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", indexes=["v", "w.x"])
        apply(db, table, ops)
        events = log_events(path, "t")
        check_counts(table, events, 0, PROBES)
        assert table.index is not None
        table.index.rewrite_compacted()  # a packed copy (dupsort duplicates appended)
        check_counts(table, events, 0, PROBES)
    check_layout(path, events, None)
    shutil.rmtree(path / "tables" / "t" / "indexes")
    with driftdb.open(path) as db:  # rebuilt from the log
        check_counts(db.table("t"), events, 0, PROBES)
    check_layout(path, events, None)


@settings_
@given(
    ops=st.lists(operation, min_size=2, max_size=25),
    cut=st.floats(0.1, 0.9),
    later=st.lists(operation, max_size=8),
)
def test_value_counts_after_a_retention_horizon_equal_the_replay(
    tmp_path_factory: Any, ops: list[Any], cut: float, later: list[Any]
) -> None:
    """The base rows are all counted at the horizon seq: one duplicate per value there."""
    path = tmp_path_factory.mktemp("db") / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", indexes=["v", "w.x"])
        apply(db, table, [("insert", "first", "new", 1), *ops])
        events = log_events(path, "t")
        table.compact(before=max(1, int(events[-1].seq * cut)))
        horizon = table.horizon()
        apply(db, table, later)
        events += [e for e in log_events(path, "t") if e.seq > events[-1].seq]
        first = horizon if horizon is not None else 0
        check_counts(table, events, first, PROBES)
    check_layout(path, events, horizon)
    shutil.rmtree(path / "tables" / "t" / "indexes")
    with driftdb.open(path) as db:  # rebuilt from the base snapshot and the log
        check_counts(db.table("t"), events, first, PROBES)
    check_layout(path, events, horizon)


@settings_
@given(ops=st.lists(operation, min_size=1, max_size=25), victim=st.sampled_from(KEYS))
def test_value_counts_after_a_purge_equal_the_replay_without_the_key(
    tmp_path_factory: Any, ops: list[Any], victim: Any
) -> None:
    path = tmp_path_factory.mktemp("db") / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", indexes=["v", "w.x"])
        apply(db, table, ops)
        events = log_events(path, "t")
        if not any(e.key == victim for e in events):
            return
        table.purge(victim)
        kept = [e for e in events if e.key != victim]
        assert table.index is not None
        with table.index.read() as reader:
            if reader.value_counts("v", 0) is None:
                return  # counts distrusted after the purge: the planner does not use them
        check_counts(table, kept, 0, PROBES)
