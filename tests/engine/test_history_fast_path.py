"""`Table.history` lists a key's events from the key directory and reads an entry's payload
(data, meta, purge record) from its frame only when asked (engine/payloads.py). The answers
are the replay's, asked for at once or later: after the database is closed, after a compaction
moved the frames, in a reader process; an event purged or discarded since is an error, never
another event's payload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.errors import DriftError
from driftdb.model.events import Event
from driftdb.model.replay import DriftEntry, drift_of
from driftdb.storage import segment
from driftdb.storage.tail import read_tail
from helpers.depth import examples

KEYS: list[int | str] = [1, 2, "a"]
META = st.one_of(st.none(), st.fixed_dictionaries({"who": st.sampled_from(["ann", "bob"])}))
operation = st.tuples(
    st.sampled_from(["insert", "patch", "delete", "batch"]),
    st.sampled_from(KEYS),
    st.integers(0, 3),
    META,
)


def apply(db: driftdb.Database, table: driftdb.Table, ops: list[tuple[Any, ...]]) -> None:
    for kind, key, value, meta in ops:
        live = table.get(key) is not None
        if kind == "insert" and not live:
            table.insert({"id": key, "v": value, "d": {"e": [value]}}, meta=meta)
        elif kind == "patch" and live:
            table.patch(key, {"v": value, "d": None if value == 0 else {"e": value}}, meta=meta)
        elif kind == "delete" and live:
            table.soft_delete(key, meta=meta)
        elif kind == "batch":
            with db.batch():  # two events of one key in one batch
                if not live:
                    table.insert({"id": key, "v": value}, meta=meta)
                table.patch(key, {"w": value})


def log_events(path: Path) -> list[Event]:
    return [item.event for item in read_tail(str(path / "tables" / "t" / "segments"), None).located]


def plain(entries: list[DriftEntry]) -> list[tuple[Any, ...]]:
    return [(e.seq, e.unix_ms, e.type, e.data, e.meta, e.row, e.purged) for e in entries]


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, max_size=14), compact=st.booleans())
def test_history_equals_the_replay_asked_now_or_after_close(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[Any, ...]], compact: bool
) -> None:
    path = tmp_path_factory.mktemp("h")
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", options={"segment_size_bytes": 300})
        apply(db, table, ops)
        events = log_events(path)
        now = {k: table.history(k) for k in KEYS}
        later = {k: table.history(k) for k in KEYS}
        for key in KEYS:
            assert plain(now[key]) == plain(drift_of(events, key, "id")), key
        if compact:
            table.compact()  # the frames the listing saw move (or stay, if nothing to merge)
    for key in KEYS:  # payloads read only now: database closed, maybe frames moved
        expected = drift_of(events, key, "id")
        assert plain(later[key]) == plain(expected), key
        assert later[key] == expected


def test_a_history_walked_for_rows_opens_no_frame(
    db: driftdb.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = db.create_table("t")
    table.insert({"id": 1, "v": 0})
    for i in range(5):
        table.patch(1, {"v": i + 1}, meta={"i": i})
    reads: list[int] = []
    original = segment.FrameReader.read

    def counting(self: segment.FrameReader, seg: int, offset: int) -> Any:
        reads.append(offset)
        return original(self, seg, offset)

    monkeypatch.setattr(segment.FrameReader, "read", counting)
    entries = table.history(1)
    assert [e.row for e in entries][-1] == {"id": 1, "v": 5}
    assert [e.type.name for e in entries] == ["INSERT", *["PATCH"] * 5]
    assert reads == []
    assert entries[3].meta == {"i": 2}  # the first payload asked for reads the whole group
    assert len(reads) == 6
    assert [e.data for e in entries][1:] == [{"v": i + 1} for i in range(5)]
    assert len(reads) == 6


def test_payloads_after_a_compaction_with_the_database_open_read_the_moved_frames(
    db_path: Path,
) -> None:
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t", options={"segment_size_bytes": 200})
        for i in range(12):
            table.insert({"id": i, "v": "x" * 40}, meta={"i": i})
            table.patch(i, {"v": i})
        entries = table.history(5)
        table.schema.options["segment_size_bytes"] = 100_000
        report = table.compact()
        assert report is not None
        assert [e.meta for e in entries] == [{"i": 5}, None]
        assert [e.data for e in entries] == [{"id": 5, "v": "x" * 40}, {"v": 5}]


def test_payloads_after_a_compaction_and_close_are_an_error_not_a_wrong_event(
    db_path: Path,
) -> None:
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t", options={"segment_size_bytes": 200})
        for i in range(12):
            table.insert({"id": i, "v": "x" * 40})
        entries = table.history(7)
        table.schema.options["segment_size_bytes"] = 100_000
        table.compact()
    with pytest.raises(DriftError, match="closed"):
        _ = entries[0].data


def test_a_purge_after_the_listing_is_an_error(db: driftdb.Database) -> None:
    table = db.create_table("t")
    table.insert({"id": 1, "secret": "s"})
    table.patch(1, {"secret": "t"})
    entries = table.history(1)
    table.purge(1, reason="gdpr")
    with pytest.raises(DriftError, match="purge"):
        _ = entries[0].data
    assert [e.data for e in table.history(1)] == [None, None]  # read again: the redaction


def test_retention_after_the_listing_is_an_error(db: driftdb.Database) -> None:
    table = db.create_table("t", options={"segment_size_bytes": 100})
    table.insert({"id": 1, "v": 0})
    for i in range(6):
        table.patch(1, {"v": i + 1})
    table.insert({"id": 2, "v": 0})
    entries = table.history(1)
    table.compact(before=db.head())
    with pytest.raises(DriftError, match="retention"):
        _ = entries[1].data
    again = table.history(1)
    assert again[0].meta == {"horizon": again[0].seq}  # the synthetic base entry
    assert again[-1].row == {"id": 1, "v": 6}


def test_a_reader_process_history_matches_the_writer(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t")
        table.insert({"id": 1, "v": 0}, meta={"by": "w"})
        table.patch(1, {"v": 1})
        written = table.history(1)
        with driftdb.open(db_path, readonly=True) as other:
            seen = other.table("t").history(1)
        assert seen == written
        assert seen[0].meta == {"by": "w"}


@settings(
    max_examples=examples(20),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=14), cut=st.integers(0, 20))
def test_history_after_retention_equals_the_eager_read(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[Any, ...]], cut: int
) -> None:
    """With a horizon the key directory starts a key with a base entry (no frame): the
    deferred listing equals the read that opens every frame, and so do its payloads."""
    path = tmp_path_factory.mktemp("r")
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", options={"segment_size_bytes": 300})
        apply(db, table, ops)
        if 0 < cut <= db.head():
            table.compact(before=cut, force=True)
        apply(db, table, ops[:3])
        for key in KEYS:
            deferred = table.history(key)
            with db.view_of(table) as view:
                eager = view.history(key)  # every frame read now
            assert [(e.seq, e.type, e.row) for e in deferred] == [
                (e.seq, e.type, e.row) for e in eager
            ]
            assert plain(deferred) == plain(eager), key
