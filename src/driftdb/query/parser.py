"""The DriftQL parser: recursive descent, one method per grammar rule.

Each rule method states its rule in its docstring. A handful of helpers (`_check`, `_match`,
`_advance`, `_expect`) keep the rules short, and every error names what was expected and where
("Expect table name after FROM"), with a "did you mean ...?" hint when the word is close to a
keyword that fits there.

`?` placeholders are bound while parsing: the i-th `?` becomes the i-th parameter as a value
in the tree (a `Literal`, a key, a document ...), never as text, so a parameter holding quotes,
`;` or `--` cannot change what the statement means.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import ClassVar

from driftdb.errors import InvalidInputError, QuerySyntaxError
from driftdb.model.document import JsonValue, json_type_name, to_json_value
from driftdb.model.timepoint import TimepointSyntaxError, read_timepoint
from driftdb.model.wording import plural
from driftdb.query.ast import (
    Aggregate,
    AllColumns,
    AlterTable,
    And,
    AsOf,
    Begin,
    Between,
    Column,
    Commit,
    Compact,
    CompareOp,
    Comparison,
    CreateTable,
    Describe,
    Diff,
    Document,
    Explain,
    Expr,
    InList,
    Insert,
    IsNull,
    Key,
    Like,
    Literal,
    Not,
    Operand,
    Or,
    OrderItem,
    Patch,
    Purge,
    Restore,
    Rollback,
    Select,
    SelectItem,
    ShowBlame,
    ShowDrift,
    ShowTables,
    Snapshot,
    SoftDelete,
    Statement,
    SystemTime,
    columns_of,
)
from driftdb.query.lexer import tokenize
from driftdb.query.tokens import AGGREGATES, RESERVED, STATEMENT_KEYWORDS, Token, TokenKind

# Parentheses, NOT and JSON brackets share one bound, so that no statement can exhaust the
# Python stack in the parser, the printer or the evaluator (each level costs a few frames).
MAX_NESTING = 100
# The size of a statement, bounded so that no statement costs more than it is worth to parse
# and evaluate (every row is checked against every condition): conditions (comparisons, IN
# and IS NULL tests) in one statement, and values in one IN list, literal or a `?` parameter.
MAX_CONDITIONS = 1_000
MAX_IN_VALUES = 100_000

_COMPARISONS: dict[TokenKind, CompareOp] = {
    TokenKind.EQ: "=",
    TokenKind.NE: "!=",
    TokenKind.LT: "<",
    TokenKind.LE: "<=",
    TokenKind.GT: ">",
    TokenKind.GE: ">=",
}
_VALUE_STARTS = frozenset(
    {
        TokenKind.STRING,
        TokenKind.NUMBER,
        TokenKind.LBRACE,
        TokenKind.LBRACKET,
        TokenKind.QUESTION,
    }
)
# Statements people try from SQL that DriftDB spells differently.
_STATEMENT_HINTS = {
    "DELETE": "did you mean SOFT DELETE?",
    "UPDATE": "did you mean PATCH?",
}


# ---------------------------------------------------------------- public API


def parse(source: str, params: Sequence[object] = ()) -> list[Statement]:
    """Parse a script: statements separated by `;` (empty statements are skipped).

    The i-th `?` in the whole script is bound to `params[i]`. Raises QuerySyntaxError (with
    line and column) for text that does not parse, InvalidInputError when the number or type
    of the parameters does not fit the placeholders.
    """
    return [statement for _, statement in _Parser(source, params).script()]


def parse_one(source: str, params: Sequence[object] = ()) -> Statement:
    """Parse exactly one statement (a trailing `;` is fine); zero or several is an error."""
    parser = _Parser(source, params)
    statements = parser.script()
    if not statements:
        raise parser.error(parser.tokens[-1], "Expect statement")
    if len(statements) > 1:
        start, _ = statements[1]
        raise parser.error(start, "Expect one statement, got several")
    return statements[0][1]


def parse_expression(text: str, params: Sequence[object] = ()) -> Expr:
    """Parse a bare condition, as given to `table.select(where="status = ?", params=[...])`."""
    parser = _Parser(text, params)
    expr = parser.expression()
    token = parser.peek()
    if token.kind is not TokenKind.EOF:
        raise parser.error(
            token,
            f"Unexpected {token.describe()} after expression",
            hint="expected AND, OR or the end of the condition",
        )
    return expr


def parse_timepoint(text: str) -> AsOf:
    """Read a timepoint as the command line's `--as-of` gives it: `@seq:N`, `@now` or an
    RFC 3339 time, with or without quotes around it.

    Raises QuerySyntaxError for a malformed `@...` form; times are checked by the engine.
    """
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "\"'":
        stripped = stripped[1:-1]
    try:
        return read_timepoint(stripped)
    except TimepointSyntaxError as problem:
        raise QuerySyntaxError(
            problem.message, source=text, length=len(text), hint=problem.hint
        ) from None


# ---------------------------------------------------------------- the parser


class _Parser:
    """Holds the token list, the read position and the parameters still to bind."""

    def __init__(self, source: str, params: Sequence[object]) -> None:
        if not isinstance(source, str):
            raise InvalidInputError(f"a statement must be a string, not {type(source).__name__}")
        if isinstance(params, str | bytes | dict) or not isinstance(params, Sequence):
            raise InvalidInputError(
                f"params must be a list or tuple of values, not {type(params).__name__}"
            )
        self.source = source
        self.tokens = tokenize(source)
        self.params = list(params)
        self.pos = 0
        self.next_param = 0
        self.depth = 0
        self.conditions = 0
        self.in_having = False  # aggregates may stand in a condition only in HAVING
        self.places: dict[int, Token] = {}  # id(select item / order item) -> where it starts
        placeholders = sum(1 for t in self.tokens if t.kind is TokenKind.QUESTION)
        if placeholders != len(self.params):
            raise InvalidInputError(
                f"the statement has {plural(placeholders, 'placeholder')} '?' but "
                f"{plural(len(self.params), 'parameter')} {_were(len(self.params))} given"
            )

    # ------------------------------------------------------------ helpers

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def _previous(self) -> Token:
        return self.tokens[self.pos - 1] if self.pos > 0 else self.tokens[0]

    def _advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind is not TokenKind.EOF:
            self.pos += 1
        return token

    def _check(self, kind: TokenKind) -> bool:
        return self.peek().kind is kind

    def _check_keyword(self, *words: str) -> bool:
        return self.peek().keyword in words

    def _match(self, kind: TokenKind) -> Token | None:
        return self._advance() if self._check(kind) else None

    def _match_keyword(self, *words: str) -> Token | None:
        return self._advance() if self._check_keyword(*words) else None

    def _expect(self, kind: TokenKind, message: str, hint: str | None = None) -> Token:
        if self._check(kind):
            return self._advance()
        raise self.error(self.peek(), message, hint)

    def _expect_keyword(self, word: str, message: str) -> Token:
        if self._check_keyword(word):
            return self._advance()
        raise self.error(self.peek(), message, _suggest(self.peek(), [word]))

    def error(self, token: Token, message: str, hint: str | None = None) -> QuerySyntaxError:
        """A syntax error underlining `token`; at the end of input the message says so."""
        if token.kind is TokenKind.EOF:
            message += " at end of input"
        return QuerySyntaxError(
            message,
            source=self.source,
            line=token.line,
            column=token.column,
            length=token.end - token.start,
            hint=hint,
        )

    def _end(self, after: str, options: Sequence[str] = ()) -> None:
        """A statement ends at `;` or the end of input; anything else is reported with the
        clauses that could have come next."""
        token = self.peek()
        if token.kind in (TokenKind.SEMICOLON, TokenKind.EOF):
            return
        hint = None
        if token.keyword in ("AS", "FOR") and "AS OF" not in options:
            hint = "AS OF goes right after the table name or after the WHERE condition"
        elif token.keyword is None:  # a real keyword in the wrong place is no misspelling
            hint = _suggest(token, [option.split()[0] for option in options])
        if hint is None:
            hint = "expected " + _one_of([*options, "';'"])
        raise self.error(token, f"Unexpected {token.describe()} after {after}", hint)

    @contextmanager
    def _nested(self, token: Token) -> Iterator[None]:
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise self.error(
                    token,
                    "Statement nested too deeply",
                    hint=f"at most {MAX_NESTING} levels of parentheses, NOT and brackets",
                )
            yield
        finally:
            self.depth -= 1

    # ------------------------------------------------------------ statements

    def script(self) -> list[tuple[Token, Statement]]:
        """script := statement? (';' statement?)* EOF"""
        statements: list[tuple[Token, Statement]] = []
        while not self._check(TokenKind.EOF):
            if self._match(TokenKind.SEMICOLON):
                continue
            start = self.peek()
            self.conditions = 0
            statements.append((start, self._statement()))
        return statements

    def _statement(self) -> Statement:
        """statement := create | show | describe | insert | patch | soft_delete | select
        | explain | snapshot | compact | purge | begin | commit | rollback"""
        token = self.peek()
        word = token.keyword
        if word is not None and word in STATEMENT_KEYWORDS:
            self._advance()
            return self._RULES[word](self)
        if token.kind is TokenKind.WORD:
            hint = _STATEMENT_HINTS.get(token.text.upper()) or _suggest(token, STATEMENT_KEYWORDS)
            raise self.error(token, f"Unknown statement '{token.text}'", hint)
        raise self.error(
            token,
            f"Unexpected {token.describe()} at start of statement",
            hint="a statement begins with a keyword such as SELECT, INSERT or CREATE",
        )

    def _create(self) -> CreateTable:
        """create := CREATE TABLE name '(' table_option (',' table_option)* ')'
        table_option := PK '=' name | INDEX '(' path (',' path)* ')'"""
        self._expect_keyword("TABLE", "Expect TABLE after CREATE")
        table = self._table_name("CREATE TABLE")
        self._expect(TokenKind.LPAREN, "Expect '(' after table name")
        primary_key: str | None = None
        indexes: list[str] | None = None
        while True:
            token = self.peek()
            if token.keyword == "PK":
                self._advance()
                if primary_key is not None:
                    raise self.error(token, "PK given twice")
                self._expect(TokenKind.EQ, "Expect '=' after pk")
                name = self._name("Expect primary key column after 'pk='", "column")
                primary_key = str(name.value)
                if self._check(TokenKind.DOT) or "." in primary_key:
                    where = self.peek() if self._check(TokenKind.DOT) else name
                    raise self.error(where, "Primary key must be a top-level column")
            elif token.keyword == "INDEX":
                self._advance()
                if indexes is not None:
                    raise self.error(token, "INDEX given twice")
                indexes = self._index_columns()
            else:
                raise self.error(
                    token,
                    "Expect pk=<column> or INDEX(...) in table definition",
                    _suggest(token, ["PK", "INDEX"]),
                )
            if self._match(TokenKind.COMMA):
                continue
            close = self._expect(TokenKind.RPAREN, "Expect ',' or ')' after table option")
            break
        if primary_key is None:
            raise self.error(
                close, "Expect pk=<column> in table definition", "every table needs a primary key"
            )
        self._end("table definition")
        return CreateTable(table, primary_key, tuple(indexes or ()))

    def _index_columns(self) -> list[str]:
        """index_columns := '(' path (',' path)* ')'"""
        self._expect(TokenKind.LPAREN, "Expect '(' after INDEX")
        columns: list[str] = []
        message = "Expect column after INDEX("
        while True:
            start = self.peek()
            path = self._path(message)
            if any("." in part for part in path.path):
                raise self.error(
                    start,
                    "An indexed column's name cannot contain '.'",
                    hint="a dot separates the fields of a nested path: write a.b",
                )
            text = path.text
            if text in columns:
                raise self.error(start, f"Column '{text}' indexed twice")
            columns.append(text)
            if not self._match(TokenKind.COMMA):
                break
            message = "Expect column after ','"
        self._expect(TokenKind.RPAREN, "Expect ')' after index columns")
        return columns

    def _show(self) -> ShowTables | ShowDrift | ShowBlame:
        """show := SHOW TABLES | SHOW DRIFT name KEY key | show_blame"""
        if self._match_keyword("BLAME"):
            return self._show_blame()
        if self._match_keyword("TABLES"):
            self._end("SHOW TABLES")
            return ShowTables()
        if self._match_keyword("DRIFT"):
            table = self._table_name("SHOW DRIFT")
            key = self._key_clause()
            self._end("key")
            return ShowDrift(table, key)
        token = self.peek()
        raise self.error(
            token,
            "Expect TABLES, DRIFT or BLAME after SHOW",
            _suggest(token, ["TABLES", "DRIFT", "BLAME"]),
        )

    def _describe(self) -> Describe:
        """describe := DESCRIBE name"""
        table = self._table_name("DESCRIBE")
        self._end("table name")
        return Describe(table)

    def _insert(self) -> Insert:
        """insert := INSERT INTO name (object | '[' document (',' document)* ']' | '?')
        document := object | '?'"""
        self._expect_keyword("INTO", "Expect INTO after INSERT")
        table = self._table_name("INSERT INTO")
        token = self.peek()
        if token.kind is TokenKind.LBRACE:
            documents: tuple[Document, ...] = (self._object(),)
        elif token.kind is TokenKind.QUESTION:
            self._advance()
            documents = self._bind_documents()
        elif token.kind is TokenKind.LBRACKET:
            documents = self._document_array()
        else:
            raise self.error(
                token,
                "Expect document after table name",
                hint="write a JSON object {...} or an array of objects [{...}, ...]",
            )
        self._end("document")
        return Insert(table, documents)

    def _document_array(self) -> tuple[Document, ...]:
        with self._nested(self._advance()):
            documents: list[Document] = []
            while True:
                token = self.peek()
                if token.kind is TokenKind.LBRACE:
                    documents.append(self._object())
                elif token.kind is TokenKind.QUESTION:
                    self._advance()
                    documents.append(self._bind_object("a document"))
                else:
                    hint = "INSERT needs at least one document" if not documents else None
                    if token.kind is TokenKind.RBRACKET and documents:
                        hint = "remove the trailing ','"
                    raise self.error(token, "Expect object in document array", hint)
                if not self._match(TokenKind.COMMA):
                    break
            self._expect(TokenKind.RBRACKET, "Expect ',' or ']' after document")
        return tuple(documents)

    def _patch(self) -> Patch:
        """patch := PATCH name KEY key SET (object | '?')"""
        table = self._table_name("PATCH")
        key = self._key_clause()
        self._expect_keyword("SET", "Expect SET after key")
        token = self.peek()
        if token.kind is TokenKind.LBRACE:
            patch = self._object()
        elif self._match(TokenKind.QUESTION):
            patch = self._bind_object("a patch")
        else:
            raise self.error(token, "Expect object after SET", hint='write SET {"field": value}')
        self._end("patch document")
        return Patch(table, key, patch)

    def _soft_delete(self) -> SoftDelete:
        """soft_delete := SOFT DELETE FROM name KEY key"""
        self._expect_keyword("DELETE", "Expect DELETE after SOFT")
        self._expect_keyword("FROM", "Expect FROM after SOFT DELETE")
        table = self._table_name("SOFT DELETE FROM")
        key = self._key_clause()
        self._end("key")
        return SoftDelete(table, key)

    def _explain(self) -> Explain:
        """explain := EXPLAIN (select | diff | restore | SHOW show_blame | alter)"""
        word = self.peek().keyword
        if word in ("DIFF", "RESTORE", "ALTER") or (
            word == "SHOW" and self.peek(1).keyword == "BLAME"
        ):
            self._advance()
            if word == "SHOW":
                self._advance()
                return Explain(self._show_blame())
            return Explain(self._RULES[str(word)](self))  # type: ignore[arg-type]
        token = self.peek()
        if token.keyword != "SELECT":
            hint = _suggest(token, ["SELECT", "DIFF", "RESTORE", "ALTER"])
            if hint is None and token.kind is TokenKind.WORD:
                hint = "EXPLAIN takes SELECT, DIFF, RESTORE, SHOW BLAME or ALTER TABLE"
            raise self.error(token, "Expect SELECT after EXPLAIN", hint)
        self._advance()
        return Explain(self._select())

    def _snapshot(self) -> Snapshot:
        """snapshot := SNAPSHOT name"""
        table = self._table_name("SNAPSHOT")
        self._end("table name")
        return Snapshot(table)

    def _compact(self) -> Compact:
        """compact := COMPACT name [BEFORE timepoint [FORCE]]"""
        table = self._table_name("COMPACT")
        before = self._timepoint("BEFORE") if self._match_keyword("BEFORE") else None
        force = before is not None and self._match_keyword("FORCE") is not None
        after = "FORCE" if force else "timepoint" if before else "table name"
        self._end(after, () if force else ["FORCE"] if before else ["BEFORE"])
        return Compact(table, before, force)

    def _purge(self) -> Purge:
        """purge := PURGE name KEY key"""
        table = self._table_name("PURGE")
        key = self._key_clause()
        self._end("key")
        return Purge(table, key)

    # ------------------------------------------------------------ transactions

    def _begin(self) -> Begin:
        """begin := BEGIN"""
        self._end("BEGIN")
        return Begin()

    def _commit(self) -> Commit:
        """commit := COMMIT"""
        self._end("COMMIT")
        return Commit()

    def _rollback(self) -> Rollback:
        """rollback := ROLLBACK"""
        self._end("ROLLBACK")
        return Rollback()

    # ------------------------------------------------------------ SELECT

    def _select(self) -> Select:
        """select := SELECT projection FROM name [as_of] [WHERE expr] [as_of]
        [ORDER BY order_item (',' order_item)*] [LIMIT count [OFFSET count]]
        (at most one as_of in all)"""
        distinct = self._distinct()
        items, star_columns = self._projection()
        token = self.peek()
        if token.keyword != "FROM":
            hint = _suggest(token, ["FROM"])
            if hint is None and items and token.kind is TokenKind.WORD:
                hint = "separate columns with ','"
            raise self.error(token, "Expect FROM after column list", hint)
        self._advance()
        table = self._table_name("FROM")
        as_of = self._as_of(None)
        after = _clause_name(as_of) if as_of else "table name"
        where = None
        if self._match_keyword("WHERE"):
            where = self.expression()
            after = "WHERE condition"
            if self._check_keyword("AS", "FOR"):
                as_of = self._as_of(as_of)
                after = _clause_name(as_of) if as_of else after
        group_by, having = self._group_by()
        if group_by:
            after = "GROUP BY clause"
        if having is not None:
            after = "HAVING condition"
        if (group_by or having is not None) and self._check_keyword("AS", "FOR"):
            as_of = self._as_of(as_of)  # `... GROUP BY status AS OF x`, as SQL:2011 readers write
            after = _clause_name(as_of) if as_of else after
        order_by: list[OrderItem] = []
        if self._match_keyword("ORDER"):
            self._expect_keyword("BY", "Expect BY after ORDER")
            order_by.append(self._order_item("Expect column after ORDER BY"))
            while self._match(TokenKind.COMMA):
                order_by.append(self._order_item("Expect column after ','"))
            after = "ORDER BY clause"
        limit = offset = None
        if self._match_keyword("LIMIT"):
            limit = self._count("LIMIT")
            after = "LIMIT"
            if self._match_keyword("OFFSET"):
                offset = self._count("OFFSET")
                after = "OFFSET"
        self._end(after, self._select_options(after, as_of, where))
        columns: tuple[Column | AllColumns, ...] | None
        columns, count = _plain_projection(items)
        if star_columns is not None:
            columns = star_columns  # `*, _seq, _op`
        if (columns is not None or count or items is None) and not (
            distinct
            or group_by
            or having is not None
            or any(isinstance(o.column, Aggregate) for o in order_by)
        ):
            return Select(table, columns, count, where, as_of, tuple(order_by), limit, offset)
        select = Select(
            table, None, False, where, as_of, tuple(order_by), limit, offset,
            items or (), distinct, group_by, having,
        )  # fmt: skip
        return self._grouping(select, token)

    @staticmethod
    def _select_options(
        after: str, as_of: AsOf | SystemTime | None, where: Expr | None
    ) -> list[str]:
        """The clauses that may follow `after` in a SELECT, for an error hint."""
        if after == "LIMIT":
            return ["OFFSET"]
        if after == "ORDER BY clause":
            return ["','", "ASC", "DESC", "LIMIT"]
        if after == "OFFSET":
            return []
        if after == "GROUP BY clause":
            return ["','", "HAVING", "ORDER BY", "LIMIT"]
        if after == "HAVING condition":
            return ["AND", "OR", "ORDER BY", "LIMIT"]
        options = ["AND", "OR"] if after == "WHERE condition" else []
        options += [] if as_of else ["AS OF"]
        options += [] if where else ["WHERE"]
        return [*options, "ORDER BY", "LIMIT"]

    def _projection(
        self,
    ) -> tuple[tuple[SelectItem, ...] | None, tuple[Column | AllColumns, ...] | None]:
        """projection := '*' [',' path (',' path)*] | select_item (',' select_item)*

        (items, star_columns): items None for '*', with the columns named after `*, `
        (`SELECT *, _seq, _op`), or None for a lone '*'."""
        star = self._match(TokenKind.STAR)
        if star is not None:
            self.places[id(None)] = star
            return None, self._star_columns()
        hint = "write * for every column" if self._check_keyword("FROM") else None
        items = [self._select_item("Expect column list after SELECT", hint)]
        while self._match(TokenKind.COMMA):
            items.append(self._select_item("Expect column after ','"))
        return tuple(items), None

    def _distinct(self) -> bool:
        """[DISTINCT] at the start of a select list (`SELECT distinct FROM t` names a field)"""
        if self._check_keyword("DISTINCT") and not (
            self.peek(1).kind in (TokenKind.COMMA, TokenKind.DOT, TokenKind.EOF)
            or self.peek(1).keyword in ("FROM", "AS")
        ):
            self._advance()
            return True
        return False

    def _select_item(self, message: str, hint: str | None = None) -> SelectItem:
        """select_item := (aggregate | path) [AS name]"""
        start = self.peek()
        expr: Column | Aggregate = (
            self._aggregate() if self._at_aggregate() else self._path(message, hint)
        )
        alias = None
        if self._match_keyword("AS"):
            alias = str(self._name("Expect column name after AS", "column").value)
        item = SelectItem(expr, alias)
        self.places[id(item)] = start
        return item

    def _at_aggregate(self) -> bool:
        return self.peek().keyword in AGGREGATES and self.peek(1).kind is TokenKind.LPAREN

    def _aggregate(self) -> Aggregate:
        """aggregate := COUNT '(' '*' ')'
        | (COUNT | SUM | AVG | MIN | MAX) '(' [DISTINCT] path ')'"""
        name = self._advance()
        function = str(name.keyword)
        self._advance()
        star = self._match(TokenKind.STAR)
        if star is not None:
            if function != "COUNT":
                raise self.error(
                    star,
                    f"Expect column after {function}(",
                    hint="only COUNT takes *: it counts rows",
                )
            self._expect(TokenKind.RPAREN, "Expect ')' after COUNT(*")
            return Aggregate("COUNT")
        distinct = self._check_keyword("DISTINCT") and self.peek(1).kind not in (
            TokenKind.RPAREN,
            TokenKind.DOT,
        )
        if distinct:
            self._advance()
        if self._at_aggregate():
            raise self.error(self.peek(), "Aggregates cannot be nested")
        column = self._path(
            f"Expect column after {function}(",
            hint="COUNT(*) counts rows" if function == "COUNT" else None,
        )
        self._expect(TokenKind.RPAREN, f"Expect ')' after {function} argument")
        return Aggregate(function, column, distinct)  # type: ignore[arg-type]

    def _group_by(self) -> tuple[tuple[Column, ...], Expr | None]:
        """group_by := [GROUP BY path (',' path)*] [HAVING expr]"""
        columns: list[Column] = []
        if self._match_keyword("GROUP"):
            self._expect_keyword("BY", "Expect BY after GROUP")
            columns.append(self._path("Expect column after GROUP BY"))
            while self._match(TokenKind.COMMA):
                columns.append(self._path("Expect column after ','"))
        having = None
        token = self._match_keyword("HAVING")
        if token is not None:
            self.in_having = True
            try:
                having = self.expression()
            finally:
                self.in_having = False
            self.places[id(having)] = token
        return tuple(columns), having

    def _grouping(self, select: Select, end: Token) -> Select:
        """Check what a grouped or DISTINCT SELECT may name, as SQL does: with GROUP BY or an
        aggregate, every other column in the select list, HAVING and ORDER BY is a GROUP BY
        column (or an alias); with DISTINCT, ORDER BY names what the select list shows."""
        aliases: dict[str | None, Column | Aggregate] = {
            i.alias: i.expr for i in select.items if i.alias is not None
        }
        names: set[str] = set()
        for item in select.items:
            name = output_name(item)
            if name in names:
                raise self.error(
                    self.places[id(item)],
                    f"Column name '{name}' given twice in the select list",
                    hint="give one of them another name with AS",
                )
            names.add(name)
        grouped = bool(select.group_by) or select.having is not None or _has_aggregate(select)
        if not grouped:
            if select.distinct and select.items:
                shown = {i.expr for i in select.items}
                for order in select.order_by:
                    term = aliases.get(_alias_of(order.column), order.column)
                    if term not in shown:
                        raise self.error(
                            self.places[id(order)],
                            "ORDER BY of a SELECT DISTINCT must name a column it selects",
                        )
            return select
        if not select.items:
            raise self.error(
                self.places.get(id(None), end),
                "SELECT * cannot be grouped",
                hint="name the columns: SELECT a, COUNT(*) FROM t GROUP BY a",
            )
        for item in select.items:
            if isinstance(item.expr, Column) and item.expr not in select.group_by:
                raise self.error(
                    self.places[id(item)],
                    f"Column '{item.expr.text}' must be in GROUP BY or inside an aggregate",
                )
        for order in select.order_by:
            term = aliases.get(_alias_of(order.column), order.column)
            if isinstance(term, Column) and term not in select.group_by:
                raise self.error(
                    self.places[id(order)],
                    f"ORDER BY column '{term.text}' must be in GROUP BY or inside an aggregate",
                )
        if select.having is not None:
            for column in columns_of(select.having):
                term = aliases.get(_alias_of(column), column)
                if isinstance(term, Column) and term not in select.group_by:
                    raise self.error(
                        self.places[id(select.having)],
                        f"HAVING column '{term.text}' must be in GROUP BY or inside an aggregate",
                    )
        return select

    def _as_of(self, given: AsOf | SystemTime | None) -> AsOf | SystemTime | None:
        """as_of := AS OF timepoint | FOR SYSTEM_TIME AS OF timepoint | system_time"""
        while self._check_keyword("AS", "FOR"):
            token = self._advance()
            if given is not None:
                if isinstance(given, SystemTime) or (
                    token.keyword == "FOR" and self.peek(1).keyword in ("ALL", "BETWEEN", "FROM")
                ):
                    raise self.error(
                        token,
                        "AS OF and FOR SYSTEM_TIME given together",
                        "a SELECT reads rows at one point (AS OF) or versions over a range "
                        "(FOR SYSTEM_TIME ALL, BETWEEN or FROM), not both",
                    )
                raise self.error(token, "AS OF given twice")
            if token.keyword == "FOR":
                self._expect_keyword("SYSTEM_TIME", "Expect SYSTEM_TIME after FOR")
                if self._check_keyword("ALL", "BETWEEN", "FROM"):
                    given = self._system_time()
                    continue
                self._expect_keyword_hint(
                    "AS",
                    "Expect AS OF, ALL, BETWEEN or FROM after FOR SYSTEM_TIME",
                    ["AS", "ALL", "BETWEEN", "FROM"],
                )
            self._expect_keyword("OF", "Expect OF after AS")
            given = self._timepoint("AS OF")
        return given

    def _order_item(self, message: str) -> OrderItem:
        """order_item := (aggregate | path) [ASC | DESC]"""
        start = self.peek()
        column = self._aggregate() if self._at_aggregate() else self._path(message)
        descending = self._match_keyword("DESC") is not None
        if not descending:
            self._match_keyword("ASC")
        item = OrderItem(column, descending)
        self.places[id(item)] = start
        return item

    def _count(self, clause: str) -> int:
        """count := non-negative integer | '?'"""
        token = self.peek()
        if self._match(TokenKind.QUESTION):
            return self._bind_count(clause)
        if token.kind is TokenKind.NUMBER:
            self._advance()
            if isinstance(token.value, int) and token.value >= 0:
                return token.value
            raise self.error(token, f"{clause} must be a non-negative integer")
        raise self.error(token, f"Expect non-negative integer after {clause}")

    def _timepoint(self, after: str) -> AsOf:
        """timepoint := STRING | '@seq:' N | '@now' | '?'"""
        token = self.peek()
        if token.kind in (TokenKind.STRING, TokenKind.TIMEPOINT):
            self._advance()
            try:
                return read_timepoint(str(token.value))
            except TimepointSyntaxError as problem:
                raise self.error(token, problem.message, problem.hint) from None
        if self._match(TokenKind.QUESTION):
            return self._bind_timepoint()
        hint = None
        if token.kind is TokenKind.NUMBER and isinstance(token.value, int) and token.value >= 0:
            hint = f"did you mean @seq:{token.value}?"
        elif token.kind in (TokenKind.NUMBER, TokenKind.WORD):
            hint = 'put a time in quotes: "2025-01-31T12:00:00Z"'
        raise self.error(token, f"Expect timepoint after {after}", hint)

    # ------------------------------------------------------------ history statements

    def _expect_keyword_hint(self, word: str, message: str, options: Sequence[str]) -> Token:
        if self._check_keyword(word):
            return self._advance()
        raise self.error(self.peek(), message, _suggest(self.peek(), options))

    def _system_time(self) -> SystemTime:
        """system_time := FOR SYSTEM_TIME (ALL | BETWEEN timepoint AND timepoint
        | FROM timepoint TO timepoint)   -- after FOR SYSTEM_TIME"""
        if self._match_keyword("ALL"):
            return SystemTime("all")
        if self._match_keyword("BETWEEN"):
            start = self._timepoint("BETWEEN")
            self._expect_keyword("AND", "Expect AND after BETWEEN timepoint")
            return SystemTime("between", start, self._timepoint("AND"))
        self._expect_keyword("FROM", "Expect ALL, BETWEEN or FROM after FOR SYSTEM_TIME")
        start = self._timepoint("FROM")
        self._expect_keyword("TO", "Expect TO after FROM timepoint")
        return SystemTime("from", start, self._timepoint("TO"))

    def _star_columns(self) -> tuple[Column | AllColumns, ...] | None:
        """After '*': [',' path (',' path)*] -- `*, _seq, _op` (None for a lone `*`)."""
        if not self._check(TokenKind.COMMA):
            return None
        columns: list[Column | AllColumns] = [AllColumns()]
        while self._match(TokenKind.COMMA):
            columns.append(self._path("Expect column after ','"))
        return tuple(columns)

    def _diff(self) -> Diff:
        """diff := DIFF name FROM timepoint TO timepoint [WHERE expr]"""
        table = self._table_name("DIFF")
        self._expect_keyword_hint("FROM", "Expect FROM after table name", ["FROM"])
        start = self._timepoint("FROM")
        self._expect_keyword("TO", "Expect TO after FROM timepoint")
        end = self._timepoint("TO")
        where = None
        after = "timepoint"
        if self._match_keyword("WHERE"):
            where = self.expression()
            after = "WHERE condition"
        self._end(after, ["AND", "OR"] if where is not None else ["WHERE"])
        return Diff(table, start, end, where)

    def _show_blame(self) -> ShowBlame:
        """show_blame := SHOW BLAME name KEY key [AS OF timepoint]"""
        table = self._table_name("SHOW BLAME")
        key = self._key_clause()
        as_of = None
        if self._match_keyword("AS"):
            self._expect_keyword("OF", "Expect OF after AS")
            as_of = self._timepoint("AS OF")
        self._end("AS OF clause" if as_of else "key", [] if as_of else ["AS OF"])
        return ShowBlame(table, key, as_of)

    def _restore(self) -> Restore:
        """restore := RESTORE name [KEY key] AS OF timepoint [META (object | '?')]"""
        table = self._table_name("RESTORE")
        key = self._key_clause() if self._check_keyword("KEY") else None
        if not self._check_keyword("AS"):
            token = self.peek()
            hint = "RESTORE needs the point to go back to: AS OF x"
            if key is None and token.kind is not TokenKind.EOF:
                hint = "name one key with KEY k, or restore every key with AS OF x"
            raise self.error(
                token, "Expect AS OF after " + ("key" if key is not None else "table name"), hint
            )
        self._advance()
        self._expect_keyword("OF", "Expect OF after AS")
        as_of = self._timepoint("AS OF")
        meta = None
        if self._match_keyword("META"):
            token = self.peek()
            if token.kind is TokenKind.LBRACE:
                meta = self._object()
            elif self._match(TokenKind.QUESTION):
                meta = self._bind_object("the meta")
            else:
                raise self.error(token, "Expect object after META", 'write META {"reason": "..."}')
        self._end("META object" if meta is not None else "AS OF clause", [] if meta else ["META"])
        return Restore(table, as_of, key, meta)

    def _alter(self) -> AlterTable:
        """alter := ALTER TABLE name (ADD | DROP) INDEX index_columns"""
        self._expect_keyword("TABLE", "Expect TABLE after ALTER")
        table = self._table_name("ALTER TABLE")
        token = self.peek()
        if token.keyword not in ("ADD", "DROP"):
            raise self.error(
                token,
                "Expect ADD INDEX or DROP INDEX after table name",
                _suggest(token, ["ADD", "DROP"]),
            )
        self._advance()
        self._expect_keyword("INDEX", f"Expect INDEX after {token.keyword}")
        columns = tuple(self._index_columns())
        self._end("index columns")
        if token.keyword == "ADD":
            return AlterTable(table, "add", columns)
        return AlterTable(table, "drop", columns)

    # ------------------------------------------------------------ expressions

    def expression(self) -> Expr:
        """expr := or_expr"""
        return self._or()

    def _or(self) -> Expr:
        """or_expr := and_expr (OR and_expr)*"""
        operands = [self._and()]
        while self._match_keyword("OR"):
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self) -> Expr:
        """and_expr := not_expr (AND not_expr)*"""
        operands = [self._not()]
        while self._match_keyword("AND"):
            operands.append(self._not())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _not(self) -> Expr:
        """not_expr := NOT not_expr | predicate"""
        token = self._match_keyword("NOT")
        if token is None:
            return self._predicate()
        with self._nested(token):
            return Not(self._not())

    def _predicate(self) -> Expr:
        """predicate := '(' expr ')'
        | operand (comparison_op operand | [NOT] IN in_list | IS [NOT] NULL)"""
        token = self._match(TokenKind.LPAREN)
        if token is not None:
            with self._nested(token):
                inner = self._or()
            self._expect(TokenKind.RPAREN, "Expect ')' after expression")
            return inner
        start = self.peek()
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self.error(
                start,
                f"Too many conditions in one statement (at most {MAX_CONDITIONS})",
                hint="use IN (...) for many values, or split the statement",
            )
        left = self._operand()
        token = self.peek()
        if token.kind in _COMPARISONS:
            self._advance()
            return Comparison(_COMPARISONS[token.kind], left, self._operand())
        if self._match_keyword("IS"):
            negated = self._match_keyword("NOT") is not None
            self._expect_keyword(
                "NULL", "Expect NULL after IS NOT" if negated else "Expect NULL after IS"
            )
            return IsNull(left, negated)
        if token.keyword == "NOT" and self.peek(1).keyword == "IN":
            self._advance()
            self._advance()
            return InList(left, self._in_list(), negated=True)
        if self._match_keyword("IN"):
            return InList(left, self._in_list())
        found = self._range_or_pattern(left)
        if found is not None:
            return found
        written = self.source[start.start : self._previous().end]
        shown = written if len(written) <= 30 else written[:27] + "..."
        raise self.error(
            token,
            f"Expect comparison operator after '{shown}'",
            hint="expected =, !=, <, <=, >, >=, [NOT] IN, [NOT] BETWEEN, [NOT] LIKE, "
            "[NOT] ILIKE, IS NULL or IS NOT NULL",
        )

    def _range_or_pattern(self, left: Operand) -> Expr | None:
        """range_or_pattern := [NOT] BETWEEN operand AND operand
        | [NOT] (LIKE | ILIKE) operand [ESCAPE (STRING | '?')]
        (None, consuming nothing, when neither follows)"""
        negated = self.peek().keyword == "NOT"
        token = self.peek(1 if negated else 0)
        if token.keyword not in ("BETWEEN", "LIKE", "ILIKE"):
            return None
        if negated:
            self._advance()
        self._advance()
        word = f"NOT {token.keyword}" if negated else str(token.keyword)
        if token.keyword == "BETWEEN":
            low = self._operand()
            self._expect_keyword("AND", f"Expect AND after {word} lower bound")
            return Between(left, low, self._operand(), negated)
        pattern = self._operand()
        if isinstance(pattern, Literal) and not isinstance(pattern.value, str):
            raise self.error(
                self._previous(),
                f"Expect string pattern after {word}",
                hint="% matches any run of characters, _ any one character",
            )
        escape = None
        if self._match_keyword("ESCAPE"):
            escape = self._escape_character()
        return Like(left, pattern, escape, negated, token.keyword == "ILIKE")

    def _escape_character(self) -> str:
        """escape := STRING | '?'  -- exactly one character"""
        token = self.peek()
        if self._match(TokenKind.QUESTION):
            name, value = self._take_param()
            if not isinstance(value, str) or len(value) != 1:
                raise InvalidInputError(
                    f"{name} (an ESCAPE character) must be a string of one character, got {value!r}"
                )
            return value
        if token.kind is not TokenKind.STRING:
            raise self.error(token, "Expect string after ESCAPE", hint="write ESCAPE '\\'")
        self._advance()
        if len(str(token.value)) != 1:
            raise self.error(token, "ESCAPE must be one character")
        return str(token.value)

    def _in_list(self) -> tuple[Literal, ...]:
        """in_list := '(' value (',' value)* ')' | '?'"""
        if self._match(TokenKind.QUESTION):
            return self._bind_in_list()
        self._expect(TokenKind.LPAREN, "Expect '(' after IN")
        values = [Literal(self._value())]
        while self._match(TokenKind.COMMA):
            if len(values) >= MAX_IN_VALUES:
                raise self.error(
                    self.peek(), f"Too many values in one IN list (at most {MAX_IN_VALUES})"
                )
            values.append(Literal(self._value()))
        self._expect(TokenKind.RPAREN, "Expect ')' after IN list")
        return tuple(values)

    def _operand(self) -> Operand:
        """operand := aggregate (in HAVING only) | path | value"""
        token = self.peek()
        if self._at_aggregate():
            if not self.in_having:
                raise self.error(
                    token,
                    f"Aggregate {token.keyword} is not allowed in WHERE",
                    hint="filter groups with HAVING",
                )
            return self._aggregate()
        if token.kind is TokenKind.QUOTED_NAME or (
            token.kind is TokenKind.WORD and token.keyword not in RESERVED
        ):
            return self._path("Expect column")
        if token.kind in _VALUE_STARTS or token.keyword in ("TRUE", "FALSE", "NULL"):
            return Literal(self._value())
        previous = self._previous()
        if previous.kind in _COMPARISONS:
            hint = "compare with =, not ==" if token.kind is TokenKind.EQ else None
            raise self.error(token, f"Expect value after {previous.describe()}", hint)
        if self.pos == 0:
            raise self.error(token, "Expect expression")
        after = previous.describe()
        if previous.keyword in RESERVED or previous.keyword in (
            "BETWEEN",
            "LIKE",
            "ILIKE",
            "HAVING",
        ):
            after = str(previous.keyword)
        raise self.error(token, f"Expect expression after {after}")

    def _path(self, message: str, hint: str | None = None) -> Column:
        """path := name ('.' (WORD | QUOTED_NAME))*  -- after a dot any word is a field name,
        even a keyword"""
        parts = [str(self._name(message, "column", hint).value)]
        while self._check(TokenKind.DOT) and self.peek().start == self._previous().end:
            dot = self._advance()
            token = self.peek()
            # A path is written without blanks, so in `SELECT a. FROM t` FROM is no field name.
            if token.kind not in (TokenKind.WORD, TokenKind.QUOTED_NAME) or token.start != dot.end:
                raise self.error(token, "Expect field name after '.'")
            parts.append(str(self._advance().value))
        return Column(tuple(parts))

    def _table_name(self, after: str) -> str:
        return str(self._name(f"Expect table name after {after}", "table").value)

    def _name(self, message: str, what: str, hint: str | None = None) -> Token:
        """name := WORD that is not a reserved keyword | QUOTED_NAME  -- `any name`"""
        token = self.peek()
        if token.kind is TokenKind.QUOTED_NAME or (
            token.kind is TokenKind.WORD and token.keyword not in RESERVED
        ):
            return self._advance()
        if hint is None and token.kind is TokenKind.WORD:
            hint = f"{token.keyword} is a reserved word; write `{token.text}` for a name"
        elif hint is None and token.kind is TokenKind.STRING:
            hint = f"{what} names are written without quotes, or in backticks: `{token.value}`"
        raise self.error(token, message, hint)

    def _key_clause(self) -> Key:
        """key_clause := KEY (STRING | INTEGER | '?')"""
        self._expect_keyword("KEY", "Expect KEY after table name")
        token = self.peek()
        if token.kind is TokenKind.STRING:
            self._advance()
            return str(token.value)
        if token.kind is TokenKind.NUMBER:
            self._advance()
            if isinstance(token.value, int):
                return token.value
            raise self.error(token, "Key must be a string or an integer")
        if self._match(TokenKind.QUESTION):
            return self._bind_key()
        hint = f'quote a string key: KEY "{token.text}"' if token.kind is TokenKind.WORD else None
        raise self.error(token, "Expect key after KEY", hint)

    # ------------------------------------------------------------ JSON values

    def _value(self) -> JsonValue:
        """value := STRING | NUMBER | TRUE | FALSE | NULL | '?' | object | array"""
        token = self.peek()
        if token.kind in (TokenKind.STRING, TokenKind.NUMBER):
            self._advance()
            return token.value
        if token.keyword in ("TRUE", "FALSE", "NULL"):
            self._advance()
            return {"TRUE": True, "FALSE": False, "NULL": None}[token.text.upper()]
        if token.kind is TokenKind.QUESTION:
            self._advance()
            return self._bind_value()
        if token.kind is TokenKind.LBRACE:
            return self._object()
        if token.kind is TokenKind.LBRACKET:
            return self._array()
        previous = self._previous()
        hint = None
        if previous.kind is TokenKind.COMMA and token.kind is TokenKind.RBRACKET:
            hint = "remove the trailing ','"
        elif token.kind is TokenKind.WORD:
            hint = f'quote a string: "{token.text}"'
        after = previous.keyword if previous.keyword in RESERVED else previous.describe()
        raise self.error(token, f"Expect value after {after}", hint)

    def _object(self) -> Document:
        """object := '{' [STRING ':' value (',' STRING ':' value)*] '}'"""
        with self._nested(self._advance()):
            result: Document = {}
            if self._match(TokenKind.RBRACE):
                return result
            while True:
                token = self.peek()
                if token.kind is not TokenKind.STRING:
                    hint = None
                    if token.kind is TokenKind.WORD:
                        hint = f'quote the key: "{token.text}"'
                    elif token.kind is TokenKind.RBRACE:
                        hint = "remove the trailing ','"
                    raise self.error(token, "Expect string key in object", hint)
                self._advance()
                key = str(token.value)
                if key in result:
                    raise self.error(token, f"Duplicate key {json.dumps(key)} in object")
                self._expect(TokenKind.COLON, "Expect ':' after object key")
                result[key] = self._value()
                if not self._match(TokenKind.COMMA):
                    break
            self._expect(TokenKind.RBRACE, "Expect ',' or '}' after object value")
        return result

    def _array(self) -> list[JsonValue]:
        """array := '[' [value (',' value)*] ']'"""
        with self._nested(self._advance()):
            result: list[JsonValue] = []
            if self._match(TokenKind.RBRACKET):
                return result
            result.append(self._value())
            while self._match(TokenKind.COMMA):
                result.append(self._value())
            self._expect(TokenKind.RBRACKET, "Expect ',' or ']' after array element")
        return result

    # ------------------------------------------------------------ parameters

    def _take_param(self) -> tuple[str, object]:
        """The next parameter and how messages name it ("parameter 2")."""
        index = self.next_param
        self.next_param += 1
        return f"parameter {index + 1}", self.params[index]

    def _bind_value(self) -> JsonValue:
        name, value = self._take_param()
        return to_json_value(value, name)

    def _bind_object(self, role: str) -> Document:
        name, value = self._take_param()
        return _object_param(value, name, role)

    def _bind_documents(self) -> tuple[Document, ...]:
        """One `?` after INSERT INTO t: an object, or a non-empty list of objects."""
        name, value = self._take_param()
        if isinstance(value, dict):
            return (_object_param(value, name, "a document"),)
        if not isinstance(value, list | tuple) or not value:
            shown = "an empty list" if isinstance(value, list | tuple) else _type_name(value)
            raise InvalidInputError(
                f"{name} (the documents) must be an object or a non-empty list of objects, "
                f"got {shown}"
            )
        return tuple(
            _object_param(item, f"{name} item {i}", "a document") for i, item in enumerate(value)
        )

    def _bind_key(self) -> Key:
        name, value = self._take_param()
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidInputError(
                f"{name} (a key) must be a string or an integer, got {_type_name(value)}"
            )
        return str(value) if isinstance(value, str) else int(value)

    def _bind_count(self, clause: str) -> int:
        name, value = self._take_param()
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(
                f"{name} ({clause}) must be a non-negative integer, got {value!r}"
            )
        return int(value)

    def _bind_timepoint(self) -> AsOf:
        name, value = self._take_param()
        if isinstance(value, datetime):
            return AsOf("time", text=value.isoformat())
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return AsOf("seq", seq=int(value))
        if isinstance(value, str):
            try:
                return read_timepoint(value)
            except TimepointSyntaxError as problem:
                raise InvalidInputError(f"{name} (a timepoint): {problem.message}") from None
        raise InvalidInputError(
            f"{name} (a timepoint) must be a non-negative seq, a string or a datetime, "
            f"got {value!r}"
        )

    def _bind_in_list(self) -> tuple[Literal, ...]:
        name, value = self._take_param()
        if not isinstance(value, list | tuple) or not value:
            shown = "an empty list" if isinstance(value, list | tuple) else _type_name(value)
            raise InvalidInputError(
                f"{name} (an IN list) must be a non-empty list of values, got {shown}"
            )
        if len(value) > MAX_IN_VALUES:
            raise InvalidInputError(
                f"{name} (an IN list) has {len(value)} values; at most {MAX_IN_VALUES}"
            )
        converted = to_json_value(list(value), name)
        assert isinstance(converted, list)
        return tuple(Literal(item) for item in converted)

    _RULES: ClassVar[dict[str, Callable[[_Parser], Statement]]] = {
        "ALTER": _alter,
        "COMPACT": _compact,
        "DIFF": _diff,
        "RESTORE": _restore,
        "CREATE": _create,
        "DESCRIBE": _describe,
        "EXPLAIN": _explain,
        "INSERT": _insert,
        "PATCH": _patch,
        "PURGE": _purge,
        "SELECT": _select,
        "SHOW": _show,
        "SNAPSHOT": _snapshot,
        "SOFT": _soft_delete,
        "BEGIN": _begin,
        "COMMIT": _commit,
        "ROLLBACK": _rollback,
    }


def _plain_projection(
    items: tuple[SelectItem, ...] | None,
) -> tuple[tuple[Column, ...] | None, bool]:
    """(columns, count) when the select list has a plain form: bare columns, or a lone
    COUNT(*); (None, False) for '*' or anything else."""
    if items is None:
        return None, False
    if items == (SelectItem(Aggregate("COUNT")),):
        return None, True
    columns = tuple(i.expr for i in items if isinstance(i.expr, Column) and i.alias is None)
    return (columns, False) if len(columns) == len(items) else (None, False)


def output_name(item: SelectItem) -> str:
    """The result column of a select item: its alias, else the column's dotted text or the
    aggregate as canonical DriftQL writes it (`SUM(total)`, `COUNT(DISTINCT a.b)`)."""
    if item.alias is not None:
        return item.alias
    if isinstance(item.expr, Column):
        return item.expr.text
    from driftdb.query.printer import aggregate_text  # the printer imports this module

    return aggregate_text(item.expr)


def _alias_of(term: Column | Aggregate) -> str | None:
    """The alias a one-part column could be (aliases are looked up before fields)."""
    return term.path[0] if isinstance(term, Column) and len(term.path) == 1 else None


def _has_aggregate(select: Select) -> bool:
    if any(isinstance(i.expr, Aggregate) for i in select.items):
        return True
    return any(isinstance(o.column, Aggregate) for o in select.order_by)


def _object_param(value: object, name: str, role: str) -> Document:
    if not isinstance(value, dict):
        raise InvalidInputError(f"{name} ({role}) must be an object, got {_type_name(value)}")
    result = to_json_value(value, name)
    assert isinstance(result, dict)
    return result


def _suggest(token: Token, options: Sequence[str] | frozenset[str]) -> str | None:
    """ "did you mean X?" when the word at `token` is close to one of `options`."""
    if token.kind is not TokenKind.WORD:
        return None
    word = token.text.upper()
    if word in options:
        return None  # the right keyword in the wrong place: a suggestion would only confuse
    import difflib  # only when a statement is wrong: importing it costs a cold start ~1.5 ms

    close = difflib.get_close_matches(word, sorted(options), n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else None


def _clause_name(as_of: AsOf | SystemTime) -> str:
    return "FOR SYSTEM_TIME clause" if isinstance(as_of, SystemTime) else "AS OF clause"


def _one_of(options: Sequence[str]) -> str:
    if len(options) == 1:
        return options[0]
    return ", ".join(options[:-1]) + " or " + options[-1]


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


def _type_name(value: object) -> str:
    return json_type_name(value)
