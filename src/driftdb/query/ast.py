"""The DriftQL syntax tree: one frozen dataclass per statement and per expression form.

Nodes hold values, never source text: a `?` placeholder is already bound to its parameter, so
whatever runs a statement cannot confuse data with syntax. Nodes compare by value, which is
what the round-trip tests rely on (`parse(to_driftql(s)) == s`). They carry no positions:
errors that need one are raised by the parser, before a tree exists.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import TypeAlias

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
Document: TypeAlias = dict[str, JsonValue]
Key: TypeAlias = str | int
"""A primary key value: a string or an integer (never a bool)."""


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Column:
    """A column path: `status` is ("status",), `customer.address.city` has three parts."""

    path: tuple[str, ...]

    @property
    def text(self) -> str:
        """The dotted form, as written in DriftQL and as `project()` names its keys."""
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Literal:
    """A JSON value written in the statement or bound from a `?` parameter."""

    value: JsonValue


Operand: TypeAlias = Column | Literal
CompareOp: TypeAlias = typing.Literal["=", "!=", "<", "<=", ">", ">="]
"""`<>` is read as `!=`, so there is one spelling per operator."""


@dataclass(frozen=True, slots=True)
class Comparison:
    """`left op right`; either side may be a column or a literal."""

    op: CompareOp
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class InList:
    """`operand [NOT] IN (v1, v2, ...)`, with at least one value."""

    operand: Operand
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class IsNull:
    """`operand IS [NOT] NULL`; a missing path counts as null."""

    operand: Operand
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Not:
    """`NOT operand`."""

    operand: Expr


@dataclass(frozen=True, slots=True)
class And:
    """`a AND b AND ...`: a chain is one node (two or more operands), so that a long chain does
    not make a deep tree. Parentheses the user wrote are kept: `(a AND b) AND c` nests."""

    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """`a OR b OR ...`, flattened like And."""

    operands: tuple[Expr, ...]


Expr: TypeAlias = Comparison | InList | IsNull | Not | And | Or


# ---------------------------------------------------------------- clauses


@dataclass(frozen=True, slots=True)
class AsOf:
    """A timepoint: `@seq:N` (kind "seq", `seq` set), a time (kind "time", `text` holds the
    string as written; the engine validates and resolves it), or `@now` (kind "now")."""

    kind: typing.Literal["seq", "time", "now"]
    seq: int | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class OrderItem:
    """One `ORDER BY` term; ascending unless `descending`."""

    column: Column
    descending: bool = False


# ---------------------------------------------------------------- statements


@dataclass(frozen=True, slots=True)
class CreateTable:
    """`CREATE TABLE t (pk=id, INDEX(a, b.c))`; `indexes` holds dotted column paths."""

    table: str
    primary_key: str
    indexes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ShowTables:
    """`SHOW TABLES`."""


@dataclass(frozen=True, slots=True)
class Describe:
    """`DESCRIBE t`."""

    table: str


@dataclass(frozen=True, slots=True)
class Insert:
    """`INSERT INTO t {...}` or `INSERT INTO t [{...}, ...]`: one or more documents, inserted
    together (all or none)."""

    table: str
    documents: tuple[Document, ...]


@dataclass(frozen=True, slots=True)
class Patch:
    """`PATCH t KEY k SET {...}`: a JSON Merge Patch (RFC 7386) of one row."""

    table: str
    key: Key
    patch: Document


@dataclass(frozen=True, slots=True)
class SoftDelete:
    """`SOFT DELETE FROM t KEY k`."""

    table: str
    key: Key


@dataclass(frozen=True, slots=True)
class Select:
    """`SELECT ... FROM t [AS OF x] [WHERE e] [ORDER BY ...] [LIMIT n [OFFSET m]]`.

    `columns` is None for `*`; `count` is True for `COUNT(*)` (then `columns` is None).
    `as_of` None means the current state, like `AS OF @now`.
    """

    table: str
    columns: tuple[Column, ...] | None = None
    count: bool = False
    where: Expr | None = None
    as_of: AsOf | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class Explain:
    """`EXPLAIN SELECT ...`: describe the plan instead of running it."""

    select: Select


@dataclass(frozen=True, slots=True)
class ShowDrift:
    """`SHOW DRIFT t KEY k`: the history of one key."""

    table: str
    key: Key


@dataclass(frozen=True, slots=True)
class Snapshot:
    """`SNAPSHOT t`."""

    table: str


@dataclass(frozen=True, slots=True)
class Compact:
    """`COMPACT t` keeps all history; `COMPACT t BEFORE x` discards history before `x`."""

    table: str
    before: AsOf | None = None


@dataclass(frozen=True, slots=True)
class Purge:
    """`PURGE t KEY k`: redact one key's payloads everywhere in its history."""

    table: str
    key: Key


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
)
