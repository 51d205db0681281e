"""Every exception DriftDB raises, and when it raises it.

One root (`DriftError`) over a closed set of kinds. The command line maps each kind to an exit
code in one place (`driftdb.cli.exits`). Messages say what went wrong, where, and what to do next.
"""

from __future__ import annotations

import errno


class DriftError(Exception):
    """Root of every error DriftDB raises on purpose."""


class InvalidInputError(DriftError):
    """A document, key, name, option or value that DriftDB cannot accept. Nothing was written."""


class DuplicateKeyError(InvalidInputError):
    """INSERT of a key that is live in the table. Nothing was written."""


class QuerySyntaxError(InvalidInputError):
    """A DriftQL statement that does not parse.

    Carries the 1-based `line` and `column` of the offending token, the statement `source`, and
    an optional `hint` ("did you mean SELECT?"). `str()` gives a one-line message; `render()`
    adds the source line and a caret under the token.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        line: int = 1,
        column: int = 1,
        length: int = 1,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.column = column
        self.length = max(1, length)
        self.hint = hint
        text = f"{message} at line {line}, column {column}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)

    def render(self) -> str:
        """The message, the offending source line and a caret under the token."""
        lines = self.source.splitlines() or [""]
        src_line = lines[self.line - 1] if 0 < self.line <= len(lines) else ""
        caret = " " * (self.column - 1) + "^" * min(self.length, max(1, len(src_line)))
        return f"{self}\n  {src_line}\n  {caret}"


class NotFoundError(DriftError):
    """A table, key or column that does not exist (or no longer exists)."""


class TableNotFoundError(NotFoundError):
    """A statement names a table the database does not have."""


class KeyNotFoundError(NotFoundError):
    """PATCH or SOFT DELETE of a key that is missing or soft-deleted."""


class CorruptionError(DriftError):
    """Bytes on disk that fail their checks: the file and offset are named; nothing was changed.

    Raised when opening finds a bad frame followed by good frames (not a torn tail), or when a
    checksummed file fails its checksum and there is no fallback. `driftdb doctor --repair`
    fixes what can be fixed without losing good data.
    """

    def __init__(
        self,
        path: str,
        offset: int | None,
        reason: str,
        next_step: str = 'run "driftdb doctor --repair"',
    ) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        where = path if offset is None else f"{path} offset {offset}"
        super().__init__(f"{where}: {reason}; {next_step}")


class LockedError(DriftError):
    """Another process holds the writer lock (the message names it, when known)."""


class HistoryUnavailableError(DriftError):
    """AS OF a point earlier than the table's retention horizon: that history was discarded."""


class WriterStoppedError(DriftError):
    """An earlier write or fsync failed; the writer refuses writes until the database is reopened.

    After a failed fsync the kernel may have dropped the data, so a retry that succeeds proves
    nothing: reopening re-validates the log from disk.
    """


class DriftIOError(DriftError):
    """An operating-system I/O error during a write; the statement failed and wrote nothing
    that will be visible after reopening."""


class FileSystemError(DriftIOError, OSError):
    """An operating-system error on a named file or directory (permission denied, read-only
    file system, not a directory, no space, I/O error): the message says what failed, the
    path, and what to do. Raised where DriftDB opens, reads, lists or locks its files, so that
    no operating-system error reaches a user as an internal bug.

    It is also an OSError (as `io.UnsupportedOperation` is also a ValueError), so code that
    handles the operating system's errors (stopping the writer after a failed write, doctor
    reporting an unreadable file) handles it unchanged; `errno` is the original one.
    """

    def __init__(self, message: str, code: int | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.errno = code
        self.filename = path

    def __str__(self) -> str:
        return str(self.args[0])  # the message, not OSError's "[Errno N] ..." form

    @classmethod
    def wrap(
        cls,
        exc: OSError,
        action: str,
        path: str | None = None,
        advice: dict[int, str] | None = None,
    ) -> FileSystemError:
        """`{action} {path}: {what the system said}; {what to do}` for `exc`. `advice` (by
        errno) replaces the general advice where the action makes it wrong (creating a
        database on a read-only file system cannot "only read")."""
        if isinstance(exc, FileSystemError):
            if not isinstance(exc.__cause__, OSError):
                return exc
            exc = exc.__cause__  # named again, by the caller who knows what it was doing
        where = path if path is not None else exc.filename
        reason = (exc.strerror or str(exc)).lower() if exc.errno is not None else str(exc)
        code = exc.errno or 0
        what_to_do = (advice or {}).get(code) or _ADVICE.get(code, "fix the cause and try again")
        target = f" {where}" if where is not None else ""
        return cls(f"{action}{target}: {reason}; {what_to_do}", exc.errno, where)


_ADVICE = {
    errno.EACCES: "check its owner and mode: reading a database needs read access to its "
    "files, writing needs write access to its directory and files",
    errno.EPERM: "check its owner, mode and attributes: the system refused the operation",
    errno.EROFS: "the file system is read-only: remount it writable, or only read (readers "
    "take no lock: driftdb select, drift, a sql script of SELECTs, or readonly=True)",
    errno.ENOTDIR: "a part of that path is a file, not a directory: choose another path",
    errno.ENOENT: "it does not exist, or this file system cannot hold it: choose a directory "
    "on a file system you can write to",
    errno.ENOSPC: "the device is full: free space, then try again",
    errno.EDQUOT: "the disk quota is exhausted: free space, then try again",
    errno.EIO: 'the device reported an error: check it (dmesg), then run "driftdb doctor"',
    errno.EISDIR: "a directory is where a file should be: move it away",
    errno.EEXIST: "something already exists there: move it away or choose another path",
}


# Creating a database: the directory must be written, so reading is no way out.
CREATE_ADVICE = {
    errno.EACCES: "this user may not write there: choose a directory you can write to, or "
    "change its owner or mode",
    errno.EPERM: "the system refused to write there: choose a directory you can write to",
    errno.EROFS: "nothing can be written there: choose a directory on a writable file system, "
    "or remount it writable",
}


class UnsafeFileError(DriftIOError):
    """A link, FIFO, device or socket (or a directory) where a database file or directory should
    be. DriftDB never follows, reads or writes through it; nothing was changed."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"{path}: {reason}; DriftDB never follows links or opens special files in a "
            "database directory: put the real file or directory there, or remove it"
        )


class ReadOnlyError(DriftError):
    """A write through a database opened read-only."""


class MissingDependencyError(DriftError, ImportError):
    """A feature needs an optional package that is not installed (pyarrow, pandas, polars,
    duckdb); the message names the pip command that installs it."""


class DriftWarning(UserWarning):
    """Something the caller should know that did not stop the operation (the CLI prints it as
    `warning: ...`): an AS OF beyond the head, a torn tail truncated on open."""
