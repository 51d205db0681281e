"""DB-API 2.0 (PEP 249) over DriftDB: `driftdb.dbapi.connect(path)`, cursors, transactions.

Statements are DriftQL (`SELECT * FROM orders WHERE status = ?`), with `?` placeholders
(`paramstyle = "qmark"`) bound as data, never as text.

Transactions, as `sqlite3` does them: the first write after a commit opens a transaction
(DriftDB's `Database.begin`); its writes stay pending (and visible to every cursor of this
connection, no other reader) until `commit()` writes them as one atomic, durable batch (one
fsync per table). `rollback()`, or closing the connection without a commit, discards them:
nothing reaches the log. Used as a context manager, the connection commits when the block
succeeds and rolls back when it raises (it stays open, as with sqlite3). With
`autocommit=True` every statement is its own batch. `CREATE TABLE` is not transactional: it
is durable at once. SNAPSHOT, COMPACT and PURGE run only outside a transaction.

`connect(path, as_of="@seq:N")` (or a time, a datetime, a date) is read-only, and every
SELECT, COUNT and EXPLAIN through it that names no AS OF of its own sees that point; SHOW
DRIFT lists the events up to it.

Thread safety: `threadsafety = 1`. Threads may share the module, not connections: a
connection's open transaction belongs to the thread that opened it (its lock is held until
commit or rollback), so give each thread its own connection (several reader connections and
one writer connection per database, as DriftDB allows one writer process).

Rows are tuples in the order of `cursor.description`; `conn.row_factory = dict_row` gives
dicts. `SELECT *` describes the primary key, then the union of the fields of the returned
rows in first-seen order (a row without a field has None there). DriftQL has no dates, times
or bytes: `Date`, `Time` and `Timestamp` values (and datetimes) bind as ISO 8601 strings,
`Binary` values as base64 strings.
"""

from __future__ import annotations

import base64
import datetime as _dt
import time as _time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from driftdb import errors as _errors
from driftdb.database import Database
from driftdb.model.timepoint import AsOf, TimePoint, parse_timepoint
from driftdb.query import ast
from driftdb.query.executor import Result, execute_statement
from driftdb.query.parser import parse

apilevel = "2.0"
threadsafety = 1  # threads may share the module, not connections (see the module docstring)
paramstyle = "qmark"

# -- exceptions (PEP 249's hierarchy) -----------------------------------------------------------


class Warning(Exception):
    """An important warning (DriftDB reports warnings through the warnings module instead)."""


class Error(Exception):
    """Base of every error this module raises. `driftdb_error` is the DriftDB error behind
    it (None for misuse of the interface itself)."""

    driftdb_error: _errors.DriftError | None = None


class InterfaceError(Error):
    """Misuse of the interface: a closed connection or cursor."""


class DatabaseError(Error):
    """An error of the database (corruption: bytes that fail their checks)."""


class DataError(DatabaseError):
    """A value DriftDB cannot accept: a bad document, key, name or parameter."""


class OperationalError(DatabaseError):
    """The database cannot do it now: the writer lock is held, a read-only connection was
    asked to write, history before the horizon, an I/O failure, no database at the path."""


class IntegrityError(DatabaseError):
    """A write that breaks a rule: INSERT of a live key, PATCH or SOFT DELETE of a missing one."""


class InternalError(DatabaseError):
    """The writer stopped after an earlier failure: reconnect to re-validate from disk."""


class ProgrammingError(DatabaseError):
    """A statement that does not parse, a table that does not exist, a transaction statement
    out of order, a fetch without a result set, a closed cursor."""


class NotSupportedError(DatabaseError):
    """Something DB-API allows and DriftDB does not do."""


_MAPPING: list[tuple[type[_errors.DriftError], type[Error]]] = [
    (_errors.DuplicateKeyError, IntegrityError),
    (_errors.KeyNotFoundError, IntegrityError),
    (_errors.QuerySyntaxError, ProgrammingError),
    (_errors.TableNotFoundError, ProgrammingError),
    (_errors.LockedError, OperationalError),
    (_errors.ReadOnlyError, OperationalError),
    (_errors.HistoryUnavailableError, OperationalError),
    (_errors.WriterStoppedError, InternalError),
    (_errors.DriftIOError, OperationalError),
    (_errors.NotFoundError, OperationalError),
    (_errors.CorruptionError, DatabaseError),
    (_errors.InvalidInputError, DataError),
]


def _translate(exc: _errors.DriftError) -> Error:
    """The PEP 249 error for a DriftDB error, with the same message."""
    message = str(exc)
    if isinstance(exc, _errors.InvalidInputError) and (
        "transaction" in message or "already exists" in message or "inside a batch" in message
    ):
        kind: type[Error] = ProgrammingError
    else:
        kind = next((k for drift, k in _MAPPING if isinstance(exc, drift)), DatabaseError)
    error = kind(message)
    error.driftdb_error = exc
    return error


# -- types and constructors ---------------------------------------------------------------------


class DBAPITypeObject:
    """A type object: equal to every type code (a Python type name) it stands for."""

    def __init__(self, *codes: str) -> None:
        self.codes = frozenset(codes)

    def __eq__(self, other: object) -> bool:
        return other in self.codes

    def __hash__(self) -> int:
        return hash(self.codes)

    def __repr__(self) -> str:
        return f"DBAPITypeObject{tuple(sorted(self.codes))}"


STRING = DBAPITypeObject("str")
BINARY = DBAPITypeObject("bytes")
NUMBER = DBAPITypeObject("int", "float", "bool")
DATETIME = DBAPITypeObject("datetime", "date", "time")
ROWID = DBAPITypeObject("rowid")  # DriftDB keys are str or int: described as STRING or NUMBER

Date = _dt.date
Time = _dt.time
Timestamp = _dt.datetime


def DateFromTicks(ticks: float) -> _dt.date:
    return Date(*_time.localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> _dt.time:
    return Time(*_time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> _dt.datetime:
    return Timestamp(*_time.localtime(ticks)[:6])


def Binary(data: bytes | bytearray | memoryview) -> bytes:
    return bytes(data)


def _bindable(value: Any) -> Any:
    """A parameter as DriftQL can hold it: dates and times as ISO 8601, bytes as base64."""
    if isinstance(value, _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def dict_row(cursor: Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    """A row factory: each row as a dict of column name to value (`conn.row_factory`)."""
    names = [d[0] for d in cursor.description or ()]
    return dict(zip(names, row, strict=True))


RowFactory = Callable[["Cursor", tuple[Any, ...]], Any]


# -- connection ---------------------------------------------------------------------------------


def connect(
    path: str,
    *,
    readonly: bool = False,
    as_of: AsOf = None,
    autocommit: bool = False,
    timeout: float = 0.0,
) -> Connection:
    """Open the DriftDB database at `path` (created if missing, unless read-only). A writer
    connection takes the writer lock, waiting up to `timeout` seconds for it; `readonly=True`
    or `as_of=` takes no lock. Raises OperationalError when the lock is held."""
    point = parse_timepoint(as_of) if as_of is not None else None
    readonly = readonly or point is not None
    try:
        db = Database(path, create=not readonly, readonly=readonly, lock_timeout_s=timeout)
    except _errors.DriftError as exc:
        raise _translate(exc) from exc
    return Connection(db, point, autocommit)


class Connection:
    """A DB-API connection to one DriftDB database (see the module docstring)."""

    Warning = Warning
    Error = Error
    InterfaceError = InterfaceError
    DatabaseError = DatabaseError
    DataError = DataError
    OperationalError = OperationalError
    IntegrityError = IntegrityError
    InternalError = InternalError
    ProgrammingError = ProgrammingError
    NotSupportedError = NotSupportedError

    def __init__(self, db: Database, as_of: TimePoint | None, autocommit: bool) -> None:
        self._db: Database | None = db
        self.as_of = as_of
        self.autocommit = autocommit
        self.row_factory: RowFactory | None = None

    @property
    def db(self) -> Database:
        """The native Database (raises ProgrammingError once the connection is closed)."""
        if self._db is None:
            raise ProgrammingError("the connection is closed")
        return self._db

    @property
    def readonly(self) -> bool:
        return self.db.readonly

    @property
    def in_transaction(self) -> bool:
        """Whether writes are pending (a transaction is open)."""
        return self._db is not None and self._db.in_transaction()

    def cursor(self) -> Cursor:
        return Cursor(self)

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Cursor:
        """A new cursor that has run `sql` (a shortcut, as sqlite3 has)."""
        return self.cursor().execute(sql, parameters)

    def commit(self) -> None:
        """Write the pending writes as one atomic batch, durable when this returns."""
        db = self.db
        if db.in_transaction():
            try:
                db.commit()
            except _errors.DriftError as exc:
                raise _translate(exc) from exc

    def rollback(self) -> None:
        """Discard the pending writes: nothing of them reaches the log."""
        db = self.db
        if db.in_transaction():
            db.rollback()

    def close(self) -> None:
        """Close the connection; pending writes are discarded (as on rollback). Idempotent."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        """Commit when the block succeeded, roll back when it raised; stay open."""
        if self._db is None:
            return
        if kind is None:
            self.commit()
        else:
            self.rollback()

    def _run(self, statement: ast.Statement) -> Result:
        """Run one parsed statement: a write opens the transaction first (unless autocommit);
        an `as_of` connection reads at its point."""
        db = self.db
        if self.as_of is not None:
            statement = _at_point(statement, self.as_of)
        opens = (
            statement.writes
            and not self.autocommit
            and not db.readonly
            and isinstance(statement, ast.Insert | ast.Patch | ast.SoftDelete)
            and not db.in_transaction()
        )
        try:
            if opens:
                db.begin()
            result = execute_statement(db, statement)
        except _errors.DriftError as exc:
            raise _translate(exc) from exc
        if self.as_of is not None and isinstance(statement, ast.ShowDrift):
            upto = _seq_of(db, statement.table, self.as_of)
            result.rows = [row for row in result.rows if row["seq"] <= upto]
        return result


def _at_point(statement: ast.Statement, point: TimePoint) -> ast.Statement:
    """The statement with `point` as its AS OF, unless it names one itself."""
    if isinstance(statement, ast.Select) and statement.as_of is None:
        s = statement
        return ast.Select(
            s.table, s.columns, s.count, s.where, point, s.order_by, s.limit, s.offset
        )
    if isinstance(statement, ast.Explain):
        return ast.Explain(_at_point(statement.select, point))  # type: ignore[arg-type]
    return statement


def _seq_of(db: Database, table_name: str, point: TimePoint) -> int:
    table = db.table(table_name)
    with table.view() as view:
        return table.resolve_point(view, point)


# -- cursor -------------------------------------------------------------------------------------


def _type_code(rows: list[dict[str, Any]], name: str) -> str | None:
    """The Python type name of the column's first non-null value (None when all are null)."""
    for row in rows:
        value = row.get(name)
        if value is not None:
            return type(value).__name__
    return None


class Cursor:
    """A DB-API cursor: runs statements and fetches their rows (see the module docstring)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.arraysize = 1
        self.rowcount = -1
        self.lastrowid: int | None = None  # the seq of the last write
        self.description: list[tuple[str, Any, None, None, None, None, None]] | None = None
        self.row_factory: RowFactory | None = connection.row_factory
        self._rows: list[dict[str, Any]] | None = None
        self._columns: list[str] = []
        self._position = 0
        self._closed = False
        self.result: Result | None = None  # the native Result of the last statement

    def _check_open(self) -> Connection:
        if self._closed:
            raise ProgrammingError("the cursor is closed")
        self.connection.db  # noqa: B018 - raises ProgrammingError when the connection is closed
        return self.connection

    def close(self) -> None:
        """Close the cursor; any further use raises ProgrammingError."""
        self._closed = True
        self._rows = None

    def execute(self, operation: str, parameters: Sequence[Any] = ()) -> Cursor:
        """Run DriftQL (one statement, or several separated by `;`: the last one's rows are
        the result set) with `?` bound from `parameters`."""
        connection = self._check_open()
        if isinstance(parameters, Mapping):
            raise ProgrammingError('paramstyle is "qmark": pass a sequence, not a mapping')
        try:
            statements = parse(operation, [_bindable(p) for p in parameters])
        except _errors.DriftError as exc:
            raise _translate(exc) from exc
        if not statements:
            raise ProgrammingError("no statement to execute")
        self.row_factory = self.row_factory or connection.row_factory
        written = 0
        result = None
        for statement in statements:
            result = connection._run(statement)
            written += _rows_written(statement)
        assert result is not None
        self._take(result, statements[-1], written)
        return self

    def executemany(self, operation: str, seq_of_parameters: Sequence[Sequence[Any]]) -> Cursor:
        """Run `operation` once per parameter sequence. With autocommit they form one batch
        (all or none); otherwise they join the connection's transaction."""
        connection = self._check_open()
        db = connection.db
        total = 0
        batch = connection.autocommit and not db.readonly
        try:
            if batch:
                with db.batch():
                    total = self._each(operation, seq_of_parameters)
            else:
                total = self._each(operation, seq_of_parameters)
        except _errors.DriftError as exc:
            raise _translate(exc) from exc
        self.rowcount = total
        self.description = None
        self._rows = None
        return self

    def _each(self, operation: str, seq_of_parameters: Sequence[Sequence[Any]]) -> int:
        total = 0
        for parameters in seq_of_parameters:
            self.execute(operation, parameters)
            total += max(self.rowcount, 0)
        return total

    def _take(self, result: Result, statement: ast.Statement, written: int) -> None:
        self.result = result
        self._position = 0
        if result.seq is not None:
            self.lastrowid = result.seq
        if result.kind in ("write", "ddl", "maintenance", "transaction"):
            self.description = None
            self._rows = None
            self.rowcount = written if result.kind == "write" else -1
            return
        self._rows = result.rows
        self._columns = list(result.columns)
        self.description = [
            (name, _type_code(result.rows, name), None, None, None, None, None)
            for name in self._columns
        ]
        self.rowcount = len(result.rows)

    def _make(self, row: dict[str, Any]) -> Any:
        values = tuple(row.get(name) for name in self._columns)
        factory = self.row_factory
        return factory(self, values) if factory is not None else values

    def _result_rows(self) -> list[dict[str, Any]]:
        self._check_open()
        if self._rows is None:
            raise ProgrammingError("no result set: the last statement returned no rows")
        return self._rows

    def fetchone(self) -> Any:
        rows = self._result_rows()
        if self._position >= len(rows):
            return None
        self._position += 1
        return self._make(rows[self._position - 1])

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._result_rows()
        n = self.arraysize if size is None else size
        chunk = rows[self._position : self._position + max(n, 0)]
        self._position += len(chunk)
        return [self._make(row) for row in chunk]

    def fetchall(self) -> list[Any]:
        rows = self._result_rows()
        chunk = rows[self._position :]
        self._position = len(rows)
        return [self._make(row) for row in chunk]

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def setinputsizes(self, sizes: Any) -> None:
        """A no-op (PEP 249 allows it)."""

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        """A no-op (PEP 249 allows it)."""

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rows_written(statement: ast.Statement) -> int:
    if isinstance(statement, ast.Insert):
        return len(statement.documents)
    if isinstance(statement, ast.Patch | ast.SoftDelete):
        return 1
    return 0
