"""The writer lock: flock(2) on <db>/LOCK and on the database directory, held on descriptors for
the writer's lifetime.

flock, not a POSIX fcntl/lockf record lock: those are silently released when any descriptor of
the file is closed, even one the library opened for an unrelated read.

Plan of `WriterLock`:
1. Open LOCK read-write (never through a link, created owner-only): taking the lock needs write
   access to it. Readers never open it.
2. flock it, exclusively.
3. Check that the locked file is still the one at the path (same st_dev and st_ino): a LOCK
   deleted or replaced between the open and the flock is retried.
4. flock the database directory too. LOCK holds a pid, so a person may delete it as stale; the
   writer holding the old inode would then not exclude a second one. The directory cannot be
   deleted from under a running writer, so its lock still does.
"""

from __future__ import annotations

import fcntl
import os
import time

from driftdb.errors import FileSystemError, LockedError
from driftdb.storage import safe_path

MAX_REPLACED_RETRIES = 20


class WriterLock:
    """An exclusive lock on the database; `holder` text (pid, host, since) is written into it."""

    def __init__(self, path: str, timeout_s: float = 0.0) -> None:
        self.path = path
        self.fd = -1
        self.dir_fd = -1
        self.timeout_s = timeout_s
        try:
            self._take()
        except OSError as exc:
            # Not the user's write access, a read-only file system...: what failed and what to
            # do, never an internal error (DriftDB did nothing wrong).
            self.release()
            raise FileSystemError.wrap(exc, "cannot take the writer lock:", path) from exc

    def _take(self) -> None:
        path, timeout_s = self.path, self.timeout_s
        deadline = time.monotonic() + max(0.0, timeout_s)
        for _ in range(MAX_REPLACED_RETRIES):
            self.fd = self._open()
            self._wait(self.fd, deadline, None)
            if self._still_at_path():
                break
            os.close(self.fd)  # LOCK was deleted or replaced while we waited: lock the new one
            self.fd = -1
        else:
            raise LockedError(f"{path} keeps being replaced; cannot take the writer lock")
        directory = os.path.dirname(path) or "."
        try:
            self.dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | safe_path.CLOEXEC)
            self._wait(self.dir_fd, deadline, "the database directory")
        except BaseException:
            self.release()
            raise
        os.ftruncate(self.fd, 0)
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        os.pwrite(
            self.fd, f"pid={os.getpid()} host={os.uname().nodename} since={since}\n".encode(), 0
        )

    def _open(self) -> int:
        try:
            fd = safe_path.open_fd(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL)
            os.fchmod(fd, 0o600)
            return fd
        except FileExistsError:
            return safe_path.open_fd(self.path, os.O_RDWR)

    def _still_at_path(self) -> bool:
        held = os.fstat(self.fd)
        try:
            now = os.lstat(self.path)
        except FileNotFoundError:
            return False
        return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)

    def _wait(self, fd: int, deadline: float, what: str | None) -> None:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.02)
        holder = (
            self._read_holder()
            if what is None
            else (f"{what} is locked although LOCK was free: a writer whose LOCK file was deleted")
        )
        if what is None:
            os.close(fd)
            self.fd = -1
        if self.timeout_s > 0:
            waited = f" after waiting {self.timeout_s:g}s"
            wait = "wait longer"
        else:
            waited, wait = "", "wait for it"
        raise LockedError(
            f"database {os.path.dirname(self.path) or '.'} is locked by another writer "
            f"({holder}){waited}; close it, read without the lock (select, drift, or "
            f"readonly=True), or {wait} with --lock-timeout SECONDS (lock_timeout_s in Python)"
        )

    def _read_holder(self) -> str:
        try:
            text = os.pread(self.fd, 200, 0).decode(errors="replace").strip()
        except OSError:
            text = ""
        return text or "holder unknown"

    def release(self) -> None:
        if self.fd >= 0:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1
        if self.dir_fd >= 0:
            fcntl.flock(self.dir_fd, fcntl.LOCK_UN)
            os.close(self.dir_fd)
            self.dir_fd = -1
