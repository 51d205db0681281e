"""A database: a directory of tables, one writer process, any number of readers."""

from __future__ import annotations

import contextlib
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from driftdb.engine.catalog import (
    close_table,
    create_table_files,
    open_index,
    read_schema,
    start_writing,
)
from driftdb.engine.commit import Batch as Batch  # public: driftdb.Batch
from driftdb.engine.commit import PendingWrite, commit
from driftdb.engine.reads import ReadViews
from driftdb.engine.recovery import recover
from driftdb.engine.view import TableView
from driftdb.errors import (
    CorruptionError,
    DriftError,
    DriftIOError,
    DriftWarning,
    InvalidInputError,
    NotFoundError,
    ReadOnlyError,
    TableNotFoundError,
    WriterStoppedError,
)
from driftdb.model.clock import Clock
from driftdb.model.schema import TableSchema, check_table_name
from driftdb.storage import fs, paths, rewrite, safe_path
from driftdb.storage.lock import WriterLock
from driftdb.table import Table

if TYPE_CHECKING:
    from driftdb.query.executor import Result


def is_database(path: str | os.PathLike[str]) -> bool:
    """Whether `path` holds a DriftDB database (its tables directory exists)."""
    return os.path.isdir(paths.tables_dir(os.fspath(path)))


def open(
    path: str | os.PathLike[str],
    create: bool = False,
    *,
    readonly: bool = False,
    lock_timeout_s: float = 0.0,
) -> Database:
    """Open the database at `path` as its writer (or as a reader with readonly=True, which
    takes no lock). `create=True` makes a new empty database if none exists."""
    return Database(
        os.fspath(path), create=create, readonly=readonly, lock_timeout_s=lock_timeout_s
    )


class Database:
    """An open DriftDB database. Use as a context manager, or call close()."""

    def __init__(
        self,
        path: str,
        *,
        create: bool = False,
        readonly: bool = False,
        lock_timeout_s: float = 0.0,
        _lock: WriterLock | None = None,
    ) -> None:
        self.path = os.path.abspath(path)
        self.readonly = readonly
        self.tables_dir = paths.tables_dir(self.path)
        self.notes: list[str] = []  # what recovery did on open, for the CLI to show
        self._tables: dict[str, Table] = {}
        self._batch: Batch | None = None
        self._mutex = threading.RLock()
        self._reads = ReadViews(self.path, self._tables, readonly, self._mutex)
        self._failed: str | None = None
        self._lock: WriterLock | None = None
        self._closed = False
        if not os.path.isdir(self.tables_dir):
            if not create or readonly:
                raise NotFoundError(
                    f"no DriftDB database at {path}; create one with "
                    f'"driftdb init {path}" or driftdb.open(path, create=True)'
                )
            if os.path.exists(self.path) and not os.path.isdir(self.path):
                raise InvalidInputError(f"{path} exists and is not a directory")
            if os.path.isdir(self.path) and os.listdir(self.path):
                raise InvalidInputError(
                    f"{path} is not empty and is not a DriftDB database; "
                    "choose an empty or new directory"
                )
            fs.make_dirs_durably(self.tables_dir)
        safe_path.check_database(self.path)  # no link or special file is followed, ever
        if not readonly:
            # doctor.repair hands over the lock it already holds
            self._lock = _lock or WriterLock(paths.lock_path(self.path), lock_timeout_s)
        try:
            for name in sorted(os.listdir(self.tables_dir)):
                if os.path.isfile(paths.schema_path(os.path.join(self.tables_dir, name))):
                    self._tables[name] = self._load_table(name)
            self.clock = Clock()
            self.next_seq = 1
            if not readonly:
                self._recover()
        except OSError as exc:
            self._failed = f"{type(exc).__name__}: {exc}"  # close() must not write meta.json
            self.close()
            raise DriftIOError(
                f"opening {path} failed ({exc}); nothing acknowledged was lost: "
                "fix the cause and open it again"
            ) from exc
        except BaseException:
            self.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the writer lock and files. Every acknowledged write is already durable."""
        if self._closed:
            return
        self._closed = True
        for table in self._tables.values():
            close_table(table, write_meta=not self.readonly and self._failed is None)
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # -- tables ----------------------------------------------------------------------------

    def _load_table(self, name: str) -> Table:
        schema = read_schema(self.tables_dir, name)
        table = Table(self, schema, os.path.join(self.tables_dir, name))
        open_index(table, self.readonly, self.notes)
        return table

    def tables(self) -> list[str]:
        """Names of the tables, sorted."""
        return sorted(self._tables)

    def table(self, name: str) -> Table:
        """The table called `name`; raises TableNotFoundError with the names that exist."""
        try:
            return self._tables[name]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(name, list(self._tables), n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            have = ", ".join(self.tables()) or "none yet"
            raise TableNotFoundError(f'no table "{name}"{hint}; tables: {have}') from None

    def create_table(
        self,
        name: str,
        primary_key: str = "id",
        indexes: list[str] | tuple[str, ...] = (),
        options: dict[str, int] | None = None,
    ) -> Table:
        """Create a table. Its schema.yaml is durable when this returns."""
        self._check_writable()
        check_table_name(name)
        if name in self._tables:
            raise InvalidInputError(f'table "{name}" already exists')
        schema = TableSchema.create(name, primary_key, list(indexes), options)
        table = Table(self, schema, create_table_files(self.tables_dir, schema))
        try:
            start_writing(table)
        except DriftIOError as exc:
            self._failed = str(exc)
            raise
        self._tables[name] = table
        return table

    # -- DriftQL ---------------------------------------------------------------------------

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Result:
        """Run DriftQL (one statement or several separated by `;`) and return the last
        statement's Result (its rows, count or message). `?` placeholders bind `params` as
        data, never as text. Every statement is parsed before any runs."""
        from driftdb.query.executor import execute_script

        results = execute_script(self, statement, params)
        if not results:
            raise InvalidInputError("no statement to execute")
        return results[-1]

    # -- reading ---------------------------------------------------------------------------

    def view_of(self, table: Table) -> TableView:
        """A consistent view of `table` (engine/reads.py: a reader retries a read that a
        maintenance rewrite overlapped)."""
        if self._closed:
            raise DriftError("the database is closed")
        return self._reads.view_of(table)

    def read_stamp(self, table: Table) -> rewrite.Stamp | int:
        """Taken before a read that opens frames by location (see `read_was_stable`)."""
        return self._reads.read_stamp(table)

    def read_was_stable(
        self, table: Table, before: rewrite.Stamp | int, view: TableView | None
    ) -> bool:
        """No rewrite of the table's files overlapped a read that began at `before`."""
        return self._reads.read_was_stable(table, before, view)

    def head(self) -> int:
        """The newest seq in the database (0 when it is empty)."""
        if not self.readonly:
            return self.next_seq - 1
        newest = 0
        for table in self._tables.values():
            try:
                last = self._reads.last_seq(table)
            except (CorruptionError, FileNotFoundError):
                with self.view_of(table) as view:  # mid-rewrite, or damaged: the full read
                    last = view.last_seq()
            newest = max(newest, last)
        return newest

    # -- writing ---------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._closed:
            raise DriftError("the database is closed")
        if self.readonly:
            raise ReadOnlyError("the database is open read-only; open it without readonly to write")
        if self._failed is not None:
            raise WriterStoppedError(
                f"the writer stopped after an earlier failure ({self._failed}); "
                "reopen the database to re-validate it from disk"
            )

    @contextlib.contextmanager
    def batch(self) -> Iterator[Batch]:
        """Collect writes (in one or several tables) and commit them atomically with one fsync
        per table when the block ends; an exception in the block writes nothing. Nested
        blocks join the outermost one."""
        with self._mutex:
            self._check_writable()
            if self._batch is not None:
                # A nested block is a savepoint: an exception in it undoes its own writes
                # (insert_many inside a batch is all or nothing), the outer block goes on.
                outer = self._batch
                mark = outer.savepoint()
                try:
                    yield outer
                except BaseException:
                    outer.rollback_to(mark)
                    raise
                return
            batch = Batch(self)
            self._batch = batch
            try:
                yield batch
            except BaseException:
                raise
            finally:
                self._batch = None
                batch.close_views()
            self._commit(batch.writes)

    @contextlib.contextmanager
    def maintenance(self) -> Iterator[None]:
        """Run a snapshot, compaction, purge or repair as the writer, between batches.

        A failure stops the writer when it may have left files mid-rewrite (a committed
        manifest) or came from the operating system; reopening finishes or rolls back."""
        with self._mutex:
            self._check_writable()
            if self._batch is not None:
                raise InvalidInputError("maintenance cannot run inside a batch")
            self._reads.rewrites += 1  # reads of frames that overlap it read again
            self._reads.rewriting += 1
            try:
                yield
            except OSError as exc:
                self._failed = f"{type(exc).__name__}: {exc}"
                raise DriftIOError(
                    f"maintenance failed ({exc}); the writer is stopped: reopen the database "
                    "to finish or roll back what was started"
                ) from exc
            except BaseException as exc:
                if any(
                    os.path.exists(paths.manifest_path(t.directory)) for t in self._tables.values()
                ):
                    self._failed = f"maintenance failed midway: {exc}"
                raise
            finally:
                self._reads.rewriting -= 1

    def _commit(self, writes: list[PendingWrite]) -> None:
        """Commit a batch (engine/commit.py); a failure that stops the writer is recorded."""
        if not writes:
            return

        def stop(why: str) -> None:
            self._failed = why

        self.next_seq = commit(self._tables, writes, self.clock.now(), stop)

    # -- recovery --------------------------------------------------------------------------

    def _recover(self) -> None:
        """Make the log and indexes agree before the first write (engine/recovery.py), then
        say what recovery did."""
        self.next_seq, self.clock = recover(self.path, self._tables, self.notes)
        for note in self.notes:
            warnings.warn(DriftWarning(note), stacklevel=4)
