"""Damage the index witnesses (issue 10, items 6-9): the log lost or damaged events that the
index (or meta.json, or a snapshot) proves were acknowledged.

For each kind of damage, on a copy of one database (one table, several segments, a batch of
1,000 events), the suite checks:
- a reader and the writer give the same answer (the same rows, or the same CorruptionError);
- the writer never reuses a seq and never silently drops an acknowledged event (it refuses,
  or it answers from the intact index);
- `doctor` reports the damage (not ok; `driftdb doctor` exits 1);
- `doctor --repair` restores what the index proves: afterwards the log's replay equals the
  replay of the log saved before the damage, and the repaired database answers the same.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import driftdb
from driftdb import doctor
from driftdb.cli.app import cli
from driftdb.model.replay import state_at as replay_at
from helpers.bytes_edit import flip_byte, segment_paths, truncate_tail
from helpers.gap_support_a import damage_index, log_events
from helpers.segment_reader import parse_file

BATCH = 1000


def state_at(events: list[Any], seq: int) -> dict[Any, Any]:
    return replay_at(events, seq, "id")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("witness") / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", indexes=["v"], options={"segment_size_bytes": 4096})
        for i in range(40):
            table.insert({"id": i, "v": f"v{i % 3}", "pad": "p" * 80})
        for i in range(0, 40, 4):
            table.patch(i, {"v": "patched", "n": {"deep": i}})
        table.soft_delete(5)
        table.insert_many([{"id": 1000 + i, "v": "batch"} for i in range(BATCH)])
        for i in range(3):
            table.insert({"id": 5000 + i, "v": "last"})
    return path


def answer(path: Path, readonly: bool) -> tuple[str, Any]:
    """What a reader (or the writer) says: every row and the head, or the error."""
    try:
        with driftdb.open(path, readonly=readonly) as db:
            table = db.table("t")
            return "rows", (sorted(map(repr, table.select())), table.count(), db.head())
    except driftdb.CorruptionError as exc:
        return "error", str(exc)


def last_segment(path: Path) -> Path:
    return segment_paths(path, "t")[-1]


def frames_of_last(path: Path) -> list[Any]:
    return parse_file(last_segment(path))


def delete_first_segment(path: Path) -> None:
    segment_paths(path, "t")[0].unlink()


def delete_last_segment(path: Path) -> None:
    last_segment(path).unlink()


def shorten_in_the_middle(path: Path) -> None:
    segment = last_segment(path)
    truncate_tail(segment, segment.stat().st_size // 2)


def cut_last_37_bytes(path: Path) -> None:
    segment = last_segment(path)
    truncate_tail(segment, segment.stat().st_size - 37)


def damage_covered_final_frame(path: Path) -> None:
    final = frames_of_last(path)[-1]
    flip_byte(last_segment(path), final.offset + 12, 0x40)


def damage_middle_frame_of_the_batch(path: Path) -> None:
    for segment in segment_paths(path, "t"):
        batch = [f for f in parse_file(segment) if "txn" in f.payload]
        if batch:
            flip_byte(segment, batch[BATCH // 2].offset + 12, 0x40)
            return
    raise AssertionError("no batch")


def damage_the_index_file(path: Path) -> None:
    damage_index(path, "t")


DAMAGE: dict[str, Callable[[Path], None]] = {
    "first-segment-deleted": delete_first_segment,
    "last-segment-deleted": delete_last_segment,
    "last-segment-shortened-in-the-middle": shorten_in_the_middle,
    "last-37-bytes-cut": cut_last_37_bytes,
    "covered-final-frame-damaged": damage_covered_final_frame,
    "middle-frame-of-a-big-batch-damaged": damage_middle_frame_of_the_batch,
    "index-file-damaged": damage_the_index_file,
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damage_the_index_witnesses_is_reported_never_hidden_and_repaired(
    pristine: Path, tmp_path: Path, kind: str
) -> None:
    original = log_events(pristine, "t")
    head = original[-1].seq
    path = tmp_path / "db"
    shutil.copytree(pristine, path)
    DAMAGE[kind](path)

    # doctor sees it (before anything else touches the files).
    report = doctor.check(path)
    assert not report.ok, report.render()
    result = CliRunner().invoke(cli, ["doctor", "-d", str(path)])
    assert result.exit_code == 1, result.output

    # A reader and the writer give the same answer about the same bytes.
    reader = answer(path, readonly=True)
    writer = answer(path, readonly=False)
    assert reader == writer
    if writer[0] == "rows":
        _rows, count, writer_head = writer[1]
        assert writer_head == head, "the writer lost or invented acknowledged events"
        assert count == len(state_at(original, head))
        with driftdb.open(path) as db:  # no seq is reused
            assert db.table("t").insert({"id": 9999}) == head + 1
    else:
        assert "doctor --repair" in writer[1]
        assert "not a torn write" in writer[1] or "CRC mismatch" in writer[1], writer[1]

    # Repair restores what the index proves: every acknowledged event.
    repaired = tmp_path / "repaired"
    shutil.copytree(pristine, repaired)
    DAMAGE[kind](repaired)
    report = doctor.repair(repaired)
    assert report.ok, report.render()
    events = log_events(repaired, "t")
    assert [e.seq for e in events] == [e.seq for e in original], report.render()
    assert state_at(events, head) == state_at(original, head)
    for seq in range(0, head + 1, 97):
        assert state_at(events, seq) == state_at(original, seq), seq
    with driftdb.open(repaired) as db:
        assert db.head() == head
        assert db.table("t").count() == len(state_at(original, head))
        assert db.table("t").insert({"id": 9999}) == head + 1
    assert doctor.check(repaired).ok


def test_a_deleted_segment_is_never_renumbered_from_one(pristine: Path, tmp_path: Path) -> None:
    """Issue 10, item 6: every segment deleted; the index and meta.json still show the head."""
    path = tmp_path / "db"
    shutil.copytree(pristine, path)
    head = log_events(pristine, "t")[-1].seq
    for segment in segment_paths(path, "t"):
        segment.unlink()
    with pytest.raises(driftdb.CorruptionError) as refused:
        driftdb.open(path).close()
    assert "events up to @seq:" in str(refused.value)
    assert f"@seq:{head}" in str(refused.value)
    assert not list((path / "tables/t/segments").iterdir()), "the writer started a new log"
    report = doctor.repair(path)
    assert report.ok, report.render()
    with driftdb.open(path) as db:
        assert db.head() == head
        assert db.table("t").insert({"id": 9999}) == head + 1


def test_repair_on_a_directory_that_is_not_a_database_touches_nothing(tmp_path: Path) -> None:
    """Issue 15, item 11: no LOCK is created or overwritten; exit 1."""
    (tmp_path / "LOCK").write_bytes(b"a person's file")
    result = CliRunner().invoke(cli, ["doctor", "-d", str(tmp_path), "--repair"])
    assert result.exit_code == 1, result.output
    assert (tmp_path / "LOCK").read_bytes() == b"a person's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["LOCK"]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["doctor", "-d", str(empty), "--repair"])
    assert result.exit_code == 1
    assert list(empty.iterdir()) == []


def test_a_damaged_schema_yaml_is_not_sent_to_repair(pristine: Path, tmp_path: Path) -> None:
    """Issue 15, item 11: repair never rewrites schema.yaml, so doctor does not advise it."""
    path = tmp_path / "db"
    shutil.copytree(pristine, path)
    (path / "tables/t/schema.yaml").write_text("name: [unclosed\n")
    result = CliRunner().invoke(cli, ["doctor", "-d", str(path)])
    assert result.exit_code == 1
    assert "--repair" not in result.output
    assert "repair cannot fix schema.yaml: restore it from a backup" in result.output
    result = CliRunner().invoke(cli, ["doctor", "-d", str(path), "--repair"])
    assert result.exit_code == 1, result.output


def test_another_tables_index_copied_in_is_not_trusted(tmp_path: Path) -> None:
    """Issue 15, item 12: one table's data.mdb copied over another's: readers read the log,
    the writer rebuilds from the log (saying so), doctor reports it."""
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        db.create_table("a").insert_many([{"id": i, "who": "a"} for i in range(3)])
        db.create_table("b").insert_many([{"id": i, "who": "b"} for i in range(5)])
    shutil.copy2(path / "tables/a/indexes/data.mdb", path / "tables/b/indexes/data.mdb")
    report = doctor.check(path)
    assert not report.ok
    assert any(
        f.file == "tables/b/indexes" and f.message.startswith('the index belongs to table "a"')
        for f in report.errors()
    ), report.render()
    with driftdb.open(path, readonly=True) as reader:
        assert sorted(r["who"] for r in reader.table("b").select()) == ["b"] * 5
    with pytest.warns(driftdb.DriftWarning, match='the index belongs to table "a", not "b"'):
        db = driftdb.open(path)
    with db:
        assert sorted(r["who"] for r in db.table("b").select()) == ["b"] * 5
        assert db.table("b").insert({"id": 99}) == 9
    assert doctor.check(path).ok


def test_the_same_tables_index_from_another_database_is_not_trusted(tmp_path: Path) -> None:
    """Issue 15, item 12: table "t" of database one, copied into database two's table "t"."""
    one, two = tmp_path / "one", tmp_path / "two"
    for path, n in ((one, 3), (two, 4)):
        with driftdb.open(path, create=True) as db:
            db.create_table("t").insert_many([{"id": i, "db": path.name} for i in range(n)])
    shutil.copy2(one / "tables/t/indexes/data.mdb", two / "tables/t/indexes/data.mdb")
    with driftdb.open(two, readonly=True) as reader:
        assert sorted(r["db"] for r in reader.table("t").select()) == ["two"] * 4
    assert not doctor.check(two).ok
    with pytest.warns(driftdb.DriftWarning, match="the index belongs to another log"):
        db = driftdb.open(two)
    with db:
        assert sorted(r["db"] for r in db.table("t").select()) == ["two"] * 4


def test_doctor_on_a_read_only_mount_says_so_and_does_not_call_the_index_damaged(
    pristine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 10: LMDB cannot create its reader lock file on a read-only mount (simulated:
    opening the index fails with EROFS); doctor says why it did not check the index."""
    import errno
    import importlib

    check_module = importlib.import_module("driftdb.maintenance.doctor.check")

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(check_module, "TableIndex", read_only)
    report = doctor.check(pristine)
    assert report.ok, report.render()
    [warning] = [f for f in report.findings if f.file == "tables/t/indexes"]
    assert warning.severity == "warning"
    assert warning.message.startswith(
        "not checked: it cannot be opened on this read-only file system"
    )
    assert "this is not damage" in warning.message
