"""Work bounded by the size of the input: the search for the next good frame after damage is
linear in the segment's size (or gives up, saying how far it looked, and refuses rather than
truncates); IN is a set lookup; statements have a documented size limit."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest
from security_support import make_db, run_cli, segment

import driftdb
from driftdb.storage.frame import HEADER_SIZE, MAX_FRAME_BYTES, encode_frame, segment_header
from driftdb.storage.segment import find_next_good_frame, scan_bytes


def test_a_segment_of_0x01_bytes_is_read_only_selected_in_seconds(tmp_path: Path) -> None:
    path = make_db(tmp_path / "db")
    # Every length field reads 0x01010101 (16.8 MB): the first few thousand offsets all claim
    # a body that fits in what follows, and each used to cost a CRC over 16 MB.
    with open(segment(path), "ab") as handle:
        handle.write(b"\x01" * (0x01010101 + 8 + 3000))
    ran = run_cli("select", "-d", str(path), "--table", "t", timeout_s=20)
    assert ran.code in (0, 1), ran
    assert "Traceback" not in ran.err, ran
    assert ran.seconds < 10, ran.seconds


def test_the_search_for_the_next_frame_stays_linear_when_every_offset_looks_like_one() -> None:
    # \x01\x80 repeated: an event type followed by a msgpack map marker at every other byte,
    # with length fields that fit: the worst case for any cheap filter.
    data = segment_header() + b"\x00" * 8 + (b"\x01\x80" * (2 * 1024 * 1024))
    began = time.monotonic()
    result = scan_bytes(data, "seg", 1, HEADER_SIZE, base=0)
    seconds = time.monotonic() - began
    assert seconds < 10, seconds
    assert result.problem is not None


def test_a_search_that_gives_up_refuses_instead_of_calling_the_damage_a_torn_tail() -> None:
    good = encode_frame(1, 1, 3, b"\x81\xa3key\x01")
    data = (
        segment_header()
        + good
        + b"\x01\x80" * (8 * 1024 * 1024)
        + encode_frame(2, 1, 3, b"\x81\xa3key\x02")
    )
    result = scan_bytes(data, "seg", 1, HEADER_SIZE, base=0)
    assert result.problem is not None
    if result.problem.next_good_offset is None:  # the budget ran out before the good frame
        assert not result.problem.torn
        assert "looked at" in result.problem.reason, result.problem.reason


def test_the_next_good_frame_is_still_found_after_frame_like_noise() -> None:
    good = encode_frame(1, 1, 3, b"\x81\xa3key\x01")
    later = encode_frame(2, 1, 3, b"\x81\xa3key\x02")
    noise = b"\x05\x00\x00\x00" + b"\x01\x80" * 5000
    data = segment_header() + good + noise + later
    found = find_next_good_frame(data, HEADER_SIZE + len(good), 1)
    assert found.offset == HEADER_SIZE + len(good) + len(noise)
    assert MAX_FRAME_BYTES  # the bound the search never allocates past


@pytest.fixture
def rows_200(tmp_path: Path) -> Path:
    path = tmp_path / "db"
    with driftdb.open(path, create=True) as db:
        table = db.create_table("t", indexes=["v", "s"])
        table.insert_many([{"id": i, "v": i, "s": f"s{i}", "name": f"n{i}"} for i in range(200)])
    return path


def test_a_10000_value_in_list_over_200_rows_is_a_set_lookup(rows_200: Path) -> None:
    values = [f"x{i}" for i in range(10_000)]
    literal = "SELECT COUNT(*) FROM t WHERE name IN (" + ", ".join(f"'{v}'" for v in values) + ")"
    with driftdb.open(rows_200, readonly=True) as db:
        for statement, params in [
            ("SELECT COUNT(*) FROM t WHERE name IN ?", [values]),
            (literal, []),
            ("SELECT COUNT(*) FROM t WHERE name NOT IN ?", [[*values, "n3"]]),
        ]:
            began = time.monotonic()
            result = db.execute(statement, params)
            seconds = time.monotonic() - began
            assert result.count in (0, 199), result.count
            assert seconds < 1.5, (statement[:60], seconds)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("1 IN (1.0)", True),
        ("1.0 IN (2, 1)", True),
        ("true IN (1)", False),
        ("1 IN (true)", False),
        ("'1' IN (1)", False),
        ("[1, 2] IN ([1.0, 2.0])", True),
        ("[1, 2] IN ([2, 1])", False),
        ('{"a": 1, "b": [2]} IN ({"b": [2.0], "a": 1.0})', True),
        ('{"a": 1} IN ({"a": true})', False),
        ("null IN (1)", None),
        ("2 IN (1, null)", None),
        ("1 IN (1, null)", True),
        ("2 NOT IN (1, null)", None),
        ("2 NOT IN (1)", True),
        ("9007199254740993 IN (9007199254740992.0)", False),
    ],
)
def test_in_as_a_set_keeps_the_evaluators_equality(condition: str, expected: bool | None) -> None:
    from driftdb.query import parse_expression
    from driftdb.query.evaluate import _truth

    assert _truth(parse_expression(condition), {}) is expected
    unknown_or = parse_expression(f"({condition}) OR 1 = 0")
    assert _truth(unknown_or, {}) is (expected if expected is not False else False)


def test_a_10000_term_and_chain_is_refused_by_the_documented_limit(rows_200: Path) -> None:
    from driftdb.query import MAX_CONDITIONS

    chain = " AND ".join(f"name != 'x{i}'" for i in range(10_000))
    began = time.monotonic()
    with driftdb.open(rows_200, readonly=True) as db:
        with pytest.raises(driftdb.QuerySyntaxError) as info:
            db.execute(f"SELECT COUNT(*) FROM t WHERE {chain}")
        assert f"Too many conditions in one statement (at most {MAX_CONDITIONS})" in str(info.value)
        at_limit = " AND ".join(f"name != 'x{i}'" for i in range(MAX_CONDITIONS))
        assert db.execute(f"SELECT COUNT(*) FROM t WHERE {at_limit}").count == 200
    assert time.monotonic() - began < 5


def test_an_in_list_over_the_documented_limit_is_refused(rows_200: Path) -> None:
    from driftdb.query import MAX_IN_VALUES

    with driftdb.open(rows_200, readonly=True) as db:
        with pytest.raises(driftdb.InvalidInputError, match=f"at most {MAX_IN_VALUES}"):
            db.execute("SELECT * FROM t WHERE v IN ?", [list(range(MAX_IN_VALUES + 1))])
        with pytest.raises(driftdb.QuerySyntaxError, match=f"at most {MAX_IN_VALUES}"):
            db.execute("SELECT * FROM t WHERE v IN (" + "1," * MAX_IN_VALUES + "1)")


BIG = "9" * 400
HUGE = "9" * 5000


@pytest.mark.parametrize(
    "statement",
    [
        f"SELECT * FROM t WHERE v = {BIG}",
        f"SELECT * FROM t WHERE v > -{BIG}",
        f"SELECT * FROM t WHERE v IN ({BIG}, 1)",
        f"SELECT * FROM t LIMIT {BIG}",
        f"SELECT * FROM t ORDER BY v LIMIT {BIG}",
        f"SELECT * FROM t ORDER BY v DESC LIMIT {BIG}",
        f"SELECT * FROM t WHERE v = {HUGE}",
        f"SELECT * FROM t WHERE name = -{HUGE}",
        f"SELECT * FROM t LIMIT {HUGE}",
        f'SELECT * FROM t AS OF "@seq:{HUGE}"',
    ],
    ids=lambda s: s[:28] + ("(5000 digits)" if HUGE in s else ""),
)
def test_huge_numbers_in_statements_give_answers_or_clear_errors(
    rows_200: Path, statement: str
) -> None:
    ran = run_cli("sql", "-d", str(rows_200), "-e", statement, "--format", "json", timeout_s=30)
    assert ran.code in (0, 1), ran
    assert "Traceback" not in ran.err and "internal error" not in ran.err, ran
    if HUGE in statement:
        assert ran.code == 1 and ran.err.startswith("error: "), ran


@pytest.mark.parametrize("column", ["s", "name", "v"])
def test_a_lone_surrogate_parameter_against_a_column_is_an_answer_or_a_clear_error(
    rows_200: Path, column: str
) -> None:
    with driftdb.open(rows_200, readonly=True) as db:
        for op in ("=", ">", "<=", "IN"):
            param: object = ["\ud800x"] if op == "IN" else "a\udfff"
            with contextlib.suppress(driftdb.DriftError):
                db.execute(f"SELECT * FROM t WHERE {column} {op} ?", [param])
