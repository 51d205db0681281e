"""DriftQL: the statement language of DriftDB, from text to syntax tree and back.

    from driftdb.query import parse, parse_expression, to_driftql, matches
    [stmt] = parse('SELECT * FROM orders WHERE status = ? AS OF @seq:42', ["paid"])
    to_driftql(stmt)   # 'SELECT * FROM orders AS OF @seq:42 WHERE status = "paid"'

The layers: tokens (vocabulary) -> lexer (text to tokens) -> parser (tokens to `ast` nodes,
binding `?` parameters as data) -> printer (nodes to canonical text); evaluate gives a WHERE
its meaning on one row and defines the order ORDER BY uses; planner, engine and executor run
statements over the Protocols of `source` (a read view, a table, a catalog), so the package
never imports the API or the engine. Imports `model` and `index` (value encodings) only.
"""

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
