"""Operating-system errors are errors, not internal bugs: each is one `error:` line naming what
failed (the path) and what to do, with exit code 1, and nothing in the database changes.

The tests run as root, whom file modes do not stop, so the operating system's refusals are
injected: in-process, through `os.open`/`os.listdir`/`os.mkdir` and the file layer
(`storage/fs.use`). Two refusals are real even for root (`init /proc/foo`, a path under a
regular file), and when `setpriv` can drop to an unprivileged user the refusals of a database
owned by another user are real too.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import DRIFTDB, Runner, tree_digest

from driftdb.storage import fs

EACCES_ADVICE = (
    "permission denied; check its owner and mode: reading a database needs read access to "
    "its files, writing needs write access to its directory and files"
)
EROFS_ADVICE = (
    "read-only file system; the file system is read-only: remount it writable, or only read "
    "(readers take no lock: driftdb select, drift, a sql script of SELECTs, or readonly=True)"
)

WRITERS = {
    "sql INSERT": ("sql", "-d", "db", "-e", 'INSERT INTO orders {"id": 9}'),
    "snapshot": ("snapshot", "-d", "db", "--table", "orders"),
    "compact": ("compact", "-d", "db", "--table", "orders"),
    "doctor --repair": ("doctor", "-d", "db", "--repair"),
}
READERS = {
    "select": ("select", "-d", "db", "--table", "orders"),
    "drift": ("drift", "-d", "db", "--table", "orders", "--key", "1"),
}


class FailingLayer(fs.FileLayer):
    """The real file layer, except that every call of one kind fails with one errno."""

    def __init__(self, kind: str, code: int) -> None:
        self.kind = kind
        self.code = code

    def write(self, fd: int, data: bytes) -> None:
        if self.kind == "write":
            path = os.readlink(f"/proc/self/fd/{fd}")
            raise OSError(self.code, os.strerror(self.code), path)
        super().write(fd, data)


def refuse_open(
    monkeypatch: pytest.MonkeyPatch, code: int, which: Callable[[str, int], bool]
) -> None:
    """os.open fails with `code` for the paths (and flags) `which` picks, as the kernel would."""
    real_open = os.open

    def fake_open(path: str | os.PathLike[str], flags: int, *args: object, **kw: object) -> int:
        if which(os.fspath(path), flags):
            raise OSError(code, os.strerror(code), os.fspath(path))
        return real_open(path, flags, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", fake_open)


@pytest.mark.parametrize("command", WRITERS.values(), ids=WRITERS.keys())
def test_a_lock_file_this_user_may_not_write_is_an_error_naming_it(
    invoke: Runner, shop: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    before = tree_digest(shop)
    refuse_open(monkeypatch, errno.EACCES, lambda path, _: path.endswith("/LOCK"))
    done = invoke(*command)
    assert (done.code, done.err) == (
        1,
        f"error: cannot take the writer lock: {shop}/LOCK: {EACCES_ADVICE}\n",
    )
    assert done.out == ""
    assert tree_digest(shop) == before


@pytest.mark.parametrize(
    "command", [WRITERS["sql INSERT"], WRITERS["doctor --repair"]], ids=["INSERT", "--repair"]
)
def test_a_read_only_file_system_is_an_error_saying_to_read_without_the_lock(
    invoke: Runner, shop: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    before = tree_digest(shop)
    refuse_open(monkeypatch, errno.EROFS, lambda path, flags: bool(flags & os.O_RDWR))
    done = invoke(*command)
    assert (done.code, done.err) == (
        1,
        f"error: cannot take the writer lock: {shop}/LOCK: {EROFS_ADVICE}\n",
    )
    assert tree_digest(shop) == before


def test_a_write_refused_by_a_read_only_file_system_stops_the_statement_with_exit_1(
    invoke: Runner, shop: Path
) -> None:
    before = tree_digest(shop, truth_only=True)
    with fs.use(FailingLayer("write", errno.EROFS)):
        done = invoke(*WRITERS["sql INSERT"])
    assert (done.code, done.err) == (
        1,
        "error: write failed ([Errno 30] Read-only file system: "
        f"'{shop}/tables/orders/segments/00000001.seg'); nothing was acknowledged and the "
        "writer is stopped: reopen the database\n",
    )
    assert tree_digest(shop, truth_only=True) == before


@pytest.mark.parametrize("command", READERS.values(), ids=READERS.keys())
def test_a_segments_directory_this_user_may_not_list_is_an_error_naming_it(
    invoke: Runner, shop: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    real_listdir = os.listdir

    def fake_listdir(path: str = ".") -> list[str]:
        if os.fspath(path).endswith("/segments"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", fake_listdir)
    done = invoke(*command)
    assert (done.code, done.err) == (
        1,
        f"error: cannot list {shop}/tables/orders/segments: {EACCES_ADVICE}\n",
    )


@pytest.mark.parametrize("command", READERS.values(), ids=READERS.keys())
def test_a_segment_this_user_may_not_read_is_an_error_naming_it(
    invoke: Runner, shop: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    before = tree_digest(shop)
    refuse_open(monkeypatch, errno.EACCES, lambda path, _: path.endswith(".seg"))
    done = invoke(*command)
    assert (done.code, done.err) == (
        1,
        f"error: cannot read {shop}/tables/orders/segments/00000001.seg: {EACCES_ADVICE}\n",
    )
    assert tree_digest(shop) == before


# init must write: the advice for readers ("only read") would be wrong there.
INIT_REFUSALS = {
    "permission denied": (
        errno.EACCES,
        "permission denied; this user may not write there: choose a directory you can write "
        "to, or change its owner or mode",
    ),
    "read-only file system": (
        errno.EROFS,
        "read-only file system; nothing can be written there: choose a directory on a "
        "writable file system, or remount it writable",
    ),
}


@pytest.mark.parametrize("code, said", INIT_REFUSALS.values(), ids=INIT_REFUSALS.keys())
def test_init_in_a_directory_that_cannot_be_written_is_an_error_naming_it(
    invoke: Runner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, said: str
) -> None:
    (tmp_path / "ro").mkdir()
    real_mkdir = os.mkdir

    def fake_mkdir(path: str, mode: int = 0o777) -> None:
        if os.fspath(path).startswith(str(tmp_path / "ro")):
            raise OSError(code, os.strerror(code), os.fspath(path))
        real_mkdir(path, mode)

    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    done = invoke("init", "ro/db")
    assert (done.code, done.err) == (1, f"error: cannot create the database ro/db: {said}\n")
    assert list((tmp_path / "ro").iterdir()) == []
    done = invoke("init", "ro")  # the empty directory itself: its tables/ cannot be made
    assert (done.code, done.err) == (
        1,
        f"error: cannot create the database ro: {tmp_path}/ro/tables: {said}\n",
    )


def test_init_under_proc_is_an_error_naming_the_path(run: Runner) -> None:
    done = run("init", "/proc/driftdb-test")
    assert (done.code, done.err) == (
        1,
        "error: cannot create the database /proc/driftdb-test: no such file or directory; it "
        "does not exist, or this file system cannot hold it: choose a directory on a file "
        "system you can write to\n",
    )


def test_init_under_a_regular_file_is_an_error_naming_the_path(run: Runner, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("a file, not a directory\n")
    done = run("init", "notes.txt/db")
    assert (done.code, done.err) == (
        1,
        f"error: cannot create the database notes.txt/db: {tmp_path}/notes.txt/db/tables: not "
        "a directory; a part of that path is a file, not a directory: choose another path\n",
    )


def test_an_operating_system_error_no_layer_named_still_exits_1_with_a_clear_line(
    invoke: Runner, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import driftdb.cli.select_run

    def broken(*args: object) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO), "/dev/stdout")

    monkeypatch.setattr(driftdb.cli.select_run, "render", broken)
    done = invoke("select", "-d", "db", "--table", "orders")
    assert (done.code, done.err) == (
        1,
        "error: the command failed: /dev/stdout: input/output error; the device reported an "
        'error: check it (dmesg), then run "driftdb doctor"\n',
    )


AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to run as another user",
)
@pytest.mark.parametrize(
    "command",
    [*WRITERS.values(), *READERS.values()],
    ids=[*WRITERS.keys(), *READERS.keys()],
)
def test_a_database_owned_by_another_user_gives_errors_not_bugs(command: tuple[str, ...]) -> None:
    """Real refusals: a database of root's, readable by all (as a person shares one), and
    for the readers its segment made unreadable; run as nobody."""
    with tempfile.TemporaryDirectory(dir="/tmp") as shared:  # pytest's tmp is root's alone
        os.chmod(shared, 0o755)
        _as_nobody(Path(shared), command)


def _as_nobody(home: Path, command: tuple[str, ...]) -> None:
    db = home / "db"
    subprocess.run([DRIFTDB, "init", str(db)], check=True, capture_output=True)
    subprocess.run(
        [
            DRIFTDB,
            "sql",
            "-d",
            str(db),
            "-e",
            'CREATE TABLE orders (pk=id); INSERT INTO orders {"id": 1}',
        ],
        check=True,
        capture_output=True,
    )
    for path in [*db.rglob("*"), db]:
        path.chmod(path.stat().st_mode | 0o055 if path.is_dir() else 0o644)
    segment = db / "tables" / "orders" / "segments" / "00000001.seg"
    reader = command[0] in ("select", "drift")
    if reader:
        segment.chmod(0o600)
    done = subprocess.run(
        [*AS_NOBODY, DRIFTDB, *command],
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HOME": str(home)},
    )
    if reader:
        expected = f"error: cannot read {segment}: {EACCES_ADVICE}\n"
    else:
        expected = f"error: cannot take the writer lock: {db}/LOCK: {EACCES_ADVICE}\n"
    assert (done.returncode, done.stderr) == (1, expected)
