"""A database: a directory of tables, one writer process, any number of readers."""

from __future__ import annotations

import contextlib
import os
import threading
import time
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
from driftdb.engine.commit import GroupCommit, Pending, PendingWrite
from driftdb.engine.handle import TableHandle
from driftdb.engine.reads import ReadViews
from driftdb.engine.view import TableView
from driftdb.errors import (
    CREATE_ADVICE,
    CorruptionError,
    DriftError,
    DriftIOError,
    DriftWarning,
    FileSystemError,
    InvalidInputError,
    NotFoundError,
    ReadOnlyError,
    TableNotFoundError,
    WriterStoppedError,
)
from driftdb.model.clock import Clock
from driftdb.model.schema import TableSchema, check_table_name
from driftdb.model.timepoint import AsOf
from driftdb.storage import fs, paths, rewrite, safe_path
from driftdb.storage.lock import WriterLock
from driftdb.table import Table

if TYPE_CHECKING:
    from driftdb.export.delta import TableExport
    from driftdb.query.executor import Result


def is_database(path: str | os.PathLike[str]) -> bool:
    """Whether `path` holds a DriftDB database (its tables directory exists)."""
    return os.path.isdir(paths.tables_dir(os.fspath(path)))


def no_database_error(path: str) -> NotFoundError:
    """The error for a path that holds no database: every command that needs one says the
    same."""
    if os.path.isfile(path):
        return NotFoundError(f"{path} is a file, not a DriftDB database directory")
    if os.path.isdir(path) and os.listdir(path):  # init refuses it: no hint to run init
        return NotFoundError(
            f"{path} holds other files and is not a DriftDB database (it has no tables/ "
            "directory); check the path"
        )
    return NotFoundError(
        f"no DriftDB database at {path}; create one with "
        f'"driftdb init {path}" or driftdb.open(path, create=True)'
    )


def require_database(path: str) -> None:
    """Raise no_database_error unless `path` has a tables/ entry. A link or special file there
    counts as one, so that doctor reports it rather than calling the path empty."""
    if not os.path.lexists(paths.tables_dir(path)):
        raise no_database_error(path)


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
        self._batch_thread: int | None = None  # the thread whose reads see the batch
        self._explicit = False  # the batch is a BEGIN ... COMMIT transaction (begin())
        self._mutex = threading.RLock()
        self.pending: Pending = {}  # rows of batches appended but not yet indexed
        self._pruned_at = -1  # the indexed seq `pending` was last pruned at
        self._group = GroupCommit(self._tables, self._stop)
        self._reads = ReadViews(self.path, self._tables, readonly, self._mutex)
        self._failed: str | None = None
        self._lock: WriterLock | None = None
        self._closed = False
        if not os.path.isdir(self.tables_dir):
            if not create or readonly:
                raise no_database_error(path)
            self._create(path)
        try:
            safe_path.check_database(self.path)  # no link or special file is followed, ever
            if not readonly:
                # doctor.repair hands over the lock it already holds
                self._lock = _lock or WriterLock(paths.lock_path(self.path), lock_timeout_s)
            for name in sorted(safe_path.list_dir(self.tables_dir)):
                if os.path.isfile(paths.schema_path(os.path.join(self.tables_dir, name))):
                    self._tables[name] = self._load_table(name)
            self.clock = Clock()
            self.next_seq = 1
            if not readonly:
                self._recover()
        except OSError as exc:
            self._failed = f"{type(exc).__name__}: {exc}"  # close() must not write meta.json
            self.close()
            if isinstance(exc, FileSystemError):
                raise  # it names the file and what to do
            raise DriftIOError(
                f"opening {path} failed ({exc}); nothing acknowledged was lost: "
                "fix the cause and open it again"
            ) from exc
        except BaseException:
            self._failed = "open failed"  # a refused recovery leaves meta.json, a witness, alone
            self.close()
            raise

    def _create(self, path: str) -> None:
        """Make the directories of a new, empty database; an operating-system error (a parent
        this user cannot write, a file on the way, a file system that cannot hold it) is a
        FileSystemError naming the path."""
        try:
            if os.path.exists(self.path) and not os.path.isdir(self.path):
                raise InvalidInputError(f"{path} exists and is not a directory")
            if os.path.isdir(self.path) and os.listdir(self.path):
                raise InvalidInputError(
                    f"{path} is not empty and is not a DriftDB database; "
                    "choose an empty or new directory"
                )
            fs.make_dirs_durably(self.tables_dir)
        except OSError as exc:
            failed = exc.filename
            if failed is None or os.path.abspath(failed) == self.path:
                raise FileSystemError.wrap(
                    exc, "cannot create the database", path, CREATE_ADVICE
                ) from exc
            raise FileSystemError.wrap(
                exc, f"cannot create the database {path}:", advice=CREATE_ADVICE
            ) from exc

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the writer lock and files. Every acknowledged write is already durable."""
        if self._closed:
            return
        if self._explicit:
            with contextlib.suppress(InvalidInputError):  # never committed: discarded
                self._end_transaction("close")
        self._closed = True
        self._group.drain()
        for table in self._tables.values():
            table.finish_snapshot()
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
        statement's Result (its rows, count or message); `execute_all` returns every
        statement's. `?` placeholders bind `params` as data, never as text. Every statement
        is parsed before any runs."""
        return self.execute_all(statement, params)[-1]

    def execute_all(self, statement: str, params: Sequence[Any] = ()) -> list[Result]:
        """Run DriftQL like `execute`, and return one Result per statement, in order."""
        from driftdb.query.executor import execute_script

        results = execute_script(self, statement, params)
        if not results:
            raise InvalidInputError("no statement to execute")
        return results

    # -- reading ---------------------------------------------------------------------------

    def duckdb(self, as_of: AsOf = None, versions: bool = True) -> Any:
        """A DuckDB connection in which every table is a view of its rows at `as_of`, and
        `<table>__versions` its events with seq, ts, op and meta (driftdb/duckdb_bridge.py;
        pip install "driftdb[duckdb]")."""
        from driftdb import duckdb_bridge

        return duckdb_bridge.connect(self, as_of, versions)

    def view_of(self, table: Table) -> TableView:
        """A consistent view of `table` (engine/reads.py: a reader retries a read that a
        maintenance rewrite overlapped)."""
        if self._closed:
            raise DriftError("the database is closed")
        if not self.readonly:
            # acknowledged batches the indexes do not hold yet (write-behind, engine/commit.py)
            self._group.catch_up()
        view = self._reads.view_of(table)
        batch = self._batch
        if batch is not None and batch.writes and self._batch_thread == threading.get_ident():
            # Inside a transaction its own reads see its pending writes (no other reader does),
            # stamped with this read's time (the commit stamps them no earlier), read without
            # advancing the clock: the clock hands out commit times.
            unix_ms = max(self.clock.last_unix_ms, time.time_ns() // 1_000_000)
            pending = batch.pending_events(table.name, unix_ms)
            if pending:
                view.overlay_pending(pending)
        return view

    def batch_view(self, table: TableHandle) -> TableView:
        """The view a batch validates its writes against: the indexes as they stand (the
        rows of acknowledged batches they do not hold yet are in `pending`)."""
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
            # the newest durable seq: a batch appended but not yet fsynced, or whose fsync
            # failed, is not in the database
            return self._group.durable_seq
        newest = 0
        for table in self._tables.values():
            try:
                last = self._reads.last_seq(table)
            except (CorruptionError, FileNotFoundError):
                with self.view_of(table) as view:  # mid-rewrite, or damaged: the full read
                    last = view.last_seq()
            newest = max(newest, last)
        return newest

    # -- export ----------------------------------------------------------------------------

    def export_delta(
        self, uri: str, tables: Sequence[str] | None = None, max_events: int | None = None
    ) -> list[TableExport]:
        """Append each table's events after its export watermark to the Delta table
        `<uri>/<table>` (docs/export.md): one Delta version per table, or one per
        `max_events` events (never splitting a batch). Needs `pip install "driftdb[delta]"`."""
        from driftdb.export.delta import export_delta

        return export_delta(self, uri, tables, max_events)

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

    def batch(self) -> BatchBlock:
        """A transaction: collect writes (in one or several tables) and commit them
        atomically, with one fsync per table, when the block ends (durable when the block
        exits); an exception in the block writes nothing. Reads through this database in the
        block's thread (get, select, count, history, DriftQL SELECT) see the pending writes on
        top of the committed state, exactly as they will stand after the commit; other
        readers (other threads, processes, read-only opens) do not, and AS OF a point before
        the block ignores them. A nested block is a savepoint: an exception in it undoes its
        own writes and the outer block goes on. Writes from other threads wait for the end.

        The outermost block returns once its events are durable (fsynced) and indexed. Its
        frames are appended under the writer's mutex; the wait for the fsync is outside it,
        so batches of other threads append meanwhile and share the next fsync (group commit,
        engine/commit.py)."""
        return BatchBlock(self)

    def _prune_pending(self) -> None:
        """Forget pending rows the indexes now hold (under the mutex, before any view of the
        batch is opened: see engine/commit.py)."""
        indexed = self._group.indexed_seq
        if self.pending and indexed != self._pruned_at:
            self._pruned_at = indexed
            for marker in [m for m, (seq, _) in self.pending.items() if seq <= indexed]:
                del self.pending[marker]

    def begin(self) -> None:
        """BEGIN: open a transaction that stays open across calls until `commit()` or
        `rollback()` (DriftQL's BEGIN / COMMIT / ROLLBACK and driftdb.dbapi use it); it is the
        transaction of `with db.batch():`, written as three calls. Closing the database
        without a commit discards it."""
        self._mutex.acquire()  # held until commit() or rollback(): other writers wait
        try:
            self._check_writable()
            if self._batch is not None:
                raise InvalidInputError(
                    "a transaction is already open; COMMIT or ROLLBACK it first"
                )
        except BaseException:
            self._mutex.release()
            raise
        self._prune_pending()
        self._batch = Batch(self)
        self._batch_thread = threading.get_ident()
        self._explicit = True

    def in_transaction(self) -> bool:
        """Whether a BEGIN transaction (`begin()`) is open."""
        return self._explicit

    def transaction_seqs(self) -> range | None:
        """The seqs the open transaction's writes will get if it commits (an empty range
        before its first write), or None outside a transaction (BEGIN or `batch()`) of this
        thread. Until the commit they are promises, not seqs: a ROLLBACK gives them to the
        next writes."""
        batch = self._batch
        if batch is None or self._batch_thread != threading.get_ident():
            return None
        if not batch.writes:
            return range(0)
        return range(batch.writes[0].seq, batch.writes[-1].seq + 1)

    def commit(self) -> int | None:
        """COMMIT: write the open transaction's events as one atomic batch (durable when this
        returns); returns the seq of its last event (None when it wrote nothing)."""
        batch = self._end_transaction("COMMIT")
        try:
            last_seq = self._append(batch.writes)
        finally:
            self._mutex.release()
        if last_seq:
            self._group.wait(last_seq)  # durable (group commit: outside the mutex)
        return batch.writes[-1].seq if batch.writes else None

    def rollback(self) -> None:
        """ROLLBACK: discard the open transaction's writes; nothing reaches the log."""
        self._end_transaction("ROLLBACK")
        self._mutex.release()

    def _end_transaction(self, verb: str) -> Batch:
        """Close the open BEGIN transaction and return its batch (still to commit or drop)."""
        batch = self._batch
        if not self._explicit or batch is None:
            raise InvalidInputError(f"{verb}: no transaction is open; BEGIN one first")
        if self._batch_thread != threading.get_ident():
            raise InvalidInputError(f"{verb}: the open transaction belongs to another thread")
        self._batch = None
        self._explicit = False
        batch.close_views()
        if verb == "close":
            self._mutex.release()
        return batch

    @contextlib.contextmanager
    def maintenance(self) -> Iterator[None]:
        """Run a snapshot, compaction, purge or repair as the writer, between batches.

        A failure stops the writer when it may have left files mid-rewrite (a committed
        manifest) or came from the operating system; reopening finishes or rolls back."""
        with self._mutex:
            self._check_writable()
            if self._batch is not None:
                raise InvalidInputError("maintenance cannot run inside a batch")
            self._group.drain()  # no batch of another thread is still on its way to the index
            self._check_writable()
            self._prune_pending()
            for table in self._tables.values():
                table.finish_snapshot()  # no background snapshot races the rewrite
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

    def _stop(self, why: str) -> None:
        self._failed = why

    def _append(self, writes: list[PendingWrite]) -> int:
        """Append a batch's frames (engine/commit.py) and hold its rows as pending until the
        index has them; returns its last seq (0 for an empty batch)."""
        if not writes:
            return 0
        last = self._group.append(writes, self.clock.now())
        self.next_seq = last + 1
        for write in writes:
            self.pending[(write.table.name, write.key)] = (write.seq, write.after)
        return last

    # -- recovery --------------------------------------------------------------------------

    def _recover(self) -> None:
        """Make the log and indexes agree before the first write (engine/recovery.py), then
        say what recovery did."""
        from driftdb.engine.recovery import recover  # a writer's only: readers skip loading it

        self.next_seq, self.clock = recover(self.path, self._tables, self.notes)
        self._group.indexed_seq = self._group.durable_seq = self.next_seq - 1
        for note in self.notes:
            warnings.warn(DriftWarning(note), stacklevel=4)


class BatchBlock:
    """The block of `Database.batch()`: the outermost opens the batch and commits it when it
    ends; a nested one is a savepoint of it. (A class, not a generator-based context manager:
    every write inside a batch, each patch of a batch of patches, enters one, and a generator
    costs each about a microsecond more.)"""

    __slots__ = ("batch", "db", "mark")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.batch: Batch | None = None
        self.mark: tuple[int, int] | None = None  # a nested block's savepoint

    def __enter__(self) -> Batch:
        db = self.db
        db._mutex.acquire()
        try:
            db._check_writable()
            outer = db._batch
            if outer is not None:
                # A nested block is a savepoint: an exception in it undoes its own writes
                # (insert_many inside a batch is all or nothing), the outer block goes on.
                self.mark = outer.savepoint()
                self.batch = outer
                return outer
            db._prune_pending()
            batch = self.batch = db._batch = Batch(db)
            db._batch_thread = threading.get_ident()
            return batch
        except BaseException:
            db._mutex.release()
            raise

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        db, batch = self.db, self.batch
        assert batch is not None
        last_seq = 0
        try:
            if self.mark is not None:
                if kind is not None:
                    batch.rollback_to(self.mark)
                return
            db._batch = None
            batch.close_views()
            if kind is None:
                last_seq = db._append(batch.writes)
        finally:
            db._mutex.release()
        if last_seq:
            db._group.wait(last_seq)  # durable (group commit: outside the mutex)
