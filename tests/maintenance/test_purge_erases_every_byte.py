"""PURGE erases: afterwards no byte of the purged values is anywhere in the database directory
(segments, snapshots, the LMDB index with its free pages, meta files, quarantine), before and
after COMPACT; values the purged key shares with other keys keep their counts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import msgpack

import driftdb

EMAIL = "victim.zq7@example.org"
SSN = "078-05-1120"
NICK = "zz-top-secret-nick"
NEW_EMAIL = "victim.new.k3@example.net"
SECRETS = [EMAIL, SSN, NICK, NEW_EMAIL]


def _needles() -> list[bytes]:
    out = []
    for value in SECRETS:
        out.append(value.encode())
        out.append(msgpack.packb(value, use_bin_type=True))
    return out


def _leaks(root: Path) -> list[str]:
    found = []
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = Path(directory) / name
            data = path.read_bytes()
            for needle in _needles():
                if needle in data:
                    found.append(f"{path.relative_to(root)}: {needle!r} x{data.count(needle)}")
    return found


def _fill(db: driftdb.Database) -> driftdb.Table:
    people = db.create_table("people", indexes=["email", "city"])
    for i in range(30):
        people.insert({"id": i, "email": f"user{i}@example.com", "city": "Lyon", "n": i})
    people.insert({"id": "victim", "email": EMAIL, "ssn": SSN, "city": "Lyon"})
    people.snapshot()
    people.patch("victim", {"nick": NICK, "email": NEW_EMAIL})
    for i in range(30):
        people.patch(i, {"n": i + 100})
    people.patch("victim", {"city": "Paris"})
    people.soft_delete("victim")
    return people


def test_purge_leaves_no_byte_of_the_purged_values_in_any_file(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        people = _fill(db)
        assert _leaks(path), "the test's needles must be found before the purge"
        people.purge("victim", reason="erasure request")
        assert people.count(where={"city": "Lyon"}) == 30
        assert people.count(where={"city": "Lyon"}, as_of=31) == 31 - 1
    assert _leaks(path) == []
    with driftdb.open(path) as db:
        db.table("people").compact()
    assert _leaks(path) == []
    with driftdb.open(path) as db:
        people = db.table("people")
        assert people.count(where={"city": "Lyon"}) == 30
        assert people.count(where={"email": EMAIL}) == 0
        assert list(people.select(where={"email": EMAIL}, as_of=32)) == []


def test_purge_removes_the_copies_an_earlier_repair_left_in_quarantine(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        _fill(db)
    quarantine = path / "tables" / "people" / "quarantine"
    quarantine.mkdir()
    shutil.copy(
        path / "tables" / "people" / "indexes" / "data.mdb", quarantine / "indexes-data.mdb"
    )
    (quarantine / "00000001-100.bin").write_bytes(b"unrelated damaged bytes")
    with driftdb.open(path) as db:
        db.table("people").purge("victim")
    assert _leaks(path) == []
    assert (quarantine / "00000001-100.bin").exists()  # nothing of the key: kept


def test_a_purge_under_an_open_read_erases_when_the_database_closes(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        people = _fill(db)
        view = people.view()  # a read held open in this process across the purge
        people.purge("victim")
        view.close()
    assert _leaks(path) == []
