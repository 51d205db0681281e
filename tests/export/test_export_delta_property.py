"""Random histories exported to Delta in several incremental runs: the portable AS OF query run
by DuckDB over the export equals DriftDB's AS OF at every seq (inside a batch, at a batch
boundary, the last) and at every event time, and a rerun with nothing new commits nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from export_support import data_files, delta_log, drift_state, duck_state
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.model.clock import Clock
from helpers.depth import examples

TABLES = ("t", "u")
KEYS: list[Any] = [1, 2, "1", "a", "é"]
T0_MS = 1_700_000_000_000

leaf = st.sampled_from([0, 1, 2.5, "s", "t", True, None, [1, "x"]])
nested_doc = st.dictionaries(
    st.sampled_from(["k", "l", "m"]),
    st.recursive(
        leaf, lambda inner: st.dictionaries(st.sampled_from(["k", "l"]), inner, max_size=2)
    ),
    max_size=3,
)
nested_patch = st.dictionaries(
    st.sampled_from(["k", "l", "m"]),
    st.recursive(
        st.none() | leaf,
        lambda inner: st.dictionaries(st.sampled_from(["k", "l"]), inner, max_size=2),
    ),
    max_size=3,
)
write = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(TABLES), st.sampled_from(KEYS), nested_doc),
    st.tuples(st.just("patch"), st.sampled_from(TABLES), st.sampled_from(KEYS), nested_patch),
    st.tuples(st.just("delete"), st.sampled_from(TABLES), st.sampled_from(KEYS), st.none()),
)
step = st.one_of(
    write,
    st.tuples(st.just("batch"), st.lists(write, min_size=1, max_size=5)),
    st.tuples(st.just("clock"), st.integers(0, 3)),
    st.tuples(st.just("export"), st.sampled_from([None, 1, 2, 5])),
)


def apply_write(db: driftdb.Database, op: tuple[Any, ...]) -> None:
    """One write; one the rules refuse (a live key inserted, a missing one patched) writes
    nothing, and inside a batch undoes only itself."""
    kind, name, key, body = op
    table = db.table(name)
    try:
        if kind == "insert":
            table.insert({**body, "id": key}, meta={"by": "test"} if key == 1 else None)
        elif kind == "patch":
            table.patch(key, body)
        else:
            table.soft_delete(key)
    except (driftdb.DuplicateKeyError, driftdb.KeyNotFoundError):
        pass


def check_every_version(db: driftdb.Database, lake: Path) -> None:
    """Each Delta version holds whole batches, and VERSION AS OF v is DriftDB's state at that
    version's watermark (its `txn` version)."""
    for name in TABLES:
        if not (lake / name).exists():
            continue
        batch_version: dict[int, int] = {}
        seen: set[str] = set()
        for version, actions in enumerate(delta_log(lake / name)):
            [txn] = [a["txn"] for a in actions if "txn" in a]
            files = data_files(lake / name, version)
            new = [f for f in files if f not in seen]
            seen |= set(files)
            for commit in pq.read_table(new, columns=["commit"]).column("commit").to_pylist():
                assert batch_version.setdefault(commit, version) == version, (name, commit)
            mark = txn["version"]
            assert duck_state(files, 2**62) == drift_state(db.table(name), mark), (name, version)


def check_every_point(db: driftdb.Database, lake: Path) -> None:
    head = db.head()
    for name in TABLES:
        table = db.table(name)
        files = data_files(lake / name) if (lake / name).exists() else []
        for n in range(head + 1):
            assert duck_state(files, n) == drift_state(table, n), (name, n)
        times = {e.unix_ms for k in KEYS for e in table.history(k)}
        for ms in sorted(times | {t - 1 for t in times}):
            assert duck_state(files, ms, by_time=True) == drift_state(table, ms, True), (name, ms)


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(step, min_size=1, max_size=30))
def test_duckdb_as_of_over_the_export_equals_driftdb_as_of_everywhere(
    steps: list[tuple[Any, ...]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lake = Path(tmp) / "lake"
        now = [T0_MS]
        with driftdb.open(Path(tmp) / "db", create=True) as db:
            db.clock = Clock(source=lambda: now[0])
            for name in TABLES:
                db.create_table(name)
            for s in steps:
                if s[0] == "batch":
                    with db.batch():
                        for op in s[1]:
                            apply_write(db, op)
                elif s[0] == "clock":
                    now[0] += s[1]
                elif s[0] == "export":
                    db.export_delta(str(lake), max_events=s[1])
                else:
                    apply_write(db, s)
            db.export_delta(str(lake))
            check_every_point(db, lake)
            check_every_version(db, lake)
            versions = {n: len(delta_log(lake / n)) for n in TABLES if (lake / n).exists()}
            again = db.export_delta(str(lake))
            assert all(r.events == 0 and not r.versions for r in again)
            assert versions == {n: len(delta_log(lake / n)) for n in TABLES if (lake / n).exists()}
