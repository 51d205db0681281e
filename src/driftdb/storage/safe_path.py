"""What DriftDB will open inside a database directory: regular files and real directories only.

A database directory is untrusted input (downloaded, restored, copied from a bug report). A
link, FIFO, device or socket where a database file should be is never followed, read or
written through: it is an `UnsafeFileError` naming it. Two layers of defence:

1. `check_database` / `unsafe_entries` lstat every path DriftDB uses (before LMDB, which opens
   its own files, and before any read), so the error comes first and names the file.
2. `open_read` opens with O_NOFOLLOW | O_NONBLOCK and checks the descriptor is a regular file,
   so a file swapped after the check still cannot make a read hang or leave the directory.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from driftdb.errors import FileSystemError, UnsafeFileError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
NONBLOCK = getattr(os, "O_NONBLOCK", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)

# What DriftDB reads or writes in a table directory, and in its indexes directory.
TABLE_FILES = ("schema.yaml", "meta.json", "COMPACTING")
TABLE_DIRS = ("segments", "snapshots", "indexes", "quarantine")
INDEX_FILES = ("data.mdb", "lock.mdb")
READ_SUFFIXES = (".seg", ".snap", ".tmp")  # what DriftDB opens in segments/ and snapshots/


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def problem(path: str, want_dir: bool) -> str | None:
    """Why `path` is not what DriftDB may use, or None (it is, or it does not exist)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as exc:  # e.g. a directory on the way that this user may not search
        raise FileSystemError.wrap(exc, "cannot read", path) from exc
    if want_dir and stat.S_ISDIR(mode):
        return None
    if not want_dir and stat.S_ISREG(mode):
        return None
    return f"is {_kind(mode)}, not {'a directory' if want_dir else 'a regular file'}"


def check_file(path: str) -> None:
    """Raise UnsafeFileError unless `path` is a regular file or absent (never followed)."""
    reason = problem(path, want_dir=False)
    if reason is not None:
        raise UnsafeFileError(path, reason)


def check_dir(path: str) -> None:
    """Raise UnsafeFileError unless `path` is a real directory or absent (never followed)."""
    reason = problem(path, want_dir=True)
    if reason is not None:
        raise UnsafeFileError(path, reason)


def check_index_files(directory: str) -> None:
    """Before LMDB opens an index directory (it opens data.mdb and lock.mdb itself, and even a
    reader writes lock.mdb): each must be a real directory / regular file, or absent."""
    check_dir(directory)
    for name in INDEX_FILES:
        check_file(os.path.join(directory, name))


def unsafe_entries(root: str) -> list[tuple[str, str]]:
    """(path, reason) for every link or special file where DriftDB keeps a file or directory
    under `root`. The root itself is the caller's choice and may be reached through a link."""
    found: list[tuple[str, str]] = []

    def look(path: str, want_dir: bool) -> bool:
        reason = problem(path, want_dir)
        if reason is not None:
            found.append((path, reason))
        return reason is None and os.path.lexists(path)

    look(os.path.join(root, "LOCK"), False)
    tables = os.path.join(root, "tables")
    if not look(tables, True):
        return found
    for name in sorted(list_dir(tables)):
        table = os.path.join(tables, name)
        if not look(table, True):
            continue
        for file in TABLE_FILES:
            look(os.path.join(table, file), False)
        for sub in TABLE_DIRS:
            directory = os.path.join(table, sub)
            if not look(directory, True):
                continue
            names = INDEX_FILES if sub == "indexes" else sorted(list_dir(directory))
            for entry in names:
                if sub in ("segments", "snapshots") and not entry.endswith(READ_SUFFIXES):
                    continue  # not a name DriftDB opens there
                look(os.path.join(directory, entry), False)
    return found


def check_database(root: str) -> None:
    """Raise UnsafeFileError naming the first link or special file in the database."""
    found = unsafe_entries(root)
    if found:
        raise UnsafeFileError(*found[0])


def open_read(path: str) -> BinaryIO:
    """Open a database file for reading: never through a link, never a FIFO or device (a FIFO
    would block the open, /dev/zero would be read until memory runs out)."""
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | NONBLOCK | CLOEXEC)
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafeFileError(path, "is a symbolic link, not a regular file") from None
        raise _named(exc, "cannot read", path) from exc
    return os.fdopen(_check_regular(fd, path), "rb")


def open_fd(path: str, flags: int, mode: int = 0o600) -> int:
    """os.open for a database file: O_NOFOLLOW, and the result must be a regular file."""
    try:
        fd = os.open(path, flags | NOFOLLOW | NONBLOCK | CLOEXEC, mode)
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafeFileError(path, "is a symbolic link, not a regular file") from None
        writing = flags & (os.O_WRONLY | os.O_RDWR)
        raise _named(exc, "cannot open" if writing else "cannot read", path) from exc
    return _check_regular(fd, path)


def list_dir(path: str) -> list[str]:
    """os.listdir, with an error other than a missing directory named as a FileSystemError."""
    try:
        return os.listdir(path)
    except OSError as exc:
        raise _named(exc, "cannot list", path) from exc


def _named(exc: OSError, action: str, path: str) -> OSError:
    """A missing or existing file stays a FileNotFoundError or FileExistsError (callers retry a
    read that a rewrite overlapped, treat the file as absent, or open the existing one); any
    other error becomes a FileSystemError naming `path`."""
    if isinstance(exc, FileNotFoundError | FileExistsError):
        return exc
    return FileSystemError.wrap(exc, action, path)


def _check_regular(fd: int, path: str) -> int:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafeFileError(path, f"is {_kind(info.st_mode)}, not a regular file")
    os.set_blocking(fd, True)
    return fd
