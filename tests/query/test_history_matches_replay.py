"""Versions as rows, DIFF, SHOW BLAME and RESTORE against the replay of the whole log.

Random histories over a few keys (with audit meta on some events), random points and ranges:
every answer equals what a replay of the log computes with the plainest code below, through
the writer's indexes and through a reader whose indexes are behind the log (the overlay path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.index.store import TableIndex
from driftdb.model.events import Event, EventType
from driftdb.model.replay import apply_event, state_at
from driftdb.model.timepoint import format_unix_ms
from driftdb.query.evaluate import matches
from driftdb.query.parser import parse_expression
from driftdb.storage.tail import read_tail
from helpers.depth import examples

KEYS: list[int | str] = [1, 2, 3, "a"]
STATUS = st.sampled_from(["new", "paid", "shipped", 1, 1.0, True, None])
NESTED = st.one_of(st.none(), st.integers(0, 2), st.sampled_from(["x", "y"]))
META = st.one_of(st.none(), st.fixed_dictionaries({"who": st.sampled_from(["ann", "bob"])}))

operation = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(KEYS), STATUS, NESTED, META),
    st.tuples(st.just("patch"), st.sampled_from(KEYS), STATUS, NESTED, META),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none(), st.none(), META),
)

WHERES = [
    None,
    "status = 'paid'",
    "status IN ('new', 1)",
    "id = 2",
    "id IN (1, 'a')",
    "d.e >= 1",
    "_op = 'PATCH'",
    "_end_seq IS NULL",
    "_seq > 4 AND status != 'new'",
    "_meta.who = 'ann'",
    "_seq > 6",
    "_seq >= 3 AND _op = 'PATCH'",
    "12.5 < _seq AND id != 2",
]


def apply_history(table: driftdb.Table, ops: list[tuple[Any, ...]]) -> None:
    for kind, key, status, nested, meta in ops:
        live = table.get(key) is not None
        if kind == "insert" and not live:
            doc: dict[str, Any] = {"id": key, "status": status}
            if nested is not None:
                doc["d"] = {"e": nested, "f": [nested]}
            table.insert(doc, meta=meta)
        elif kind == "patch" and live:
            table.patch(key, {"status": status, "d": {"e": nested}}, meta=meta)
        elif kind == "delete" and live:
            table.soft_delete(key, meta=meta)


def log_events(path: Path) -> list[Event]:
    return [item.event for item in read_tail(str(path / "tables" / "t" / "segments"), None).located]


def reference_versions(events: list[Event], lo: int, hi: int) -> list[dict[str, Any]]:
    """Every version overlapping [lo, hi], by replay: (key order, then seq)."""
    state: dict[Any, Any] = {}
    open_: dict[Any, dict[str, Any]] = {}
    done: list[dict[str, Any]] = []
    for event in events:
        apply_event(state, event, "id")
        started = open_.pop(event.key, None)
        if started is not None:
            started["_end_seq"] = event.seq
            started["_end_ts"] = format_unix_ms(event.unix_ms)
            done.append(started)
        if event.type is not EventType.SOFT_DELETE:
            open_[event.key] = {
                **state[event.key],
                "_seq": event.seq,
                "_ts": format_unix_ms(event.unix_ms),
                "_op": event.type.name,
                "_end_seq": None,
                "_end_ts": None,
                "_meta": event.meta,
            }
    done += open_.values()
    if lo > hi:
        return []
    keep = [v for v in done if v["_seq"] <= hi and (v["_end_seq"] is None or v["_end_seq"] > lo)]
    return sorted(
        keep, key=lambda v: ((0, v["id"]) if isinstance(v["id"], int) else (1, v["id"]), v["_seq"])
    )


def reference_diff(events: list[Event], a: int, b: int, where: str | None) -> list[dict[str, Any]]:
    before, after = state_at(events, a, "id"), state_at(events, b, "id")
    expr = parse_expression(where) if where else None
    out = []
    for key in sorted(before.keys() | after.keys(), key=lambda k: (isinstance(k, str), k)):
        old, new = before.get(key), after.get(key)
        if old is not None and new is not None and canonical(old) == canonical(new):
            continue
        if expr is not None and not any(r is not None and matches(expr, r) for r in (old, new)):
            continue
        out.append({"key": key, "before": old, "after": new})
    return out


def canonical(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str) + repr(_types(value))


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return sorted((k, _types(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


def leaves(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in doc.items():
        if isinstance(value, dict) and value:
            out.update(leaves(value, f"{prefix}{name}."))
        else:
            out[f"{prefix}{name}"] = value
    return out


def reference_blame(events: list[Event], key: Any, seq: int) -> list[tuple[str, Any, int]] | None:
    """Forward: an INSERT blames every field; any other event blames the leaves it changed."""
    state: dict[Any, Any] = {}
    blamed: dict[str, int] = {}
    for event in events:
        if event.seq > seq:
            break
        if event.key != key:
            continue
        old = leaves(state[key]) if key in state else {}
        apply_event(state, event, "id")
        if key not in state:
            blamed = {}
            continue
        new = leaves(state[key])
        for path, value in new.items():
            if (
                event.type is EventType.INSERT
                or path not in old
                or canonical(old[path]) != canonical(value)
            ):
                blamed[path] = event.seq
    if key not in state:
        return None
    return [(path, value, blamed[path]) for path, value in leaves(state[key]).items()]


def point_range(kind: str, a: int, b: int) -> tuple[str, int, int]:
    if kind == "all":
        return "FOR SYSTEM_TIME ALL", -1, 2**64
    if kind == "between":
        return f"FOR SYSTEM_TIME BETWEEN @seq:{a} AND @seq:{b}", a, b
    return f"FOR SYSTEM_TIME FROM @seq:{a} TO @seq:{b}", a, b - 1


def check_history(db: driftdb.Database, path: Path, probes: list[tuple[Any, ...]]) -> None:
    events = log_events(path)
    head = max((e.seq for e in events), default=0)
    table = db.table("t")
    for kind, a, b, where, key in probes:
        a, b = min(a, head), min(b, head)
        clause, lo, hi = point_range(kind, a, b)
        statement = f"SELECT *, _seq, _ts, _op, _end_seq, _end_ts, _meta FROM t {clause}"
        if where:
            statement += f" WHERE {where}"
        got = db.execute(statement).rows
        expected = reference_versions(events, lo, hi)
        if where:
            expr = parse_expression(where)
            expected = [v for v in expected if matches(expr, v)]
        assert [canonical(r) for r in got] == [canonical(r) for r in expected], statement
        plain = where if where and "_" not in where else None
        diff = db.execute(
            f"DIFF t FROM @seq:{a} TO @seq:{b}" + (f" WHERE {plain}" if plain else "")
        )
        want = reference_diff(events, a, b, plain)
        assert [(r["key"], r["before"], r["after"]) for r in diff.rows] == [
            (r["key"], r["before"], r["after"]) for r in want
        ], f"DIFF {a} {b} {plain}"
        for row in diff.rows:
            assert row["change"] == (
                "added"
                if row["before"] is None
                else "removed"
                if row["after"] is None
                else "changed"
            )
            old = leaves(row["before"]) if row["before"] else {}
            new = leaves(row["after"]) if row["after"] else {}
            assert row["fields"] == sorted(
                p
                for p in old.keys() | new.keys()
                if p not in old or p not in new or canonical(old[p]) != canonical(new[p])
            )
        expected_blame = reference_blame(events, key, b)
        if expected_blame is None:
            assert table.get(key, as_of=b) is None
            continue
        blame = table.blame(key, as_of=b)
        assert [(r["field"], r["value"], r["seq"]) for r in blame] == expected_blame
        by_seq = {e.seq: e for e in events}
        for row in blame:
            assert row["op"] == by_seq[row["seq"]].type.name
            assert row["meta"] == by_seq[row["seq"]].meta


settings_ = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
probe = st.tuples(
    st.sampled_from(["all", "between", "from"]),
    st.integers(0, 30),
    st.integers(0, 30),
    st.sampled_from(WHERES),
    st.sampled_from(KEYS),
)


@settings_
@given(
    ops=st.lists(operation, min_size=1, max_size=25), probes=st.lists(probe, min_size=1, max_size=4)
)
def test_versions_diff_and_blame_equal_replay(
    tmp_path_factory: Any, ops: list[Any], probes: list[Any]
) -> None:
    path = tmp_path_factory.mktemp("db") / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", primary_key="id", indexes=["status"])
        apply_history(table, ops)
        check_history(db, path, probes)


@settings_
@given(
    ops=st.lists(operation, min_size=1, max_size=15),
    late=st.lists(operation, min_size=1, max_size=8),
    probes=st.lists(probe, min_size=1, max_size=3),
)
def test_a_reader_with_indexes_behind_the_log_equals_replay(
    tmp_path_factory: Any, ops: list[Any], late: list[Any], probes: list[Any]
) -> None:
    path = tmp_path_factory.mktemp("db") / "db"
    db = driftdb.open(path, create=True)
    apply_history(db.create_table("t", primary_key="id", indexes=["status"]), ops)
    original = TableIndex.apply
    TableIndex.apply = lambda *args, **kwargs: None  # type: ignore[method-assign]
    try:
        apply_history(db.table("t"), late)
    finally:
        TableIndex.apply = original  # type: ignore[method-assign]
    with driftdb.open(path, readonly=True) as reader:
        check_history(reader, path, probes)
    db.close()


@settings_
@given(
    ops=st.lists(operation, min_size=1, max_size=25),
    point=st.integers(0, 30),
    key=st.one_of(st.none(), st.sampled_from(KEYS)),
    meta=st.one_of(st.none(), st.just({"reason": "undo"})),
)
def test_restore_makes_now_equal_the_point_and_leaves_other_keys_alone(
    tmp_path_factory: Any, ops: list[Any], point: int, key: Any, meta: Any
) -> None:
    path = tmp_path_factory.mktemp("db") / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", primary_key="id", indexes=["status"])
        apply_history(table, ops)
        head = db.head()
        point = min(point, head)
        then = state_at(log_events(path), point, "id")
        before = state_at(log_events(path), head, "id")
        report = table.restore(point, key=key, meta=meta)
        events = log_events(path)
        now = state_at(events, 2**64, "id")
        restored = [key] if key is not None else list(then.keys() | before.keys())
        for k in restored:
            assert canonical(now.get(k)) == canonical(then.get(k)), k
        for k in before.keys() | now.keys():
            if k not in restored:
                assert now.get(k) == before.get(k), k
        written = [e for e in events if e.seq > head]
        changed = {k for k in restored if canonical(then.get(k)) != canonical(before.get(k))}
        assert {e.key for e in written} == changed
        assert len({e.txn.first if e.txn else e.seq for e in written}) <= 1  # one batch
        for event in written:
            assert event.meta == {**(meta or {}), "restored_from": point}
        if not written:
            assert "nothing written" in str(report)
        assert table.count() == len(now)
