"""The DriftQL syntax tree: one small immutable class per statement and per expression form.

Nodes hold values, never source text: a `?` placeholder is already bound to its parameter, so
whatever runs a statement cannot confuse data with syntax. Nodes compare by value, which is
what the round-trip tests rely on (`parse(to_driftql(s)) == s`). They carry no positions:
errors that need one are raised by the parser, before a tree exists.

The nodes are written out by hand on the shared `model.frozen.Frozen` base instead of as
frozen dataclasses: they behave the same, and a cold `driftdb select` does not pay for building
dataclasses (about 20 ms for this module alone; see model/frozen.py).
"""

from __future__ import annotations

import typing
from typing import ClassVar, TypeAlias

from driftdb.model.document import JsonValue
from driftdb.model.frozen import Frozen as Frozen  # re-exported: the base of every node
from driftdb.model.frozen import set_field
from driftdb.model.timepoint import TimePoint

_set = set_field  # how a node's __init__ fills its slots; `Frozen` blocks `obj.x = v`


Document: TypeAlias = dict[str, JsonValue]
Key: TypeAlias = str | int
"""A primary key value: a string or an integer (never a bool)."""


# ---------------------------------------------------------------- expressions


class Column(Frozen):
    """A column path: `status` is ("status",), `customer.address.city` has three parts."""

    __slots__ = __match_args__ = ("path",)
    path: tuple[str, ...]

    def __init__(self, path: tuple[str, ...]) -> None:
        _set(self, "path", path)

    @property
    def text(self) -> str:
        """The dotted form, as written in DriftQL and as `project()` names its keys."""
        return ".".join(self.path)


class Literal(Frozen):
    """A JSON value written in the statement or bound from a `?` parameter."""

    __slots__ = __match_args__ = ("value",)
    value: JsonValue

    def __init__(self, value: JsonValue) -> None:
        _set(self, "value", value)


class Aggregate(Frozen):
    """`COUNT(*)` (`column` None), `COUNT(c)`, `SUM(c)`, `AVG(c)`, `MIN(c)`, `MAX(c)`, each
    optionally over DISTINCT values. Stands in a select list, in HAVING and in ORDER BY; in a
    condition it reads the value its group holds for it (see `evaluate`)."""

    __slots__ = __match_args__ = ("function", "column", "distinct")
    function: typing.Literal["COUNT", "SUM", "AVG", "MIN", "MAX"]
    column: Column | None
    distinct: bool

    def __init__(
        self,
        function: typing.Literal["COUNT", "SUM", "AVG", "MIN", "MAX"],
        column: Column | None = None,
        distinct: bool = False,
    ) -> None:
        _set(self, "function", function)
        _set(self, "column", column)
        _set(self, "distinct", distinct)


Operand: TypeAlias = Column | Literal | Aggregate
CompareOp: TypeAlias = typing.Literal["=", "!=", "<", "<=", ">", ">="]
"""`<>` is read as `!=`, so there is one spelling per operator."""


class Comparison(Frozen):
    """`left op right`; either side may be a column or a literal."""

    __slots__ = __match_args__ = ("op", "left", "right")
    op: CompareOp
    left: Operand
    right: Operand

    def __init__(self, op: CompareOp, left: Operand, right: Operand) -> None:
        _set(self, "op", op)
        _set(self, "left", left)
        _set(self, "right", right)


class InList(Frozen):
    """`operand [NOT] IN (v1, v2, ...)`, with at least one value."""

    __slots__ = __match_args__ = ("operand", "values", "negated")
    operand: Operand
    values: tuple[Literal, ...]
    negated: bool

    def __init__(
        self, operand: Operand, values: tuple[Literal, ...], negated: bool = False
    ) -> None:
        _set(self, "operand", operand)
        _set(self, "values", values)
        _set(self, "negated", negated)


class IsNull(Frozen):
    """`operand IS [NOT] NULL`; a missing path counts as null."""

    __slots__ = __match_args__ = ("operand", "negated")
    operand: Operand
    negated: bool

    def __init__(self, operand: Operand, negated: bool = False) -> None:
        _set(self, "operand", operand)
        _set(self, "negated", negated)


class Not(Frozen):
    """`NOT operand`."""

    __slots__ = __match_args__ = ("operand",)
    operand: Expr

    def __init__(self, operand: Expr) -> None:
        _set(self, "operand", operand)


class And(Frozen):
    """`a AND b AND ...`: a chain is one node (two or more operands), so that a long chain does
    not make a deep tree. Parentheses the user wrote are kept: `(a AND b) AND c` nests."""

    __slots__ = __match_args__ = ("operands",)
    operands: tuple[Expr, ...]

    def __init__(self, operands: tuple[Expr, ...]) -> None:
        _set(self, "operands", operands)


class Or(Frozen):
    """`a OR b OR ...`, flattened like And."""

    __slots__ = __match_args__ = ("operands",)
    operands: tuple[Expr, ...]

    def __init__(self, operands: tuple[Expr, ...]) -> None:
        _set(self, "operands", operands)


class Between(Frozen):
    """`operand [NOT] BETWEEN low AND high`: true when `low <= operand AND operand <= high`,
    with the three-valued logic of those two comparisons (so never across type families)."""

    __slots__ = __match_args__ = ("operand", "low", "high", "negated")
    operand: Operand
    low: Operand
    high: Operand
    negated: bool

    def __init__(
        self, operand: Operand, low: Operand, high: Operand, negated: bool = False
    ) -> None:
        _set(self, "operand", operand)
        _set(self, "low", low)
        _set(self, "high", high)
        _set(self, "negated", negated)


class Like(Frozen):
    """`operand [NOT] LIKE pattern [ESCAPE 'c']`, or ILIKE (`case_insensitive`): `%` matches any
    run of characters, `_` any one character, and `escape` followed by a character matches
    that character itself. Unknown unless both the operand and the pattern are strings."""

    __slots__ = __match_args__ = ("operand", "pattern", "escape", "negated", "case_insensitive")
    operand: Operand
    pattern: Operand
    escape: str | None
    negated: bool
    case_insensitive: bool

    def __init__(
        self,
        operand: Operand,
        pattern: Operand,
        escape: str | None = None,
        negated: bool = False,
        case_insensitive: bool = False,
    ) -> None:
        _set(self, "operand", operand)
        _set(self, "pattern", pattern)
        _set(self, "escape", escape)
        _set(self, "negated", negated)
        _set(self, "case_insensitive", case_insensitive)


Expr: TypeAlias = Comparison | InList | IsNull | Not | And | Or | Between | Like


# ---------------------------------------------------------------- clauses


# A timepoint: `@seq:N` (kind "seq", `seq` set), a time (kind "time", `text` holds the string
# as written; `parse_timepoint` validates and resolves it when the statement runs), or `@now`
# (kind "now"). The one time-point type of the package: model/timepoint.py.
AsOf = TimePoint


class OrderItem(Frozen):
    """One `ORDER BY` term (a column, an alias written as a one-part column, or an aggregate);
    ascending unless `descending`."""

    __slots__ = __match_args__ = ("column", "descending")
    column: Column | Aggregate
    descending: bool

    def __init__(self, column: Column | Aggregate, descending: bool = False) -> None:
        _set(self, "column", column)
        _set(self, "descending", descending)


class SelectItem(Frozen):
    """One term of a select list that is more than a bare column: a column or an aggregate,
    with an optional `AS alias` (the name of its column in the result)."""

    __slots__ = __match_args__ = ("expr", "alias")
    expr: Column | Aggregate
    alias: str | None

    def __init__(self, expr: Column | Aggregate, alias: str | None = None) -> None:
        _set(self, "expr", expr)
        _set(self, "alias", alias)


# ---------------------------------------------------------------- statements


class CreateTable(Frozen):
    """`CREATE TABLE t (pk=id, INDEX(a, b.c))`; `indexes` holds dotted column paths."""

    writes: ClassVar[bool] = True  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("table", "primary_key", "indexes")
    table: str
    primary_key: str
    indexes: tuple[str, ...]

    def __init__(self, table: str, primary_key: str, indexes: tuple[str, ...] = ()) -> None:
        _set(self, "table", table)
        _set(self, "primary_key", primary_key)
        _set(self, "indexes", indexes)


class ShowTables(Frozen):
    """`SHOW TABLES`."""

    writes: ClassVar[bool] = False  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ()


class Describe(Frozen):
    """`DESCRIBE t`."""

    writes: ClassVar[bool] = False  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("table",)
    table: str

    def __init__(self, table: str) -> None:
        _set(self, "table", table)


class Insert(Frozen):
    """`INSERT INTO t {...}` or `INSERT INTO t [{...}, ...]`: one or more documents, inserted
    together (all or none)."""

    writes: ClassVar[bool] = True  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("table", "documents")
    table: str
    documents: tuple[Document, ...]

    def __init__(self, table: str, documents: tuple[Document, ...]) -> None:
        _set(self, "table", table)
        _set(self, "documents", documents)


class Patch(Frozen):
    """`PATCH t KEY k SET {...}`: a JSON Merge Patch (RFC 7386) of one row."""

    writes: ClassVar[bool] = True  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("table", "key", "patch")
    table: str
    key: Key
    patch: Document

    def __init__(self, table: str, key: Key, patch: Document) -> None:
        _set(self, "table", table)
        _set(self, "key", key)
        _set(self, "patch", patch)


class SoftDelete(Frozen):
    """`SOFT DELETE FROM t KEY k`."""

    writes: ClassVar[bool] = True  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("table", "key")
    table: str
    key: Key

    def __init__(self, table: str, key: Key) -> None:
        _set(self, "table", table)
        _set(self, "key", key)


class Select(Frozen):
    """`SELECT ... FROM t [AS OF x] [WHERE e] [ORDER BY ...] [LIMIT n [OFFSET m]]`.

    `columns` is None for `*`; `count` is True for `COUNT(*)` (then `columns` is None).
    `as_of` None means the current state, like `AS OF @now`; a `SystemTime` selects versions.
    An `AllColumns` in `columns` is a `*` beside other columns.

    `items`, `distinct`, `group_by` and `having` hold the rest of SQL's SELECT. The parser
    keeps the plain forms in `columns` and `count` (a list of bare columns; a lone COUNT(*)),
    and uses `items` (then `columns` is None and `count` False) whenever the select list has
    an alias or an aggregate, or the statement has DISTINCT, GROUP BY, HAVING or an aggregate
    in ORDER BY, so that each statement has one tree.
    """

    writes: ClassVar[bool] = False  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = (
        "table",
        "columns",
        "count",
        "where",
        "as_of",
        "order_by",
        "limit",
        "offset",
        "items",
        "distinct",
        "group_by",
        "having",
    )
    table: str
    columns: tuple[Column | AllColumns, ...] | None
    count: bool
    where: Expr | None
    as_of: AsOf | SystemTime | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
    items: tuple[SelectItem, ...]
    distinct: bool
    group_by: tuple[Column, ...]
    having: Expr | None

    def __init__(
        self,
        table: str,
        columns: tuple[Column | AllColumns, ...] | None = None,
        count: bool = False,
        where: Expr | None = None,
        as_of: AsOf | SystemTime | None = None,
        order_by: tuple[OrderItem, ...] = (),
        limit: int | None = None,
        offset: int | None = None,
        items: tuple[SelectItem, ...] = (),
        distinct: bool = False,
        group_by: tuple[Column, ...] = (),
        having: Expr | None = None,
    ) -> None:
        _set(self, "table", table)
        _set(self, "columns", columns)
        _set(self, "count", count)
        _set(self, "where", where)
        _set(self, "as_of", as_of)
        _set(self, "order_by", order_by)
        _set(self, "limit", limit)
        _set(self, "offset", offset)
        _set(self, "items", items)
        _set(self, "distinct", distinct)
        _set(self, "group_by", group_by)
        _set(self, "having", having)


class Explain(Frozen):
    """`EXPLAIN SELECT ...` (or DIFF, RESTORE, SHOW BLAME, ALTER TABLE): describe the plan
    instead of running it. `select` holds the statement explained."""

    writes: ClassVar[bool] = False  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("select",)
    select: Select | Diff | ShowBlame | Restore | AlterTable

    def __init__(self, select: Select | Diff | ShowBlame | Restore | AlterTable) -> None:
        _set(self, "select", select)


class ShowDrift(Frozen):
    """`SHOW DRIFT t KEY k`: the history of one key."""

    writes: ClassVar[bool] = False  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("table", "key")
    table: str
    key: Key

    def __init__(self, table: str, key: Key) -> None:
        _set(self, "table", table)
        _set(self, "key", key)


class Snapshot(Frozen):
    """`SNAPSHOT t`."""

    writes: ClassVar[bool] = True  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("table",)
    table: str

    def __init__(self, table: str) -> None:
        _set(self, "table", table)


class Compact(Frozen):
    """`COMPACT t` keeps all history; `COMPACT t BEFORE x` discards history before `x`;
    `... FORCE` lets a point past the head (a seq beyond the newest, a future time) discard
    the whole history."""

    writes: ClassVar[bool] = True  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("table", "before", "force")
    table: str
    before: AsOf | None
    force: bool

    def __init__(self, table: str, before: AsOf | None = None, force: bool = False) -> None:
        _set(self, "table", table)
        _set(self, "before", before)
        _set(self, "force", force)


class Purge(Frozen):
    """`PURGE t KEY k`: redact one key's payloads everywhere in its history."""

    writes: ClassVar[bool] = True  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("table", "key")
    table: str
    key: Key

    def __init__(self, table: str, key: Key) -> None:
        _set(self, "table", table)
        _set(self, "key", key)


# ---------------------------------------------------------------- history statements


class SystemTime(Frozen):
    """`FOR SYSTEM_TIME ALL | BETWEEN a AND b | FROM a TO b`: a SELECT over versions rather than
    rows at a point. It stands where AS OF would (`Select.as_of`): a SELECT has one or the
    other. `start` and `end` are None for ALL."""

    __slots__ = __match_args__ = ("kind", "start", "end")
    kind: typing.Literal["all", "between", "from"]
    start: AsOf | None
    end: AsOf | None

    def __init__(
        self,
        kind: typing.Literal["all", "between", "from"],
        start: AsOf | None = None,
        end: AsOf | None = None,
    ) -> None:
        _set(self, "kind", kind)
        _set(self, "start", start)
        _set(self, "end", end)


class AllColumns(Frozen):
    """`*` in a column list that names more columns (`SELECT *, _seq FROM ...`)."""

    __slots__ = __match_args__ = ()


# ---------------------------------------------------------------- transactions


class Begin(Frozen):
    """`BEGIN`: open a transaction; later writes stay pending (and visible to this
    connection's reads) until COMMIT writes them as one batch or ROLLBACK drops them."""

    writes: ClassVar[bool] = True  # a transaction belongs to the writer (the lock)

    __slots__ = __match_args__ = ()


# The columns a SELECT over versions adds to each row: selectable, usable in WHERE and ORDER BY,
# never part of `*`.
SYSTEM_COLUMNS = ("_seq", "_ts", "_op", "_end_seq", "_end_ts", "_meta")


class Diff(Frozen):
    """`DIFF t FROM a TO b [WHERE e]`: the keys whose row differs between two points."""

    writes: ClassVar[bool] = False  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("table", "start", "end", "where")
    table: str
    start: AsOf
    end: AsOf
    where: Expr | None

    def __init__(self, table: str, start: AsOf, end: AsOf, where: Expr | None = None) -> None:
        _set(self, "table", table)
        _set(self, "start", start)
        _set(self, "end", end)
        _set(self, "where", where)


class ShowBlame(Frozen):
    """`SHOW BLAME t KEY k [AS OF x]`: the event that set each field of one row."""

    writes: ClassVar[bool] = False  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("table", "key", "as_of")
    table: str
    key: Key
    as_of: AsOf | None

    def __init__(self, table: str, key: Key, as_of: AsOf | None = None) -> None:
        _set(self, "table", table)
        _set(self, "key", key)
        _set(self, "as_of", as_of)


class Restore(Frozen):
    """`RESTORE t [KEY k] AS OF x [META {...}]`: append the events that make the current rows
    (one key, or every key) equal their state at x."""

    writes: ClassVar[bool] = True  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("table", "as_of", "key", "meta")
    table: str
    as_of: AsOf
    key: Key | None
    meta: Document | None

    def __init__(
        self, table: str, as_of: AsOf, key: Key | None = None, meta: Document | None = None
    ) -> None:
        _set(self, "table", table)
        _set(self, "as_of", as_of)
        _set(self, "key", key)
        _set(self, "meta", meta)


class AlterTable(Frozen):
    """`ALTER TABLE t ADD INDEX (a, b.c)` or `ALTER TABLE t DROP INDEX (a)`."""

    writes: ClassVar[bool] = True  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ("table", "action", "columns")
    table: str
    action: typing.Literal["add", "drop"]
    columns: tuple[str, ...]

    def __init__(
        self, table: str, action: typing.Literal["add", "drop"], columns: tuple[str, ...]
    ) -> None:
        _set(self, "table", table)
        _set(self, "action", action)
        _set(self, "columns", columns)


class Commit(Frozen):
    """`COMMIT`: write the open transaction's events as one atomic, durable batch."""

    writes: ClassVar[bool] = True  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ()


class Rollback(Frozen):
    """`ROLLBACK`: discard the open transaction's pending writes."""

    writes: ClassVar[bool] = True  # whether running it needs the writer (the lock)

    __slots__ = __match_args__ = ()


Transaction: TypeAlias = Begin | Commit | Rollback


Statement: TypeAlias = (
    CreateTable
    | ShowTables
    | Describe
    | Insert
    | Patch
    | SoftDelete
    | Select
    | Explain
    | ShowDrift
    | Snapshot
    | Compact
    | Purge
    | Diff
    | ShowBlame
    | Restore
    | AlterTable
    | Begin
    | Commit
    | Rollback
)


def columns_of(expr: Expr | None) -> list[Column]:
    """Every column a condition names (outside aggregates); none for no condition."""
    if expr is None:
        return []
    if isinstance(expr, Not):
        return columns_of(expr.operand)
    if isinstance(expr, And | Or):
        return [c for e in expr.operands for c in columns_of(e)]
    if isinstance(expr, Comparison):
        operands: list[Operand] = [expr.left, expr.right]
    elif isinstance(expr, Between):
        operands = [expr.operand, expr.low, expr.high]
    elif isinstance(expr, Like):
        operands = [expr.operand, expr.pattern]
    else:
        operands = [expr.operand]
    return [o for o in operands if isinstance(o, Column)]
