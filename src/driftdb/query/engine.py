"""Runs reads for the Python API and DriftQL: resolve AS OF, plan, fetch, filter, order, limit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from driftdb.index.store import resolve
from driftdb.model.events import Document
from driftdb.model.timepoint import AsOf

if TYPE_CHECKING:
    from driftdb.table import Table, Where


def _equalities(where: Where) -> list[tuple[str, Any]]:
    if where is None:
        return []
    if isinstance(where, Mapping):
        return list(where.items())
    raise NotImplementedError("expression strings arrive with the DriftQL parser")


def _matches(row: Document, eqs: list[tuple[str, Any]]) -> bool:
    return all(resolve(row, col) == val and (val is not None) for col, val in eqs)


def run_select(table: Table, where: Where, params: Sequence[Any], as_of: AsOf,
               order_by: str | Sequence[str] | None, limit: int | None) -> list[Document]:
    eqs = _equalities(where)
    with table.view() as view:
        seq = table.resolve(view, as_of)
        indexed = [(c, v) for c, v in eqs if c in table.schema.indexes]
        rows: list[Document] = []
        if indexed:
            col, val = indexed[0]
            for key in view.keys_in_range(col, val, val, seq, True, True):
                row = view.get(key, seq)
                if row is not None and _matches(row, eqs):
                    rows.append(row)
        else:
            rows = [row for _, row in view.rows(seq) if _matches(row, eqs)]
    return rows[:limit] if limit is not None else rows


def run_count(table: Table, where: Where, params: Sequence[Any], as_of: AsOf) -> int:
    if where is None:
        with table.view() as view:
            return view.count(table.resolve(view, as_of))
    return len(run_select(table, where, params, as_of, None, None))
