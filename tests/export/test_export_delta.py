"""The Delta Lake export: its format (protocol, schema, watermark, commit info), incremental
and idempotent runs, slices that never split a batch, retention, races, optimize and vacuum."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable
from export_support import data_files, delta_log, drift_state, duck_state

import driftdb
from driftdb.export import delta as delta_export
from driftdb.export.delta import ExportError, app_id
from driftdb.export.verify import verify_delta


def fill(db: driftdb.Database) -> None:
    """Orders with a nested patch removing a field, a soft delete, a re-insert of the deleted
    key, a multi-table batch and an audit meta."""
    orders = db.create_table("orders")
    users = db.create_table("users", primary_key="name")
    orders.insert({"id": 1, "status": "new", "addr": {"city": "Oslo", "zip": "0150"}})
    orders.patch(1, {"status": "paid", "addr": {"zip": None}}, meta={"by": "alice"})
    orders.insert({"id": "1", "status": "text key"})
    with db.batch():
        orders.soft_delete(1)
        users.insert({"name": "bob"})
        orders.insert({"id": 2, "status": "new"})
    orders.insert({"id": 1, "status": "again"})


def test_the_log_holds_protocol_1_2_no_features_the_schema_and_the_watermark(
    db: driftdb.Database, tmp_path: Path
) -> None:
    fill(db)
    [report, _] = db.export_delta(str(tmp_path / "lake"))
    assert report.events == 6 and report.watermark == 7 and report.versions == (0,)
    [actions] = delta_log(tmp_path / "lake" / "orders")
    [protocol] = [a["protocol"] for a in actions if "protocol" in a]
    assert protocol == {"minReaderVersion": 1, "minWriterVersion": 2}  # no table features
    [meta] = [a["metaData"] for a in actions if "metaData" in a]
    fields = json.loads(meta["schemaString"])["fields"]
    assert [(f["name"], f["type"]) for f in fields] == [
        ("seq", "long"),
        ("ts_ms", "long"),
        ("ts", "timestamp"),
        ("commit", "long"),
        ("op", "string"),
        ("key", "string"),
        ("doc", "string"),
        ("patch", "string"),
        ("meta", "string"),
    ]
    assert meta["configuration"] == {}
    [txn] = [a["txn"] for a in actions if "txn" in a]
    assert txn == {"appId": app_id(db.path, "orders"), "version": 7}
    assert txn["appId"] == f"driftdb:{Path(db.path).name}:orders"
    [info] = [a["commitInfo"] for a in actions if "commitInfo" in a]
    assert (info["driftdb.seq_first"], info["driftdb.seq_last"]) == ("1", "7")
    assert info["driftdb.table"] == "orders" and info["driftdb.events"] == "6"


def test_rows_carry_the_row_after_the_patch_payload_the_batch_and_the_meta(
    db: driftdb.Database, tmp_path: Path
) -> None:
    fill(db)
    db.export_delta(str(tmp_path / "lake"), tables=["orders"])
    rows = DeltaTable(str(tmp_path / "lake" / "orders")).to_pyarrow_table().to_pylist()
    by_seq = {r["seq"]: r for r in rows}
    assert by_seq[2]["op"] == "PATCH" and by_seq[2]["key"] == "1"
    assert json.loads(by_seq[2]["doc"]) == {"id": 1, "status": "paid", "addr": {"city": "Oslo"}}
    assert json.loads(by_seq[2]["patch"]) == {"status": "paid", "addr": {"zip": None}}
    assert json.loads(by_seq[2]["meta"]) == {"by": "alice"}
    assert by_seq[3]["key"] == '"1"'  # the string "1" stays apart from the integer 1
    assert by_seq[4]["op"] == "SOFT_DELETE" and by_seq[4]["doc"] is None
    assert by_seq[4]["commit"] == by_seq[6]["commit"] == 4  # the batch's first seq
    assert by_seq[1]["commit"] == 1 and by_seq[1]["meta"] is None
    assert by_seq[1]["ts"].timestamp() * 1000 == by_seq[1]["ts_ms"]
    assert not (tmp_path / "lake" / "users").exists()


def test_a_rerun_appends_only_new_events_and_with_nothing_new_commits_nothing(
    db: driftdb.Database, tmp_path: Path
) -> None:
    fill(db)
    lake = tmp_path / "lake"
    db.export_delta(str(lake))
    [again, _] = db.export_delta(str(lake))
    assert again.events == 0 and again.versions == () and again.watermark == 7
    assert str(again) == f'table "orders": nothing new after @seq:7 ({lake / "orders"})'
    assert len(delta_log(lake / "orders")) == 1
    db.table("orders").patch(2, {"status": "paid"})
    [report, users] = db.export_delta(str(lake))
    assert (report.events, report.watermark_before, report.watermark) == (1, 7, 8)
    assert users.events == 0
    rows = DeltaTable(str(lake / "orders")).to_pyarrow_table().to_pylist()
    assert sorted(r["seq"] for r in rows) == [1, 2, 3, 4, 6, 7, 8]
    assert duck_state(data_files(lake / "orders"), 8) == drift_state(db.table("orders"), 8)


def test_max_events_cuts_versions_between_batches_never_inside_one(
    db: driftdb.Database, tmp_path: Path
) -> None:
    t = db.create_table("t")
    t.insert({"id": 0})
    t.insert_many([{"id": i} for i in range(1, 6)])  # seqs 2-6: one batch
    t.insert({"id": 6})
    [report] = db.export_delta(str(tmp_path / "lake"), max_events=2)
    assert report.versions == (0, 1)
    commits = delta_log(tmp_path / "lake" / "t")
    ranges = [
        (a["commitInfo"]["driftdb.seq_first"], a["commitInfo"]["driftdb.seq_last"])
        for actions in commits
        for a in actions
        if "commitInfo" in a
    ]
    assert ranges == [("1", "6"), ("7", "7")]
    marks = [a["txn"]["version"] for actions in commits for a in actions if "txn" in a]
    assert marks == [6, 7]


def test_version_as_of_equals_driftdb_at_that_versions_watermark(
    db: driftdb.Database, tmp_path: Path
) -> None:
    fill(db)
    lake = tmp_path / "lake"
    db.export_delta(str(lake), max_events=1)
    orders = db.table("orders")
    for version, actions in enumerate(delta_log(lake / "orders")):
        [txn] = [a["txn"] for a in actions if "txn" in a]
        files = data_files(lake / "orders", version)
        assert duck_state(files, 2**62) == drift_state(orders, txn["version"])


def test_an_export_after_compact_and_compact_before_continues_from_the_watermark(
    db: driftdb.Database, tmp_path: Path
) -> None:
    fill(db)
    lake = tmp_path / "lake"
    orders = db.table("orders")
    db.export_delta(str(lake))
    orders.patch(2, {"status": "paid"})
    orders.compact()
    db.export_delta(str(lake))
    orders.patch(2, {"status": "sent"})
    orders.compact(before="@seq:8")  # the horizon is at the watermark
    orders.soft_delete("1")
    [report, _] = db.export_delta(str(lake))
    assert (report.watermark_before, report.watermark, report.events) == (8, 10, 2)
    files = data_files(lake / "orders")
    for n in range(8, 11):
        assert duck_state(files, n) == drift_state(orders, n)
    # events before the horizon, exported earlier, stay
    assert duck_state(files, 3) == {
        "1": {"id": 1, "status": "paid", "addr": {"city": "Oslo"}},
        '"1"': {"id": "1", "status": "text key"},
    }
    assert verify_delta(db, str(lake))[0].problems == []


def test_a_first_export_after_a_horizon_starts_with_the_base_state_at_the_horizon(
    db: driftdb.Database, tmp_path: Path
) -> None:
    fill(db)
    orders = db.table("orders")
    orders.compact(before="@seq:6")
    orders.patch(2, {"status": "paid"})
    lake = tmp_path / "lake"
    [report, _] = db.export_delta(str(lake))
    rows = DeltaTable(str(lake / "orders")).to_pyarrow_table().to_pylist()
    base = sorted((r["key"], r["op"], r["commit"]) for r in rows if r["seq"] == 6)
    assert base == [('"1"', "INSERT", 6), ("2", "INSERT", 6)]
    assert all(json.loads(r["meta"]) == {"horizon": 6} for r in rows if r["seq"] == 6)
    assert report.watermark == 8
    files = data_files(lake / "orders")
    for n in range(6, 9):
        assert duck_state(files, n) == drift_state(orders, n)
    assert verify_delta(db, str(lake))[0].problems == []


def test_a_watermark_before_the_horizon_is_a_clear_error(
    db: driftdb.Database, tmp_path: Path
) -> None:
    fill(db)
    lake = tmp_path / "lake"
    db.export_delta(str(lake), tables=["orders"])
    orders = db.table("orders")
    orders.patch(2, {"status": "paid"})
    orders.patch(2, {"status": "sent"})
    orders.compact(before="@seq:9")
    with pytest.raises(driftdb.HistoryUnavailableError) as caught:
        db.export_delta(str(lake), tables=["orders"])
    assert str(caught.value) == (
        'table "orders" keeps history from @seq:9 '
        f"({caught.value.args[0].split('(')[1].split(')')[0]}), but its export stops at @seq:7: "
        "the events between were discarded by COMPACT ... BEFORE; export to a new location "
        "(a first export starts from the base state)"
    )
    assert len(delta_log(lake / "orders")) == 1


def test_two_racing_exports_cannot_both_append_the_same_seqs(
    db: driftdb.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(db)
    lake = tmp_path / "lake"
    db.export_delta(str(lake), tables=["orders"])
    db.table("orders").patch(2, {"status": "paid"})
    opened = delta_export._open_delta
    raced: list[bool] = []

    def open_then_lose_the_race(deltalake: object, uri: str, app: str) -> object:
        found = opened(deltalake, uri, app)  # this run's snapshot: watermark 8
        if not raced:
            raced.append(True)
            [winner] = db.export_delta(str(lake), tables=["orders"])  # commits 8 first
            assert winner.watermark == 8
        return found

    monkeypatch.setattr(delta_export, "_open_delta", open_then_lose_the_race)
    with pytest.raises(
        ExportError,
        match='another export of table "orders" committed to .* '
        r"at the same time .*slice @seq:8..@seq:8 was not committed: run the "
        "export again to continue from the watermark",
    ):
        db.export_delta(str(lake), tables=["orders"])
    rows = DeltaTable(str(lake / "orders")).to_pyarrow_table().to_pylist()
    assert sorted(r["seq"] for r in rows) == [1, 2, 3, 4, 6, 7, 8]


def test_the_export_stays_exact_after_optimize_and_vacuum(
    db: driftdb.Database, tmp_path: Path
) -> None:
    fill(db)
    lake = tmp_path / "lake"
    orders = db.table("orders")
    db.export_delta(str(lake), max_events=1)
    table = DeltaTable(str(lake / "orders"))
    table.optimize.compact()
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    assert len(data_files(lake / "orders")) == 1
    assert len(list((lake / "orders").glob("*.parquet"))) == 1
    orders.patch(2, {"status": "paid"})
    db.export_delta(str(lake))  # the watermark survives optimize: only seq 8 is appended
    files = data_files(lake / "orders")
    for n in range(9):
        assert duck_state(files, n) == drift_state(orders, n)
    assert verify_delta(db, str(lake))[0].problems == []


def test_a_reader_exports_without_the_lock_while_the_writer_goes_on(
    db: driftdb.Database, db_path: Path, tmp_path: Path
) -> None:
    fill(db)
    with driftdb.open(db_path, readonly=True) as reader:
        db.table("orders").patch(2, {"status": "paid"})  # after the index, in the tail
        [report, _] = reader.export_delta(str(tmp_path / "lake"))
        assert report.watermark == 8
        assert verify_delta(reader, str(tmp_path / "lake"))[0].problems == []


def test_an_export_of_another_database_in_the_same_place_is_refused(
    db: driftdb.Database, tmp_path: Path
) -> None:
    fill(db)
    lake = tmp_path / "lake"
    db.export_delta(str(lake))
    with driftdb.open(tmp_path / "other", create=True) as other:
        other.create_table("orders").insert({"id": 1})
        with pytest.raises(ExportError, match='holds no export under the appId "driftdb:other:'):
            other.export_delta(str(lake))


def test_without_deltalake_the_error_names_the_pip_command(
    db: driftdb.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(db)
    monkeypatch.setitem(sys.modules, "deltalake", None)
    with pytest.raises(ExportError) as caught:
        db.export_delta(str(tmp_path / "lake"))
    assert str(caught.value) == (
        "the Delta Lake export needs the deltalake and pyarrow packages (deltalake is "
        'missing): pip install "driftdb[delta]"'
    )


def test_a_purged_key_exports_redacted_and_the_query_with_a_doc_check_drops_it(
    db: driftdb.Database, tmp_path: Path
) -> None:
    fill(db)
    orders = db.table("orders")
    orders.purge("1", reason="gdpr")
    lake = tmp_path / "lake"
    db.export_delta(str(lake), tables=["orders"])
    rows = DeltaTable(str(lake / "orders")).to_pyarrow_table().to_pylist()
    [purged] = [r for r in rows if r["key"] == '"1"']
    assert purged["doc"] is None and json.loads(purged["patch"])["purged"]["reason"] == "gdpr"
    assert b"text key" not in b"".join(p.read_bytes() for p in lake.rglob("*.parquet"))
    files = data_files(lake / "orders")
    for n in range(8):
        state = duck_state(files, n)
        if n >= 3:  # the portable query shows it with doc NULL (docs/export.md)
            assert state.pop('"1"') is None
        assert state == drift_state(orders, n)


def test_two_racing_first_exports_cannot_both_create_the_table(
    db: driftdb.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(db)
    lake = tmp_path / "lake"
    opened = delta_export._open_delta
    raced: list[bool] = []

    def open_then_lose_the_race(deltalake: object, uri: str, app: str) -> object:
        found = opened(deltalake, uri, app)  # no table yet
        if not raced:
            raced.append(True)
            db.export_delta(str(lake), tables=["orders"])
        return found

    monkeypatch.setattr(delta_export, "_open_delta", open_then_lose_the_race)
    with pytest.raises(ExportError, match=r"another export created .* at the same time"):
        db.export_delta(str(lake), tables=["orders"])
    rows = DeltaTable(str(lake / "orders")).to_pyarrow_table().to_pylist()
    assert sorted(r["seq"] for r in rows) == [1, 2, 3, 4, 6, 7]


def test_a_read_overlapped_by_a_rewrite_is_read_again(
    db: driftdb.Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(db)
    stable = db.read_was_stable
    answers = [False]

    def unstable_once(*args: object) -> bool:
        return answers.pop() if answers else stable(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(db, "read_was_stable", unstable_once)
    [report, _] = db.export_delta(str(tmp_path / "lake"))
    assert (report.events, report.versions) == (6, (0,))
    assert verify_delta(db, str(tmp_path / "lake"))[0].problems == []
