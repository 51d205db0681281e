"""`driftdb export`: export, rerun, --verify, and the errors, run as a user runs them."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

import driftdb

DRIFTDB = str(Path(sys.executable).parent / "driftdb")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DRIFTDB, *args], capture_output=True, text=True, check=False)


def make_db(path: Path) -> None:
    with driftdb.open(path, create=True) as db:
        orders = db.create_table("orders")
        orders.insert_many([{"id": i, "n": i} for i in range(5)])
        orders.patch(1, {"n": None})
        orders.soft_delete(2)
        db.create_table("empty")


def digest(path: Path) -> str:
    """Every file's name and bytes under `path` (LMDB's reader lock file aside)."""
    found = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and p.name != "lock.mdb"):
        found.update(str(file.relative_to(path)).encode() + file.read_bytes())
    return found.hexdigest()


def test_export_then_rerun_then_verify_and_the_database_is_untouched(tmp_path: Path) -> None:
    make_db(tmp_path / "db")
    lake = tmp_path / "lake"
    before = digest(tmp_path / "db")
    done = run("export", "-d", str(tmp_path / "db"), "--format", "delta", "--to", str(lake))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f'table "empty": nothing new after its start ({lake}/empty)\n'
        f'table "orders": 7 events (@seq:1..@seq:7) -> {lake}/orders, Delta version 0\n'
    )
    again = run("export", "-d", str(tmp_path / "db"), "--to", str(lake), "--table", "orders")
    assert again.stdout == f'table "orders": nothing new after @seq:7 ({lake}/orders)\n'
    checked = run("export", "-d", str(tmp_path / "db"), "--verify", str(lake))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith('table "orders": ok: 7 rows up to @seq:7; states at ')
    assert digest(tmp_path / "db") == before


def test_verify_finds_a_row_appended_behind_the_exports_back(tmp_path: Path) -> None:
    make_db(tmp_path / "db")
    lake = tmp_path / "lake"
    assert run("export", "-d", str(tmp_path / "db"), "--to", str(lake)).returncode == 0
    table = DeltaTable(str(lake / "orders"))
    rows = table.to_pyarrow_table()
    write_deltalake(table, rows.filter(pc.equal(rows["seq"], 6)), mode="append")
    checked = run("export", "-d", str(tmp_path / "db"), "--verify", str(lake))
    assert checked.returncode == 1
    assert "  1 rows repeat a (seq, key)" in checked.stdout
    assert checked.stderr == (
        f"error: the export at {lake} differs from the database: ['orders']\n"
    )


def test_to_and_verify_are_exclusive_and_one_is_needed(tmp_path: Path) -> None:
    make_db(tmp_path / "db")
    done = run("export", "-d", str(tmp_path / "db"))
    assert done.returncode == 2
    assert "give exactly one of --to URI and --verify URI" in done.stderr


def test_an_unknown_table_is_named(tmp_path: Path) -> None:
    make_db(tmp_path / "db")
    done = run("export", "-d", str(tmp_path / "db"), "--to", str(tmp_path / "l"), "-t", "order")
    assert done.returncode == 1
    assert (
        done.stderr == 'error: no table "order" (did you mean "orders"?); tables: empty, orders\n'
    )


def test_the_command_and_the_as_of_query_are_documented() -> None:
    root = Path(__file__).resolve().parents[2]
    shown = run("export", "--help")
    assert shown.returncode == 0 and "Examples:" in shown.stdout
    assert "driftdb export -d shop.db --verify lake/" in shown.stdout
    query = "GROUP BY key\nHAVING max_by(op, seq) <> 'SOFT_DELETE'"
    for doc in (root / "README.md", root / "docs" / "export.md"):
        text = doc.read_text()
        assert "driftdb export -d shop.db --format delta --to lake/" in text
        assert "SELECT key, max_by(doc, seq) AS doc" in text and query in text
        flat = " ".join(text.replace("`", "").split())
        assert "TIMESTAMP AS OF" in flat and "VERSION AS OF v" in flat
