"""JSON Merge Patch as RFC 7386 defines it: every example of its Appendix A, directly and
through PATCH on a table."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import driftdb
from driftdb.model.merge_patch import merge_patch
from helpers.depth import examples

# RFC 7386, Appendix A: ORIGINAL, PATCH, RESULT (as JSON text, exactly as the RFC lists them).
APPENDIX_A = [
    ('{"a":"b"}', '{"a":"c"}', '{"a":"c"}'),
    ('{"a":"b"}', '{"b":"c"}', '{"a":"b","b":"c"}'),
    ('{"a":"b"}', '{"a":null}', "{}"),
    ('{"a":"b","b":"c"}', '{"a":null}', '{"b":"c"}'),
    ('{"a":["b"]}', '{"a":"c"}', '{"a":"c"}'),
    ('{"a":"c"}', '{"a":["b"]}', '{"a":["b"]}'),
    ('{"a":{"b":"c"}}', '{"a":{"b":"d","c":null}}', '{"a":{"b":"d"}}'),
    ('{"a":[{"b":"c"}]}', '{"a":[1]}', '{"a":[1]}'),
    ('["a","b"]', '["c","d"]', '["c","d"]'),
    ('{"a":"b"}', '["c"]', '["c"]'),
    ('{"a":"foo"}', "null", "null"),
    ('{"a":"foo"}', '"bar"', '"bar"'),
    ('{"e":null}', '{"a":1}', '{"e":null,"a":1}'),
    ("[1,2]", '{"a":"b","c":null}', '{"a":"b"}'),
    ("{}", '{"a":{"bb":{"ccc":null}}}', '{"a":{"bb":{}}}'),
]


@pytest.mark.parametrize(("original", "patch", "result"), APPENDIX_A)
def test_merge_patch_gives_the_rfc_7386_appendix_a_result(
    original: str, patch: str, result: str
) -> None:
    target, changes = json.loads(original), json.loads(patch)
    target_before, changes_before = copy.deepcopy(target), copy.deepcopy(changes)
    assert merge_patch(target, changes) == json.loads(result)
    assert (target, changes) == (target_before, changes_before)  # inputs are not modified


OBJECT_EXAMPLES = [
    (o, p, r)
    for o, p, r in APPENDIX_A
    if o.startswith("{") and p.startswith("{") and r.startswith("{")
]


@pytest.mark.parametrize(("original", "patch", "result"), OBJECT_EXAMPLES)
def test_patch_on_a_table_gives_the_rfc_7386_appendix_a_result(
    db: driftdb.Database, original: str, patch: str, result: str
) -> None:
    table = db.create_table("t")
    first = table.insert({"id": 1, **json.loads(original)})
    second = table.patch(1, json.loads(patch))
    expected = {"id": 1, **json.loads(result)}
    assert table.get(1) == expected
    assert table.get(1, as_of=first) == {"id": 1, **json.loads(original)}
    assert [e.row for e in table.history(1)] == [{"id": 1, **json.loads(original)}, expected]
    assert table.history(1)[1].seq == second
    assert table.history(1)[1].data == json.loads(patch)


def test_every_object_example_of_appendix_a_is_run_through_a_table() -> None:
    assert len(APPENDIX_A) == 15
    assert len(OBJECT_EXAMPLES) == 10


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.sampled_from(["x", "y"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
    ),
    max_leaves=10,
)
OBJECTS = st.dictionaries(st.sampled_from("abc"), JSON, max_size=4)


def reference(target: Any, patch: Any) -> Any:
    """RFC 7386 section 2, line by line."""
    if isinstance(patch, dict):
        if not isinstance(target, dict):
            target = {}
        target = dict(target)
        for name, value in patch.items():
            if value is None:
                if name in target:
                    del target[name]
            else:
                target[name] = reference(target.get(name), value)
        return target
    return patch


def without_nulls(value: Any) -> bool:
    if isinstance(value, dict):
        return all(v is not None and without_nulls(v) for v in value.values())
    return True


@settings(max_examples=examples(100), deadline=None)
@given(target=JSON, patch=JSON)
def test_merge_patch_agrees_with_the_rfc_pseudocode(target: Any, patch: Any) -> None:
    assert merge_patch(target, patch) == reference(target, patch)


@settings(max_examples=examples(100), deadline=None)
@given(target=OBJECTS, patch=OBJECTS)
def test_applying_the_same_patch_twice_changes_nothing_more(target: Any, patch: Any) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once
    if without_nulls(patch):
        assert merge_patch({}, patch) == patch
