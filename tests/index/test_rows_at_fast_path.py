"""A full-table read AS OF every seq equals the log replay (index/scan.py, engine/view.py).

The key directory is read in slices with C-level passes (index/scan.py): a key's versions may
straddle two slices, so the slice size is drawn too (1, 2 and 3 put every boundary between
versions of one key). Histories hold re-inserts after soft deletes, snapshots before and after
the point read, a retention horizon (the base snapshot and its synthetic versions), and a tail
the index does not cover yet (read through a reader); every path (`select`, `TableView.rows`,
`row_list`, `IndexReader.rows_at`/`row_list_at`) must give the replay's rows in key order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.engine import view as view_module
from driftdb.index import scan
from driftdb.index.keycodec import encode_key
from driftdb.index.store import TableIndex
from driftdb.model.events import Event
from driftdb.model.replay import state_at
from driftdb.storage.tail import read_tail
from helpers.depth import examples

KEYS: list[int | str] = [1, 2, 3, 10, "a", "b"]
VALUE = st.one_of(st.none(), st.integers(-2, 2), st.sampled_from(["x", "y"]), st.just([1, {}]))

operation = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(KEYS), VALUE),
    st.tuples(st.just("patch"), st.sampled_from(KEYS), VALUE),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none()),
    st.tuples(st.just("snapshot"), st.none(), st.none()),
)


def apply(
    db: driftdb.Database, ops: list[tuple[str, Any, Any]], model: set[Any] | None = None
) -> None:
    """Run `ops`, skipping the ones a live (or missing) row refuses. `model`: the live keys,
    kept here instead of asked of the table (whose index is faked to lag)."""
    table = db.table("t")
    for kind, key, value in ops:
        if model is None:
            live = key is not None and table.get(key) is not None
        else:
            live = key in model
            if kind == "insert" and not live:
                model.add(key)
            elif kind == "delete" and live:
                model.discard(key)
        if kind == "insert" and not live:
            table.insert({"id": key, "v": value})
        elif kind == "patch" and live:
            table.patch(key, {"v": value, "w": {"deep": value}})
        elif kind == "delete" and live:
            table.soft_delete(key)
        elif kind == "snapshot" and db.head() > 0:
            table.snapshot()


def log_events(path: Path) -> list[Event]:
    tail = read_tail(str(path / "tables" / "t" / "segments"), None)
    return [item.event for item in tail.located]


def expected_rows(events: list[Event], seq: int) -> list[dict[str, Any]]:
    state = state_at(events, seq, "id")
    return [state[key] for key in sorted(state, key=encode_key)]


def check_every_seq(db: driftdb.Database, events: list[Event], floor: int) -> None:
    table = db.table("t")
    for seq in range(floor, db.head() + 1):
        want = expected_rows(events, seq)
        assert list(table.select(as_of=seq)) == want, f"select AS OF @seq:{seq}"
        assert list(table.select(as_of=seq, offset=1)) == want[1:], seq
        assert list(table.select(as_of=seq, order_by="id")) == want, seq
        assert list(table.select(as_of=seq, limit=2)) == want[:2], seq
        with table.view() as view:
            assert [row for _, row in view.rows(seq)] == want, f"rows @seq:{seq}"
            assert [key for key, _ in view.rows(seq)] == [row["id"] for row in want]
            assert view.row_list(seq) == want, f"row_list @seq:{seq}"
            if view.reader is not None and seq <= view.covered_seq:
                indexed = list(view.reader.rows_at(seq))
                assert [row for _, row in indexed] == view.reader.row_list_at(seq)
                assert [key for key, _ in indexed] == [row["id"] for row in want], seq


settings_ = settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings_
@given(
    ops=st.lists(operation, min_size=1, max_size=24),
    late=st.lists(operation, max_size=6),
    retain=st.one_of(st.none(), st.floats(0.2, 0.9)),
    slice_size=st.sampled_from([1, 2, 3, 512]),
    snapshots=st.sampled_from(["auto", "always", "never"]),
)
def test_every_full_table_read_equals_the_replay(
    tmp_path_factory: Any,
    ops: list[Any],
    late: list[Any],
    retain: float | None,
    slice_size: int,
    snapshots: Any,
) -> None:
    path = tmp_path_factory.mktemp("db") / "db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scan, "SLICE", slice_size)
        patch.setattr(view_module, "SNAPSHOT_READS", snapshots)
        db = driftdb.open(path, create=True)
        try:
            table = db.create_table("t", primary_key="id")
            apply(db, ops)
            events = log_events(path)  # the oracle, before retention discards any of it
            floor = 0
            if retain is not None and db.head() > 1:
                table.compact(before=max(1, int(db.head() * retain)))
                floor = table.horizon() or 0
                assert log_events(path)[0].seq > floor  # the replay needs the saved events
            check_every_seq(db, events, floor)
            covered = db.head()
            # Events durable in the log, invisible to the index: a reader merges them.
            patch.setattr(TableIndex, "apply", lambda self, located, pk, known=None: None)
            live = {row["id"] for row in table.select()}
            apply(db, [op for op in late if op[0] != "snapshot"], live)
            patch.undo()
            patch.setattr(scan, "SLICE", slice_size)
            patch.setattr(view_module, "SNAPSHOT_READS", snapshots)
            events += [e for e in log_events(path) if e.seq > covered]
            with driftdb.open(path, readonly=True) as reader:
                check_every_seq(reader, events, floor)
        finally:
            db.close()
        with driftdb.open(path) as reopened:  # the writer catches its index up on open
            check_every_seq(reopened, events, floor)


def _damage_an_old_version(path: Path) -> None:
    """Change one byte of the row image of key 1's first version (superseded since)."""
    data = path / "tables" / "t" / "indexes" / "data.mdb"
    raw = data.read_bytes()
    assert raw.count(b"first-image") >= 1  # (and stale copies in free pages, harmless)
    data.write_bytes(raw.replace(b"first-image", b"first-imagf"))


def test_a_damaged_version_that_no_row_comes_from_still_fails_the_full_table_read(
    tmp_path: Path,
) -> None:
    """Every entry's checksum is checked, not only those whose row is returned: a damaged
    entry may be the one that should have answered."""
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", primary_key="id")
        table.insert({"id": 1, "note": "first-image"})
        table.insert({"id": 2, "note": "other"})
        table.patch(1, {"note": "second"})
    _damage_an_old_version(path)
    with driftdb.open(path, readonly=True) as db, db.table("t").view() as view:
        assert view.reader is not None
        with pytest.raises(driftdb.CorruptionError, match=r'table "t".*key 1'):
            view.reader.row_list_at(driftdb_max_seq())
    with driftdb.open(path) as db:
        with pytest.raises(driftdb.CorruptionError, match=r'table "t".*key 1'):
            list(db.table("t").select())
        with pytest.warns(driftdb.DriftWarning, match="rebuilt"):  # then rebuilt from the log
            assert list(db.table("t").select()) == [
                {"id": 1, "note": "second"},
                {"id": 2, "note": "other"},
            ]


def driftdb_max_seq() -> int:
    from driftdb.index.keycodec import MAX_U64

    return MAX_U64


def test_joined_decoding_says_when_an_image_does_not_decode() -> None:
    """One msgpack call per slice: None tells the caller to decode one by one and name the
    entry that fails."""
    good = bytes(21) + b"\x80" + bytes(4)
    bad = bytes(21) + b"\xc1" + bytes(4)  # 0xc1: never used by msgpack
    assert scan.decode_rows([good, good], 21) == [{}, {}]
    assert scan.decode_rows([good, bad], 21) is None
    assert scan.decode_rows([], 21) == []


def test_points_past_every_seq_and_before_the_first_read_the_whole_directory(
    tmp_path: Path,
) -> None:
    """Seqs outside u64 (`@seq:99999999999999999999` is now; a negative one is before
    everything) reach the key directory's pass as they are."""
    with driftdb.open(tmp_path / "db", create=True) as db:
        table = db.create_table("t", primary_key="id")
        table.insert_many([{"id": 2}, {"id": 1}])
        table.soft_delete(2)
        with table.view() as view:
            assert view.reader is not None
            assert view.reader.row_list_at(10**20) == [{"id": 1}]
            assert list(view.reader.rows_at(10**20)) == [(1, {"id": 1})]
            assert view.reader.row_list_at(-1) == []
            assert view.reader.row_list_at(0) == []
