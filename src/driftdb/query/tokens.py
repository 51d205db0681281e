"""The vocabulary of DriftQL: token kinds, the token value, and the keyword lists.

Kept apart from the lexer so that the parser, the printer and the error hints share one list of
keywords: a word added here is at once recognised, printed in upper case and offered in
"did you mean ...?" hints.
"""

from __future__ import annotations

import enum

from driftdb.query.ast import Frozen

_set = object.__setattr__


class TokenKind(enum.Enum):
    """What a token is. Keywords are WORD tokens: the parser compares their upper-cased text,
    so a keyword that is not reserved can still name a table or a field."""

    WORD = "word"
    STRING = "string"
    NUMBER = "number"
    TIMEPOINT = "timepoint"  # a bare @seq:N or @now; the parser checks what follows the '@'
    LPAREN = "("
    RPAREN = ")"
    LBRACE = "{"
    RBRACE = "}"
    LBRACKET = "["
    RBRACKET = "]"
    COMMA = ","
    DOT = "."
    COLON = ":"
    SEMICOLON = ";"
    STAR = "*"
    QUESTION = "?"
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EOF = "end of input"
    QUOTED_NAME = "quoted name"  # `first-name`: a field or table name in backticks


class Token(Frozen):
    """One token and where it stands in the source.

    `line` and `column` are 1-based and count lines as `str.splitlines` does, so that
    `QuerySyntaxError.render()` shows the line the token is on. `start` and `end` are offsets
    into the source (`source[start:end] == text`). `value` is the decoded value: the text of a
    word, the name inside backticks, the contents of a string after escapes, the int or float
    of a number.

    Immutable and compared by value, like the syntax nodes (see `ast.Frozen`).
    """

    __slots__ = __match_args__ = ("kind", "text", "value", "line", "column", "start", "end")
    kind: TokenKind
    text: str
    value: str | int | float
    line: int
    column: int
    start: int
    end: int

    def __init__(
        self,
        kind: TokenKind,
        text: str,
        value: str | int | float,
        line: int,
        column: int,
        start: int,
        end: int,
    ) -> None:
        _set(self, "kind", kind)
        _set(self, "text", text)
        _set(self, "value", value)
        _set(self, "line", line)
        _set(self, "column", column)
        _set(self, "start", start)
        _set(self, "end", end)

    @property
    def keyword(self) -> str | None:
        """The upper-cased word if this token is a keyword, else None."""
        if self.kind is TokenKind.WORD:
            upper = self.text.upper()
            if upper in KEYWORDS:
                return upper
        return None

    def describe(self) -> str:
        """How an error message names this token: quoted text, or "end of input"."""
        if self.kind is TokenKind.EOF:
            return "end of input"
        text = self.text if len(self.text) <= 30 else self.text[:27] + "..."
        return f"'{text}'"


# Words that start a statement: the parser dispatches on them, and an unknown first word is
# matched against them for the "did you mean ...?" hint.
STATEMENT_KEYWORDS = frozenset(
    {
        "COMPACT",
        "CREATE",
        "DESCRIBE",
        "EXPLAIN",
        "INSERT",
        "PATCH",
        "PURGE",
        "SELECT",
        "SHOW",
        "SNAPSHOT",
        "SOFT",
        "ALTER",
        "DIFF",
        "RESTORE",
        # transactions
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
    }
)

KEYWORDS = STATEMENT_KEYWORDS | frozenset(
    {
        "AND",
        "AS",
        "ASC",
        "BEFORE",
        "BY",
        "COUNT",
        "DELETE",
        "DESC",
        "DRIFT",
        "FALSE",
        "FOR",
        "FORCE",
        "FROM",
        "IN",
        "INDEX",
        "INTO",
        "IS",
        "KEY",
        "LIMIT",
        "NOT",
        "NULL",
        "OF",
        "OFFSET",
        "OR",
        "ORDER",
        "PK",
        "SET",
        "SYSTEM_TIME",
        "TABLE",
        "TABLES",
        "TRUE",
        "WHERE",
        # history statements
        "ADD",
        "ALL",
        "BLAME",
        "DROP",
        "META",
        "TO",
        # predicates
        "BETWEEN",
        "ESCAPE",
        "ILIKE",
        "LIKE",
        # aggregates and grouping
        "AVG",
        "DISTINCT",
        "GROUP",
        "HAVING",
        "MAX",
        "MIN",
        "SUM",
    }
)

# The aggregate functions: keywords only when a '(' follows, so `sum` stays a field name.
AGGREGATES = frozenset({"AVG", "COUNT", "MAX", "MIN", "SUM"})

# Keywords that can never be a table name or the first part of a column path. Only these are
# reserved because only these could make a statement ambiguous or an error message worse
# (`SELECT FROM t`, `WHERE null = a`); the others (KEY, COUNT, INDEX, DESC, ...) are common
# field names and stay usable as names.
RESERVED = frozenset(
    {
        "AND",
        "AS",
        "FALSE",
        "FOR",
        "FROM",
        "IN",
        "IS",
        "LIMIT",
        "NOT",
        "NULL",
        "OR",
        "ORDER",
        "SELECT",
        "TRUE",
        "WHERE",
    }
)


def is_identifier(text: str) -> bool:
    """True if `text` lexes as one WORD token: [A-Za-z_][A-Za-z0-9_]*."""
    return (
        bool(text)
        and is_word_start(text[0])
        and all(is_word_start(c) or "0" <= c <= "9" for c in text)
    )


def is_word_start(char: str) -> bool:
    """Identifiers are ASCII only, so that what a user sees is what the parser reads."""
    return char == "_" or ("a" <= char <= "z") or ("A" <= char <= "Z")
