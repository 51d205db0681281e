"""driftdb.dbapi against PEP 249: module attributes, the exception hierarchy, connections and
cursors (written from the PEP's text, in the spirit of the classic DB-API compliance suite),
then transactions: pending until commit, rollback leaves no trace, a crash loses only what
was never committed."""

from __future__ import annotations

import datetime
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import driftdb
from driftdb import dbapi
from helpers.bytes_edit import log_bytes


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "db")


@pytest.fixture
def conn(path: str) -> Iterator[dbapi.Connection]:
    connection = dbapi.connect(path)
    cur = connection.cursor()
    cur.execute("CREATE TABLE books (pk=id, INDEX(author))")
    cur.executemany(
        "INSERT INTO books ?",
        [
            [{"id": 1, "title": "Dune", "author": "Herbert"}],
            [{"id": 2, "title": "Emma", "author": "Austen"}],
            [{"id": 3, "title": "Persuasion", "author": "Austen", "year": 1817}],
        ],
    )
    connection.commit()
    yield connection
    connection.close()


# -- module interface ---------------------------------------------------------------------------


def test_module_globals_say_what_the_module_supports() -> None:
    assert dbapi.apilevel == "2.0"
    assert dbapi.threadsafety == 1
    assert dbapi.paramstyle == "qmark"
    assert callable(dbapi.connect)


def test_exception_hierarchy_is_the_one_pep_249_gives() -> None:
    assert issubclass(dbapi.Warning, Exception)
    assert issubclass(dbapi.Error, Exception)
    assert not issubclass(dbapi.Warning, dbapi.Error)
    assert issubclass(dbapi.InterfaceError, dbapi.Error)
    assert issubclass(dbapi.DatabaseError, dbapi.Error)
    for name in (
        "DataError",
        "OperationalError",
        "IntegrityError",
        "InternalError",
        "ProgrammingError",
        "NotSupportedError",
    ):
        assert issubclass(getattr(dbapi, name), dbapi.DatabaseError), name


def test_connection_exposes_the_exceptions_as_attributes(conn: dbapi.Connection) -> None:
    for name in (
        "Warning",
        "Error",
        "InterfaceError",
        "DatabaseError",
        "DataError",
        "OperationalError",
        "IntegrityError",
        "InternalError",
        "ProgrammingError",
        "NotSupportedError",
    ):
        assert getattr(conn, name) is getattr(dbapi, name)


def test_type_objects_and_constructors() -> None:
    assert dbapi.Date(2025, 1, 2) == datetime.date(2025, 1, 2)
    assert dbapi.Time(13, 4, 5) == datetime.time(13, 4, 5)
    assert dbapi.Timestamp(2025, 1, 2, 3, 4, 5) == datetime.datetime(2025, 1, 2, 3, 4, 5)
    assert isinstance(dbapi.DateFromTicks(0), datetime.date)
    assert isinstance(dbapi.TimeFromTicks(0), datetime.time)
    assert isinstance(dbapi.TimestampFromTicks(0), datetime.datetime)
    assert dbapi.Binary(b"\x00\x01") == b"\x00\x01"
    assert dbapi.STRING == "str"
    assert dbapi.NUMBER == "int"
    assert dbapi.NUMBER == "float"
    assert dbapi.STRING != "int"
    for obj in (dbapi.STRING, dbapi.BINARY, dbapi.NUMBER, dbapi.DATETIME, dbapi.ROWID):
        assert obj is not None


def test_dates_and_bytes_bind_as_iso_and_base64_strings(conn: dbapi.Connection) -> None:
    cur = conn.cursor()
    cur.execute(
        "INSERT INTO books {'id': 9, 'day': ?, 'blob': ?}",
        [dbapi.Date(2025, 1, 2), dbapi.Binary(b"hi")],
    )
    cur.execute("SELECT day, blob FROM books WHERE id = 9")
    assert cur.fetchone() == ("2025-01-02", "aGk=")


# -- errors -------------------------------------------------------------------------------------


def test_driftdb_errors_map_to_pep_249_errors(conn: dbapi.Connection, path: str) -> None:
    cur = conn.cursor()
    with pytest.raises(dbapi.IntegrityError) as dup:
        cur.execute("INSERT INTO books {'id': 1}")
    assert str(dup.value) == (
        'table "books" already has a live row with key 1; use PATCH to change it'
    )
    assert isinstance(dup.value.driftdb_error, driftdb.DuplicateKeyError)
    with pytest.raises(dbapi.IntegrityError):
        cur.execute("PATCH books KEY 77 SET {'a': 1}")
    with pytest.raises(dbapi.ProgrammingError) as syntax:
        cur.execute("SELEC * FROM books")
    assert "Unknown statement 'SELEC'" in str(syntax.value)
    with pytest.raises(dbapi.ProgrammingError):
        cur.execute("SELECT * FROM nope")
    with pytest.raises(dbapi.DataError):
        cur.execute("INSERT INTO books ?", [{"title": "no key"}])
    with pytest.raises(dbapi.OperationalError) as locked:
        dbapi.connect(path)  # the writer lock is held by `conn`
    assert isinstance(locked.value.driftdb_error, driftdb.LockedError)
    reader = dbapi.connect(path, readonly=True)
    with pytest.raises(dbapi.OperationalError):
        reader.cursor().execute("INSERT INTO books {'id': 5}")
    reader.close()
    with pytest.raises(dbapi.ProgrammingError):
        cur.execute("CREATE TABLE books (pk=id)")


# -- connection ---------------------------------------------------------------------------------


def test_a_closed_connection_refuses_every_call(path: str) -> None:
    connection = dbapi.connect(path)
    cur = connection.cursor()
    connection.close()
    connection.close()  # idempotent
    with pytest.raises(dbapi.Error):
        connection.cursor().execute("SHOW TABLES")
    with pytest.raises(dbapi.Error):
        connection.commit()
    with pytest.raises(dbapi.Error):
        cur.execute("SHOW TABLES")


def test_connection_as_context_manager_commits_on_success_and_rolls_back_on_error(
    conn: dbapi.Connection,
) -> None:
    with conn:
        conn.execute("INSERT INTO books {'id': 10}")
    assert not conn.in_transaction
    with pytest.raises(RuntimeError), conn:
        conn.execute("INSERT INTO books {'id': 11}")
        raise RuntimeError("boom")
    ids = [row[0] for row in conn.execute("SELECT id FROM books")]
    assert ids == [1, 2, 3, 10]


# -- cursor -------------------------------------------------------------------------------------


def test_description_names_the_columns_and_is_none_without_rows(conn: dbapi.Connection) -> None:
    cur = conn.cursor()
    assert cur.description is None
    assert cur.rowcount == -1
    cur.execute("SELECT title, year FROM books WHERE author = ?", ["Austen"])
    assert cur.description is not None
    assert [d[0] for d in cur.description] == ["title", "year"]
    assert all(len(d) == 7 for d in cur.description)
    assert cur.description[0][1] == dbapi.STRING
    assert cur.description[1][1] == dbapi.NUMBER
    cur.execute("SELECT * FROM books ORDER BY id")
    assert [d[0] for d in cur.description] == ["id", "title", "author", "year"]
    assert cur.fetchall() == [
        (1, "Dune", "Herbert", None),
        (2, "Emma", "Austen", None),
        (3, "Persuasion", "Austen", 1817),
    ]
    cur.execute("PATCH books KEY 1 SET {'year': 1965}")
    assert cur.description is None


def test_rowcount_counts_rows_returned_or_written(conn: dbapi.Connection) -> None:
    cur = conn.cursor()
    cur.execute("SELECT * FROM books WHERE author = 'Austen'")
    assert cur.rowcount == 2
    cur.execute("INSERT INTO books [{'id': 20}, {'id': 21}]")
    assert cur.rowcount == 2
    cur.executemany("PATCH books KEY ? SET {'x': 1}", [[20], [21], [1]])
    assert cur.rowcount == 3


def test_lastrowid_is_the_seq_of_the_last_write(conn: dbapi.Connection) -> None:
    cur = conn.cursor()
    head = conn.db.head()
    assert cur.lastrowid is None
    cur.execute("INSERT INTO books {'id': 30}")
    assert cur.lastrowid == head + 1
    cur.execute("SOFT DELETE FROM books KEY 30")
    assert cur.lastrowid == head + 2
    conn.commit()
    assert conn.db.head() == head + 2


def test_fetchone_fetchmany_fetchall_and_iteration(conn: dbapi.Connection) -> None:
    cur = conn.cursor()
    cur.execute("SELECT id FROM books ORDER BY id")
    assert cur.arraysize == 1
    assert cur.fetchone() == (1,)
    assert cur.fetchmany() == [(2,)]  # arraysize rows
    assert cur.fetchmany(5) == [(3,)]
    assert cur.fetchmany(5) == []
    assert cur.fetchone() is None
    cur.execute("SELECT id FROM books ORDER BY id")
    cur.arraysize = 2
    assert cur.fetchmany() == [(1,), (2,)]
    assert cur.fetchall() == [(3,)]
    assert cur.fetchall() == []
    assert [row for row in cur.execute("SELECT id FROM books ORDER BY id DESC")] == [
        (3,),
        (2,),
        (1,),
    ]


def test_fetch_without_a_result_set_is_an_error(conn: dbapi.Connection) -> None:
    cur = conn.cursor()
    with pytest.raises(dbapi.ProgrammingError):
        cur.fetchone()
    cur.execute("INSERT INTO books {'id': 40}")
    with pytest.raises(dbapi.ProgrammingError) as info:
        cur.fetchall()
    assert str(info.value) == "no result set: the last statement returned no rows"


def test_a_closed_cursor_refuses_every_call(conn: dbapi.Connection) -> None:
    cur = conn.cursor()
    cur.execute("SELECT * FROM books")
    cur.close()
    with pytest.raises(dbapi.ProgrammingError):
        cur.fetchone()
    with pytest.raises(dbapi.ProgrammingError):
        cur.execute("SELECT * FROM books")


def test_setinputsizes_and_setoutputsize_are_no_ops(conn: dbapi.Connection) -> None:
    cur = conn.cursor()
    cur.setinputsizes([None])
    cur.setoutputsize(10)
    cur.setoutputsize(10, 0)


def test_dict_row_factory_gives_dicts(conn: dbapi.Connection) -> None:
    conn.row_factory = dbapi.dict_row
    cur = conn.cursor()
    cur.execute("SELECT id, title FROM books WHERE id = ?", [2])
    assert cur.fetchall() == [{"id": 2, "title": "Emma"}]


def test_parameters_are_data_never_text(conn: dbapi.Connection) -> None:
    cur = conn.cursor()
    cur.execute("SELECT COUNT(*) FROM books WHERE title = ?", ["x' OR 'a' = 'a"])
    assert cur.fetchone() == (0,)
    with pytest.raises(dbapi.ProgrammingError):
        cur.execute("SELECT * FROM books WHERE id = :id", {"id": 1})  # type: ignore[arg-type]


# -- transactions -------------------------------------------------------------------------------


def test_writes_are_pending_until_commit_and_seen_by_every_cursor_of_the_connection(
    conn: dbapi.Connection, path: str
) -> None:
    first, second = conn.cursor(), conn.cursor()
    first.execute("INSERT INTO books {'id': 50, 'title': 'Middlemarch'}")
    assert conn.in_transaction
    second.execute("SELECT title FROM books WHERE id = 50")
    assert second.fetchall() == [("Middlemarch",)]
    reader = dbapi.connect(path, readonly=True)
    assert reader.execute("SELECT COUNT(*) FROM books").fetchone() == (3,)
    conn.commit()
    assert reader.execute("SELECT COUNT(*) FROM books").fetchone() == (4,)
    reader.close()


def test_commit_writes_one_batch(conn: dbapi.Connection) -> None:
    cur = conn.cursor()
    cur.execute("INSERT INTO books {'id': 60}")
    cur.execute("PATCH books KEY 1 SET {'year': 1965}")
    conn.commit()
    times = {e.unix_ms for e in conn.db.table("books").history(60)}
    times |= {e.unix_ms for e in conn.db.table("books").history(1)[-1:]}
    assert len(times) == 1


def test_rollback_leaves_no_trace_in_the_log(conn: dbapi.Connection) -> None:
    before = log_bytes(conn.db.path)
    head = conn.db.head()
    cur = conn.cursor()
    cur.execute("INSERT INTO books {'id': 70}")
    cur.execute("SOFT DELETE FROM books KEY 1")
    conn.rollback()
    assert log_bytes(conn.db.path) == before
    assert conn.db.head() == head
    assert cur.execute("SELECT COUNT(*) FROM books").fetchone() == (3,)


def test_closing_without_commit_discards_the_pending_writes(path: str) -> None:
    first = dbapi.connect(path)
    first.execute("CREATE TABLE t (pk=id)")
    first.execute("INSERT INTO t {'id': 1}")
    first.close()
    again = dbapi.connect(path)
    assert again.execute("SELECT COUNT(*) FROM t").fetchone() == (0,)
    again.close()


def test_autocommit_makes_each_statement_durable_at_once(path: str) -> None:
    writer = dbapi.connect(path, autocommit=True)
    writer.execute("CREATE TABLE t (pk=id)")
    writer.execute("INSERT INTO t {'id': 1}")
    assert not writer.in_transaction
    reader = dbapi.connect(path, readonly=True)
    assert reader.execute("SELECT COUNT(*) FROM t").fetchone() == (1,)
    with pytest.raises(dbapi.IntegrityError):
        writer.cursor().executemany("INSERT INTO t ?", [[{"id": 2}], [{"id": 1}]])
    assert reader.execute("SELECT COUNT(*) FROM t").fetchone() == (1,)  # all or none
    reader.close()
    writer.close()


def test_driftql_transaction_statements_drive_the_same_transaction(
    conn: dbapi.Connection,
) -> None:
    cur = conn.cursor()
    cur.execute("BEGIN")
    cur.execute("INSERT INTO books {'id': 80}")
    cur.execute("ROLLBACK")
    assert not conn.in_transaction
    assert cur.execute("SELECT COUNT(*) FROM books").fetchone() == (3,)


def test_a_crash_before_commit_loses_only_the_uncommitted(path: str) -> None:
    script = textwrap.dedent(
        f"""
        import os
        from driftdb import dbapi
        conn = dbapi.connect({path!r})
        conn.execute("CREATE TABLE t (pk=id)")
        conn.execute("INSERT INTO t [{{'id': 1}}, {{'id': 2}}]")
        conn.commit()
        conn.execute("INSERT INTO t {{'id': 3}}")
        conn.execute("PATCH t KEY 1 SET {{'lost': true}}")
        os._exit(0)  # a crash: no commit, no close
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    conn = dbapi.connect(path)
    assert conn.execute("SELECT * FROM t").fetchall() == [(1,), (2,)]
    conn.close()


def test_an_as_of_connection_is_read_only_and_reads_at_its_point(
    conn: dbapi.Connection, path: str
) -> None:
    head = conn.db.head()
    conn.execute("PATCH books KEY 1 SET {'title': 'Dune Messiah'}")
    conn.execute("INSERT INTO books {'id': 90}")
    conn.commit()
    past = dbapi.connect(path, as_of=f"@seq:{head}")
    assert past.readonly
    assert past.execute("SELECT title FROM books WHERE id = 1").fetchone() == ("Dune",)
    assert past.execute("SELECT COUNT(*) FROM books").fetchone() == (3,)
    drift = past.execute("SHOW DRIFT books KEY 1").fetchall()
    assert len(drift) == 1
    now = past.execute("SELECT COUNT(*) FROM books AS OF @now").fetchone()
    assert now == (4,)  # a statement's own AS OF wins
    with pytest.raises(dbapi.OperationalError):
        past.execute("INSERT INTO books {'id': 91}")
    past.close()
