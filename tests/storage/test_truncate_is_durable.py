"""A tail the writer's recovery cut off stays cut off after a power loss.

Recovery truncates what must not be read: a torn last frame, or the share of a batch that is
not whole in every table. Like a write, a truncation is only on disk once the file is fsynced;
the power-loss layer models that (a truncation not fsynced comes back at `crash()`). Here the
writer opens a database with such a tail, may write elsewhere, and the power goes before
anything else touches that file: every segment must then hold exactly what recovery left, and
the next open must find nothing to recover.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import driftdb
from driftdb.model.events import Event, EventType, pack_payload
from driftdb.storage import fs
from driftdb.storage.frame import encode_frame
from helpers.bytes_edit import (
    last_segment,
    log_bytes,
    read_bytes,
    restore_indexes,
    save_indexes,
    truncate_tail,
    write_bytes,
)
from helpers.checks import no_drift_warnings, open_recording_warnings
from helpers.gap_support_b import PowerLossLayer, abandon

ROWS = [{"id": i, "n": i * 1.5 - 3, "note": "x" * i} for i in range(1, 8)]


class WatchedLayer(PowerLossLayer):
    """The power-loss layer, also listing the truncations it was asked for."""

    def __init__(self, seed: str) -> None:
        # "drop": a power cut loses everything not fsynced (the worst case, every time).
        super().__init__(random.Random(seed), modes=("drop",))
        self.truncated: list[tuple[str, int]] = []

    def truncate(self, path: str, size_bytes: int) -> None:
        self.truncated.append((os.path.abspath(path), size_bytes))
        super().truncate(path, size_bytes)


def append_torn_frame(db_path: Path, table: str) -> None:
    """Half of a valid next frame at the end of the table's last segment (a write the power
    cut short, on disk before this test's power loss)."""
    doc = {"id": 99, "n": 0, "note": "torn"}
    event = Event(1000, 0, EventType.INSERT, 99, data=doc)
    frame = encode_frame(1000, 0, EventType.INSERT, pack_payload(event))
    segment = last_segment(db_path, table)
    write_bytes(segment, read_bytes(segment) + frame[: len(frame) // 2])


def rows_of(db: driftdb.Database) -> dict[str, list[dict[str, Any]]]:
    return {name: list(db.table(name).select(order_by="id")) for name in db.tables()}


def open_cut_and_lose_power(
    db_path: Path, seed: str, after_open: Callable[[driftdb.Database], None]
) -> tuple[WatchedLayer, dict[str, bytes], list[str]]:
    """Open the writer under the power-loss layer (its recovery truncates), run `after_open`,
    then cut the power. Returns the layer, the log as recovery and `after_open` left it, and the
    recovery's warnings."""
    layer = WatchedLayer(seed)
    with fs.use(layer):
        db, notes = open_recording_warnings(db_path)
        try:
            after_open(db)
            left = log_bytes(db_path)
        finally:
            layer.crash()
            abandon(db)
    return layer, left, notes


def test_a_truncated_torn_frame_does_not_come_back_after_a_power_loss(db_path: Path) -> None:
    with driftdb.open(db_path, create=True) as db:
        db.create_table("t", primary_key="id", indexes=["n"]).insert_many(ROWS)
        expected_rows = rows_of(db)
    clean = log_bytes(db_path)
    append_torn_frame(db_path, "t")

    layer, left, notes = open_cut_and_lose_power(db_path, "torn", lambda db: None)

    assert [os.path.abspath(last_segment(db_path, "t"))] == [p for p, _ in layer.truncated]
    assert any("truncated" in note for note in notes), notes
    assert left == clean  # recovery cut exactly the torn frame
    assert log_bytes(db_path) == clean  # and the power loss did not bring it back
    with no_drift_warnings(), driftdb.open(db_path) as db:
        assert rows_of(db) == expected_rows


def test_a_cut_batch_does_not_come_back_while_the_writer_writes_elsewhere(
    db_path: Path, tmp_path: Path
) -> None:
    with driftdb.open(db_path, create=True) as db:
        db.create_table("t", primary_key="id", indexes=["n"]).insert_many(ROWS)
        db.create_table("u", primary_key="id").insert({"id": "before"})
        expected_rows = rows_of(db)
    save_indexes(db_path, tmp_path / "indexes")
    t_before, u_before = log_bytes(db_path), os.path.getsize(last_segment(db_path, "u"))
    with driftdb.open(db_path) as db, db.batch():
        db.table("t").insert({"id": 50, "n": 2.5})
        db.table("t").patch(1, {"n": -1})
        db.table("u").insert({"id": "in-batch"})
    # The crash of a batch write: t's share is on disk, u's is not, neither index saw it.
    # The batch is not whole, so recovery cuts t's share.
    truncate_tail(last_segment(db_path, "u"), u_before)
    restore_indexes(db_path, tmp_path / "indexes")

    def write_to_u(db: driftdb.Database) -> None:
        db.table("u").insert({"id": "after"})  # acknowledged: fsynced (u's segment only)

    layer, left, notes = open_cut_and_lose_power(db_path, "batch", write_to_u)

    t_segment = os.path.abspath(last_segment(db_path, "t"))
    assert t_segment in [p for p, _ in layer.truncated]
    assert any("truncated" in note for note in notes), notes
    expected_rows["u"] = sorted([*expected_rows["u"], {"id": "after"}], key=lambda r: r["id"])
    t_key = str(Path(t_segment).relative_to(db_path.resolve()))
    assert left[t_key] == t_before[t_key]  # recovery cut t's share of the batch
    assert log_bytes(db_path) == left  # the power loss changed nothing that was acknowledged
    with no_drift_warnings(), driftdb.open(db_path) as db:
        assert rows_of(db) == expected_rows


def test_the_power_loss_layer_brings_back_a_truncation_that_was_not_fsynced(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: with a truncate that forgets its fsync, the tail returns."""

    def truncate_without_fsync(self: fs.FileLayer, path: str, size_bytes: int) -> None:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size_bytes)
        finally:
            os.close(fd)

    with driftdb.open(db_path, create=True) as db:
        db.create_table("t", primary_key="id").insert_many(ROWS)
    append_torn_frame(db_path, "t")
    torn = log_bytes(db_path)
    monkeypatch.setattr(fs.FileLayer, "truncate", truncate_without_fsync)

    layer, left, _ = open_cut_and_lose_power(db_path, "oracle", lambda db: None)

    assert layer.truncations_lost == 1
    assert left != torn
    assert log_bytes(db_path) == torn
