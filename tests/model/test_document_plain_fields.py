"""The plain-scalar shortcut of the JSON check (model/document.py, `_walk_object`) decides exactly
as the full walk: a field is accepted, refused (with the same message) or copied the same
whether it sits directly in an object (the shortcut) or inside a list (always the walk)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftdb.errors import InvalidInputError
from driftdb.model.document import MAX_DEPTH, check_document, to_json_value

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    # around the surrogates (not valid Unicode: refused)
    st.text(st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010, exclude_categories=())),
    st.text(alphabet=st.characters(codec="ascii")),
)


def outcome(call: Any) -> Any:
    try:
        return ("ok", call())
    except InvalidInputError as exc:
        return ("refused", str(exc).replace("/k/0", "/k"))


@given(value=scalars)
def test_a_field_is_judged_alike_directly_and_inside_a_list(value: Any) -> None:
    direct = outcome(lambda: check_document({"k": value}, "w") and None)
    nested = outcome(lambda: check_document({"k": [value]}, "w") and None)
    assert direct == nested


@given(name=st.one_of(scalars, st.text()))
def test_a_field_name_is_accepted_only_as_valid_text(name: Any) -> None:
    accepted = outcome(lambda: check_document({name: 1}, "w"))[0] == "ok"
    assert accepted == (isinstance(name, str) and _valid(name))


@given(value=scalars)
def test_a_copy_through_the_shortcut_equals_the_walk(value: Any) -> None:
    direct = outcome(lambda: to_json_value({"k": value}, "w"))
    nested = outcome(lambda: to_json_value({"k": [value]}, "w"))
    assert direct[0] == nested[0]
    if direct[0] == "ok" and value == value:  # NaN never equals itself
        assert direct[1] == {"k": nested[1]["k"][0]}


def _valid(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def test_a_scalar_one_level_too_deep_is_still_refused() -> None:
    doc: dict[str, Any] = {"leaf": 1}
    for _ in range(MAX_DEPTH - 1):
        doc = {"n": doc}
    check_document(doc, "w")  # the leaf at depth MAX_DEPTH is allowed
    with pytest.raises(InvalidInputError, match="deeper"):
        check_document({"n": doc}, "w")
