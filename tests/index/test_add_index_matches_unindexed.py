"""ALTER TABLE ADD INDEX over a table that already has history: afterwards every indexed read,
at every seq, equals the unindexed answer (and the replay), counts included; the entries equal
those of a table indexed from its first event; DROP INDEX goes back to the unindexed plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.errors import InvalidInputError
from helpers.depth import examples

KEYS: list[int | str] = [1, 2, 3, "a", "b"]
STATUS = st.sampled_from(["new", "paid", "shipped", 1, 2.5, None, True, [1], {"x": 1}])
operation = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(KEYS), STATUS, st.integers(0, 3)),
    st.tuples(st.just("patch"), st.sampled_from(KEYS), STATUS, st.integers(0, 3)),
    st.tuples(st.just("delete"), st.sampled_from(KEYS), st.none(), st.none()),
)
WHERES = [
    "status = 'paid'",
    "status = 1",
    "status IN ('new', 2.5, true)",
    "status IS NULL",
    "status > 'a'",
    "status <= 2",
    "d.e = 2",
    "d.e >= 1 AND status != 'new'",
    "status = 'shipped' OR d.e < 1",
]


def apply_history(table: driftdb.Table, ops: list[tuple[Any, ...]]) -> None:
    for kind, key, status, e in ops:
        live = table.get(key) is not None
        if kind == "insert" and not live:
            table.insert({"id": key, "status": status, "d": {"e": e}})
        elif kind == "patch" and live:
            table.patch(key, {"status": status, "d": {"e": e}})
        elif kind == "delete" and live:
            table.soft_delete(key)


def answers(table: driftdb.Table, head: int) -> dict[tuple[str, int], Any]:
    out: dict[tuple[str, int], Any] = {}
    for where in WHERES:
        for seq in range(0, head + 1):
            rows = [r["id"] for r in table.select(where=where, as_of=seq)]
            out[(where, seq)] = (sorted(map(str, rows)), table.count(where=where, as_of=seq))
    return out


def index_entries(path: Path, columns: list[str]) -> dict[str, list[tuple[bytes, bytes]]]:
    import lmdb

    env = lmdb.open(str(path / "tables" / "t" / "indexes"), readonly=True, lock=False, max_dbs=200)
    try:
        out = {}
        for column in columns:
            for prefix in ("ix", "cnt"):
                db = env.open_db(f"{prefix}:{column}".encode(), create=False)
                with env.begin() as txn:
                    out[f"{prefix}:{column}"] = [(bytes(k), bytes(v)) for k, v in txn.cursor(db)]
        return out
    finally:
        env.close()


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=25), late=st.lists(operation, max_size=6))
def test_add_index_then_every_indexed_query_at_every_seq_equals_the_unindexed_answer(
    tmp_path_factory: Any, ops: list[Any], late: list[Any]
) -> None:
    base = tmp_path_factory.mktemp("db")
    with (
        driftdb.open(base / "plain", create=True) as plain,
        driftdb.open(base / "indexed", create=True) as indexed,
    ):
        t_plain = plain.create_table("t", primary_key="id")
        t_indexed = indexed.create_table("t", primary_key="id", indexes=["status", "d.e"])
        apply_history(t_plain, ops)
        apply_history(t_indexed, ops)
        head = plain.head()
        expected = answers(t_plain, head)
        message = plain.execute("ALTER TABLE t ADD INDEX (status, d.e)").message
        assert message is not None and f"at @seq:{head}" in message
        assert t_plain.schema.indexes == ("status", "d.e")
        assert "INDEX LOOKUP" in str(
            plain.execute("EXPLAIN SELECT * FROM t WHERE status = 1").message
        )
        assert answers(t_plain, head) == expected
        apply_history(t_plain, late)  # maintained from here on like any index
        apply_history(t_indexed, late)
        head = plain.head()
        assert answers(t_plain, head) == answers(t_indexed, head)
    assert index_entries(base / "plain", ["status", "d.e"]) == index_entries(
        base / "indexed", ["status", "d.e"]
    )
    with driftdb.open(base / "plain") as reopened:  # durable in schema.yaml
        table = reopened.table("t")
        assert table.schema.indexes == ("status", "d.e")
        assert answers(table, head) == answers(table, head)
        reopened.execute("ALTER TABLE t DROP INDEX (status)")
        assert "FULL SCAN" in str(
            reopened.execute("EXPLAIN SELECT * FROM t WHERE status = 1").message
        )
    with driftdb.open(base / "plain", readonly=True) as reader:
        assert reader.table("t").schema.indexes == ("d.e",)
        describe = {r["property"]: r["value"] for r in reader.execute("DESCRIBE t").rows}
        assert describe["index_changes"].startswith("ADD INDEX (status, d.e) at @seq:")
        assert "DROP INDEX (status) at @seq:" in describe["index_changes"]


def test_add_index_is_refused_for_an_indexed_or_malformed_column(tmp_path: Path) -> None:
    with driftdb.open(tmp_path / "db", create=True) as db:
        table = db.create_table("t", indexes=["status"])
        table.insert({"id": 1, "status": "new"})
        before = (tmp_path / "db" / "tables" / "t" / "schema.yaml").read_bytes()
        for statement, message in [
            ("ALTER TABLE t ADD INDEX (status)", "table \"t\" already indexes 'status'"),
            (
                "ALTER TABLE t DROP INDEX (total)",
                "table \"t\" has no index on 'total' (indexed: status)",
            ),
        ]:
            try:
                db.execute(statement)
            except InvalidInputError as exc:
                assert str(exc) == message
            else:
                raise AssertionError(statement)
        assert (tmp_path / "db" / "tables" / "t" / "schema.yaml").read_bytes() == before


def test_doctor_finds_an_added_index_consistent_with_the_log(tmp_path: Path) -> None:
    from driftdb.maintenance.doctor import check

    with driftdb.open(tmp_path / "db", create=True) as db:
        table = db.create_table("t")
        for i in range(30):
            table.insert({"id": i, "status": "new" if i % 2 else "paid"})
        for i in range(0, 30, 3):
            table.patch(i, {"status": "shipped"})
        db.execute("ALTER TABLE t ADD INDEX (status)")
    report = check(str(tmp_path / "db"), full=True)
    assert report.findings == [], report.render()
