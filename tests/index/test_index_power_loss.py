"""The index under power loss. LMDB commits are not fsynced (sync=False): a power cut can leave
data.mdb with pages from before the last sync mixed with pages written after it. A synced
marker beside data.mdb records the last transaction known durable (and the boot it was written
in), and an index that may hold unsynced pages after a reboot is rebuilt from the log (writer)
or not used (reader) before any answer comes from it.

Each case builds a database, copies data.mdb at a sync point (a clean close), writes more with
a writer that never closes (a process killed before the cut), then puts old pages back and
"reboots" (DRIFTDB_BOOT_ID) before a child process compares every AS OF with the log replay."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import driftdb

CHILD = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import driftdb
from driftdb.model.events import unpack_event
from driftdb.model.replay import state_at
from driftdb.storage.segment import iter_frames

path, readonly = sys.argv[1], sys.argv[2] == "1"
events = []
for result in iter_frames(path + "/tables/t/segments"):
    for record in result.frames:
        b = record.body
        events.append(unpack_event(b.seq, b.unix_ms, b.event_type, b.payload))
wrong = []
with driftdb.open(path, readonly=readonly) as db:
    t = db.table("t")
    for seq in range(0, events[-1].seq + 1):
        state = state_at(events, seq, "id")
        rows = {r["id"]: r for r in t.select(as_of=seq)}
        if rows != state:
            wrong.append(f"select @{seq}")
        for k in (0, 5, 17):
            if t.get(k, as_of=seq) != state.get(k):
                wrong.append(f"get {k} @{seq}")
        for v in ("a", "b"):
            want = sorted(k for k, r in state.items() if r.get("v") == v)
            if sorted(r["id"] for r in t.select(where={"v": v}, as_of=seq)) != want:
                wrong.append(f"v={v} @{seq}")
            if t.count(where={"v": v}, as_of=seq) != len(want):
                wrong.append(f"count v={v} @{seq}")
        if t.count(as_of=seq) != len(state):
            wrong.append(f"count @{seq}")
print(json.dumps(wrong))
"""


def _judge(path: Path, readonly: bool) -> list[str]:
    env = {**os.environ, "DRIFTDB_BOOT_ID": "after-the-power-cut"}
    ran = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), "1" if readonly else "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    return list(json.loads(ran.stdout))


def _build(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    """(a copy of the database as the cut left it, data.mdb at the last sync, data.mdb as the
    page cache held it)."""
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        t = db.create_table("t", indexes=["v"])
        for i in range(40):
            t.insert({"id": i, "v": "a" if i % 2 else "b", "n": i})
    synced = (path / "tables/t/indexes/data.mdb").read_bytes()
    db = driftdb.open(path)
    t = db.table("t")
    for i in range(40):
        if i % 3 == 0:
            t.patch(i, {"v": "b" if i % 2 else "a", "pad": "p" * 300})
        elif i % 3 == 1:
            t.soft_delete(i)
    t.insert_many({"id": i, "v": "a", "n": i} for i in range(40, 200))
    cut = tmp_path / "cut"
    shutil.copytree(path, cut)  # the files as a killed writer left them (page cache included)
    db.close()
    return cut, synced, (cut / "tables/t/indexes/data.mdb").read_bytes()


def _page_size() -> int:
    return 4096


@pytest.mark.parametrize("readonly", [False, True])
def test_an_index_restored_to_its_last_sync_is_never_answered_from(
    tmp_path: Path, readonly: bool
) -> None:
    cut, synced, _ = _build(tmp_path)
    (cut / "tables/t/indexes/data.mdb").write_bytes(synced)
    assert _judge(cut, readonly) == []


@pytest.mark.parametrize("readonly", [False, True])
def test_new_meta_pages_over_old_data_pages_are_never_answered_from(
    tmp_path: Path, readonly: bool
) -> None:
    cut, synced, new = _build(tmp_path)
    psize = _page_size()
    mixed = new[: 2 * psize] + synced[2 * psize :] + new[len(synced) :]
    (cut / "tables/t/indexes/data.mdb").write_bytes(mixed)
    assert _judge(cut, readonly) == []


@pytest.mark.parametrize("readonly", [False, True])
def test_every_other_page_lost_is_never_answered_from(tmp_path: Path, readonly: bool) -> None:
    cut, synced, new = _build(tmp_path)
    psize = _page_size()
    out = bytearray(new)
    for start in range(2 * psize, len(synced), 2 * psize):
        out[start : start + psize] = synced[start : start + psize]
    (cut / "tables/t/indexes/data.mdb").write_bytes(bytes(out))
    assert _judge(cut, readonly) == []


def test_a_killed_writer_without_a_reboot_keeps_its_index(tmp_path: Path) -> None:
    """The page cache survives a process kill: no rebuild is needed, and none is made."""
    cut, _, _ = _build(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "DRIFTDB_BOOT_ID"}
    code = (
        "import warnings, driftdb\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        f"    driftdb.open({str(cut)!r}).close()\n"
        "print([str(x.message) for x in w])\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert ran.returncode == 0, ran.stderr
    assert "rebuilt" not in ran.stdout, ran.stdout
