"""A database directory is untrusted input: its manifest names only DriftDB's own files, no link
or special file is followed, read or written through, files are owner-only, and the writer lock
survives a person deleting LOCK (issue 15 items 1, 2, 5, 8; issue 10 item 12).

Each test crafts a hostile directory beside a sentinel tree ("outside"), runs the real `driftdb`
command in a child with a timeout, and checks the exit code, that the message names the file,
and that nothing outside the database changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import driftdb
from helpers.checks import python_child

DRIFTDB = str(Path(sys.executable).parent / "driftdb")
TIMEOUT_S = 30.0
SECRET = b"outside data that must never change\n"

pytestmark = pytest.mark.skipif(os.name != "posix", reason="links and FIFOs are POSIX")


# -- the hostile directory -------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A sentinel tree beside the database: a victim file, a directory, another database."""
    root = tmp_path / "outside"
    (root / "dir").mkdir(parents=True)
    (root / "victim.txt").write_bytes(SECRET)
    (root / "dir" / "other.txt").write_bytes(SECRET * 2)
    with driftdb.open(root / "otherdb", create=True) as other:
        other.create_table("t").insert({"id": "theirs"})
    return root


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", indexes=["name"])
        table.insert_many([{"id": i, "name": f"n{i}"} for i in range(5)])
        table.snapshot()
    return path


def digest(root: Path) -> dict[str, str]:
    """Every entry under `root` (links and special files by their kind, never followed)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            info = os.lstat(p)
            rel = str(p.relative_to(root))
            if stat.S_ISREG(info.st_mode):
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            elif stat.S_ISLNK(info.st_mode):
                out[rel] = "link:" + os.readlink(p)
            else:
                out[rel] = f"mode:{stat.S_IFMT(info.st_mode):o}"
    return out


def driftdb_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command; a hang is a failure, not a stalled suite."""
    env = {k: v for k, v in os.environ.items() if k != "DRIFTDB_DIR"}
    try:
        return subprocess.run(
            [DRIFTDB, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            env=env,
            timeout=TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"driftdb {' '.join(args)} hung for {TIMEOUT_S:g}s")


def assert_refused(ran: subprocess.CompletedProcess[str], *names: str) -> None:
    assert ran.returncode == 1, (ran.returncode, ran.stdout, ran.stderr)
    text = ran.stdout + ran.stderr
    assert "Traceback" not in text
    for name in names:
        assert name in text, (name, text)


READ_COMMANDS = [("select", "-d", "db", "-t", "t"), ("doctor", "-d", "db")]
WRITE_COMMANDS = [
    ("sql", "-d", "db", "-e", 'INSERT INTO t {"id": 99, "name": "new"}'),
    ("doctor", "-d", "db", "--repair"),
]
ALL_COMMANDS = READ_COMMANDS + WRITE_COMMANDS


# -- 15.1: the compaction manifest -------------------------------------------------------------


def write_manifest(db_path: Path, install: list[dict[str, object]], remove: list[str]) -> Path:
    path = db_path / "tables" / "t" / "COMPACTING"
    path.write_text(
        json.dumps({"format": 1, "op": "compact", "install": install, "remove": remove})
    )
    return path


def hostile_manifests(tmp_path: Path) -> dict[str, tuple[list[dict[str, object]], list[str], str]]:
    """name -> (install, remove, the entry the error must name)."""
    victim = str(tmp_path / "outside" / "victim.txt")
    payload = tmp_path / "db" / "tables" / "t" / "payload.rewrite.tmp"
    size = len(SECRET)
    return {
        "remove-absolute": ([], [victim], victim),
        "remove-dotdot": ([], ["../../../outside/victim.txt"], "../../../outside/victim.txt"),
        "remove-own-schema": ([], ["schema.yaml"], "schema.yaml"),
        "install-final-outside": (
            [{"final": "../../../outside/victim.txt", "temp": payload.name, "size": size}],
            [],
            "../../../outside/victim.txt",
        ),
        "install-final-absolute": (
            [{"final": victim, "temp": "segments/00000009.seg.rewrite.tmp", "size": size}],
            [],
            victim,
        ),
        "install-temp-outside": (
            [
                {
                    "final": "segments/00000009.seg",
                    "temp": "../../../outside/victim.txt",
                    "size": size,
                }
            ],
            [],
            "../../../outside/victim.txt",
        ),
        "install-pth": (
            [{"final": "segments/x.pth", "temp": "segments/x.pth.rewrite.tmp", "size": size}],
            [],
            "segments/x.pth",
        ),
    }


MANIFEST_CASES = [
    "remove-absolute",
    "remove-dotdot",
    "remove-own-schema",
    "install-final-outside",
    "install-final-absolute",
    "install-temp-outside",
    "install-pth",
]


@pytest.mark.parametrize("command", WRITE_COMMANDS, ids=["writer-open", "repair"])
@pytest.mark.parametrize("case", MANIFEST_CASES)
def test_a_manifest_naming_anything_but_driftdbs_own_files_is_refused_and_left_alone(
    tmp_path: Path, db_path: Path, outside: Path, case: str, command: tuple[str, ...]
) -> None:
    install, remove, entry = hostile_manifests(tmp_path)[case]
    (db_path / "tables" / "t" / "payload.rewrite.tmp").write_bytes(SECRET)
    (db_path / "tables" / "t" / "segments" / "00000009.seg.rewrite.tmp").write_bytes(SECRET)
    manifest = write_manifest(db_path, install, remove)
    before_outside, before_manifest = digest(outside), manifest.read_bytes()
    before_db = digest(db_path)
    ran = driftdb_cli(tmp_path, *command)
    assert_refused(ran, "COMPACTING", entry)
    assert digest(outside) == before_outside
    assert manifest.read_bytes() == before_manifest
    after_db = digest(db_path)
    for name in ("schema.yaml", "segments/00000001.seg"):
        key = f"tables/t/{name}"
        assert after_db[key] == before_db[key]


def test_doctor_reports_a_hostile_manifest_without_obeying_it(
    tmp_path: Path, db_path: Path, outside: Path
) -> None:
    write_manifest(db_path, [], ["../../../outside/victim.txt"])
    before = digest(outside)
    ran = driftdb_cli(tmp_path, "doctor", "-d", "db")
    assert_refused(ran, "tables/t/COMPACTING", "../../../outside/victim.txt")
    assert digest(outside) == before


def test_a_manifest_whose_staged_file_is_a_link_is_refused(
    tmp_path: Path, db_path: Path, outside: Path
) -> None:
    staged = db_path / "tables" / "t" / "segments" / "00000009.seg.rewrite.tmp"
    staged.symlink_to(outside / "victim.txt")
    write_manifest(
        db_path,
        [{"final": "segments/00000009.seg", "temp": staged.name, "size": len(SECRET)}],
        [],
    )
    before = digest(outside)
    ran = driftdb_cli(tmp_path, *WRITE_COMMANDS[0])
    assert_refused(ran, "00000009.seg.rewrite.tmp")
    assert digest(outside) == before
    assert not (db_path / "tables" / "t" / "segments" / "00000009.seg").exists()


def test_an_honest_interrupted_compaction_is_still_finished(db_path: Path) -> None:
    """The allow-list accepts every manifest DriftDB itself writes."""
    from driftdb.storage import rewrite

    table_dir = str(db_path / "tables" / "t")
    rw = rewrite.Rewrite(table_dir, "compact")
    rw.stage_segment(2, [])
    rw.stage_file("snapshots/00000000000000000005.snap", b"x")
    rw.remove_file("segments/00000001.seg")
    rw.commit()
    manifest = rewrite.read_manifest(table_dir)
    assert manifest is not None
    rewrite.check_manifest(table_dir, manifest)


# -- 15.2 and 15.5: links and special files ---------------------------------------------------


def make_link(path: Path, target: Path) -> None:
    if path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to(target)


def make_fifo(path: Path) -> None:
    if path.exists() or path.is_symlink():
        path.unlink()
    os.mkfifo(path)


TABLE = Path("tables") / "t"
SEGMENT = TABLE / "segments" / "00000001.seg"
SNAPSHOT = TABLE / "snapshots"
INDEX = TABLE / "indexes"


def link_cases(outside: Path) -> dict[str, tuple[Path, Path]]:
    """name -> (the database path made a link, its target outside)."""
    return {
        "lock-to-victim": (Path("LOCK"), outside / "victim.txt"),
        "lock-dangling": (Path("LOCK"), outside / "created-by-lock"),
        "segment-to-other-db": (
            SEGMENT,
            outside / "otherdb" / "tables" / "t" / "segments" / "00000001.seg",
        ),
        # another database's valid files: following the link would "work", silently
        "schema-to-victim": (TABLE / "schema.yaml", outside / "otherdb" / TABLE / "schema.yaml"),
        "meta-to-victim": (TABLE / "meta.json", outside / "otherdb" / TABLE / "meta.json"),
        "data-mdb-to-other-db": (
            INDEX / "data.mdb",
            outside / "otherdb" / "tables" / "t" / "indexes" / "data.mdb",
        ),
        "lock-mdb-to-victim": (INDEX / "lock.mdb", outside / "victim.txt"),
        "indexes-dir-to-outside": (INDEX, outside / "dir"),
        "segments-dir-to-other-db": (
            TABLE / "segments",
            outside / "otherdb" / "tables" / "t" / "segments",
        ),
        "quarantine-dir-to-outside": (TABLE / "quarantine", outside / "dir"),
    }


LINK_CASES = [
    "lock-to-victim",
    "lock-dangling",
    "segment-to-other-db",
    "schema-to-victim",
    "meta-to-victim",
    "data-mdb-to-other-db",
    "lock-mdb-to-victim",
    "indexes-dir-to-outside",
    "segments-dir-to-other-db",
    "quarantine-dir-to-outside",
]


def plant_link(db_path: Path, outside: Path, case: str) -> Path:
    rel, target = link_cases(outside)[case]
    path = db_path / rel
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path)
    make_link(path, target)
    if case == "quarantine-dir-to-outside":
        # give repair something to quarantine: a damaged snapshot
        snap = next((db_path / SNAPSHOT).glob("*.snap"))
        data = bytearray(snap.read_bytes())
        data[-1] ^= 0xFF
        snap.write_bytes(bytes(data))
    return rel


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=["select", "doctor", "insert", "repair"])
@pytest.mark.parametrize("case", LINK_CASES)
def test_a_link_where_a_database_file_should_be_is_an_error_naming_it(
    tmp_path: Path, db_path: Path, outside: Path, case: str, command: tuple[str, ...]
) -> None:
    rel = plant_link(db_path, outside, case)
    if command[0] in ("select", "doctor") and "--repair" not in command and rel.name == "LOCK":
        # readers and a plain check never open LOCK: they succeed, and write nothing through it
        before = digest(outside)
        ran = driftdb_cli(tmp_path, *command)
        assert ran.returncode in (0, 1), ran.stderr
        assert digest(outside) == before
        return
    before = digest(outside)
    ran = driftdb_cli(tmp_path, *command)
    assert_refused(ran, str(rel))
    assert digest(outside) == before
    assert os.path.islink(db_path / rel)  # left alone, not removed or replaced


SPECIAL_CASES = ["segment", "schema", "data-mdb", "snapshot"]


def plant_special(db_path: Path, case: str, kind: str) -> Path:
    rel = {
        "segment": SEGMENT,
        "schema": TABLE / "schema.yaml",
        "data-mdb": INDEX / "data.mdb",
        "snapshot": next((db_path / SNAPSHOT).glob("*.snap")).relative_to(db_path),
    }[case]
    if kind == "fifo":
        make_fifo(db_path / rel)
    else:
        make_link(db_path / rel, Path("/dev/zero"))
    return rel


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=["select", "doctor", "insert", "repair"])
@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
@pytest.mark.parametrize("case", SPECIAL_CASES)
def test_a_fifo_or_device_where_a_database_file_should_be_neither_hangs_nor_is_read(
    tmp_path: Path, db_path: Path, outside: Path, case: str, kind: str, command: tuple[str, ...]
) -> None:
    rel = plant_special(db_path, case, kind)
    before = digest(outside)
    ran = driftdb_cli(tmp_path, *command)
    assert_refused(ran, str(rel))
    assert digest(outside) == before


def test_a_reader_does_not_write_through_a_linked_lmdb_lock_file(
    db_path: Path, outside: Path
) -> None:
    make_link(db_path / INDEX / "lock.mdb", outside / "victim.txt")
    before = digest(outside)
    with pytest.raises(driftdb.DriftError, match=r"lock\.mdb"):
        driftdb.open(db_path, readonly=True)
    assert digest(outside) == before


# -- 15.8: owner-only files, a lock that needs write access -----------------------------------


def test_files_and_directories_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        with driftdb.open(tmp_path / "db", create=True) as db:
            table = db.create_table("t", indexes=["name"])
            table.insert({"id": 1, "name": "secret", "password": "hunter2"})
            table.snapshot()
            table.compact()
    finally:
        os.umask(previous)
    loose = []
    for dirpath, dirnames, filenames in os.walk(tmp_path / "db"):
        for name in dirnames:
            mode = stat.S_IMODE(os.lstat(Path(dirpath) / name).st_mode)
            if mode != 0o700:
                loose.append((name, oct(mode)))
        for name in filenames:
            mode = stat.S_IMODE(os.lstat(Path(dirpath) / name).st_mode)
            if mode != 0o600:
                loose.append((name, oct(mode)))
    assert stat.S_IMODE(os.stat(tmp_path / "db").st_mode) == 0o700
    assert loose == []


def test_existing_group_readable_files_keep_their_mode(db_path: Path) -> None:
    """Sharing is the user's decision: DriftDB never tightens modes it finds."""
    schema = db_path / TABLE / "schema.yaml"
    os.chmod(schema, 0o640)
    os.chmod(db_path, 0o750)
    with driftdb.open(db_path) as db:
        db.table("t").insert({"id": 100})
    assert stat.S_IMODE(os.stat(schema).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o750


def test_the_lock_file_is_opened_for_writing(db_path: Path) -> None:
    """Write access is needed to take the lock (O_RDWR), and never through a link."""
    seen: list[int] = []
    real_open = os.open

    def spy(path: object, flags: int, *args: object) -> int:
        if str(path).endswith("LOCK"):
            seen.append(flags)
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    mp = pytest.MonkeyPatch()
    mp.setattr(os, "open", spy)
    try:
        with driftdb.open(db_path):
            pass
    finally:
        mp.undo()
    assert seen and all(f & os.O_RDWR and f & os.O_NOFOLLOW for f in seen)


# -- 10.12: deleting LOCK does not let a second writer in -------------------------------------

LOCK_HOLDER = """
import sys, driftdb
db = driftdb.open(sys.argv[1])
print("locked", flush=True)
sys.stdin.readline()
db.table("t").insert({"id": "first-writer"})
db.close()
print("closed", flush=True)
"""


def test_deleting_lock_does_not_let_a_second_writer_in(tmp_path: Path, db_path: Path) -> None:
    child = python_child(LOCK_HOLDER, str(db_path), stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline() == "locked\n"
        (db_path / "LOCK").unlink()
        ran = driftdb_cli(tmp_path, *WRITE_COMMANDS[0])
        assert ran.returncode == 1, (ran.stdout, ran.stderr)
        assert "locked by another writer" in ran.stderr
        with pytest.raises(driftdb.LockedError):
            driftdb.open(db_path)
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline() == "closed\n"
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=TIMEOUT_S)
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()
    with driftdb.open(db_path) as db:
        keys = {row["id"] for row in db.table("t").select()}
    assert "first-writer" in keys and 99 not in keys
