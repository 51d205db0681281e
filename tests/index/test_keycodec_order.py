"""The index encoding sorts values in the documented order, byte for byte.

The README promises one order across types: null < false < true < numbers < strings < lists <
objects; numbers compare numerically (ints and floats together), strings by their UTF-8 bytes.
The indexes answer range queries by comparing encoded bytes, so `encode_value` must sort every
value exactly where that order puts it. The reference below is written from the README, not
from the encoder: Python compares ints and floats exactly, and `str.encode()` gives the bytes.

The hypothesis properties run as many examples as the active profile asks; the fixed values
already catch a sign-only flip on every run.

Integers up to EXACT_INT (2**64, beyond any document's range) are in the order checks: the
encoding is exact for them. Lists and objects are checked here only to sit in their family;
their order within it is checked against the evaluator in test_index_order_exact.py.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from driftdb.index.keycodec import EXACT_INT, LONG_VALUE_BYTES, encode_value, is_exact

NULL, BOOL, NUMBER, STRING, LIST, OBJECT = range(6)


def family(value: Any) -> int:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    return LIST if isinstance(value, list) else OBJECT


def documented_order(value: Any) -> tuple[Any, ...]:
    """The README's order for scalars (lists and objects: only their family)."""
    kind = family(value)
    if kind == BOOL:
        return (kind, int(value))
    if kind == NUMBER:
        return (kind, value)  # Python compares int and float exactly; -0.0 == 0.0
    if kind == STRING:
        return (kind, value.encode())
    return (kind,)


def around(x: float) -> list[float]:
    """x and the doubles just below and above it."""
    return [math.nextafter(x, -math.inf), x, math.nextafter(x, math.inf)]


NUMBERS: list[int | float] = [
    0,
    0.0,
    -0.0,
    1,
    -1,
    2,
    -2,
    3,
    -3,
    1.5,
    -1.5,
    0.1,
    -0.1,
    1e-300,
    -1e-300,
    5e-324,  # the smallest subnormal
    -5e-324,
    sys.float_info.min,
    -sys.float_info.min,
    sys.float_info.max,
    -sys.float_info.max,
    math.inf,
    -math.inf,
    1e15,
    -1e15,
    2.0**60,  # a float beyond 2**53 is exact
    -(2.0**60),
    EXACT_INT,
    -EXACT_INT,
    EXACT_INT - 1,
    -(EXACT_INT - 1),
    *around(1.0),
    *around(-1.0),
    *around(0.0),
    *around(100.0),
    *around(-100.0),
    *around(float(EXACT_INT - 1)),
    *around(-float(EXACT_INT - 1)),
    1000,
    -1000,
    999.9999999999999,
    -999.9999999999999,
    1000.0000000000001,
    -1000.0000000000001,
]
STRINGS = [
    "",
    "\x00",
    "\x00a",
    "a",
    "a\x00",
    "a\x00\x00",
    "a\x01",
    "ab",
    "b",
    "B",
    "Z",
    "é",
    "e\u0301",
    "\uffff",
    "\U0001f600",  # beyond the BMP: after \uffff in UTF-8 (not in UTF-16)
    "0",
    "-1",
    "x" * LONG_VALUE_BYTES,  # the longest exact string
]
SCALARS: list[Any] = [None, False, True, *NUMBERS, *STRINGS]
COMPOUNDS: list[Any] = [[], [None], [1, 2], ["a"], [[]], {}, {"a": 1}, {"": None}, {"z": [1]}]


def shown(values: list[Any]) -> list[str]:
    """Values with their type (so that True, 1 and 1.0, or 0.0 and -0.0, stay apart)."""
    return [f"{type(v).__name__}:{v!r}" for v in values]


def interleave(values: list[Any]) -> list[Any]:
    """A fixed shuffle (the input order must not help the sort)."""
    return values[1::2][::-1] + values[::2]


def test_the_fixed_values_are_all_exact_so_their_order_is_promised() -> None:
    assert all(is_exact(v) for v in SCALARS)


def test_the_encoding_sorts_scalars_in_the_documented_order() -> None:
    values = interleave(SCALARS)
    assert shown(sorted(values, key=encode_value)) == shown(sorted(values, key=documented_order))


def test_negative_numbers_sort_below_smaller_magnitudes() -> None:
    negatives = [v for v in NUMBERS if v < 0]
    assert shown(sorted(negatives, key=encode_value)) == shown(sorted(negatives))


def test_every_pair_of_scalars_compares_as_documented() -> None:
    for a in SCALARS:
        for b in SCALARS:
            ea, eb = encode_value(a), encode_value(b)
            ra, rb = documented_order(a), documented_order(b)
            assert (ea < eb, ea == eb) == (ra < rb, ra == rb), (a, b)


def test_minus_zero_is_zero_and_an_integral_float_is_its_int() -> None:
    assert encode_value(-0.0) == encode_value(0.0) == encode_value(0)
    for n in (1, -1, 7, -7, 10**15, -(10**15), EXACT_INT, -EXACT_INT):
        assert encode_value(n) == encode_value(float(n))


def test_bools_are_not_the_numbers_zero_and_one() -> None:
    assert encode_value(False) != encode_value(0)
    assert encode_value(True) != encode_value(1)
    assert encode_value(True) < encode_value(-math.inf)


def test_lists_come_after_all_strings_and_objects_after_all_lists() -> None:
    values = interleave(SCALARS + COMPOUNDS)
    families = [family(v) for v in sorted(values, key=encode_value)]
    assert families == sorted(families)


def test_long_strings_are_equal_exactly_when_they_are_the_same_string() -> None:
    base = "p" * (LONG_VALUE_BYTES + 20)
    longs = [
        base,
        base + "a",
        base + "b",
        base[:-1] + "q",  # differs only beyond the prefix bound
        "p" * LONG_VALUE_BYTES + "\x00" * 20,
        "é" * LONG_VALUE_BYTES,
        "x" * (LONG_VALUE_BYTES + 1),
    ]
    assert not any(is_exact(v) for v in longs)
    for a in longs + STRINGS:
        for b in longs + STRINGS:
            assert (encode_value(a) == encode_value(b)) == (a == b), (a, b)


exact_ints = st.integers(-EXACT_INT, EXACT_INT)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    exact_ints,
    st.floats(allow_nan=False),
    st.floats(-4.0, 4.0, allow_nan=False),
    st.sampled_from(NUMBERS),
    st.text(max_size=LONG_VALUE_BYTES // 4),  # at most 4 UTF-8 bytes a character: exact
)


@given(st.lists(scalars, max_size=30))
def test_any_mix_of_scalars_sorts_as_documented(values: list[Any]) -> None:
    assert shown(sorted(values, key=encode_value)) == shown(sorted(values, key=documented_order))


@given(scalars, scalars)
def test_any_two_scalars_compare_as_documented(a: Any, b: Any) -> None:
    ea, eb = encode_value(a), encode_value(b)
    ra, rb = documented_order(a), documented_order(b)
    assert (ea < eb, ea == eb) == (ra < rb, ra == rb)
