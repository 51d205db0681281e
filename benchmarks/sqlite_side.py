"""The peer: SQLite (stdlib sqlite3, WAL) holding the same history the way users build it.

A current table `orders` plus `orders_history`, maintained by AFTER INSERT/UPDATE/DELETE
triggers. Each trigger bumps a one-row version counter (`version.v`), closes the key's open
history row (valid_to = v) and appends the new one (valid_from = v). A soft delete is a DELETE;
its history row has op 'D' and carries the values the row had. So `v` numbers events exactly as
DriftDB's seq does, and the row of key K AS OF S is the history row with
valid_from <= S < coalesce(valid_to, infinity) and op != 'D'.
"""

from __future__ import annotations

import os
import sqlite3
import time
from typing import Any

from workload import COLUMNS

SCHEMA = """
CREATE TABLE orders (
    id INTEGER PRIMARY KEY, customer TEXT NOT NULL, status TEXT NOT NULL,
    total REAL NOT NULL, items INTEGER NOT NULL, note TEXT NOT NULL
);
CREATE INDEX orders_status ON orders(status);
CREATE INDEX orders_customer ON orders(customer);
CREATE TABLE orders_history (
    id INTEGER NOT NULL, customer TEXT, status TEXT, total REAL, items INTEGER, note TEXT,
    valid_from INTEGER NOT NULL, valid_to INTEGER NULL, op TEXT NOT NULL
);
CREATE INDEX orders_history_id ON orders_history(id, valid_from);
CREATE INDEX orders_history_status ON orders_history(status, valid_from);
CREATE TABLE version (v INTEGER NOT NULL);
INSERT INTO version VALUES (0);

CREATE TRIGGER orders_ai AFTER INSERT ON orders BEGIN
    UPDATE version SET v = v + 1;
    UPDATE orders_history SET valid_to = (SELECT v FROM version)
        WHERE id = NEW.id AND valid_to IS NULL;
    INSERT INTO orders_history VALUES (NEW.id, NEW.customer, NEW.status, NEW.total, NEW.items,
        NEW.note, (SELECT v FROM version), NULL, 'I');
END;
CREATE TRIGGER orders_au AFTER UPDATE ON orders BEGIN
    UPDATE version SET v = v + 1;
    UPDATE orders_history SET valid_to = (SELECT v FROM version)
        WHERE id = OLD.id AND valid_to IS NULL;
    INSERT INTO orders_history VALUES (NEW.id, NEW.customer, NEW.status, NEW.total, NEW.items,
        NEW.note, (SELECT v FROM version), NULL, 'U');
END;
CREATE TRIGGER orders_ad AFTER DELETE ON orders BEGIN
    UPDATE version SET v = v + 1;
    UPDATE orders_history SET valid_to = (SELECT v FROM version)
        WHERE id = OLD.id AND valid_to IS NULL;
    INSERT INTO orders_history VALUES (OLD.id, OLD.customer, OLD.status, OLD.total, OLD.items,
        OLD.note, (SELECT v FROM version), NULL, 'D');
END;
"""

_COLS = ", ".join(COLUMNS)
_LIVE_AT = "valid_from <= :s AND (valid_to IS NULL OR valid_to > :s) AND op != 'D'"

SQL = {
    "get_now": f"SELECT {_COLS} FROM orders WHERE id = ?",
    "get_as_of": f"SELECT {_COLS} FROM orders_history WHERE id = :k AND {_LIVE_AT}",
    "count_status_now": "SELECT count(*) FROM orders WHERE status = ?",
    "first_status_now": f"SELECT {_COLS} FROM orders WHERE status = ? LIMIT ?",
    "first_status_now_by_id": f"SELECT {_COLS} FROM orders WHERE status = ? ORDER BY id LIMIT ?",
    "count_status_as_of": f"SELECT count(*) FROM orders_history WHERE status = :v AND {_LIVE_AT}",
    "first_status_as_of": (
        f"SELECT {_COLS} FROM orders_history WHERE status = :v AND {_LIVE_AT} LIMIT :n"
    ),
    "first_status_as_of_by_id": (
        f"SELECT {_COLS} FROM orders_history WHERE status = :v AND {_LIVE_AT} ORDER BY id LIMIT :n"
    ),
    "count_now": "SELECT count(*) FROM orders",
    "rows_now": f"SELECT {_COLS} FROM orders",
    "count_as_of": f"SELECT count(*) FROM orders_history WHERE {_LIVE_AT}",
    "rows_as_of": f"SELECT {_COLS} FROM orders_history WHERE {_LIVE_AT}",
    "history": (
        f"SELECT valid_from, op, {_COLS} FROM orders_history WHERE id = ? ORDER BY valid_from"
    ),
}


def _doc(row: tuple[Any, ...] | None) -> dict[str, Any] | None:
    return dict(zip(COLUMNS, row, strict=True)) if row is not None else None


class SQLiteSide:
    """One SQLite database file in WAL mode with the given `synchronous` level."""

    def __init__(self, path: str, synchronous: str) -> None:
        self.path = path
        self.synchronous = synchronous
        self.label = f"SQLite {synchronous}"
        self.conn: sqlite3.Connection | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def create(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.unlink(self.path + suffix)
        self.open(fresh=True)
        assert self.conn is not None
        self.conn.executescript(SCHEMA)

    def open(self, fresh: bool = False) -> float:
        """Connect (WAL, the chosen synchronous level) and read the schema; the seconds it
        took."""
        start = time.perf_counter()
        conn = sqlite3.connect(self.path, isolation_level=None)  # explicit transactions
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise RuntimeError(f"SQLite refused WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        if not fresh:
            conn.execute("SELECT v FROM version").fetchone()
        self.conn = conn
        return time.perf_counter() - start

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None

    def checkpoint(self) -> None:
        """Move the WAL into the main file (so the size on disk is the database's)."""
        assert self.conn is not None
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    @property
    def c(self) -> sqlite3.Connection:
        assert self.conn is not None, "database is not open"
        return self.conn

    def version(self) -> int:
        return int(self.c.execute("SELECT v FROM version").fetchone()[0])

    # -- the three load phases, one batch (one transaction, one commit) per call ---------

    def _batch(self, sql: str, rows: list[tuple[Any, ...]]) -> int:
        self.c.execute("BEGIN")
        self.c.executemany(sql, rows)
        self.c.execute("COMMIT")
        return self.version()

    def insert_batch(self, docs: list[dict[str, Any]]) -> int:
        rows = [tuple(d[c] for c in COLUMNS) for d in docs]
        return self._batch(f"INSERT INTO orders ({_COLS}) VALUES (?, ?, ?, ?, ?, ?)", rows)

    def patch_batch(self, patches: list[tuple[int, str]]) -> int:
        rows = [(status, order_id) for order_id, status in patches]
        return self._batch("UPDATE orders SET status = ? WHERE id = ?", rows)

    def delete_batch(self, ids: list[int]) -> int:
        return self._batch("DELETE FROM orders WHERE id = ?", [(i,) for i in ids])

    def last_seq(self) -> int:
        return self.version()

    def single_commits(self, docs: list[dict[str, Any]]) -> list[float]:
        """Each insert is its own transaction (autocommit): one durable commit each under
        synchronous=FULL; under NORMAL a WAL commit is not fsynced (only checkpoints are)."""
        sql = f"INSERT INTO orders ({_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
        out = []
        for doc in docs:
            row = tuple(doc[c] for c in COLUMNS)
            start = time.perf_counter()
            self.c.execute(sql, row)
            out.append(time.perf_counter() - start)
        return out

    # -- queries (the same questions DriftSide answers) ------------------------------------

    def q_get(self, key: int, as_of: int | None = None) -> dict[str, Any] | None:
        if as_of is None:
            return _doc(self.c.execute(SQL["get_now"], (key,)).fetchone())
        return _doc(self.c.execute(SQL["get_as_of"], {"k": key, "s": as_of}).fetchone())

    def q_count_status(self, status: str, as_of: int | None = None) -> int:
        if as_of is None:
            return int(self.c.execute(SQL["count_status_now"], (status,)).fetchone()[0])
        cur = self.c.execute(SQL["count_status_as_of"], {"v": status, "s": as_of})
        return int(cur.fetchone()[0])

    def q_first_status(
        self, status: str, as_of: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        if as_of is None:
            cur = self.c.execute(SQL["first_status_now"], (status, limit))
        else:
            cur = self.c.execute(SQL["first_status_as_of"], {"v": status, "s": as_of, "n": limit})
        return [dict(zip(COLUMNS, r, strict=True)) for r in cur]

    def q_first_status_by_id(
        self, status: str, as_of: int | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        if as_of is None:
            cur = self.c.execute(SQL["first_status_now_by_id"], (status, limit))
        else:
            cur = self.c.execute(
                SQL["first_status_as_of_by_id"], {"v": status, "s": as_of, "n": limit}
            )
        return [dict(zip(COLUMNS, r, strict=True)) for r in cur]

    def q_count_all(self, as_of: int | None = None) -> int:
        if as_of is None:
            return int(self.c.execute(SQL["count_now"]).fetchone()[0])
        return int(self.c.execute(SQL["count_as_of"], {"s": as_of}).fetchone()[0])

    def q_rows_all(self, as_of: int | None = None) -> list[dict[str, Any]]:
        if as_of is None:
            cur = self.c.execute(SQL["rows_now"])
        else:
            cur = self.c.execute(SQL["rows_as_of"], {"s": as_of})
        return [dict(zip(COLUMNS, r, strict=True)) for r in cur]

    def q_history(self, key: int) -> list[tuple[int, str, dict[str, Any] | None]]:
        out: list[tuple[int, str, dict[str, Any] | None]] = []
        for row in self.c.execute(SQL["history"], (key,)):
            seq, op = row[0], row[1]
            out.append((seq, op, None if op == "D" else _doc(row[2:])))
        return out

    def query_plans(self) -> dict[str, list[str]]:
        """EXPLAIN QUERY PLAN of each query, to show which index SQLite uses."""
        params: dict[str, Any] = {"k": 1, "s": 1, "v": "paid", "n": 100}
        plans = {}
        for name, sql in SQL.items():
            args: Any = params if ":" in sql else (1,) * sql.count("?")
            rows = self.c.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()
            plans[name] = [str(r[-1]) for r in rows]
        return plans
