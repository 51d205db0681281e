"""The index writer's entries, byte for byte, against a reference built here from the format
(docs/format.md, "Indexes"): whichever way the events reach the index (batches with the rows
the commit computed, batches replayed on the key directory, one rebuild, ADD INDEX afterwards,
or the public write API), `keys`, `seqs` and every `ix:<column>` hold exactly the reference's
entries, checksums included; every value count answers as the replay does; the time index
holds the last seq of every millisecond and nothing that is not an event's.

The writer holds a transaction's entries back and writes them sorted, one `putmulti` per
sub-database (index/store.py, `_Entries`, `_Runs`): a run opened and closed in one batch, a
key inserted, patched and deleted in one batch, a value set to itself, rows whose indexed
fields are missing, null, long (digested) or nested are the cases drawn here.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import lmdb
import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.index.keycodec import MAX_U64, encode_key, encode_value, u64
from driftdb.index.store import TableIndex
from driftdb.model.events import Event, EventType, Key
from driftdb.model.replay import row_after
from driftdb.storage.position import Located
from driftdb.storage.tail import read_tail
from helpers.depth import examples

COLUMNS = ("status", "d.e")
KEYS: list[Key] = [1, 2, 3, -7, "a", "b"]
LONG = "x" * 150  # over LONG_VALUE_BYTES: encoded as a prefix and a digest
VALUES = st.sampled_from(["new", "paid", None, 1, 1.0, True, LONG, LONG + "y", [1], {"x": 1}])
operation = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(KEYS), VALUES, VALUES, st.booleans()),
    st.tuples(st.just("patch"), st.sampled_from(KEYS), VALUES, VALUES, st.booleans()),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none(), st.none(), st.booleans()),
)
COUNTED: list[Any] = ["new", "paid", None, 1, True, LONG, LONG + "y", [1], {"x": 1}]
# batches, each with whether it shares the previous batch's millisecond
batches = st.lists(
    st.tuples(st.lists(operation, min_size=1, max_size=8), st.booleans()), min_size=1, max_size=6
)

Row = dict[str, Any]
Entries = dict[str, dict[bytes, bytes]]


def sealed(key: bytes, value: bytes) -> bytes:
    return value + zlib.crc32(value, zlib.crc32(key)).to_bytes(4, "little")


def column_value(row: Row | None, column: str) -> bytes | None:
    if row is None:
        return None
    value: Any = row
    for part in column.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return encode_value(value)


def as_events(plan: list[tuple[list[tuple[Any, ...]], bool]]) -> list[list[Located]]:
    """Valid events for `plan` (an insert of a live key, or a write to a missing one, is
    refused as the API refuses it), one list per non-empty batch, with made-up locations."""
    live: set[Key] = set()
    out: list[list[Located]] = []
    seq, unix_ms, offset = 1, 1_700_000_000_000, 16
    for ops, same_ms in plan:
        unix_ms += 0 if same_ms else 1
        batch: list[Located] = []
        for kind, key, status, e, drop in ops:
            if kind == "insert" and key not in live:
                doc: Row = {"id": key, "status": status, "d": {"e": e}}
                if drop:
                    del doc["status"]  # a missing field: null, as the evaluator reads it
                event = Event(seq, unix_ms, EventType.INSERT, key, doc)
                live.add(key)
            elif kind == "patch" and key in live:
                patch: Row = {"status": status} if drop else {"status": status, "d": {"e": e}}
                event = Event(seq, unix_ms, EventType.PATCH, key, patch)
            elif kind == "delete" and key in live:
                event = Event(seq, unix_ms, EventType.SOFT_DELETE, key)
                live.discard(key)
            else:
                continue
            batch.append(Located(event, 1 + seq // 5, offset, offset + 40))
            seq, offset = seq + 1, offset + 40
        if batch:
            out.append(batch)
    return out


def replayed(located: list[Located]) -> list[tuple[Row | None, Row | None]]:
    rows: dict[Key, Row] = {}
    out = []
    for item in located:
        event = item.event
        before = rows.get(event.key)
        after = row_after(before, event.type, event.key, event.data, "id")
        if after is None:
            rows.pop(event.key, None)
        else:
            rows[event.key] = after
        out.append((before, after))
    return out


def reference(located: list[Located], columns: tuple[str, ...]) -> Entries:
    """`keys`, `seqs` and `ix:<column>` as docs/format.md defines them, from the events."""
    out: Entries = {"keys": {}, "seqs": {}, **{f"ix:{c}": {} for c in columns}}
    opened: dict[tuple[str, bytes], tuple[bytes, int]] = {}  # (column, pk) -> value, from
    live = 0
    for item, (before, after) in zip(located, replayed(located), strict=True):
        event, pk = item.event, encode_key(item.event.key)
        live += (after is not None) - (before is not None)
        head = int(event.type).to_bytes(1, "little") + event.unix_ms.to_bytes(8, "little")
        head += item.segment.to_bytes(4, "little") + item.offset.to_bytes(8, "little")
        image = b"" if after is None else msgpack.packb(after, use_bin_type=True)
        key = pk + u64(event.seq)
        out["keys"][key] = sealed(key, head + image)
        value = live.to_bytes(8, "little", signed=True)
        value += item.segment.to_bytes(4, "little") + item.offset.to_bytes(8, "little") + pk
        out["seqs"][u64(event.seq)] = sealed(u64(event.seq), value)
        for column in columns:
            new = column_value(after, column)
            run = opened.get((column, pk))
            if run is not None and run[0] == new:
                continue
            if run is not None:
                key = run[0] + u64(event.seq) + pk
                out[f"ix:{column}"][key] = sealed(key, u64(run[1]))
                del opened[(column, pk)]
            if new is not None:
                opened[(column, pk)] = (new, event.seq)
    for (column, pk), (value, start) in opened.items():
        key = value + u64(MAX_U64) + pk
        out[f"ix:{column}"][key] = sealed(key, u64(start))
    return out


def dump(directory: Path, names: list[str]) -> Entries:
    env = lmdb.open(str(directory), readonly=True, lock=False, max_dbs=64)
    try:
        out: Entries = {}
        with env.begin() as txn:
            for name in names:
                db = env.open_db(name.encode(), txn=txn, create=False)
                out[name] = {bytes(k): bytes(v) for k, v in txn.cursor(db=db)}
        return out
    finally:
        env.close()


def check(directory: Path, index: TableIndex, located: list[Located]) -> None:
    """The entries of `index` (closed by this) equal the reference; its counts and time
    index answer for the events."""
    expected = reference(located, COLUMNS)
    counts = count_answers(index, located)
    index.close()
    assert counts == expected_counts(located)
    found = dump(directory, [*expected, "time"])
    for name in expected:
        assert found[name] == expected[name], name
    times = {(int.from_bytes(k[:8], "big"), int.from_bytes(k[8:], "big")) for k in found["time"]}
    stamps = {(i.event.unix_ms, i.event.seq) for i in located}
    assert times <= stamps
    last_of_ms = {ms: seq for ms, seq in sorted(stamps)}
    assert set(last_of_ms.items()) <= times


def count_answers(index: TableIndex, located: list[Located]) -> dict[tuple[str, Any, int], int]:
    out = {}
    with index.read() as reader:
        for column in COLUMNS:
            for value in COUNTED:
                for seq in range(0, located[-1].event.seq + 1):
                    found = reader.count_with_value(column, value, seq)
                    assert found is not None
                    out[(column, repr(value), seq)] = found
    return out


def expected_counts(located: list[Located]) -> dict[tuple[str, Any, int], int]:
    """What every count must answer: the live rows holding each value after each seq."""
    states: list[dict[Key, Row]] = [{}]
    for item, (_, after) in zip(located, replayed(located), strict=True):
        state = dict(states[-1])
        if after is None:
            state.pop(item.event.key, None)
        else:
            state[item.event.key] = after
        states.append(state)
    out = {}
    for column in COLUMNS:
        for value in COUNTED:
            enc = encode_value(value)
            for seq, state in enumerate(states):
                held = sum(1 for row in state.values() if column_value(row, column) == enc)
                out[(column, repr(value), seq)] = held
    return out


def all_events(groups: list[list[Located]]) -> list[Located]:
    return [item for group in groups for item in group]


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(plan=batches, how=st.sampled_from(["known", "replayed", "rebuild", "add_index"]))
def test_entries_equal_the_reference(tmp_path_factory: Any, plan: Any, how: str) -> None:
    groups = as_events(plan)
    if not groups:
        return
    located = all_events(groups)
    directory = tmp_path_factory.mktemp("ix")
    index = TableIndex(str(directory), () if how == "add_index" else COLUMNS, False, "t")
    if how == "rebuild":
        index.rebuild(located, "id", None)
    else:
        done: list[Located] = []
        for group in groups:
            # the rows before and after, as the commit computed them (or none: replayed)
            known = replayed(done + group)[len(done) :] if how == "known" else None
            index.apply(group, "id", known)
            done += group
    if how == "add_index":
        index.add_columns(list(COLUMNS))
    check(directory, index, located)


def test_a_long_apply_is_written_in_chunks(tmp_path: Path) -> None:
    """More events than one flush holds (index/store.py, _FLUSH_EVENTS): replayed on the key
    directory that the earlier chunks already wrote."""
    from driftdb.index import store

    plan: list[tuple[list[tuple[Any, ...]], bool]] = []
    for n in range(3):
        ops: list[tuple[Any, ...]] = [("insert", k, "new", n, False) for k in KEYS]
        ops += [("patch", k, "paid", n, k == 2) for k in KEYS]
        ops += [("delete", k, None, None, False) for k in KEYS[:3]]
        plan.append((ops, False))
    located = all_events(as_events(plan))
    assert len(located) > 3 * 5
    index = TableIndex(str(tmp_path), COLUMNS, False, "t")
    old = store._FLUSH_EVENTS
    store._FLUSH_EVENTS = 5
    try:
        index.apply(located[:7], "id")
        index.apply(located[7:], "id")
    finally:
        store._FLUSH_EVENTS = old
    check(tmp_path, index, located)


def test_public_writes_leave_the_reference_entries(tmp_path: Path) -> None:
    """Through the API: a batch mixing new keys, a refused duplicate, a key inserted, patched
    and deleted in the same batch, patches that set the value a row holds, deletes of rows
    whose indexed fields are null or missing; then insert_many, and a failed insert_many that
    writes nothing."""
    db = driftdb.open(tmp_path / "db", create=True)
    t = db.create_table("t", primary_key="id", indexes=list(COLUMNS))
    t.insert_many([{"id": k, "status": "new", "d": {"e": 1}} for k in (5, 6, 7)])
    with db.batch():
        t.insert({"id": 1, "status": "new"})
        t.insert({"id": 2, "status": None, "d": {"e": LONG}})
        with pytest.raises(driftdb.DuplicateKeyError):
            t.insert({"id": 1, "status": "paid"})
        t.insert({"id": 3})
        t.patch(3, {"status": "paid"})
        t.patch(3, {"status": "paid"})  # the same value: the open run goes on
        t.soft_delete(3)
        t.patch(5, {"status": "new"})
        t.patch(6, {"d": {"e": 2}})
        t.soft_delete(2)
    with db.batch():
        t.soft_delete(1)  # its d.e is missing
        t.insert({"id": 3, "status": "new", "d": None})
        t.insert_many([{"id": k, "status": "paid"} for k in ("x", "y")])
    with pytest.raises(driftdb.DuplicateKeyError):
        t.insert_many([{"id": "z", "status": "new"}, {"id": "x"}])
    assert t.get("z") is None
    head = db.head()
    db.close()
    table_dir = tmp_path / "db" / "tables" / "t"
    located = read_tail(str(table_dir / "segments"), None).located
    assert located[-1].event.seq == head
    index = TableIndex(str(table_dir / "indexes"), COLUMNS, False, "t")
    check(table_dir / "indexes", index, located)
