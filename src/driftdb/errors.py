"""Every exception DriftDB raises, and when it raises it.

One root (`DriftError`) over a closed set of kinds. The command line maps each kind to an exit
code in one place (`driftdb.cli.main`). Messages say what went wrong, where, and what to do next.
"""

from __future__ import annotations


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
