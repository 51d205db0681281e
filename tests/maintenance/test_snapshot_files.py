"""SNAPSHOT: the file format, its checks, and automatic snapshots."""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import pytest
import zstandard
from maint_support import make_orders

import driftdb
from driftdb.model.retention import Horizon
from driftdb.storage import snapshot as snap


def test_snapshot_file_holds_the_live_rows_at_the_newest_seq(db: driftdb.Database) -> None:
    orders = make_orders(db, n=12)
    info = orders.snapshot()
    assert info.seq == db.head()
    assert Path(info.path).name == f"{db.head()}.snap"
    header, rows = snap.read_snapshot(info.path)
    assert header == info
    assert dict(rows) == {r["id"]: r for r in orders.select()}
    assert info.row_count == orders.count()
    assert not info.base and info.horizon is None
    assert str(info).startswith(f"snapshot at @seq:{db.head()}: {orders.count()} rows")


def test_header_fields_are_little_endian_in_the_documented_order(tmp_path: Path) -> None:
    data, count = snap.encode_snapshot([(1, {"id": 1})], 7, 1234, Horizon(5, 1000, 999), base=True)
    assert data[:8] == b"DRIFTSNP"
    version, flags, seq, unix_ms, rows, raw, body = struct.unpack_from("<IIQQQQQ", data, 8)
    assert (version, flags, seq, unix_ms, rows) == (1, 3, 7, 1234, 1)
    assert body == len(data) - snap.HEADER_SIZE
    assert struct.unpack_from("<QQQ", data, 56) == (5, 1000, 999)
    body_crc, head_crc = struct.unpack_from("<II", data, 80)
    assert body_crc == zlib.crc32(data[88:])
    assert head_crc == zlib.crc32(data[:84])
    assert zstandard.ZstdDecompressor().decompress(data[88:]) == __import__("msgpack").packb(
        [[1, {"id": 1}]]
    )
    assert raw == len(zstandard.ZstdDecompressor().decompress(data[88:]))
    assert count == 1


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: d[:-3], "file is"),
        (lambda d: d[:40], "header is 40 bytes"),
        (lambda d: d[:100] + bytes([d[100] ^ 1]) + d[101:], "body CRC mismatch"),
        (lambda d: d[:20] + bytes([d[20] ^ 1]) + d[21:], "header CRC mismatch"),
        (lambda d: b"NOTASNAP" + d[8:], "bad magic"),
    ],
)
def test_a_damaged_snapshot_is_refused_with_its_reason(
    tmp_path: Path, damage: object, reason: str
) -> None:
    data, _ = snap.encode_snapshot(
        [(i, {"id": i, "x": "y" * 50}) for i in range(50)], 9, 0, None, base=False
    )
    path = tmp_path / "9.snap"
    path.write_bytes(damage(data))  # type: ignore[operator]
    with pytest.raises(snap.SnapshotError, match=reason):
        snap.read_snapshot(str(path))


def test_a_zstd_bomb_is_never_decompressed_past_its_header_bound(tmp_path: Path) -> None:
    # A valid, checksummed file whose body expands to 256 MiB while its header claims 10 bytes.
    bomb = zstandard.ZstdCompressor(write_content_size=True).compress(b"\0" * (256 << 20))
    fields = (snap.MAGIC, 1, 0, 1, 0, 1, 10, len(bomb), 0, 0, 0, zlib.crc32(bomb), 0)
    head = snap.HEADER.pack(*fields)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    path = tmp_path / "1.snap"
    path.write_bytes(head + bomb)
    with pytest.raises(snap.SnapshotError, match="decompresses to more than 10 bytes"):
        snap.read_snapshot(str(path))


def test_a_header_claiming_more_than_the_global_cap_is_refused(tmp_path: Path) -> None:
    fields = (snap.MAGIC, 1, 0, 1, 0, 1, snap.MAX_RAW_BYTES + 1, 0, 0, 0, 0, 0, 0)
    head = snap.HEADER.pack(*fields)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    path = tmp_path / "1.snap"
    path.write_bytes(head)
    with pytest.raises(snap.SnapshotError, match="over the"):
        snap.read_snapshot(str(path))


def test_a_damaged_snapshot_is_ignored_with_a_warning_and_never_used(
    db: driftdb.Database,
) -> None:
    orders = make_orders(db, n=8)
    good = orders.snapshot()
    orders.insert({"id": 500, "status": "late"})
    bad = orders.snapshot()
    data = bytearray(Path(bad.path).read_bytes())
    data[-1] ^= 0xFF
    Path(bad.path).write_bytes(bytes(data))
    with pytest.warns(driftdb.DriftWarning, match=r"ignoring damaged snapshot .*body CRC"):
        found = snap.load_plain(orders.snapshots_dir, db.head())
    assert found is not None and found[0].seq == good.seq


def test_snapshots_are_taken_automatically_every_n_events(db: driftdb.Database) -> None:
    table = db.create_table("t", options={"snapshot_every_events": 10, "snapshots_keep": 2})
    for i in range(25):
        table.insert({"id": i})
    table.finish_snapshot()  # taken in the background
    assert snap.list_snapshots(table.snapshots_dir) == [10, 20]
    assert snap.read_snapshot(f"{table.snapshots_dir}/20.snap")[0].row_count == 20


def test_automatic_snapshots_keep_only_the_newest_by_default(db: driftdb.Database) -> None:
    table = db.create_table("t", options={"snapshot_every_events": 10})
    for i in range(35):
        table.insert({"id": i})
    table.finish_snapshot()
    assert snap.list_snapshots(table.snapshots_dir) == [30]


def test_snapshots_are_taken_automatically_every_n_log_bytes(db: driftdb.Database) -> None:
    table = db.create_table("t", options={"snapshot_every_bytes": 2000, "snapshots_keep": 2})
    for i in range(40):
        table.insert({"id": i, "pad": "x" * 80})
    table.finish_snapshot()
    seqs = snap.list_snapshots(table.snapshots_dir)
    assert 2 <= len(seqs) <= 3
    assert seqs[0] < 25


def test_the_snapshot_counter_resumes_from_the_newest_snapshot_after_reopen(
    db_path: Path,
) -> None:
    with driftdb.open(db_path, create=True) as db:
        table = db.create_table("t", options={"snapshot_every_events": 10, "snapshots_keep": 2})
        for i in range(14):
            table.insert({"id": i})
    with driftdb.open(db_path) as db:
        table = db.table("t")
        for i in range(14, 19):
            table.insert({"id": i})
        table.finish_snapshot()
        assert snap.list_snapshots(table.snapshots_dir) == [10]
        table.insert({"id": 19})
        table.finish_snapshot()
        assert snap.list_snapshots(table.snapshots_dir) == [10, 20]


def test_a_failed_automatic_snapshot_warns_and_keeps_the_write(db: driftdb.Database) -> None:
    from maint_support import FailAt

    from driftdb.storage import fs

    table = db.create_table("t", options={"snapshot_every_events": 3})
    table.insert({"id": 1})
    table.insert({"id": 2})
    with warnings.catch_warnings(record=True) as caught, fs.use(FailAt("rename", 1)):
        warnings.simplefilter("always")
        table.insert({"id": 3})
        table.finish_snapshot()
    assert any("automatic snapshot" in str(w.message) for w in caught)
    assert table.count() == 3
    assert snap.list_snapshots(table.snapshots_dir) == []


def test_the_commit_that_crosses_the_threshold_does_not_wait_for_its_snapshot(
    db: driftdb.Database,
) -> None:
    """The snapshot's rename is held until the commit has returned: were the snapshot on the
    commit path, the insert would never return (no timing is measured)."""
    import threading

    from driftdb.storage import fs

    released = threading.Event()

    class HeldRename(fs.FileLayer):
        def rename(self, src: str, dst: str) -> None:
            if dst.endswith(".snap"):
                assert released.wait(30), "the commit waited for the snapshot"
            super().rename(src, dst)

    table = db.create_table("t", options={"snapshot_every_events": 3})
    with fs.use(HeldRename()):
        for i in range(3):
            table.insert({"id": i})
        assert table.get(2) == {"id": 2}  # durable and indexed while the snapshot is held
        released.set()
        table.finish_snapshot()
    assert snap.list_snapshots(table.snapshots_dir) == [3]


def test_automatic_snapshots_are_pruned_to_the_newest_snapshots_keep(
    db: driftdb.Database,
) -> None:
    table = db.create_table("t", options={"snapshot_every_events": 5, "snapshots_keep": 2})
    for i in range(27):
        table.insert({"id": i})
        table.finish_snapshot()
    assert snap.list_snapshots(table.snapshots_dir) == [20, 25]
    info, rows = snap.read_snapshot(f"{table.snapshots_dir}/25.snap")
    assert (info.row_count, dict(rows)) == (25, {i: {"id": i} for i in range(25)})


def test_snapshot_of_an_empty_table_is_an_empty_state(db: driftdb.Database) -> None:
    table = db.create_table("t")
    info = table.snapshot()
    assert (info.seq, info.row_count) == (0, 0)
    assert snap.read_snapshot(info.path)[1] == []


def test_a_snapshot_that_fails_midway_leaves_no_snapshot_and_reopen_cleans_up(
    db_path: Path,
) -> None:
    from maint_support import FailAt

    from driftdb.storage import fs

    with driftdb.open(db_path, create=True) as db:
        orders = make_orders(db, n=6)
        with fs.use(FailAt("rename", 1)), pytest.raises(driftdb.DriftIOError):
            orders.snapshot()
        with pytest.raises(driftdb.WriterStoppedError):
            orders.insert({"id": 99})
    snapshots = db_path / "tables/orders/snapshots"
    assert all(p.name.endswith(".tmp") for p in snapshots.iterdir())
    with pytest.warns(driftdb.DriftWarning, match="removed leftovers"), driftdb.open(db_path):
        pass
    assert list(snapshots.iterdir()) == []
