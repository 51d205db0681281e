"""Hostile files in a database directory: a YAML alias bomb or deep nesting in schema.yaml,
huge or deeply nested meta.json, options that would multiply files and disk, a zstd bomb in a
snapshot. Each gives a clear error naming the file (exit 1), in bounded memory and time."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from security_support import GIB, make_db, run_cli, run_python

import driftdb

SCHEMA = "tables/t/schema.yaml"

ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
    "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
    "name: t\nprimary_key: id\nindexes: *h\n"
)

HOSTILE_SCHEMAS = {
    "alias bomb": (ALIAS_BOMB, "alias"),
    "anchor only": ("name: &n t\nprimary_key: id\n", "alias"),
    "deep flow nesting": ("name: t\nprimary_key: id\nindexes: " + "[" * 50_000, "nested"),
    "deep block nesting": (
        "name: t\nprimary_key: id\noptions:\n"
        + "".join(" " * i + f"k{i}:\n" for i in range(1, 200)),
        "nested",
    ),
    "huge": ("name: t\nprimary_key: id\n" + "# padding\n" * 200_000, "byte bound"),
    "huge list in a field": (
        "name: t\nprimary_key: [" + ", ".join(["x" * 50] * 1000) + "]\n",
        "primary key",
    ),
}


@pytest.mark.parametrize("what", list(HOSTILE_SCHEMAS))
@pytest.mark.parametrize("command", ["select", "doctor"])
def test_a_hostile_schema_yaml_is_refused_quickly_in_bounded_memory(
    tmp_path: Path, what: str, command: str
) -> None:
    path = make_db(tmp_path / "db")
    text, words = HOSTILE_SCHEMAS[what]
    (path / SCHEMA).write_text(text)
    args = ["select", "-d", str(path), "--table", "t"] if command == "select" else ["doctor"]
    if command == "doctor":
        args += ["-d", str(path)]
    ran = run_cli(*args, timeout_s=30, memory_bytes=GIB)
    assert ran.code == 1, ran
    assert SCHEMA in ran.err + ran.out, ran
    assert words in ran.err + ran.out, ran
    assert len(ran.err + ran.out) < 4000, "an untrusted structure was rendered whole"
    assert ran.seconds < 10, ran.seconds


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000, " " * 3_000_000],
    ids=["deep list", "deep object", "huge"],
)
def test_a_hostile_meta_json_is_a_cache_reported_by_doctor_not_a_crash(
    tmp_path: Path, text: str
) -> None:
    path = make_db(tmp_path / "db")
    (path / "tables/t/meta.json").write_text(text)
    ran = run_cli("doctor", "-d", str(path), timeout_s=30, memory_bytes=GIB)
    assert ran.code == 1, ran
    assert "tables/t/meta.json" in ran.out, ran
    fixed = run_cli("doctor", "-d", str(path), "--repair", timeout_s=30)
    assert fixed.code == 0, fixed
    selected = run_cli("select", "-d", str(path), "--table", "t", timeout_s=30)
    assert selected.code == 0, selected


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("segment_size_bytes", 1),
        ("snapshot_every_events", 1),
        ("snapshot_every_bytes", 1),
        ("segment_size_bytes", 2**62),
    ],
)
def test_table_options_outside_their_range_are_refused_naming_option_and_range(
    tmp_path: Path, option: str, value: int
) -> None:
    path = make_db(tmp_path / "db")
    text = (path / SCHEMA).read_text()
    (path / SCHEMA).write_text(text.replace("options: {}", f"options:\n  {option}: {value}"))
    ran = run_cli("select", "-d", str(path), "--table", "t", timeout_s=30)
    assert ran.code == 1, ran
    assert ran.err.startswith(f"error: {SCHEMA}: table option '{option}' must be"), ran.err
    assert " from " in ran.err and " to " in ran.err, ran.err
    made = run_cli("sql", "-d", str(path), "-e", f"CREATE TABLE u (pk=id) WITH ({option}={value})")
    created = run_python(
        f"""
        try:
            with driftdb.open({str(tmp_path / "db2")!r}, create=True) as db:
                db.create_table("u", options={{{option!r}: {value}}})
            print("ACCEPTED")
        except driftdb.InvalidInputError as exc:
            print("REFUSED", exc)
        """
    )
    assert created.out.startswith(f"REFUSED table option '{option}' must be"), created
    del made  # the DriftQL form may not take options; the API's refusal is what counts


def zstd_bomb(raw_size: int) -> bytes:
    import zstandard

    compressor = zstandard.ZstdCompressor(level=3, write_content_size=False)
    chunks = compressor.compressobj()
    # A msgpack array header claiming ~raw_size nils: the cheapest way to make an unpacker
    # allocate a list of pointers per byte decompressed.
    out = [chunks.compress(b"\xdd" + struct.pack(">I", raw_size - 5))]
    nils = b"\xc0" * (1 << 20)
    out += [chunks.compress(nils) for _ in range(raw_size >> 20)]
    out.append(chunks.flush())
    return b"".join(out)


def rewrite_snapshot(path: Path, body: bytes, raw_bytes: int, rows: int) -> None:
    """Keep the header's fields, put `body` in, claim `raw_bytes` and `rows`, fix both CRCs."""
    from driftdb.storage.snapshot import HEADER

    fields = list(HEADER.unpack_from(path.read_bytes()))
    fields[5], fields[6], fields[7], fields[11] = rows, raw_bytes, len(body), zlib.crc32(body)
    head = HEADER.pack(*fields[:-1], 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    path.write_bytes(head + body)


@pytest.mark.parametrize("kind", ["plain", "base"])
def test_a_zstd_bomb_snapshot_claiming_gigabytes_is_refused_in_bounded_memory(
    tmp_path: Path, kind: str
) -> None:
    path = make_db(tmp_path / "db", rows=20)
    with driftdb.open(path) as db:
        table = db.table("t")
        if kind == "base":
            table.compact(before=10)
        else:
            table.snapshot()
    pattern = "*.base.snap" if kind == "base" else "[0-9]*[0-9].snap"
    [snap] = list((path / "tables/t/snapshots").glob(pattern))
    claimed = 2 * GIB
    rewrite_snapshot(snap, zstd_bomb(claimed), raw_bytes=claimed, rows=15)
    assert snap.stat().st_size < 200_000
    shutil.rmtree(path / "tables/t/indexes")  # so that a read-only select reads the snapshot
    args = ["select", "-d", str(path), "--table", "t"]
    ran = run_cli(*args, timeout_s=60, memory_bytes=GIB)
    # Whether select needs the snapshot depends on what the log still holds; either way it
    # answers or refuses cleanly, in bounded memory.
    assert ran.code in (0, 1) and "Traceback" not in ran.err, ran
    assert ran.seconds < 30, ran.seconds
    ran = run_cli("doctor", "-d", str(path), "--full", timeout_s=60, memory_bytes=GIB)
    assert ran.code == 1, ran
    assert snap.name in ran.out, ran
    assert ran.seconds < 30, ran.seconds


def test_a_snapshot_row_that_is_not_a_document_is_refused_naming_the_snapshot(
    tmp_path: Path,
) -> None:
    from driftdb.storage.snapshot import HEADER, SnapshotError, encode_snapshot, read_snapshot

    path = make_db(tmp_path / "db", rows=20)
    with driftdb.open(path) as db:
        db.table("t").snapshot()
    [snap] = list((path / "tables/t/snapshots").glob("[0-9]*[0-9].snap"))
    fields = HEADER.unpack_from(snap.read_bytes())
    rows = [(i, {"id": i, "v": b"\x00bin" if i == 3 else i}) for i in range(20)]
    data, _ = encode_snapshot(rows, fields[3], fields[4], None, False)
    snap.write_bytes(data)
    shutil.rmtree(path / "tables/t/indexes")
    with pytest.raises(SnapshotError, match="not a document"):
        read_snapshot(str(snap))
    ran = run_cli("select", "-d", str(path), "--table", "t", "--format", "json", timeout_s=30)
    assert ran.code == 0, ran  # answered from the log, never from the damaged snapshot
    assert all(isinstance(row["v"], int) for row in json.loads(ran.out)), ran.out
    full = run_cli("doctor", "-d", str(path), "--full", timeout_s=30)
    assert full.code == 1 and snap.name in full.out and "not a document" in full.out, full
