"""`Table.get` at now skips resolving a time point (engine path: one read transaction, one
seek). Interleaved with writes, inside and outside batches, every get through the writer and
through a reader equals the replay of the log at that moment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.model.replay import state_at
from driftdb.storage.tail import read_tail
from helpers.depth import examples

KEYS: list[int | str] = [1, 2, "a", 10**12]
step = st.tuples(
    st.sampled_from(["insert", "patch", "delete", "get", "batch"]),
    st.sampled_from(KEYS),
    st.integers(0, 3),
)


def replay_now(path: Path) -> dict[Any, Any]:
    events = [e.event for e in read_tail(str(path / "tables" / "t" / "segments"), None).located]
    return state_at(events, 2**63, "id")


def write(table: driftdb.Table, kind: str, key: Any, value: int) -> None:
    live = table.get(key) is not None
    if kind == "insert" and not live:
        table.insert({"id": key, "v": value})
    elif kind == "patch" and live:
        table.patch(key, {"v": value, "n": {"x": value}})
    elif kind == "delete" and live:
        table.soft_delete(key)


@settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, max_size=24))
def test_gets_interleaved_with_writes_equal_the_replay(
    tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, Any, int]]
) -> None:
    path = tmp_path_factory.mktemp("g")
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", indexes=["v"])
        with driftdb.open(path, readonly=True) as other:
            for kind, key, value in steps:
                if kind == "batch":
                    with db.batch():  # reads inside see the batch's pending writes
                        write(table, "insert", key, value)
                        write(table, "patch", key, value + 1)
                        expected = replay_now(path)
                        row = expected.get(key)
                        pending = {"id": key, "v": value + 1, "n": {"x": value + 1}}
                        assert table.get(key) == (pending if row is None else {**row, **pending})
                elif kind != "get":
                    write(table, kind, key, value)
                expected = replay_now(path)
                reader = other.table("t")
                for k in KEYS:
                    assert table.get(k) == expected.get(k), (kind, k)
                    assert reader.get(k) == expected.get(k), (kind, k)
                    assert table.get(k, as_of=db.head()) == expected.get(k)
