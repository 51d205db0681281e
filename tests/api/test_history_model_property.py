"""A simulation checked against an in-memory model kept per seq (as bbolt's simulation_test).

Random writes (inserts, nested merge patches with nulls, soft deletes, some failing on purpose)
over int and str keys in two tables, some in batches (`db.batch()`, aborted or not, and
`insert_many`), with a clock that steps back, and reopens along the way. Afterwards, for EVERY
seq from 0 to head+1, every read (select, get, count, indexed and non-indexed WHERE, AS OF a
time, history) must equal the model, through six read paths: the writer, a read-only database
opened alongside, the writer after a reopen, a reader using the indexes, a reader whose indexes
lag the log (the overlay path), and a reader with no indexes at all (the log alone).

The model is this file's own: it does not use driftdb.model.replay or merge_patch.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import driftdb
from driftdb import DriftEntry, EventType
from driftdb.model.clock import Clock
from driftdb.model.timepoint import TimePoint
from helpers.bytes_edit import save_indexes
from helpers.depth import examples

TABLES = ("t", "u")
KEYS: list[Any] = [1, 2, "1", "a"]
COL_VALUES: list[Any] = ["x", "y", 1, 2, True, False]
TAGS = ["p", "q"]
# The values WHERE asks for at every seq (1 and True must not match each other).
COL_QUERIES: list[Any] = ["x", 1, True]
K_QUERIES: list[Any] = [1, "s"]
TAG_QUERIES = ["p"]
T0_MS = 1_700_000_000_000

# -- strategies ------------------------------------------------------------------------------

leaf = st.sampled_from([0, 1, 2, 3, "s", "t", True])
nested_doc = st.recursive(
    leaf | st.lists(leaf, max_size=2),
    lambda inner: st.dictionaries(st.sampled_from(["k", "l", "m"]), inner, max_size=3),
    max_leaves=6,
)
nested_patch = st.recursive(
    st.none() | leaf,
    lambda inner: st.dictionaries(st.sampled_from(["k", "l", "m"]), inner, max_size=3),
    max_leaves=6,
)
doc_body = st.fixed_dictionaries(
    {},
    optional={
        "col": st.sampled_from(COL_VALUES),
        "tag": st.sampled_from(TAGS),
        "attrs": st.dictionaries(st.sampled_from(["k", "l", "m"]), nested_doc, max_size=3),
        "list": st.lists(st.integers(0, 3), max_size=3),
    },
)
patch_body = st.fixed_dictionaries(
    {},
    optional={
        "col": st.sampled_from([*COL_VALUES, None]),
        "tag": st.sampled_from([*TAGS, None]),
        "attrs": nested_patch,
        "list": st.none() | st.lists(st.integers(0, 3), max_size=2),
    },
)
meta = st.none() | st.fixed_dictionaries({"by": st.sampled_from(["ann", "bob"])})
table_name = st.sampled_from(["t", "t", "u"])
key = st.sampled_from(KEYS)

insert = st.tuples(st.just("insert"), table_name, key, doc_body, meta)
patch = st.tuples(
    st.just("patch"),
    table_name,
    key,
    patch_body,
    meta,
    st.sampled_from(["none", "none", "none", "same", "other"]),
)
delete = st.tuples(st.just("delete"), table_name, key, meta)
write = st.one_of(insert, insert, patch, patch, patch, delete)
step = st.one_of(
    write,
    write,
    write,
    st.tuples(
        st.just("batch"),
        st.lists(write, min_size=1, max_size=5),
        st.sampled_from([False, False, False, True]),
    ),
    st.tuples(
        st.just("insert_many"),
        table_name,
        st.lists(st.tuples(key, doc_body), min_size=1, max_size=4),
    ),
    st.tuples(st.just("clock"), st.integers(-5, 20)),
    st.just(("reopen",)),
)


# -- the model -------------------------------------------------------------------------------


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386, section 2."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = merge(out.get(name), value)
    return out


def resolve(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def same_json(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a is not None and a == b


@dataclass
class Event:
    seq: int
    unix_ms: int
    table: str
    type: EventType
    key: Any
    data: Any
    meta: Any
    row: Any


@dataclass
class Model:
    current: dict[str, dict[Any, Any]] = field(default_factory=lambda: {t: {} for t in TABLES})
    states: list[dict[str, dict[Any, Any]]] = field(
        default_factory=lambda: [{t: {} for t in TABLES}]
    )
    events: list[Event] = field(default_factory=list)
    last_ms: int = 0

    @property
    def head(self) -> int:
        return len(self.states) - 1

    def commit(self, writes: list[tuple[str, EventType, Any, Any, Any]], wall_ms: int) -> None:
        """Writes that the rules accepted, committed together at one clock reading."""
        if not writes:
            return
        self.last_ms = max(self.last_ms, wall_ms)
        for name, kind, k, data, m in writes:
            rows = self.current[name]
            if kind is EventType.INSERT:
                rows[k] = copy.deepcopy(data)
            elif kind is EventType.PATCH:
                rows[k] = merge(rows[k], data)
                rows[k][pk_of(name)] = k
            else:
                del rows[k]
            self.events.append(
                Event(
                    self.head + 1, self.last_ms, name, kind, k, data, m, copy.deepcopy(rows.get(k))
                )
            )
            self.states.append(copy.deepcopy(self.current))

    def state_at_time(self, unix_ms: int) -> dict[str, dict[Any, Any]]:
        seq = max((e.seq for e in self.events if e.unix_ms <= unix_ms), default=0)
        return self.states[seq]


def pk_of(name: str) -> str:
    return "id" if name == "t" else "code"


# -- running the steps -----------------------------------------------------------------------


class Abort(Exception):
    pass


@dataclass
class Run:
    path: Path
    saved_indexes: Path
    model: Model = field(default_factory=Model)
    wall_ms: int = T0_MS
    db: driftdb.Database | None = None
    saved: bool = False

    def open(self) -> None:
        self.db = driftdb.open(self.path, create=not self.path.exists())
        last = self.db.clock.last_unix_ms
        assert last == self.model.last_ms  # recovery restores the clock's floor from the log
        self.db.clock = Clock(last, source=lambda: self.wall_ms)

    def reopen(self) -> None:
        assert self.db is not None
        self.db.close()
        if not self.saved:
            save_indexes(self.path, self.saved_indexes)  # for a reader whose indexes lag
            self.saved = True
        self.open()

    def plan(
        self, w: tuple[Any, ...], pending: dict[str, dict[Any, Any]]
    ) -> tuple[tuple[str, EventType, Any, Any, Any], type[Exception] | None]:
        """The call write `w` makes, and the error the rules expect given the rows `pending`
        (None: accepted)."""
        kind, name, k = w[0], w[1], w[2]
        live = k in pending[name]
        pk = pk_of(name)
        if kind == "insert":
            doc = {pk: k, **w[3]}
            return (name, EventType.INSERT, k, doc, w[4]), (
                driftdb.DuplicateKeyError if live else None
            )
        if kind == "patch":
            patch = dict(w[3])
            if w[5] == "same":
                patch[pk] = k
            elif w[5] == "other":
                patch[pk] = "other"  # never a key: KEYS has no "other"
                return (name, EventType.PATCH, k, patch, w[4]), driftdb.InvalidInputError
            return (name, EventType.PATCH, k, patch, w[4]), (
                None if live else driftdb.KeyNotFoundError
            )
        return (name, EventType.SOFT_DELETE, k, None, w[3]), (
            None if live else driftdb.KeyNotFoundError
        )

    def call(self, event: tuple[str, EventType, Any, Any, Any]) -> int:
        assert self.db is not None
        name, kind, k, data, m = event
        table = self.db.table(name)
        if kind is EventType.INSERT:
            return table.insert(data, meta=m)
        if kind is EventType.PATCH:
            return table.patch(k, data, meta=m)
        return table.soft_delete(k, meta=m)

    def attempt(
        self,
        w: tuple[Any, ...],
        pending: dict[str, dict[Any, Any]],
        base_seq: int,
        queued: list[Any],
    ) -> None:
        """Run one write; check its error or its seq; queue the accepted event."""
        event, error = self.plan(w, pending)
        if error is not None:
            with pytest.raises(error):
                self.call(event)
            return
        assert self.call(event) == base_seq + len(queued) + 1
        queued.append(event)
        name, kind, k, data, _ = event
        rows = pending[name]
        if kind is EventType.INSERT:
            rows[k] = data
        elif kind is EventType.PATCH:
            rows[k] = {**merge(rows[k], data), pk_of(name): k}
        else:
            del rows[k]

    def step(self, s: tuple[Any, ...]) -> None:
        assert self.db is not None
        head = self.model.head
        if s[0] == "clock":
            self.wall_ms += s[1]
        elif s[0] == "reopen":
            self.reopen()
        elif s[0] == "batch":
            pending = copy.deepcopy(self.model.current)
            queued: list[Any] = []
            try:
                with self.db.batch():
                    for w in s[1]:
                        self.attempt(w, pending, head, queued)
                    if s[2]:
                        raise Abort
            except Abort:
                queued = []
            self.model.commit(queued, self.wall_ms)
        elif s[0] == "insert_many":
            name, items = s[1], s[2]
            pk = pk_of(name)
            docs = [{pk: k, **body} for k, body in items]
            keys = [k for k, _ in items]
            table = self.db.table(name)
            if len(set(map(repr, keys))) < len(keys) or any(
                k in self.model.current[name] for k in keys
            ):
                with pytest.raises(driftdb.DuplicateKeyError):
                    table.insert_many(docs)
            else:
                assert table.insert_many(docs) == list(range(head + 1, head + 1 + len(docs)))
                self.model.commit(
                    [(name, EventType.INSERT, d[pk], d, None) for d in docs], self.wall_ms
                )
        else:
            queued = []
            self.attempt(s, copy.deepcopy(self.model.current), head, queued)
            self.model.commit(queued, self.wall_ms)
        assert self.db.head() == self.model.head


# -- checking every read against the model ----------------------------------------------------


def check_reads(db: driftdb.Database, model: Model, path: str) -> None:
    head = model.head
    assert db.head() == head, path
    for seq in range(head + 2):
        expected = model.states[min(seq, head)]
        if seq > head:
            with pytest.warns(driftdb.DriftWarning, match=rf"beyond the head \(@seq:{head}\)"):
                check_state(db, seq, expected, path)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("error", driftdb.DriftWarning)
                check_state(db, seq, expected, path)
    times = sorted({e.unix_ms for e in model.events} | {T0_MS - 1})
    for unix_ms in times + [t - 1 for t in times]:
        point = TimePoint("time", unix_ms=unix_ms, text=str(unix_ms))
        expected = model.state_at_time(unix_ms)
        for name in TABLES:
            table = db.table(name)
            found = {r[table.primary_key]: r for r in table.select(as_of=point)}
            assert found == expected[name], (path, "time", unix_ms)
    for name in TABLES:
        table = db.table(name)
        for k in KEYS:
            assert table.history(k) == [
                DriftEntry(e.seq, e.unix_ms, e.type, e.data, e.meta, e.row)
                for e in model.events
                if e.table == name and e.key == k and type(e.key) is type(k)
            ], (path, name, k)


def check_state(db: driftdb.Database, seq: int, expected: dict[str, Any], path: str) -> None:
    where = (path, seq)
    for name in TABLES:
        table = db.table(name)
        rows = expected[name]
        found = {r[table.primary_key]: r for r in table.select(as_of=seq)}
        assert found == rows, where
        assert {(type(k), k) for k in found} == {(type(k), k) for k in rows}, where
        assert table.count(as_of=seq) == len(rows), where
        for k in KEYS:
            assert table.get(k, as_of=seq) == rows.get(k), (*where, name, k)
        columns = (
            (("col", COL_QUERIES), ("attrs.k", K_QUERIES))
            if name == "t"
            else (("tag", TAG_QUERIES),)
        )
        for column, values in columns:
            for value in values:
                got = sorted(
                    repr(r[table.primary_key])
                    for r in table.select(where={column: value}, as_of=seq)
                )
                want = sorted(
                    repr(k) for k, r in rows.items() if same_json(resolve(r, column), value)
                )
                assert got == want, (*where, name, column, value)


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(step, min_size=1, max_size=18))
def test_every_read_at_every_seq_matches_the_model(steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run = Run(root / "db", root / "saved-indexes")
        run.open()
        assert run.db is not None
        run.db.create_table("t", primary_key="id", indexes=["col", "attrs.k"])
        run.db.create_table("u", primary_key="code")
        # In the writer's process a reader cannot open the LMDB indexes a second time, so it
        # reads the log; the reader opened after the writer closes uses the indexes.
        alongside = driftdb.open(run.path, readonly=True)
        try:
            for i, s in enumerate(steps):
                if i == len(steps) // 2 and not run.saved:
                    run.reopen()
                run.step(s)
            if not run.saved:
                run.reopen()
            check_reads(run.db, run.model, "writer")
            check_reads(alongside, run.model, "reader alongside")
            alongside.close()
            run.reopen()
            check_reads(run.db, run.model, "writer after reopen")
        finally:
            alongside.close()
            run.db.close()
        with driftdb.open(run.path, readonly=True) as reader:
            check_reads(reader, run.model, "reader with the indexes")

        lagging = root / "lagging"
        shutil.copytree(run.path, lagging, ignore=shutil.ignore_patterns("indexes"))
        for name in TABLES:
            shutil.copytree(run.saved_indexes / name, lagging / "tables" / name / "indexes")
        with driftdb.open(lagging, readonly=True) as reader:
            check_reads(reader, run.model, "reader with lagging indexes")

        bare = root / "bare"
        shutil.copytree(run.path, bare, ignore=shutil.ignore_patterns("indexes"))
        with driftdb.open(bare, readonly=True) as reader:
            check_reads(reader, run.model, "reader without indexes")
