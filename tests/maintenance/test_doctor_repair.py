"""doctor: check reports damage with file and offset and changes nothing; repair fixes it
without losing a good frame, and the database opens again."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from maint_support import log_events, make_orders, segment_files

import driftdb
from driftdb import doctor
from driftdb.storage import snapshot as snap
from driftdb.storage.segment import scan_segment
from helpers.bytes_edit import forget_witnesses


def build(db_path: Path, n: int = 12, segment_size_bytes: int = 100_000) -> list:  # type: ignore[type-arg]
    with driftdb.open(db_path, create=True) as db:
        orders = make_orders(db, n=n, segment_size_bytes=segment_size_bytes)
        orders.snapshot()
    return log_events(db_path, "orders")


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != "lock.mdb":
            digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def rows(db_path: Path) -> dict:  # type: ignore[type-arg]
    with driftdb.open(db_path, readonly=True) as db:
        return {r["id"]: r for r in db.table("orders").select()}


def test_a_healthy_database_checks_ok_and_check_changes_nothing(db_path: Path) -> None:
    build(db_path)
    before = tree_hash(db_path)
    report = doctor.check(db_path, full=True)
    assert report.ok, report.render()
    assert tree_hash(db_path) == before
    assert report.render().endswith("ok (0 errors, 0 warnings)")


def test_a_torn_tail_is_reported_then_cut_into_quarantine(db_path: Path) -> None:
    events = build(db_path)
    seg = segment_files(db_path, "orders")[-1]
    last = scan_segment(str(seg.parent), 1).frames[-1]
    os.truncate(seg, last.offset + 5)
    # Nothing witnesses the last write (a crash before its acknowledgement; an acknowledged
    # one is restored from the index: tests/faults/test_damage_witness.py).
    forget_witnesses(db_path, "orders")
    report = doctor.check(db_path)
    torn = [f for f in report.findings if "torn tail" in f.message]
    assert [(f.severity, f.file, f.offset) for f in torn] == [
        ("warning", "tables/orders/segments/00000001.seg", last.offset)
    ]
    fixed = doctor.repair(db_path)
    assert fixed.ok, fixed.render()
    quarantined = db_path / "tables/orders/quarantine" / f"00000001-{last.offset}.bin"
    assert quarantined.stat().st_size == 5
    assert log_events(db_path, "orders") == events[:-1]
    assert doctor.check(db_path, full=True).ok


def test_a_flipped_byte_mid_segment_is_quarantined_and_every_good_frame_kept(
    db_path: Path,
) -> None:
    events = build(db_path)
    seg = segment_files(db_path, "orders")[0]
    frames = scan_segment(str(seg.parent), 1).frames
    victim = frames[5]
    data = bytearray(seg.read_bytes())
    data[victim.offset + 12] ^= 0x40
    seg.write_bytes(bytes(data))

    shutil.rmtree(db_path / "tables/orders/indexes")  # so that opening reads the whole log
    with pytest.raises(driftdb.CorruptionError) as caught:
        driftdb.open(db_path)
    assert f"00000001.seg offset {victim.offset}: CRC mismatch" in str(caught.value)

    report = doctor.check(db_path)
    assert not report.ok
    [error] = report.errors()
    assert (error.file, error.offset) == ("tables/orders/segments/00000001.seg", victim.offset)
    assert "CRC mismatch" in error.message and "good frames follow" in error.message

    fixed = doctor.repair(db_path)
    assert fixed.ok, fixed.render()
    lost = victim.body.seq
    text = fixed.render()
    assert f"quarantine/00000001-{victim.offset}.bin" in text
    assert frames[6].body.seq - frames[4].body.seq == 2
    assert f"seq {lost} of this table may be lost" in text
    assert (
        db_path / "tables/orders/quarantine" / f"00000001-{victim.offset}.bin"
    ).read_bytes() == bytes(data[victim.offset : victim.offset + victim.size])
    assert log_events(db_path, "orders") == [e for e in events if e.seq != lost]
    with driftdb.open(db_path) as db:
        assert db.table("orders").count() >= 1
    assert doctor.check(db_path, full=True).ok


def test_a_damaged_frame_of_an_acknowledged_batch_is_restored_and_its_batch_kept(
    db_path: Path,
) -> None:
    """Issue 10, item 9: only the damaged bytes go to quarantine; the batch was acknowledged
    (the index covers it), so its other frames stay and the damaged event comes back from the
    index's row image, with its batch mark."""
    events = build(db_path)
    batch = next(e for e in events if e.txn is not None)
    seg = segment_files(db_path, "orders")[0]
    frame = next(f for f in scan_segment(str(seg.parent), 1).frames if f.body.seq == batch.seq)
    data = bytearray(seg.read_bytes())
    data[frame.offset + 14] ^= 0x01
    seg.write_bytes(bytes(data))
    fixed = doctor.repair(db_path)
    assert fixed.ok, fixed.render()
    assert log_events(db_path, "orders") == events
    assert "a batch is all or nothing" not in fixed.render()
    assert f"restored @seq:{batch.seq} (INSERT of key" in fixed.render()
    quarantined = list((db_path / "tables/orders/quarantine").glob("00000001-*.bin"))
    assert [q.stat().st_size for q in quarantined] == [frame.size]
    with driftdb.open(db_path) as db:
        assert db.notes == []


def test_a_truncated_snapshot_is_reported_and_replaced(db_path: Path) -> None:
    build(db_path)
    [seq] = snap.list_snapshots(str(db_path / "tables/orders/snapshots"))
    path = db_path / "tables/orders/snapshots" / f"{seq}.snap"
    os.truncate(path, path.stat().st_size - 7)
    report = doctor.check(db_path)
    [error] = report.errors()
    assert error.file == f"tables/orders/snapshots/{seq}.snap"
    assert "reads ignore it" in error.message
    good = rows(db_path)
    fixed = doctor.repair(db_path)
    assert fixed.ok, fixed.render()
    assert (db_path / "tables/orders/quarantine" / f"snapshot-{seq}.snap").exists()
    assert dict(snap.read_snapshot(str(path))[1]) == good
    assert rows(db_path) == good


def test_a_deleted_index_is_reported_and_rebuilt(db_path: Path) -> None:
    build(db_path)
    good = rows(db_path)
    shutil.rmtree(db_path / "tables/orders/indexes")
    report = doctor.check(db_path)
    assert [f.message for f in report.findings if f.severity == "warning"] == [
        "missing; rebuilt from the log by the next writer open"
    ]
    fixed = doctor.repair(db_path)
    assert fixed.ok, fixed.render()
    assert (db_path / "tables/orders/indexes/data.mdb").exists()
    assert rows(db_path) == good
    assert doctor.check(db_path, full=True).ok


def test_a_garbage_index_file_is_reported_and_rebuilt(db_path: Path) -> None:
    build(db_path)
    good = rows(db_path)
    index = db_path / "tables/orders/indexes/data.mdb"
    index.write_bytes(b"\x00garbage" * 512)
    assert not doctor.check(db_path).ok
    fixed = doctor.repair(db_path)
    assert fixed.ok, fixed.render()
    assert rows(db_path) == good


def test_a_garbage_index_file_is_rebuilt_by_the_writer_on_open(db_path: Path) -> None:
    """The indexes are a cache of the log: the writer drops damaged files and rebuilds."""
    build(db_path)
    good = rows(db_path)
    (db_path / "tables/orders/indexes/data.mdb").write_bytes(b"\x00garbage" * 512)
    with pytest.warns(driftdb.DriftWarning, match="index files were damaged"):
        driftdb.open(db_path).close()
    assert rows(db_path) == good
    assert doctor.check(db_path).ok


def test_garbage_meta_json_is_reported_and_rewritten(db_path: Path) -> None:
    build(db_path)
    meta = db_path / "tables/orders/meta.json"
    meta.write_bytes(b"{not json")
    report = doctor.check(db_path)
    [error] = report.errors()
    assert error.file == "tables/orders/meta.json" and "unreadable" in error.message
    fixed = doctor.repair(db_path)
    assert fixed.ok, fixed.render()
    assert __import__("json").loads(meta.read_bytes())["table"] == "orders"


def test_a_damaged_base_snapshot_is_rewritten_from_the_index(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        make_orders(db, n=20).compact(before=25)
    good = rows(db_path)
    base = db_path / "tables/orders/snapshots/25.base.snap"
    original = snap.read_snapshot(str(base))[1]
    data = bytearray(base.read_bytes())
    data[-1] ^= 1
    base.write_bytes(bytes(data))
    assert not doctor.check(db_path).ok
    fixed = doctor.repair(db_path)
    assert fixed.ok, fixed.render()
    assert snap.read_snapshot(str(base))[1] == original
    assert rows(db_path) == good


def test_full_check_finds_an_index_that_disagrees_with_the_log(db_path: Path) -> None:
    import lmdb
    import msgpack

    from driftdb.index import store

    build(db_path)
    good = rows(db_path)
    index_dir = str(db_path / "tables/orders/indexes")
    env = lmdb.open(index_dir, max_dbs=16)
    keys = env.open_db(b"keys")
    with env.begin(write=True) as txn:
        cursor = txn.cursor(db=keys)
        cursor.last()
        # A forgery that passes every cheap check: head, a different row, a valid checksum,
        # and a sync mark at its transaction. Only the full comparison with the log finds it.
        value = cursor.value()[:21] + msgpack.packb({"id": "forged"})
        txn.put(cursor.key(), store._seal(cursor.key(), value), db=keys)
    txn_id = env.info()["last_txnid"]
    env.close()
    store._write_mark(index_dir, store.SyncMark(txn_id, True, store.boot_id()))
    report = doctor.check(db_path, full=True)
    assert any("disagree with a replay" in f.message for f in report.errors())
    assert doctor.repair(db_path).ok
    assert rows(db_path) == good


def test_repair_takes_the_writer_lock(db_path: Path) -> None:
    build(db_path)
    with driftdb.open(db_path), pytest.raises(driftdb.LockedError):
        doctor.repair(db_path)


def test_an_interrupted_compaction_is_reported_and_finished_by_repair(db_path: Path) -> None:
    from maint_support import FailAt

    from driftdb.storage import fs

    with driftdb.open(db_path, create=True) as db:
        orders = make_orders(db, n=20, segment_size_bytes=300)
        orders.schema.options["segment_size_bytes"] = 5000
        events = log_events(db_path, "orders")
        with fs.use(FailAt("remove", 1)), pytest.raises(driftdb.DriftError):
            orders.compact()
    report = doctor.check(db_path)
    assert any("interrupted maintenance" in f.message for f in report.findings)
    fixed = doctor.repair(db_path)
    assert fixed.ok, fixed.render()
    assert "finished an interrupted compaction" in fixed.render()
    assert log_events(db_path, "orders") == events
