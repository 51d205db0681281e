"""Automatic snapshots taken in a child process, and the one routine that takes a snapshot of
the rows live at a seq from the key directory (the child's, and the writer's own fallback).

Why a process: the copy of every row image, its compression and its write are CPU work in
Python; in a thread of the writer they compete with the committing thread for the interpreter
lock, and the commits that ran beside a snapshot were up to 200x the median (measured at
100k rows). A child runs on another core and leaves the interpreter to the writer, whose
thread only waits for it (engine/tablestore.py).

The writer's background thread first has its write-behind indexes commit every entry up to
`seq` to LMDB (a committed LMDB transaction is visible to every process), then runs

    python -P -m driftdb.engine.snapshot_child <table directory> <seq> <unix_ms> <writer pid>

with the writer's own `driftdb` first on PYTHONPATH, and waits for it. The child is a reader
of the table's index like any reader process: it opens the LMDB environment read-only (so it
never rebuilds, catches up or writes it, never marks it synced), takes no lock and reads no
segment; it checks that the index covers `seq`, reads the horizon and the rows live at `seq`
(the key directory only gains versions after it, and maintenance waits for the snapshot),
writes `<seq>.snap` (storage/snapshot.py: temp file, fsync, rename, directory fsync: published
atomically) and exits 0; on any failure it exits 1 with one line on stderr (no traceback),
which the writer puts in its DriftWarning. Pruning is the writer's, after the child succeeds.

The child dies with the writer: a snapshot published after the writer died could land after a
new writer's maintenance had started (a PURGE rewrites every snapshot holding the key; a
snapshot published after it would bring the purged row back). On Linux the child asks the
kernel for SIGKILL when the thread that started it ends (PR_SET_PDEATHSIG), then checks that
its parent is still the writer (it may have died before that); it also checks its parent
between chunks of rows, which is all that guards it elsewhere (the compression and the write
then go unguarded). A writer killed mid-snapshot therefore leaves at most a temp file
`<seq>.snap.tmp` (as a killed thread did), never a snapshot: the next snapshot at that seq
replaces it, and the writer's next open removes it (storage/rewrite.py, `recover`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

from driftdb.errors import DriftError
from driftdb.index.store import TableIndex
from driftdb.model.events import Key
from driftdb.storage import paths
from driftdb.storage.snapshot import SnapshotInfo, write_snapshot_images

MODULE = "driftdb.engine.snapshot_child"
MAX_MESSAGE = 500  # characters of the child's message kept in the writer's warning
_PARENT_CHECK_ROWS = 4096  # rows between two checks that the writer is alive (not on Linux)


class SnapshotChildError(DriftError):
    """The snapshot process failed; the message is the one line it wrote."""


def take_snapshot(
    index: TableIndex, snapshots_dir: str, seq: int, unix_ms: int, parent: int | None = None
) -> SnapshotInfo:
    """Write `<seq>.snap` of the rows live at `seq`, copied from the key directory without
    being decoded; raise DriftError if the index does not cover `seq` yet (the writer must
    commit its entries up to it first). `parent`: stop if this process's parent is no longer
    that pid (a child whose writer died)."""
    with index.read() as reader:
        covered = reader.covered()
        horizon = reader.horizon()
    if covered is None or covered.seq < seq:
        have = "nothing" if covered is None else f"up to @seq:{covered.seq}"
        raise DriftError(f"the index covers {have}, not @seq:{seq}")
    images = index.snapshot_images(seq)  # (rows copied, never decoded)
    if parent is not None:
        images = _while_parent_lives(images, parent)
    return write_snapshot_images(snapshots_dir, images, seq, unix_ms, horizon)


def _while_parent_lives(
    images: Iterator[tuple[Key, bytes]], parent: int
) -> Iterator[tuple[Key, bytes]]:
    for count, item in enumerate(images):
        if count % _PARENT_CHECK_ROWS == 0:
            _check_parent(parent)
        yield item
    _check_parent(parent)


def _check_parent(parent: int) -> None:
    if os.getppid() != parent:
        raise DriftError(f"the writer (pid {parent}) that started this snapshot has exited")


def child_argv(directory: str, seq: int, unix_ms: int) -> list[str]:
    """The command that takes the snapshot of the table at `directory` in a child process
    (-P: the working directory is not put first on sys.path, so a `driftdb` there is not
    imported instead of the writer's; see `child_env`)."""
    where = os.path.abspath(directory)
    return [sys.executable, "-P", "-m", MODULE, where, str(seq), str(unix_ms), str(os.getpid())]


def child_env() -> dict[str, str]:
    """This environment, with the directory holding this process's `driftdb` first on
    PYTHONPATH: the child imports the same code even when the writer found it through
    sys.path (a benchmark, a test, an application bundling it)."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    before = env.get("PYTHONPATH")
    env["PYTHONPATH"] = here + (os.pathsep + before if before else "")
    return env


def run(directory: str, seq: int, unix_ms: int) -> bool:
    """Take the snapshot in a child process and wait for it; False if no child could be
    started (no interpreter to run: embedded or frozen; an OSError: no process or descriptor
    left), so the caller takes it itself. Raise SnapshotChildError with the child's message
    if it failed."""
    if not sys.executable or getattr(sys, "frozen", False):
        return False  # embedded, or a frozen application: no interpreter to run -m with
    try:
        child = subprocess.Popen(
            child_argv(directory, seq, unix_ms),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=child_env(),
        )
    except OSError:
        return False
    _, err = child.communicate()  # waits without holding the interpreter lock
    if child.returncode != 0:
        lines = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
        said = lines[-1].strip() if lines else "no message"
        raise SnapshotChildError(
            f"the snapshot process exited with status {child.returncode}: {said[:MAX_MESSAGE]}"
        )
    return True


def open_index(directory: str) -> TableIndex:
    """The table's index, read-only (a map the writer grows meanwhile is TableIndex's to
    follow)."""
    return TableIndex(paths.index_dir(directory), (), readonly=True)


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes  # imported when used: only the child needs it

        pr_set_pdeathsig = 1  # <linux/prctl.h>
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) != 0:
            raise DriftError(f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(ctypes.get_errno())}")
    _check_parent(parent)


def main(argv: list[str]) -> int:
    """The child: `<table directory> <seq> <unix_ms> <writer pid>`; exit status 0 when the
    snapshot is published, else 1 (2 for bad arguments) with one line on stderr."""
    # Ctrl-C at a terminal reaches the whole process group: the writer decides (its close
    # waits for the snapshot; if it exits, this process dies with it).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        directory = argv[0]
        seq, unix_ms, parent = (int(a) for a in argv[1:])
    except (IndexError, ValueError):
        print(
            f"usage: python -m {MODULE} <table directory> <seq> <unix_ms> <writer pid>",
            file=sys.stderr,
        )
        return 2
    try:
        _die_with_parent(parent)
        index = open_index(directory)
        try:
            take_snapshot(index, paths.snapshots_dir(directory), seq, unix_ms, parent)
        finally:
            index.close()
    except Exception as exc:  # reported to the writer as one line, never a traceback
        print(f"{type(exc).__name__}: {exc}".replace("\n", " "), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
