"""The README's first example works end to end."""

from __future__ import annotations

import driftdb


def test_insert_patch_and_read_back_as_of(db: driftdb.Database) -> None:
    orders = db.create_table("orders", primary_key="id", indexes=["status"])
    first = orders.insert({"id": 1, "status": "new"})
    orders.patch(1, {"status": "paid"})
    assert orders.get(1) == {"id": 1, "status": "paid"}
    assert orders.get(1, as_of=first) == {"id": 1, "status": "new"}
    assert [e.type.name for e in orders.history(1)] == ["INSERT", "PATCH"]
