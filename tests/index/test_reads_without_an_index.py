"""Reads of a view without an index (a reader whose index is missing or unusable, or a second
Database in the writer's process, which cannot open the writer's LMDB environment) must give
the indexed answer. The retention base then offers every base key as a candidate of an index
range: the query engine must re-check those rows, not take them as exact matches (before the
fix, `status = 'paid'` returned every base row and counted them all)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from helpers.depth import examples

STATUS = st.sampled_from(["new", "paid", 1, None])


def build(path: Path, rows: list[tuple[int, Any]], patches: list[tuple[int, Any]]) -> int:
    """A table whose history before its middle is folded into a retention base; returns the
    horizon."""
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", primary_key="id", indexes=["status"])
        for key, status in rows:
            if table.get(key) is None:
                table.insert({"id": key, "status": status})
        for key, status in patches:
            if table.get(key) is not None:
                table.patch(key, {"status": status})
        horizon = db.head() // 2 + 1
        table.compact(before=horizon)
        return horizon


def answers(db: driftdb.Database, seq: int | None) -> dict[str, Any]:
    table = db.table("t")
    out: dict[str, Any] = {"all": sorted(r["id"] for r in table.select(as_of=seq))}
    for value in ("new", "paid", 1, None):
        out[f"select {value!r}"] = sorted(r["id"] for r in table.select({"status": value}, seq))
        out[f"count {value!r}"] = table.count({"status": value}, seq)
        out[f"first {value!r}"] = [r["id"] for r in table.select({"status": value}, seq, "id", 2)]
    return out


def test_a_reader_without_an_index_filters_the_retention_base(tmp_path: Path) -> None:
    path = tmp_path / "db"
    build(path, [(1, "paid"), (2, "new")], [])
    shutil.rmtree(path / "tables" / "t" / "indexes")
    with driftdb.open(path, readonly=True) as reader, warnings.catch_warnings():
        warnings.simplefilter("ignore", driftdb.DriftWarning)
        table = reader.table("t")
        assert [r["id"] for r in table.select({"status": "paid"})] == [1]
        assert table.count({"status": "paid"}) == 1
        assert table.count({"status": "new"}) == 1


def test_a_second_database_in_the_writers_process_gives_the_writers_answers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", primary_key="id", indexes=["status"])
        table.insert({"id": 1, "status": "paid"})
        table.insert({"id": 2, "status": "new"})
        table.compact(before=2)
        with driftdb.open(path, readonly=True) as reader:
            assert answers(reader, None) == answers(db, None)


@settings(
    max_examples=examples(20),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(st.tuples(st.integers(1, 6), STATUS), min_size=1, max_size=8),
    patches=st.lists(st.tuples(st.integers(1, 6), STATUS), max_size=6),
)
def test_reads_without_an_index_equal_the_indexed_reads(
    tmp_path_factory: Any, rows: list[tuple[int, Any]], patches: list[tuple[int, Any]]
) -> None:
    path = tmp_path_factory.mktemp("db") / "db"
    horizon = build(path, rows, patches)
    with driftdb.open(path) as writer:
        head = writer.head()
        seqs: list[int | None] = [None, *sorted({head, max(horizon, head - 1)})]
        want = {seq: answers(writer, seq) for seq in seqs}
    shutil.rmtree(path / "tables" / "t" / "indexes")
    with driftdb.open(path, readonly=True) as reader, warnings.catch_warnings():
        warnings.simplefilter("ignore", driftdb.DriftWarning)
        for seq in seqs:
            assert answers(reader, seq) == want[seq], seq
