"""Frames whose CRC is valid but whose content breaks the model's rules (a txn entry no writer
writes, a key no insert accepts, msgpack values that are not JSON, a time past the year 9999)
are corruption: readers refuse them naming file and offset, `doctor --full` reports them,
`doctor --repair` quarantines them, and nothing escapes as an internal error (exit 3)."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
from pathlib import Path

import msgpack
import pytest
from security_support import append_frame, make_db, run_cli

import driftdb
from driftdb import doctor

CRAFTED: dict[str, dict[str, object]] = {
    "txn parts is a list": {
        "key": 99,
        "doc": {"id": 99},
        "txn": {"first": 6, "count": 1, "parts": [1]},
    },
    "txn first is inf": {"key": 99, "doc": {"id": 99}, "txn": {"first": float("inf"), "count": 1}},
    "txn without first": {"key": 99, "doc": {"id": 99}, "txn": {"count": 1}},
    "u64 key": {"key": 2**64 - 1, "doc": {"id": 1}},
    "600-byte key": {"key": "k" * 600, "doc": {"id": 1}},
    "bin value": {"key": 99, "doc": {"id": 99, "b": b"\x00\x01"}},
    "ext value": {"key": 99, "doc": {"id": 99, "e": msgpack.ExtType(5, b"xx")}},
    "timestamp value": {"key": 99, "doc": {"id": 99, "e": msgpack.Timestamp(1, 2)}},
}


def crafted_db(tmp_path: Path, what: str) -> tuple[Path, int]:
    path = make_db(tmp_path / "db")
    if what == "unix_ms 2**64-1":
        return path, append_frame(path, 6, {"key": 99, "doc": {"id": 99}}, unix_ms=2**64 - 1)
    return path, append_frame(path, 6, CRAFTED[what])


@pytest.mark.parametrize("what", [*CRAFTED, "unix_ms 2**64-1"])
def test_a_crafted_frame_with_a_valid_crc_is_corruption_named_by_file_and_offset(
    tmp_path: Path, what: str
) -> None:
    path, offset = crafted_db(tmp_path, what)
    ran = run_cli("select", "-d", str(path), "--table", "t", timeout_s=60)
    assert ran.code == 1, ran
    assert ran.err.startswith("error: "), ran.err
    assert f"tables/t/segments/00000001.seg offset {offset}" in ran.err, ran.err
    full = run_cli("doctor", "-d", str(path), "--full", timeout_s=60)
    assert full.code == 1 and "damaged" in full.out, full
    assert f"00000001.seg offset {offset}" in full.out + full.err, full
    fixed = run_cli("doctor", "-d", str(path), "--repair", timeout_s=60)
    assert fixed.code == 0, fixed
    assert (path / f"tables/t/quarantine/00000001-{offset}.bin").exists()
    after = run_cli("select", "-d", str(path), "--table", "t", "--format", "json", timeout_s=60)
    assert after.code == 0, after


def test_a_crafted_clock_far_in_the_future_does_not_pin_the_writer(tmp_path: Path) -> None:
    path, _ = crafted_db(tmp_path, "unix_ms 2**64-1")
    with pytest.raises(driftdb.CorruptionError, match="past the year 9999"):
        driftdb.open(path)


def random_value(rng: random.Random, depth: int = 0) -> object:
    kinds = ["nil", "bool", "int", "bigint", "float", "str", "bin", "ext", "ts"]
    if depth < 3:
        kinds += ["list", "map", "map"]
    kind = rng.choice(kinds)
    if kind == "nil":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.randint(-10, 10)
    if kind == "bigint":
        return rng.choice([2**63, 2**64 - 1, -(2**63), 2**53 + 1])
    if kind == "float":
        return rng.choice([0.5, float("inf"), float("nan"), -0.0, 1e308])
    if kind == "str":
        return rng.choice(["", "k", "x" * 600, "\x1b[31m", "first", "count", "parts", "doc"])
    if kind == "bin":
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 4)))
    if kind == "ext":
        return msgpack.ExtType(rng.randint(0, 127), b"ab")
    if kind == "ts":
        return msgpack.Timestamp(rng.randint(0, 2**32 - 1), 0)
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = ["key", "doc", "patch", "txn", "meta", "purged", "first", "count", "parts", "id", "v"]
    return {
        rng.choice([*keys, 1, None]): random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))
    }


def random_payload(rng: random.Random) -> bytes:
    """A msgpack map that looks like a payload more often than not."""
    payload: dict[object, object] = {}
    if rng.random() < 0.9:
        payload["key"] = rng.choice([99, "k", 2**64 - 1, -(2**63) - 1, "", True, None, 1.5, [1]])
    for name in ("doc", "patch", "txn", "meta", "purged"):
        if rng.random() < 0.5:
            payload[name] = random_value(rng)
    if rng.random() < 0.3:
        payload["txn"] = {
            "first": rng.choice([6, 0, -1, 2**64, 1.5, None, "6", True]),
            "count": rng.choice([1, 0, -1, 2**70, None, "1"]),
            "parts": rng.choice([{"t": 1}, [1], {"t": "x"}, {1: 1}, None, 5]),
        }
    try:
        return bytes(msgpack.packb(payload, use_bin_type=True))
    except (OverflowError, ValueError, TypeError):
        return bytes(msgpack.packb({"key": 99, "doc": 5}))


FUZZ_EXAMPLES = max(30, int(os.environ.get("DRIFTDB_FUZZ_EXAMPLES", "200")) // 5)


def test_fuzz_frames_with_valid_crcs_raise_only_drift_errors(tmp_path: Path) -> None:
    template = make_db(tmp_path / "template")
    rng = random.Random(15)
    for i in range(FUZZ_EXAMPLES):
        path = tmp_path / f"db{i}"
        shutil.copytree(template, path)
        payload = random_payload(rng)
        unix_ms = rng.choice([0, 1, 2**64 - 1, 253_402_300_800_000, 1_700_000_000_000])
        seq = rng.choice([6, 6, 6, 2**63, 3])
        append_frame(path, seq, payload, unix_ms=unix_ms, event_type=rng.choice([1, 1, 2, 3]))
        where = f"example {i}: payload {payload!r}, unix_ms {unix_ms}, seq {seq}"
        with contextlib.suppress(driftdb.DriftError), driftdb.open(path, readonly=True) as db:
            rows = db.table("t").select()
            assert all(isinstance(r, dict) for r in rows), where
        report = doctor.check(str(path), full=True)
        report.render()
        with contextlib.suppress(driftdb.DriftError):
            doctor.repair(str(path)).render()
        with contextlib.suppress(driftdb.DriftError), driftdb.open(path) as db:
            db.table("t").select()
        shutil.rmtree(path)


def test_fuzz_frames_never_make_the_cli_exit_3(tmp_path: Path) -> None:
    template = make_db(tmp_path / "template")
    rng = random.Random(1015)
    for i in range(8):
        path = tmp_path / f"db{i}"
        shutil.copytree(template, path)
        payload = random_payload(rng)
        append_frame(path, 6, payload, unix_ms=rng.choice([1, 2**64 - 1]))
        for args in (("select", "--table", "t"), ("doctor", "--full"), ("doctor", "--repair")):
            ran = run_cli(args[0], "-d", str(path), *args[1:], timeout_s=60)
            assert ran.code in (0, 1), (payload, args, ran)
            assert "Traceback" not in ran.err, (payload, args, ran)
