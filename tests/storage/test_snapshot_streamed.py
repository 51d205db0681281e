"""Snapshots are packed, compressed and written in slices as the rows come (so a background
snapshot never holds the interpreter long while a commit waits): the file must hold exactly
the bytes of one msgpack array of every (key, row) pair, and read back as the rows given,
whatever the number of slices and write steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack
import pytest
import zstandard

from driftdb.model.retention import Horizon
from driftdb.storage import snapshot
from driftdb.storage.snapshot import HEADER_SIZE, encode_snapshot, read_snapshot, write_snapshot


def rows(count: int) -> list[tuple[Any, dict[str, Any]]]:
    return [(i, {"id": i, "note": f"row {i} " * (i % 7), "n": i * 1.5}) for i in range(count)]


@pytest.mark.parametrize("count", [0, 1, 511, 512, 513, 1500])
def test_the_body_is_one_msgpack_array_of_every_pair(tmp_path: Path, count: int) -> None:
    given = rows(count)
    data, written = encode_snapshot(iter(given), 9, 1700, Horizon(3, 1600, 1500), False)
    assert written == count
    raw = zstandard.ZstdDecompressor().decompress(data[HEADER_SIZE:])  # content size in frame
    assert raw == msgpack.packb([[k, r] for k, r in given], use_bin_type=True)
    path = tmp_path / "9.snap"
    path.write_bytes(data)
    info, back = read_snapshot(str(path))
    assert (info.seq, info.row_count, info.horizon) == (9, count, Horizon(3, 1600, 1500))
    assert back == given


def test_a_file_written_in_steps_equals_the_encoded_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot, "_STEP_BYTES", 4096)  # many steps, each fsynced
    given = rows(3000)
    info = write_snapshot(str(tmp_path), iter(given), 12, 1800, None, False)
    data, _ = encode_snapshot(iter(given), 12, 1800, None, False)
    written = (tmp_path / "12.snap").read_bytes()
    assert written[HEADER_SIZE:] and len(written) == info.size_bytes == len(data)
    assert zstandard.ZstdDecompressor().decompress(written[HEADER_SIZE:]) == (
        zstandard.ZstdDecompressor().decompress(data[HEADER_SIZE:])
    )
    assert read_snapshot(str(tmp_path / "12.snap"))[1] == given


def test_a_snapshot_of_row_images_is_the_snapshot_of_the_rows(tmp_path: Path) -> None:
    """A background snapshot copies the rows' msgpack bytes from the index without decoding
    them: the file must be byte for byte the one written from the decoded rows."""
    given = [*rows(700), ("k", {"s": "ü", "b": None, "l": [1, {"x": 2.5}]})]
    images = [(key, msgpack.packb(row, use_bin_type=True)) for key, row in given]
    horizon = Horizon(3, 1600, 1500)
    from_images = snapshot.write_snapshot_images(str(tmp_path / "a"), iter(images), 9, 1, horizon)
    from_rows = write_snapshot(str(tmp_path / "b"), iter(given), 9, 1, horizon, False)
    assert (tmp_path / "a" / "9.snap").read_bytes() == (tmp_path / "b" / "9.snap").read_bytes()
    assert from_images == snapshot.read_info(str(tmp_path / "a" / "9.snap"))
    assert from_rows.row_count == len(given)
    assert read_snapshot(str(tmp_path / "a" / "9.snap"))[1] == given


def test_a_background_snapshot_pauses_after_each_synced_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Background snapshots (written while commits go on) leave the device idle between
    steps; the file is the same as one written without pauses."""
    monkeypatch.setattr(snapshot, "_BACKGROUND_STEP_BYTES", 4096)
    pauses: list[float] = []
    monkeypatch.setattr(snapshot.time, "sleep", pauses.append)
    given = rows(3000)
    images = [(key, msgpack.packb(row, use_bin_type=True)) for key, row in given]
    info = snapshot.write_snapshot_images(str(tmp_path / "a"), iter(images), 12, 1800, None)
    write_snapshot(str(tmp_path / "b"), iter(given), 12, 1800, None, False)
    written = (tmp_path / "a" / "12.snap").read_bytes()
    assert written == (tmp_path / "b" / "12.snap").read_bytes()
    # (time.sleep(0) calls are the encoder's own yields of the interpreter)
    steps = [p for p in pauses if p == snapshot._BACKGROUND_PAUSE_S > 0]
    assert 1 < len(steps) <= info.size_bytes // 4096
