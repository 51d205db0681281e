"""The benchmark workload: a seeded, deterministic history of an orders table.

Phase 1 inserts N orders (status "new"); phase 2 applies N/2 status patches to random ids,
each advancing that order along new -> paid -> shipped -> delivered -> new; phase 3 soft-deletes
N/20 distinct orders. With E total events, N = round(E / 1.55).

Every write is one event and both systems number events 1, 2, 3, ... in the same order
(DriftDB's seq; SQLite's trigger-maintained version counter), so a marker such as T_mid is
the same integer in both and `AS OF T_mid` asks both the same question.

The generator also keeps a model of the expected answers (counts by status at each marker),
so a disagreement between DriftDB and SQLite can be pinned on the one that is wrong.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Any

STATUS_CYCLE = ("new", "paid", "shipped", "delivered")
NEXT_STATUS = {s: STATUS_CYCLE[(i + 1) % len(STATUS_CYCLE)] for i, s in enumerate(STATUS_CYCLE)}
COLUMNS = ("id", "customer", "status", "total", "items", "note")
_NOTE_ALPHABET = string.ascii_letters + string.digits + "     "


def orders_for(events: int) -> int:
    """N, the number of inserted orders, for a total of `events` events."""
    return max(20, round(events / 1.55))


@dataclass(frozen=True)
class Markers:
    """Seqs at interesting instants (every system uses the same numbering)."""

    t_a: int  # end of the inserts: every order exists, all "new"
    t_a2: int  # a quarter of the way through the patches (q4: at T_A nothing is "paid" yet)
    t_mid: int  # half-way through the patches
    head: int  # the last event of the workload


@dataclass
class Workload:
    events: int
    n: int
    seed: int
    inserts: list[dict[str, Any]]
    patches: list[tuple[int, str]]  # (id, new status), applied in order
    deletes: list[int]
    markers: Markers
    # Model answers: {"paid@t_a2": int, "paid@head": int, "live@t_mid": int, ...}
    expected: dict[str, int] = field(default_factory=dict)
    sample_keys: list[int] = field(default_factory=list)  # patched at least once
    single_docs: list[dict[str, Any]] = field(default_factory=list)  # for single commits

    @property
    def total_events(self) -> int:
        return len(self.inserts) + len(self.patches) + len(self.deletes)


def _note(rng: random.Random) -> str:
    length = rng.randint(34, 46)
    return "".join(rng.choice(_NOTE_ALPHABET) for _ in range(length)).strip() or "note"


def _order(rng: random.Random, order_id: int, customers: int) -> dict[str, Any]:
    return {
        "id": order_id,
        "customer": f"cust-{rng.randrange(customers):06d}",
        "status": "new",
        "total": round(rng.uniform(5.0, 2000.0), 2),
        "items": rng.randint(1, 12),
        "note": _note(rng),
    }


def build(events: int, seed: int = 4, sample_size: int = 64, singles: int = 300) -> Workload:
    """The workload for about `events` events (exactly N + N//2 + N//20)."""
    rng = random.Random(seed)
    n = orders_for(events)
    customers = max(50, n // 40)
    inserts = [_order(rng, i, customers) for i in range(1, n + 1)]

    status = {i: "new" for i in range(1, n + 1)}
    counts = {s: 0 for s in STATUS_CYCLE}
    counts["new"] = n
    n_patches = n // 2
    t_a = n
    quarter, half = n_patches // 4, n_patches // 2
    expected: dict[str, int] = {"paid@t_a": 0, "live@t_a": n}
    patches: list[tuple[int, str]] = []
    patched: set[int] = set()
    for p in range(n_patches):
        order_id = rng.randint(1, n)
        new = NEXT_STATUS[status[order_id]]
        counts[status[order_id]] -= 1
        counts[new] += 1
        status[order_id] = new
        patches.append((order_id, new))
        patched.add(order_id)
        if p + 1 == quarter:
            expected["paid@t_a2"] = counts["paid"]
            expected["live@t_a2"] = n
        if p + 1 == half:
            expected["paid@t_mid"] = counts["paid"]
            expected["live@t_mid"] = n
    t_a2 = n + quarter
    t_mid = n + half

    deletes = rng.sample(range(1, n + 1), n // 20)
    for order_id in deletes:
        counts[status.pop(order_id)] -= 1
    expected["paid@head"] = counts["paid"]
    expected["live@head"] = len(status)
    head = n + n_patches + len(deletes)

    sample_keys = rng.sample(sorted(patched), min(sample_size, len(patched)))
    single_docs = [_order(rng, n + 1_000_000 + i, customers) for i in range(singles)]
    return Workload(
        events=events,
        n=n,
        seed=seed,
        inserts=inserts,
        patches=patches,
        deletes=deletes,
        markers=Markers(t_a=t_a, t_a2=t_a2, t_mid=t_mid, head=head),
        expected=expected,
        sample_keys=sample_keys,
        single_docs=single_docs,
    )
