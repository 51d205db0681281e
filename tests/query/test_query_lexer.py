"""The tokenizer: kinds, decoded values, and positions (line, column, offsets)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftdb.errors import QuerySyntaxError
from driftdb.query.lexer import tokenize
from driftdb.query.tokens import TokenKind


def kinds(source: str) -> list[TokenKind]:
    return [t.kind for t in tokenize(source)]


def values(source: str) -> list[object]:
    return [t.value for t in tokenize(source)[:-1]]


def test_every_token_knows_its_line_column_and_offsets() -> None:
    source = "SELECT *\n  FROM orders"
    tokens = tokenize(source)
    assert [(t.text, t.line, t.column, t.start, t.end) for t in tokens] == [
        ("SELECT", 1, 1, 0, 6),
        ("*", 1, 8, 7, 8),
        ("FROM", 2, 3, 11, 15),
        ("orders", 2, 8, 16, 22),
        ("", 2, 14, 22, 22),
    ]
    for token in tokens:
        assert source[token.start : token.end] == token.text


def test_end_of_input_sits_just_after_the_last_token_not_after_trailing_blank_lines() -> None:
    eof = tokenize("SELECT\n\n\n")[-1]
    assert (eof.kind, eof.line, eof.column) == (TokenKind.EOF, 1, 7)


def test_empty_source_is_just_end_of_input() -> None:
    [eof] = tokenize("")
    assert (eof.kind, eof.line, eof.column) == (TokenKind.EOF, 1, 1)


def test_keywords_are_words_recognised_in_any_case() -> None:
    tokens = tokenize("select Select SELECT orders")
    assert [t.keyword for t in tokens[:-1]] == ["SELECT", "SELECT", "SELECT", None]
    assert all(t.kind is TokenKind.WORD for t in tokens[:-1])


def test_punctuation_and_two_character_operators() -> None:
    assert kinds("( ) { } [ ] , . : ; * ? = != <> < <= > >=")[:-1] == [
        TokenKind.LPAREN,
        TokenKind.RPAREN,
        TokenKind.LBRACE,
        TokenKind.RBRACE,
        TokenKind.LBRACKET,
        TokenKind.RBRACKET,
        TokenKind.COMMA,
        TokenKind.DOT,
        TokenKind.COLON,
        TokenKind.SEMICOLON,
        TokenKind.STAR,
        TokenKind.QUESTION,
        TokenKind.EQ,
        TokenKind.NE,
        TokenKind.NE,
        TokenKind.LT,
        TokenKind.LE,
        TokenKind.GT,
        TokenKind.GE,
    ]


def test_operators_need_no_spaces() -> None:
    assert values("a<=1") == ["a", "<=", 1]
    assert values("a<>-1") == ["a", "<>", -1]


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("1.5", 1.5),
        ("-0.25", -0.25),
        ("1e3", 1000.0),
        ("2E-2", 0.02),
        ("1.5e+2", 150.0),
        ("123456789012345678901234567890", 123456789012345678901234567890),
    ],
)
def test_numbers_are_ints_unless_they_have_a_fraction_or_exponent(
    source: str, value: object
) -> None:
    [token] = tokenize(source)[:-1]
    assert token.kind is TokenKind.NUMBER
    assert token.value == value
    assert type(token.value) is type(value)


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ('"plain"', "plain"),
        ("'single'", "single"),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        (r'"a\"b"', 'a"b'),
        (r"'a\'b'", "a'b"),
        (r'"back\\slash"', "back\\slash"),
        (r'"tab\tnew\nline"', "tab\tnew\nline"),
        (r'"\u00e9t\u00E9"', "été"),
        (r'"\ud83d\ude00"', "\U0001f600"),
        (r'"\/\b\f\r"', "/\b\f\r"),
        ('"café ☕"', "café ☕"),
        ('""', ""),
    ],
)
def test_strings_decode_their_escapes(source: str, value: str) -> None:
    [token] = tokenize(source)[:-1]
    assert token.kind is TokenKind.STRING
    assert token.value == value
    assert token.text == source


def test_comments_run_to_the_end_of_the_line() -> None:
    assert values("SELECT -- not * this\n* -- nor this") == ["SELECT", "*"]


def test_a_minus_before_a_digit_is_a_negative_number_but_two_are_a_comment() -> None:
    assert values("a = -1--1") == ["a", "=", -1]


def test_bare_timepoints_are_one_token() -> None:
    tokens = tokenize("@seq:42 @now @seq:-1;")
    assert [(t.kind, t.text) for t in tokens[:-1]] == [
        (TokenKind.TIMEPOINT, "@seq:42"),
        (TokenKind.TIMEPOINT, "@now"),
        (TokenKind.TIMEPOINT, "@seq:-1"),
        (TokenKind.SEMICOLON, ";"),
    ]


def test_lines_are_counted_as_splitlines_counts_them() -> None:
    # \r\n is one break, a lone \r is one, and so is U+2028: render() relies on it.
    source = "a\r\nb\rc\u2028d"
    assert [(t.text, t.line) for t in tokenize(source)[:-1]] == [
        ("a", 1),
        ("b", 2),
        ("c", 3),
        ("d", 4),
    ]
    assert len(source.splitlines()) == 4


def test_a_byte_order_mark_is_skipped() -> None:
    [token] = tokenize("\ufeffSHOW")[:-1]
    assert (token.text, token.column) == ("SHOW", 1)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("SELECT $", "Unexpected character '$' at line 1, column 8"),
        ("a = 'x", "Unterminated string at line 1, column 5 (add the closing ')"),
        ('a = "x\n"', 'Unterminated string at line 1, column 5 (add the closing ")'),
        ('"\\q"', "Invalid escape '\\q' in string at line 1, column 2"),
        (
            '"\\u12G4"',
            "Invalid escape '\\u12' in string at line 1, column 2 (write \\u and four hex digits)",
        ),
        ("12abc", "Invalid number '12abc' at line 1, column 1"),
        ("1.2.3", "Invalid number '1.2.3' at line 1, column 1"),
        ("1e999", "Number out of range '1e999' at line 1, column 1"),
        ("\x00", "Unexpected character U+0000 at line 1, column 1"),
        (
            "x\n  `t",
            "Unterminated quoted name at line 2, column 3 (add the closing `)",
        ),
        ("a = ``", "Empty quoted name at line 1, column 5"),
        ("`a\nb`", "Unterminated quoted name at line 1, column 1 (add the closing `)"),
    ],
)
def test_lexical_errors_name_the_character_and_where_it_is(source: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        tokenize(source)
    assert str(caught.value) == message


def test_a_lone_surrogate_escape_is_refused() -> None:
    with pytest.raises(QuerySyntaxError, match="unpaired surrogate"):
        tokenize(r'"\ud83d"')


PIECES = ["SELECT", "a.b", "'s'", '"t"', "-1.5", "42", "@seq:3", "(", ")", "<=", "?", "-- c"]
BREAKS = ["\n", "\r\n", "\r", "\u2028", "\x0c", " ", "  ", "\t"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PIECES), st.sampled_from(BREAKS)), max_size=12))
def test_line_and_column_find_each_token_in_the_lines_render_shows(
    parts: list[tuple[str, str]],
) -> None:
    source = "".join(piece + blank for piece, blank in parts)
    lines = source.splitlines()
    for token in tokenize(source)[:-1]:
        line = lines[token.line - 1]
        assert line[token.column - 1 : token.column - 1 + len(token.text)] == token.text


@pytest.mark.parametrize(
    ("source", "value"),
    [("`first-name`", "first-name"), ("`order`", "order"), ("`a``b`", "a`b"), ("`é 1`", "é 1")],
)
def test_a_name_in_backticks_is_one_quoted_name_token(source: str, value: str) -> None:
    [token, _] = tokenize(source)
    assert (token.kind, token.value, token.text) == (TokenKind.QUOTED_NAME, value, source)
