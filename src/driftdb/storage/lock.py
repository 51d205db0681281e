"""The writer lock: flock(2) on <db>/LOCK, held on one descriptor for the writer's lifetime.

flock, not a POSIX fcntl/lockf record lock: those are silently released when any descriptor of
the file is closed, even one the library opened for an unrelated read.
"""

from __future__ import annotations

import fcntl
import os
import time

from driftdb.errors import LockedError


class WriterLock:
    """An exclusive lock on the database; `holder` text (pid, host, since) is written into it."""

    def __init__(self, path: str, timeout_s: float = 0.0) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._read_holder()
                    os.close(self.fd)
                    waited = f" after waiting {timeout_s:g}s" if timeout_s > 0 else ""
                    raise LockedError(
                        f"database {os.path.dirname(path) or '.'} is locked by another writer "
                        f"({holder}){waited}; close it, open read-only, or pass a lock timeout"
                    ) from None
                time.sleep(0.02)
        os.ftruncate(self.fd, 0)
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        os.pwrite(
            self.fd, f"pid={os.getpid()} host={os.uname().nodename} since={since}\n".encode(), 0
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
