"""The value classes written on `model.frozen` behave as the dataclasses they replaced (kept
off a cold start, see model/frozen.py): each is compared with a dataclass twin of the same
fields, made here by `dataclasses.make_dataclass`, for construction defaults, equality, hash,
repr, immutability (or mutability), copy and pickle, and `replace`."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest

from driftdb.engine.commit import PendingWrite
from driftdb.index.store import SyncMark, Version
from driftdb.model.events import Event, EventType, Txn
from driftdb.model.frozen import Frozen, Record, replace
from driftdb.model.retention import Horizon
from driftdb.model.schema import TableSchema
from driftdb.query.executor import Result
from driftdb.storage.frame import FrameBody
from driftdb.storage.position import Covered, Located
from driftdb.storage.rewrite import Rewrite, Stamp
from driftdb.storage.segment import FrameRecord, Problem, Rescan, ScanResult
from driftdb.storage.snapshot import SnapshotInfo
from driftdb.storage.tail import Tail
from driftdb.storage.witness import Witness

EVENT = Event(3, 1700, EventType.PATCH, "k", {"a": 1}, {"m": 1}, Txn(3, 1, {"t": 1}))
BODY = FrameBody(1, 2, 1, b"\x80")
PROBLEM = Problem("p", 16, "CRC mismatch", False, 40)
# (class, arguments that set every field, the defaults the dataclass gave the others: field
# name -> value, or a factory for a fresh mutable default)
CASES: list[tuple[type[Any], tuple[Any, ...], dict[str, Any]]] = [
    (Txn, (1, 2, {"t": 2}), {"parts": dict}),
    (Event, (EVENT.seq, 1, EventType.INSERT, 7, {"a": 1}, None, None, {"at": 1}), {
        "data": None, "meta": None, "txn": None, "purged": None}),
    (Horizon, (5, 100, 90), {}),
    (TableSchema, ("t", "id", ("a",), {"x": 1}, ({"action": "add"},)), {
        "indexes": (), "options": dict, "index_changes": ()}),
    (FrameBody, (1, 2, 3, b"x"), {}),
    (Covered, (1, 2, 3, 4, 5), {}),
    (Located, (EVENT, 1, 16, 40), {}),
    (FrameRecord, (1, 16, 24, BODY), {}),
    (Problem, ("p", 16, "torn", True, None), {"next_good_offset": None}),
    (ScanResult, ([FrameRecord(1, 16, 24, BODY)], 40, PROBLEM, 1, True), {
        "segment": 0, "zero_tail": False}),
    (Rescan, (None, 100, True), {"gave_up": False}),
    (SnapshotInfo, ("s", 1, 2, 3, 4, 5, 0, Horizon(1, 2, 3)), {}),
    (Witness, (4, "meta.json", 2), {}),
    (Stamp, (False, ((1, 99),)), {}),
    (Tail, ([], PROBLEM, 1, 2, {3: 40}), {"located": list, "problem": None,
                                          "problem_segment": None, "last_segment": 0,
                                          "zero_tails": dict}),
    (Rewrite, ("d", "compact", [{"a": 1}], ["x"], True), {"install": list, "remove": list,
                                                          "committed": False}),
    (Result, ("rows", [{"id": 1}], ["id"], "m", 4), {"rows": list, "columns": list,
                                                     "message": None, "seq": None}),
    (Version, (3, EventType.PATCH, 1700, 1, 16, {"id": 1}), {}),
    (SyncMark, (7, True, b"\0" * 16), {}),
    (PendingWrite, ("t", EventType.INSERT, 1, {"id": 1}, None, 4, None, {"id": 1}), {
        "before": None, "after": None}),
]  # fmt: skip


def twin(cls: type[Any], defaults: dict[str, Any]) -> type[Any]:
    """The dataclass `cls` was before: same name, fields, defaults, frozen or not."""
    fields: list[Any] = []
    for name in cls.__match_args__:
        if name not in defaults:
            fields.append((name, Any))
        elif callable(defaults[name]):
            fields.append((name, Any, dataclasses.field(default_factory=defaults[name])))
        else:
            fields.append((name, Any, dataclasses.field(default=defaults[name])))
    return dataclasses.make_dataclass(cls.__name__, fields, frozen=issubclass(cls, Frozen))


def values(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, name) for name in type(obj).__match_args__)


@pytest.mark.parametrize(
    ("cls", "args", "defaults"), CASES, ids=lambda c: getattr(c, "__name__", "")
)
def test_a_value_class_behaves_as_its_dataclass(
    cls: type[Any], args: tuple[Any, ...], defaults: dict[str, Any]
) -> None:
    Twin = twin(cls, defaults)
    value, same, other = cls(*args), cls(*args), Twin(*args)
    assert repr(value) == repr(other)
    assert value == same and (value != same) is False
    assert value != other and other != value  # another class is never equal, as in dataclasses
    changed = replace(value, **{cls.__match_args__[0]: "other"})
    assert changed != value and values(changed)[1:] == args[1:]
    required = len(cls.__match_args__) - len(defaults)
    bare, bare_twin = cls(*args[:required]), Twin(*args[:required])
    assert values(bare) == values(bare_twin)
    for name, default in defaults.items():
        if callable(default):  # a fresh mutable default each time, never shared
            assert getattr(bare, name) is not getattr(cls(*args[:required]), name)
    assert copy.copy(value) == value and pickle.loads(pickle.dumps(value)) == value
    assert not hasattr(value, "__dict__")
    name = cls.__match_args__[0]
    if issubclass(cls, Frozen):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(value, name)
        try:
            assert hash(value) == hash(other) == hash(same)
        except TypeError:  # a dict field: as unhashable as its dataclass
            with pytest.raises(TypeError):
                hash(other)
    else:
        assert issubclass(cls, Record)
        setattr(value, name, "changed")
        assert getattr(value, name) == "changed" and value != same
        with pytest.raises(TypeError):
            hash(value)
        with pytest.raises(TypeError):
            hash(other)


def test_replace_refuses_a_field_the_class_does_not_have() -> None:
    with pytest.raises(TypeError, match="no field 'nope'"):
        replace(Witness(1, "x", 0), nope=1)
    assert replace(EVENT, txn=None) == Event(3, 1700, EventType.PATCH, "k", {"a": 1}, {"m": 1})


def test_every_value_class_of_the_read_path_is_covered_here() -> None:
    """A new `Frozen`/`Record` subclass in these modules needs a row in CASES."""
    modules = {cls.__module__ for cls, _, _ in CASES}
    found = {
        cls
        for base in (Frozen, Record)
        for cls in base.__subclasses__()
        if cls.__module__ in modules
    }
    assert found <= {cls for cls, _, _ in CASES}
