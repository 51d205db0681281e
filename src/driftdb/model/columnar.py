"""Documents as Arrow columns: the union schema of a set of documents, and record batches.

The schema is the union over the documents, in two passes over them (the first only looks at
types, so a large table streams in batches and is never held as Python objects):
- a field's columns come in first-seen order, with the primary key (when given) first;
- null, bool, int (int64), float (float64) and str map to their Arrow types; a field that holds
  ints and floats is float64;
- a nested object is a struct (the union of its fields), a list is a list of the union of its
  items' types;
- a field whose values conflict (a str here, a number there; an int beyond int64; an empty
  object) is a JSON string column: every non-null value is its `json.dumps` text, so the
  original value is recoverable with `json.loads`;
- a field that is null (or missing) in every document has Arrow type null.

pyarrow is optional (`pip install "driftdb[arrow]"`); `require` names the pip command when a
package is missing.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from driftdb.errors import MissingDependencyError

BATCH_ROWS = 65_536  # rows per record batch when streaming
_INT64 = (-(2**63), 2**63 - 1)


def require(module: str, extra: str) -> Any:
    """Import an optional package, or raise MissingDependencyError naming the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f'this needs the optional package "{module}": pip install "driftdb[{extra}]"'
        ) from None


class Shape:
    """What one field held across the documents seen so far."""

    __slots__ = ("_json", "big", "fields", "item", "kinds")

    def __init__(self) -> None:
        self.kinds: set[type] = set()
        self.fields: dict[str, Shape] = {}
        self.item: Shape | None = None
        self.big = False  # an int outside int64
        self._json: bool | None = None  # is_json, once every document has been observed

    def observe(self, value: Any) -> None:
        if value is None:
            return
        kind = type(value)
        self.kinds.add(kind)
        if kind is dict:
            fields = self.fields
            for name, child in value.items():
                shape = fields.get(name)
                if shape is None:
                    shape = fields[name] = Shape()
                shape.observe(child)
        elif kind is list:
            if self.item is None:
                self.item = Shape()
            for child in value:
                self.item.observe(child)
        elif kind is int and not (_INT64[0] <= value <= _INT64[1]):
            self.big = True

    def is_json(self) -> bool:
        """Whether this field becomes a JSON string column (its values conflict). Asked only
        after every document has been observed (the answer is kept)."""
        if self._json is None:
            kinds = {float if k is int else k for k in self.kinds}  # ints and floats agree
            self._json = self.big or len(kinds) > 1 or (kinds == {dict} and not self.fields)
        return self._json

    def needs_prep(self) -> bool:
        """Whether values must be rewritten before Arrow takes them (a JSON leaf inside)."""
        if self.is_json():
            return True
        if dict in self.kinds:
            return any(s.needs_prep() for s in self.fields.values())
        if list in self.kinds and self.item is not None:
            return self.item.needs_prep()
        return False

    def arrow_type(self, pa: Any) -> Any:
        kinds = self.kinds
        if not kinds:
            return pa.null()
        if self.is_json():
            return pa.string()
        if kinds <= {int, float}:
            return pa.float64() if float in kinds else pa.int64()
        (kind,) = kinds
        if kind is bool:
            return pa.bool_()
        if kind is str:
            return pa.string()
        if kind is list:
            item = self.item.arrow_type(pa) if self.item is not None else pa.null()
            return pa.list_(item)
        return pa.struct([(name, s.arrow_type(pa)) for name, s in self.fields.items()])

    def prepare(self, value: Any) -> Any:
        """`value` as Arrow takes it for this field's type (JSON text where they conflict)."""
        if value is None:
            return None
        if self.is_json():
            return json.dumps(value, ensure_ascii=False)
        if type(value) is dict:
            return {
                name: self.fields[name].prepare(child) if name in self.fields else child
                for name, child in value.items()
            }
        if type(value) is list and self.item is not None:
            return [self.item.prepare(child) for child in value]
        return value


class Columns:
    """The union of the top-level fields of documents (pass one), then its batches (pass two)."""

    def __init__(
        self,
        first: Iterable[str] = (),
        only: list[str] | None = None,
        types: dict[str, Any] | None = None,
    ) -> None:
        """`first`: columns that lead, in this order; `only`: the columns to keep (in this
        order); `types`: Arrow types fixed in advance for some columns."""
        self.shapes: dict[str, Shape] = {name: Shape() for name in first}
        self.only = only
        self.types = types or {}

    def observe(self, row: dict[str, Any]) -> None:
        shapes = self.shapes
        for name, value in row.items():
            shape = shapes.get(name)
            if shape is None:
                shape = shapes[name] = Shape()
            shape.observe(value)

    def observe_all(self, rows: Iterable[dict[str, Any]]) -> Columns:
        for row in rows:
            self.observe(row)
        return self

    def names(self) -> list[str]:
        if self.only is None:
            return list(self.shapes)
        return list(self.only)

    def schema(self) -> Any:
        pa = require("pyarrow", "arrow")
        fields = []
        for name in self.names():
            shape = self.shapes.get(name) or Shape()
            if name in self.types:
                fields.append(pa.field(name, self.types[name]))
                continue
            meta = {b"driftdb": b"json"} if shape.is_json() else None
            fields.append(pa.field(name, shape.arrow_type(pa), nullable=True, metadata=meta))
        return pa.schema(fields)

    def batches(
        self, rows: Iterable[dict[str, Any]], batch_rows: int = BATCH_ROWS
    ) -> Iterator[Any]:
        """Record batches of `rows` (the same documents `observe` saw) in this schema."""
        pa = require("pyarrow", "arrow")
        schema = self.schema()
        names = self.names()
        shapes = [self.shapes.get(name) or Shape() for name in names]
        prep = [
            s.needs_prep() and name not in self.types for name, s in zip(names, shapes, strict=True)
        ]
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= batch_rows:
                yield self._batch(pa, schema, names, shapes, prep, chunk)
                chunk = []
        if chunk or not names:
            yield self._batch(pa, schema, names, shapes, prep, chunk)

    @staticmethod
    def _batch(
        pa: Any,
        schema: Any,
        names: list[str],
        shapes: list[Shape],
        prep: list[bool],
        chunk: list[dict[str, Any]],
    ) -> Any:
        arrays = []
        for name, shape, field, needs in zip(names, shapes, schema, prep, strict=True):
            if needs:
                values = [shape.prepare(row.get(name)) for row in chunk]
            else:
                values = [row.get(name) for row in chunk]
            arrays.append(pa.array(values, type=field.type))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


def reader_of(columns: Columns, rows: Iterable[dict[str, Any]]) -> Any:
    """A pyarrow RecordBatchReader over `rows` (streamed: one batch in memory at a time)."""
    pa = require("pyarrow", "arrow")
    return pa.RecordBatchReader.from_batches(columns.schema(), columns.batches(rows))


def table_of(rows: list[dict[str, Any]], only: list[str] | None = None) -> Any:
    """An Arrow table of rows held in memory (a query result), with the columns `only`
    (in that order) when given."""
    pa = require("pyarrow", "arrow")
    columns = Columns(only or (), only).observe_all(rows)
    return pa.Table.from_batches(list(columns.batches(rows)), schema=columns.schema())


def to_pandas(table: Any) -> Any:
    """An Arrow table as a pandas DataFrame, releasing the Arrow buffers as it converts (so
    the peak is about one extra copy of the data, not two)."""
    require("pandas", "pandas")
    return table.to_pandas(self_destruct=True, split_blocks=True)


def to_polars(table: Any) -> Any:
    pl = require("polars", "polars")
    return pl.from_arrow(table)
