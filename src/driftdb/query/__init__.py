"""DriftQL: the statement language of DriftDB, from text to syntax tree and back.

    from driftdb.query import parse, parse_expression, to_driftql, matches
    [stmt] = parse('SELECT * FROM orders WHERE status = ? AS OF @seq:42', ["paid"])
    to_driftql(stmt)   # 'SELECT * FROM orders AS OF @seq:42 WHERE status = "paid"'

The layers: tokens (vocabulary) -> lexer (text to tokens) -> parser (tokens to `ast` nodes,
binding `?` parameters as data) -> printer (nodes to canonical text); evaluate gives a WHERE
its meaning on one row and defines the order ORDER BY uses; planner, engine and executor run
statements over the Protocols of `source` (a read view, a table, a catalog), so the package
never imports the API or the engine. Imports `model` and `index` (value encodings) only.

The names below load their module when first used (PEP 562): a query that needs only the
parser and the engine does not pay for the printer.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any

    from driftdb.query import ast
    from driftdb.query.evaluate import (
        canonical_json,
        compare,
        matches,
        order_rows,
        project,
        resolve_path,
        sort_key,
    )
    from driftdb.query.lexer import tokenize
    from driftdb.query.parser import (
        MAX_CONDITIONS,
        MAX_IN_VALUES,
        MAX_NESTING,
        parse,
        parse_expression,
        parse_one,
        parse_timepoint,
    )
    from driftdb.query.printer import to_driftql
    from driftdb.query.tokens import KEYWORDS, RESERVED, Token, TokenKind

# Each public name and the module that defines it (`ast` is a module of its own).
_HOMES = {
    "canonical_json": "driftdb.query.evaluate",
    "compare": "driftdb.query.evaluate",
    "matches": "driftdb.query.evaluate",
    "order_rows": "driftdb.query.evaluate",
    "project": "driftdb.query.evaluate",
    "resolve_path": "driftdb.query.evaluate",
    "sort_key": "driftdb.query.evaluate",
    "tokenize": "driftdb.query.lexer",
    "MAX_CONDITIONS": "driftdb.query.parser",
    "MAX_IN_VALUES": "driftdb.query.parser",
    "MAX_NESTING": "driftdb.query.parser",
    "parse": "driftdb.query.parser",
    "parse_expression": "driftdb.query.parser",
    "parse_one": "driftdb.query.parser",
    "parse_timepoint": "driftdb.query.parser",
    "to_driftql": "driftdb.query.printer",
    "KEYWORDS": "driftdb.query.tokens",
    "RESERVED": "driftdb.query.tokens",
    "Token": "driftdb.query.tokens",
    "TokenKind": "driftdb.query.tokens",
}

__all__ = [
    "KEYWORDS",
    "MAX_CONDITIONS",
    "MAX_IN_VALUES",
    "MAX_NESTING",
    "RESERVED",
    "Token",
    "TokenKind",
    "ast",
    "canonical_json",
    "compare",
    "matches",
    "order_rows",
    "parse",
    "parse_expression",
    "parse_one",
    "parse_timepoint",
    "project",
    "resolve_path",
    "sort_key",
    "to_driftql",
    "tokenize",
]


def __getattr__(name: str) -> Any:
    if name == "ast":
        value: Any = importlib.import_module("driftdb.query.ast")
    elif name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module 'driftdb.query' has no attribute {name!r}")
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES, "ast"})
