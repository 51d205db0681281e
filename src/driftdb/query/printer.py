"""Canonical DriftQL: the text a syntax tree prints as.

Keywords in upper case, strings in double quotes, JSON as `json.dumps` writes it (keys in the
order given), AS OF right after the table name, the fewest parentheses that keep the tree's
shape. The promise, tested over a corpus and over mutated statements: for any tree `s` the
parser produced, `parse_one(to_driftql(s)) == s`. EXPLAIN and the command line use this to
echo a statement back in one normal form.
"""

from __future__ import annotations

import json
from typing import Any

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
    Comparison,
    CreateTable,
    Describe,
    Diff,
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
)
from driftdb.query.lexer import LINE_BREAKS
from driftdb.query.tokens import RESERVED, is_identifier

# Line breaks json.dumps leaves raw but the lexer does not allow inside a string.
_RAW_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}

_OR, _AND, _NOT, _PREDICATE = range(1, 5)  # binding strength, loosest first


def to_driftql(node: Statement | Expr) -> str:
    """Canonical DriftQL for a statement or a condition.

    Raises ValueError for a tree the parser could not have produced (an empty name, an empty
    IN list, an OFFSET without LIMIT, a NaN ...), since its text would not
    parse back.
    """
    if isinstance(node, Comparison | InList | IsNull | Not | And | Or | Between | Like):
        return _expr(node)
    if isinstance(node, Begin | Commit | Rollback):
        return _transaction(node)
    return _statement(node)


def _statement(stmt: Statement) -> str:
    if isinstance(stmt, Select):
        return _select(stmt)
    if isinstance(stmt, Explain):
        inner = stmt.select
        return "EXPLAIN " + (_select(inner) if isinstance(inner, Select) else _statement(inner))
    if isinstance(stmt, CreateTable):
        options = [f"pk={_name(stmt.primary_key)}"]
        if stmt.indexes:
            options.append("INDEX(" + ", ".join(_dotted(c) for c in stmt.indexes) + ")")
        return f"CREATE TABLE {_name(stmt.table)} ({', '.join(options)})"
    if isinstance(stmt, ShowTables):
        return "SHOW TABLES"
    if isinstance(stmt, Describe):
        return f"DESCRIBE {_name(stmt.table)}"
    if isinstance(stmt, Insert):
        if not stmt.documents:
            raise ValueError("INSERT without documents has no DriftQL form")
        documents = stmt.documents[0] if len(stmt.documents) == 1 else list(stmt.documents)
        return f"INSERT INTO {_name(stmt.table)} {_json(documents)}"
    if isinstance(stmt, Patch):
        return f"PATCH {_name(stmt.table)} KEY {_key(stmt.key)} SET {_json(stmt.patch)}"
    if isinstance(stmt, SoftDelete):
        return f"SOFT DELETE FROM {_name(stmt.table)} KEY {_key(stmt.key)}"
    if isinstance(stmt, ShowDrift):
        return f"SHOW DRIFT {_name(stmt.table)} KEY {_key(stmt.key)}"
    if isinstance(stmt, Snapshot):
        return f"SNAPSHOT {_name(stmt.table)}"
    if isinstance(stmt, Compact):
        before = f" BEFORE {_timepoint(stmt.before)}" if stmt.before else ""
        force = " FORCE" if stmt.force else ""
        return f"COMPACT {_name(stmt.table)}{before}{force}"
    if isinstance(stmt, Purge):
        return f"PURGE {_name(stmt.table)} KEY {_key(stmt.key)}"
    return _history_statement(stmt)


def _history_statement(stmt: Statement) -> str:
    """DIFF, SHOW BLAME, RESTORE and ALTER TABLE."""
    if isinstance(stmt, Diff):
        where = f" WHERE {_expr(stmt.where)}" if stmt.where is not None else ""
        return (
            f"DIFF {_name(stmt.table)} FROM {_timepoint(stmt.start)} "
            f"TO {_timepoint(stmt.end)}{where}"
        )
    if isinstance(stmt, ShowBlame):
        as_of = f" AS OF {_timepoint(stmt.as_of)}" if stmt.as_of is not None else ""
        return f"SHOW BLAME {_name(stmt.table)} KEY {_key(stmt.key)}{as_of}"
    if isinstance(stmt, Restore):
        key = f" KEY {_key(stmt.key)}" if stmt.key is not None else ""
        meta = f" META {_json(stmt.meta)}" if stmt.meta is not None else ""
        return f"RESTORE {_name(stmt.table)}{key} AS OF {_timepoint(stmt.as_of)}{meta}"
    if isinstance(stmt, AlterTable):
        if not stmt.columns or stmt.action not in ("add", "drop"):
            raise ValueError("ALTER TABLE needs ADD or DROP and at least one column")
        columns = ", ".join(_dotted(c) for c in stmt.columns)
        return f"ALTER TABLE {_name(stmt.table)} {stmt.action.upper()} INDEX ({columns})"
    raise TypeError(f"not a DriftQL statement: {stmt!r}")


def _system_time(clause: SystemTime) -> str:
    if clause.kind == "all":
        return "FOR SYSTEM_TIME ALL"
    if clause.start is None or clause.end is None:
        raise ValueError(f"{clause!r} needs two timepoints")
    joint = "AND" if clause.kind == "between" else "TO"
    word = "BETWEEN" if clause.kind == "between" else "FROM"
    return f"FOR SYSTEM_TIME {word} {_timepoint(clause.start)} {joint} {_timepoint(clause.end)}"


def _projected(column: Column | AllColumns) -> str:
    return "*" if isinstance(column, AllColumns) else _column(column)


def _transaction(stmt: Begin | Commit | Rollback) -> str:
    return {Begin: "BEGIN", Commit: "COMMIT", Rollback: "ROLLBACK"}[type(stmt)]


def _select(select: Select) -> str:
    if select.items:
        projection = ", ".join(_item(i) for i in select.items)
    elif select.count:
        projection = "COUNT(*)"
    elif select.columns is None:
        projection = "*"
    elif select.columns:
        if any(isinstance(c, AllColumns) for c in select.columns[1:]) or (
            isinstance(select.columns[0], AllColumns) and len(select.columns) == 1
        ):
            raise ValueError("'*' stands first in a column list, beside other columns")
        projection = ", ".join(_projected(c) for c in select.columns)
    else:
        raise ValueError("SELECT with an empty column list has no DriftQL form")
    distinct = "DISTINCT " if select.distinct else ""
    parts = [f"SELECT {distinct}{projection} FROM {_name(select.table)}"]
    if isinstance(select.as_of, SystemTime):
        parts.append(_system_time(select.as_of))
    elif select.as_of is not None:
        parts.append(f"AS OF {_timepoint(select.as_of)}")
    if select.where is not None:
        parts.append(f"WHERE {_expr(select.where)}")
    if select.group_by:
        parts.append("GROUP BY " + ", ".join(_column(c) for c in select.group_by))
    if select.having is not None:
        parts.append(f"HAVING {_expr(select.having)}")
    if select.order_by:
        terms = [_term(i.column) + (" DESC" if i.descending else "") for i in select.order_by]
        parts.append("ORDER BY " + ", ".join(terms))
    if select.limit is not None:
        parts.append(f"LIMIT {_count(select.limit)}")
        if select.offset is not None:
            parts.append(f"OFFSET {_count(select.offset)}")
    elif select.offset is not None:
        raise ValueError("OFFSET without LIMIT has no DriftQL form")
    return " ".join(parts)


def _item(item: SelectItem) -> str:
    alias = f" AS {_name(item.alias)}" if item.alias is not None else ""
    return _term(item.expr) + alias


def _term(term: Column | Aggregate) -> str:
    return aggregate_text(term) if isinstance(term, Aggregate) else _column(term)


def aggregate_text(aggregate: Aggregate) -> str:
    """`COUNT(*)`, `SUM(total)`, `COUNT(DISTINCT a.b)`: also the name of its result column."""
    if aggregate.function not in ("COUNT", "SUM", "AVG", "MIN", "MAX"):
        raise ValueError(f"no aggregate function {aggregate.function!r}")
    if aggregate.column is None:
        if aggregate.function != "COUNT" or aggregate.distinct:
            raise ValueError(f"{aggregate!r} has no DriftQL form")
        return "COUNT(*)"
    distinct = "DISTINCT " if aggregate.distinct else ""
    return f"{aggregate.function}({distinct}{_column(aggregate.column)})"


def _expr(expr: Expr) -> str:
    if isinstance(expr, Comparison):
        return f"{_operand(expr.left)} {expr.op} {_operand(expr.right)}"
    if isinstance(expr, InList):
        if not expr.values:
            raise ValueError("an empty IN list has no DriftQL form")
        values = ", ".join(_json(v.value) for v in expr.values)
        return f"{_operand(expr.operand)} {'NOT ' if expr.negated else ''}IN ({values})"
    if isinstance(expr, IsNull):
        return f"{_operand(expr.operand)} IS {'NOT ' if expr.negated else ''}NULL"
    if isinstance(expr, Between | Like):
        return _range_or_pattern(expr)
    if isinstance(expr, Not):
        return "NOT " + _child(expr.operand, _NOT)
    if isinstance(expr, And | Or):
        if len(expr.operands) < 2:
            raise ValueError(f"{type(expr).__name__} needs two or more operands")
        strength = _AND if isinstance(expr, And) else _OR
        # A child as loose as its parent gets parentheses: the parser would otherwise flatten
        # `(a AND b) AND c` into one three-operand And.
        parts = [_child(e, strength + 1) for e in expr.operands]
        return (" AND " if strength == _AND else " OR ").join(parts)
    raise TypeError(f"not a DriftQL expression: {expr!r}")


def _range_or_pattern(expr: Between | Like) -> str:
    negated = "NOT " if expr.negated else ""
    if isinstance(expr, Between):
        bounds = f"{_operand(expr.low)} AND {_operand(expr.high)}"
        return f"{_operand(expr.operand)} {negated}BETWEEN {bounds}"
    if isinstance(expr.pattern, Literal) and not isinstance(expr.pattern.value, str):
        raise ValueError(f"a LIKE pattern must be a string, not {expr.pattern.value!r}")
    if expr.escape is not None and (not isinstance(expr.escape, str) or len(expr.escape) != 1):
        raise ValueError(f"ESCAPE must be one character, not {expr.escape!r}")
    word = "ILIKE" if expr.case_insensitive else "LIKE"
    escape = f" ESCAPE {_json(expr.escape)}" if expr.escape is not None else ""
    return f"{_operand(expr.operand)} {negated}{word} {_operand(expr.pattern)}{escape}"


def _child(expr: Expr, minimum: int) -> str:
    """`expr`, in parentheses unless it binds at least as tightly as `minimum`."""
    text = _expr(expr)
    return f"({text})" if _strength(expr) < minimum else text


def _strength(expr: Expr) -> int:
    if isinstance(expr, Or):
        return _OR
    if isinstance(expr, And):
        return _AND
    if isinstance(expr, Not):
        return _NOT
    return _PREDICATE


def _operand(operand: Operand) -> str:
    if isinstance(operand, Literal):
        return _json(operand.value)
    return _term(operand)


def _column(column: Column) -> str:
    """A path: its first part as a name, the others as field names (after a dot even a
    reserved word is a field name); any part that is not an identifier goes in backticks."""
    if not column.path:
        raise ValueError("a column path needs at least one part")
    rest = [part if is_identifier(part) else _quoted(part) for part in column.path[1:]]
    return ".".join([_name(column.path[0]), *rest])


def _dotted(text: str) -> str:
    return _column(Column(tuple(text.split("."))))


def _name(name: str) -> str:
    """A table or first column name: bare if it is an identifier and no reserved word, else
    in backticks."""
    if is_identifier(name) and name.upper() not in RESERVED:
        return name
    return _quoted(name)


def _quoted(name: str) -> str:
    """`name` in backticks (a backtick inside doubled), as the lexer reads it back."""
    if not isinstance(name, str) or not name or any(c in LINE_BREAKS for c in name):
        raise ValueError(f"name {name!r} cannot be written in DriftQL")
    return "`" + name.replace("`", "``") + "`"


def _key(key: Key) -> str:
    if isinstance(key, bool) or not isinstance(key, str | int):
        raise ValueError(f"key {key!r} must be a string or an integer")
    return _json(key)


def _count(count: int) -> str:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"LIMIT and OFFSET must be non-negative integers, not {count!r}")
    return str(count)


def _timepoint(as_of: AsOf) -> str:
    if as_of.kind == "seq":
        if as_of.seq is None or as_of.seq < 0:
            raise ValueError(f"{as_of!r} needs a non-negative seq")
        return f"@seq:{as_of.seq}"
    if as_of.kind == "now":
        return "@now"
    if not as_of.text or as_of.text.strip().startswith("@"):
        raise ValueError(f"{as_of!r} needs the text of a time")
    return _json(as_of.text)


def _json(value: Any) -> str:
    """JSON text the lexer reads back to the same value (no NaN, no raw U+2028)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    for char, escape in _RAW_BREAKS.items():
        text = text.replace(char, escape)
    return text
