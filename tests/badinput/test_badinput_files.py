"""Hostile or damaged files: a frame length field of 4 GiB, a zstd bomb in a snapshot, a
schema.yaml with Python tags or nonsense. A clear error (or a warning and right answers),
bounded memory and time, no code run, and an unchanged database."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import pytest
from badinput_support import run_cli_here, truth_digest
from crash_support import record_figures

import driftdb
from driftdb.storage.frame import HEADER_SIZE, MAX_FRAME_BYTES
from driftdb.storage.segment import read_frame_at, scan_bytes
from driftdb.storage.tail import read_tail

MEMORY_LIMIT = 400 * 1024 * 1024  # RLIMIT_DATA of the children: no giant allocation fits


def in_child(code: str, timeout_s: float = 60) -> tuple[int, str, float]:
    """Run `code` in a child whose private memory is capped (RLIMIT_DATA: LMDB's shared file
    mapping does not count, a Python allocation of gigabytes does)."""
    prelude = textwrap.dedent(f"""
        import resource, sys, warnings
        resource.setrlimit(resource.RLIMIT_DATA, ({MEMORY_LIMIT}, {MEMORY_LIMIT}))
        warnings.simplefilter("always")
        import driftdb
    """)
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - began


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", indexes=["v"])
        for i in range(20):
            table.insert({"id": i, "v": i % 3, "pad": "p" * 50})
    return path


def frame_offsets(db_path: Path) -> list[int]:
    tail = read_tail(str(db_path / "tables/t/segments"), None)
    return [item.offset for item in tail.located]


def set_length(path: Path, offset: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, offset, value)
    path.write_bytes(bytes(data))


def test_a_4_gib_length_field_in_a_middle_frame_is_corruption_named_quickly(
    db_path: Path,
) -> None:
    segment = db_path / "tables/t/segments/00000001.seg"
    offset = frame_offsets(db_path)[10]
    set_length(segment, offset, 0xFFFFFFFF)
    shutil.rmtree(db_path / "tables/t/indexes")  # so that open reads the whole log
    before = truth_digest(db_path)
    code, output, seconds = in_child(f"""
        try:
            driftdb.open({str(db_path)!r})
        except driftdb.CorruptionError as exc:
            print("CORRUPTION", exc)
    """)
    record_figures("badinput", "length-4gib", tried=1, handled=int("CORRUPTION" in output))
    assert code == 0, output
    expected = (
        f"CORRUPTION tables/t/segments/00000001.seg offset {offset}: frame length "
        f"4294967295 exceeds the {MAX_FRAME_BYTES}-byte bound"
    )
    assert expected in output, output
    assert seconds < 20
    assert truth_digest(db_path) == before


def test_a_4_gib_length_field_in_the_last_frame_is_a_torn_tail_truncated_with_a_warning(
    db_path: Path,
) -> None:
    segment = db_path / "tables/t/segments/00000001.seg"
    offset = frame_offsets(db_path)[-1]
    set_length(segment, offset, 0xFFFFFFFF)
    shutil.rmtree(db_path / "tables/t/indexes")
    (db_path / "tables/t/meta.json").unlink()  # nothing witnesses the last write
    code, output, _ = in_child(f"""
        with driftdb.open({str(db_path)!r}) as db:
            print("ROWS", db.table("t").count())
    """)
    assert code == 0, output
    assert "ROWS 19" in output, output
    assert "truncated" in output and f"offset {offset}" in output, output


def test_a_4_gib_length_field_in_an_indexed_frame_is_corruption_when_read(
    db_path: Path,
) -> None:
    segment = db_path / "tables/t/segments/00000001.seg"
    offset = frame_offsets(db_path)[5]
    set_length(segment, offset, 0xFFFFFFFF)
    with driftdb.open(db_path) as db:
        assert db.table("t").get(5) == {"id": 5, "v": 2, "pad": "p" * 50}  # from the index
        listed = db.table("t").history(5)  # from the key directory; the frame is read
        with pytest.raises(driftdb.CorruptionError) as info:  # for the payload
            _ = listed[0].data
    assert f"00000001.seg offset {offset}: frame length 4294967295 exceeds" in str(info.value)


def test_the_frame_reader_never_allocates_what_a_length_field_claims() -> None:
    data = struct.pack("<II", 0xFFFFFFFF, 0) + b"x" * 64
    began = time.monotonic()
    assert read_frame_at(data, 0) == (
        f"frame length 4294967295 exceeds the {MAX_FRAME_BYTES}-byte bound"
    )
    result = scan_bytes(data, "seg", 1, HEADER_SIZE, base=HEADER_SIZE)
    assert result.frames == [] and result.problem is not None and result.problem.torn
    assert time.monotonic() - began < 1


def zstd_bomb(raw_size: int) -> bytes:
    import zstandard

    compressor = zstandard.ZstdCompressor(level=1, write_content_size=False)
    chunks = compressor.compressobj()
    zero = bytes(1 << 20)
    out = [chunks.compress(zero) for _ in range(raw_size >> 20)]
    out.append(chunks.flush())
    return b"".join(out)


def rewrite_snapshot_body(path: Path, body: bytes, raw_bytes: int) -> None:
    """Keep the header's fields, put `body` in, and fix both CRCs: a hostile but well-formed
    file (what a checksum cannot catch)."""
    from driftdb.storage.snapshot import HEADER

    fields = list(HEADER.unpack_from(path.read_bytes()))
    fields[6], fields[7], fields[11] = raw_bytes, len(body), zlib.crc32(body)
    head = HEADER.pack(*fields[:-1], 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    path.write_bytes(head + body)


@pytest.mark.parametrize("kind", ["plain", "base"])
def test_a_zstd_bomb_in_a_snapshot_is_refused_in_bounded_memory(db_path: Path, kind: str) -> None:
    with driftdb.open(db_path) as db:
        table = db.table("t")
        if not hasattr(table, "snapshot"):
            pytest.skip("snapshots are not built yet")
        if kind == "base":
            table.compact(before=10)
        else:
            table.snapshot()
        for i in range(20, 25):
            table.insert({"id": i, "v": 0})
    pattern = "*.base.snap" if kind == "base" else "[0-9]*[0-9].snap"
    [snap] = [p for p in (db_path / "tables/t/snapshots").glob(pattern)]
    rewrite_snapshot_body(snap, zstd_bomb(1 << 30), raw_bytes=200)
    assert snap.stat().st_size < 1 << 20
    shutil.rmtree(db_path / "tables/t/indexes")  # a rebuild must read the snapshot
    code, output, seconds = in_child(f"""
        from driftdb import doctor
        try:
            with driftdb.open({str(db_path)!r}) as db:
                print("ROWS", sorted(r["id"] for r in db.table("t").select()))
        except driftdb.DriftError as exc:
            print("REFUSED", type(exc).__name__, exc)
        report = doctor.check({str(db_path)!r})
        print("DOCTOR", report.ok, report.render())
    """)
    record_figures("badinput", f"zstd-bomb-{kind}", tried=1, handled=int(code == 0))
    assert code == 0, output
    assert seconds < 30, seconds
    if kind == "plain":  # a cache: ignored, answers from the log
        assert f"ROWS {list(range(25))}" in output, output
    else:  # the only copy of the state before the horizon: refused, named
        assert "REFUSED CorruptionError" in output and snap.name in output, output
    assert "decompresses to more than" in output, output
    assert "DOCTOR False" in output, output


MARKER = "/tmp/driftdb-badinput-pwned"
SCHEMAS = {
    "python tag: apply": f"!!python/object/apply:os.system ['touch {MARKER}']\n",
    "python tag: in a field": f"name: t\nprimary_key: !!python/object/apply:os.system "
    f"['touch {MARKER}']\n",
    "python tag: name": "name: !!python/name:os.system\nprimary_key: id\n",
    "python tag: tuple": "name: t\nprimary_key: id\nindexes: !!python/tuple [v]\n",
    "not a mapping": "[1, 2, 3]\n",
    "empty": "",
    "missing primary key": "name: t\n",
    "another table's name": "name: other\nprimary_key: id\n",
    "path as name": "name: ../../evil\nprimary_key: id\n",
    "negative segment size": "name: t\nprimary_key: id\noptions: {segment_size_bytes: -5}\n",
    "unknown option": "name: t\nprimary_key: id\noptions: {bogus: 1}\n",
    "nested index list": "name: t\nprimary_key: id\nindexes: [[v]]\n",
    "broken yaml": "name: [t\nprimary_key: id\n",
    "binary": "\x00\x01\x02\xff",
    "billion laughs": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c]\n"
    "name: t\nprimary_key: id\nindexes: *d\n",
}


@pytest.mark.parametrize("what", list(SCHEMAS))
def test_a_hostile_or_broken_schema_yaml_is_a_clear_error_and_runs_nothing(
    db_path: Path, what: str
) -> None:
    if os.path.exists(MARKER):
        os.remove(MARKER)
    schema = db_path / "tables/t/schema.yaml"
    schema.write_bytes(SCHEMAS[what].encode("utf-8", "surrogateescape"))
    before = truth_digest(db_path)
    for readonly in (False, True):
        with pytest.raises(driftdb.DriftError) as info:
            driftdb.open(db_path, readonly=readonly)
        assert "tables/t/schema.yaml" in str(info.value), str(info.value)
    ran = run_cli_here("select", "-d", str(db_path), "--table", "t")
    record_figures("badinput", "schema-yaml", tried=1, handled=int(ran.clear_error() is None))
    assert ran.clear_error() is None, ran
    assert ran.err.startswith("error: tables/t/schema.yaml"), ran.err
    assert not os.path.exists(MARKER), "a Python tag in schema.yaml ran code"
    assert truth_digest(db_path) == before


def test_garbage_meta_json_is_a_cache_rebuilt_without_a_wrong_answer(db_path: Path) -> None:
    (db_path / "tables/t/meta.json").write_text(json.dumps({"last_seq": 10**9, "live_rows": -3}))
    with driftdb.open(db_path) as db:
        assert db.head() == 20 and db.table("t").count() == 20
    assert json.loads((db_path / "tables/t/meta.json").read_text())["last_seq"] == 20
