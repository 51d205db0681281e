"""The read queries: what each asks, how its answers are checked, how it is timed.

Each query is asked of DriftDB and of SQLite FULL with the same arguments. Before timing, the
answers are compared (and, where the workload model knows it, against the model), and every
disagreement is recorded as a mismatch. Timing then alternates between the systems round by
round, so a burst of load from other processes on the machine hits both alike; the reported
figure is the median over every timed call (warm: each system has answered once already).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from driftdb_side import DriftIndexLayer, DriftSide
from measure import Progress, profile, summarize
from sqlite_side import SQLiteSide
from workload import Workload

Args = tuple[Any, ...]
Checker = Callable[["Context", Args, Any, Any], list[str]]


@dataclass
class Context:
    w: Workload
    drift: DriftSide
    lite: SQLiteSide


@dataclass
class Query:
    name: str
    text: str
    method: str  # the method both sides implement (and DriftIndexLayer, for a fallback)
    args: list[Args]
    rounds: int
    check: Checker
    model: str | None = None  # a key of Workload.expected the count must equal
    compose: str | None = None  # a second method called in the same timed call (q3, q4)
    # Also timed in DriftDB-only rounds (the scaling targets): in the alternating rounds each
    # DriftDB call follows SQLite's, whose 1M-event scans evict DriftDB's pages from the CPU
    # caches far more than its 100k ones do, so the size ratio would measure SQLite's size.
    alone: bool = False


def _eq(ctx: Context, args: Args, d: Any, s: Any) -> list[str]:
    if d == s:
        return []
    return [f"args {args!r}: DriftDB answered {_brief(d)}, SQLite {_brief(s)}"]


def _rows_by_id(ctx: Context, args: Args, d: Any, s: Any) -> list[str]:
    """Full-table answers: compare as sets keyed by id (neither system promises an order)."""
    problems = []
    dd = {r["id"]: r for r in d}
    ss = {r["id"]: r for r in s}
    if len(dd) != len(d):
        problems.append(f"args {args!r}: DriftDB returned {len(d) - len(dd)} duplicate ids")
    if len(dd) != len(ss):
        problems.append(f"args {args!r}: DriftDB returned {len(dd)} rows, SQLite {len(ss)}")
    only_d = sorted(set(dd) - set(ss))[:5]
    only_s = sorted(set(ss) - set(dd))[:5]
    if only_d:
        problems.append(f"args {args!r}: ids only DriftDB returned (first 5): {only_d}")
    if only_s:
        problems.append(f"args {args!r}: ids only SQLite returned (first 5): {only_s}")
    differ = [k for k in dd.keys() & ss.keys() if dd[k] != ss[k]]
    if differ:
        k = min(differ)
        problems.append(
            f"args {args!r}: {len(differ)} rows differ; id {k}: DriftDB {dd[k]!r}, SQLite {ss[k]!r}"
        )
    return problems


def _count_eq(ctx: Context, args: Args, d: Any, s: Any) -> list[str]:
    problems = _eq(ctx, args, d, s)
    if problems:
        problems.append(_which_keys(ctx, args[0], args[1]))
    return problems


def _which_keys(ctx: Context, status: str, as_of: int | None) -> str:
    """For a count mismatch: the keys DriftDB's temporal index gives for `status` at `as_of`
    that SQLite does not (and the reverse), with both systems' history of the first few."""
    try:
        with ctx.drift.t.view() as view:
            seq = ctx.drift.t.resolve(view, as_of)
            index_keys = list(view.keys_in_range("status", status, status, seq, True, True))
    except Exception as exc:
        return f"(could not read DriftDB's index keys: {type(exc).__name__}: {exc})"
    lite = {r["id"] for r in ctx.lite.q_first_status_by_id(status, as_of, limit=10**9)}
    extra = sorted(set(index_keys) - lite)
    missing = sorted(lite - set(index_keys))
    dups = len(index_keys) - len(set(index_keys))
    parts = [
        f"index keys for status={status!r} at {as_of}: {len(index_keys)} "
        f"({dups} duplicates); SQLite ids: {len(lite)}; only in DriftDB's index: "
        f"{extra[:10]}; only in SQLite: {missing[:10]}"
    ]
    for key in (extra + missing)[:3]:
        d_hist = [(q, op, r and r.get("status")) for q, op, r in ctx.drift.q_history(key)]
        s_hist = [(q, op, r and r.get("status")) for q, op, r in ctx.lite.q_history(key)]
        parts.append(
            f"key {key}: DriftDB history (seq, op, status) {d_hist}; "
            f"SQLite {s_hist}; DriftDB get as of {as_of}: "
            f"{ctx.drift.q_get(key, as_of)!r}"
        )
    return "; ".join(parts)


def _count_and_first(ctx: Context, args: Args, d: Any, s: Any) -> list[str]:
    """q3/q4: the counts must agree; "first 100" without ORDER BY is any 100 matching rows,
    so each DriftDB row is checked to be a distinct id whose row at that instant (asked of
    SQLite) is exactly this row, and the number returned is min(100, count)."""
    (d_count, d_rows), (s_count, s_rows) = d, s
    status, as_of, limit = args
    problems = []
    if d_count != s_count:
        problems.append(
            f"count of status={status!r} as of {as_of}: DriftDB {d_count}, SQLite {s_count}"
        )
        problems.append(_which_keys(ctx, status, as_of))
    for label, rows, count in (("DriftDB", d_rows, d_count), ("SQLite", s_rows, s_count)):
        want = min(limit, count)
        if len(rows) != want:
            problems.append(
                f"{label} returned {len(rows)} rows for status={status!r} "
                f"as of {as_of} LIMIT {limit}; expected {want} (count {count})"
            )
        ids = [r["id"] for r in rows]
        if len(set(ids)) != len(ids):
            problems.append(f"{label} returned duplicate ids for status={status!r} as of {as_of}")
    for row in d_rows:
        truth = ctx.lite.q_get(row["id"], as_of)
        if truth != row:
            problems.append(
                f"DriftDB row for status={status!r} as of {as_of} is {row!r}; "
                f"SQLite has id {row['id']} as {truth!r} at that instant"
            )
            break
    return problems


def queries(w: Workload, scale: int) -> list[Query]:
    """The query set. `scale` is 1 at >= 1M events, more for smaller runs (more rounds)."""
    m = w.markers
    keys = [(k,) for k in w.sample_keys]
    keys_mid = [(k, m.t_mid) for k in w.sample_keys]
    return [
        Query("q1", "get by key, now", "q_get", keys, 5 * scale, _eq),
        Query("q2", "get by key AS OF T_mid", "q_get", keys_mid, 5 * scale, _eq, alone=True),
        Query(
            "q3",
            "count + first 100 of status='paid', now",
            "q_count_status",
            [("paid", None, 100)],
            15 * scale,
            _count_and_first,
            "paid@head",
            compose="q_first_status",
        ),
        Query(
            "q3.count",
            "count of status='paid', now",
            "q_count_status",
            [("paid", None)],
            15 * scale,
            _count_eq,
            "paid@head",
        ),
        Query(
            "q3.first100",
            "first 100 of status='paid', now (no ORDER BY)",
            "q_first_status",
            [("paid", None, 100)],
            15 * scale,
            _skip,
        ),
        Query(
            "q3.by_id",
            "first 100 of status='paid' ORDER BY id, now",
            "q_first_status_by_id",
            [("paid", None, 100)],
            5 * scale,
            _eq,
        ),
        Query(
            "q4",
            "count + first 100 of status='paid' AS OF T_A2",
            "q_count_status",
            [("paid", m.t_a2, 100)],
            15 * scale,
            _count_and_first,
            "paid@t_a2",
            compose="q_first_status",
            alone=True,
        ),
        Query(
            "q4.count",
            "count of status='paid' AS OF T_A2",
            "q_count_status",
            [("paid", m.t_a2)],
            15 * scale,
            _count_eq,
            "paid@t_a2",
        ),
        Query(
            "q4.first100",
            "first 100 of status='paid' AS OF T_A2 (no ORDER BY)",
            "q_first_status",
            [("paid", m.t_a2, 100)],
            15 * scale,
            _skip,
        ),
        Query(
            "q4.by_id",
            "first 100 of status='paid' ORDER BY id AS OF T_A2",
            "q_first_status_by_id",
            [("paid", m.t_a2, 100)],
            5 * scale,
            _eq,
        ),
        Query(
            "q4.at_T_A",
            "count of status='paid' AS OF T_A (trivially 0)",
            "q_count_status",
            [("paid", m.t_a)],
            15 * scale,
            _count_eq,
            "paid@t_a",
        ),
        Query(
            "q5",
            "row count of the whole table AS OF T_mid",
            "q_count_all",
            [(m.t_mid,)],
            5 * scale,
            _eq,
            "live@t_mid",
        ),
        Query(
            "q5b",
            "every row of the table AS OF T_mid, materialised",
            "q_rows_all",
            [(m.t_mid,)],
            3 if scale == 1 else 3 + scale,
            _rows_by_id,
        ),
        Query("q6", "full history of one key", "q_history", keys, 5 * scale, _eq),
    ]


def _skip(ctx: Context, args: Args, d: Any, s: Any) -> list[str]:
    return []  # checked as part of q3/q4 (no ORDER BY: any matching 100 rows are right)


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 400 else text[:400] + "..."


class Runner:
    """Asks, checks and times the queries; records mismatches, errors and fallbacks."""

    def __init__(self, ctx: Context, progress: Progress) -> None:
        self.ctx = ctx
        self.progress = progress
        self.mismatches: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self.layer = DriftIndexLayer(ctx.drift)

    def _call(self, side: Any, q: Query) -> Callable[..., Any]:
        first = getattr(side, q.method)
        if q.compose is None:
            return first  # type: ignore[no-any-return]
        second = getattr(side, q.compose)

        def both(status: str, as_of: int | None, limit: int) -> tuple[int, Any]:
            return first(status, as_of), second(status, as_of, limit)

        return both

    def _drift_call(self, q: Query) -> tuple[Callable[..., Any] | None, str]:
        """DriftDB's callable for `q`: the public API, or the labelled index-layer fallback
        when the public API raises."""
        public = self._call(self.ctx.drift, q)
        try:
            public(*q.args[0])
            return public, "public API"
        except Exception as exc:
            message = f"{q.name}: DriftDB public API raised {type(exc).__name__}: {exc}"
            self.errors.append(message)
            self.progress(f"    !! {message}")
        if hasattr(self.layer, q.method):
            fallback = self._call(self.layer, q)
            try:
                fallback(*q.args[0])
                return fallback, "TableView fallback (public API failed)"
            except Exception as exc:
                self.errors.append(f"{q.name}: fallback raised {type(exc).__name__}: {exc}")
        return None, "failed"

    def run(self, q: Query) -> dict[str, Any]:
        ctx = self.ctx
        lite_fn = self._call(ctx.lite, q)
        drift_fn, via = self._drift_call(q)
        result: dict[str, Any] = {"text": q.text, "via": via, "calls_per_round": len(q.args)}

        # 1. Check the answers (this is also each system's warm-up call).
        problems: list[str] = []
        for args in q.args:
            s_ans = lite_fn(*args)
            if q.model is not None:
                s_count = s_ans[0] if q.compose else s_ans
                if s_count != ctx.w.expected[q.model]:
                    problems.append(
                        f"SQLite count {s_count} != workload model "
                        f"{ctx.w.expected[q.model]} ({q.model})"
                    )
            if drift_fn is None:
                continue
            d_ans = drift_fn(*args)
            problems += q.check(ctx, args, d_ans, s_ans)
            if q.model is not None:
                d_count = d_ans[0] if q.compose else d_ans
                if d_count != ctx.w.expected[q.model]:
                    problems.append(
                        f"DriftDB count {d_count} != workload model "
                        f"{ctx.w.expected[q.model]} ({q.model})"
                    )
        for p in problems:
            self.mismatches.append({"query": q.name, "text": q.text, "via": via, "problem": p})
            self.progress(f"    !! MISMATCH {q.name}: {p}")
        result["answers_equal"] = None if drift_fn is None else not problems

        # 2. Time, alternating systems round by round.
        d_samples: list[float] = []
        s_samples: list[float] = []
        for _ in range(q.rounds):
            if drift_fn is not None:
                d_samples += _timed(drift_fn, q.args)
            s_samples += _timed(lite_fn, q.args)
        result["DriftDB"] = summarize(d_samples) if drift_fn is not None else None
        if q.alone and drift_fn is not None:
            alone: list[float] = []
            for _ in range(q.rounds):
                alone += _timed(drift_fn, q.args)
            result["DriftDB_alone"] = summarize(alone)
        result[ctx.lite.label] = summarize(s_samples)
        d_ms = result["DriftDB"]["median_ms"] if result["DriftDB"] else None
        s_ms = result[ctx.lite.label]["median_ms"]
        self.progress(
            f"    {q.name:<12} {q.text:<52} DriftDB {_ms(d_ms):>10}   "
            f"{ctx.lite.label} {_ms(s_ms):>10}"
            + ("" if result["answers_equal"] is not False else "   ANSWERS DIFFER")
        )
        return result

    def profile(self, q: Query, seconds: float = 3.0) -> dict[str, Any] | None:
        """cProfile DriftDB answering `q` (about `seconds` worth of calls)."""
        drift_fn, via = self._drift_call(q)
        if drift_fn is None:
            return None
        start = time.perf_counter()
        for args in q.args:
            drift_fn(*args)
        one_pass = max(time.perf_counter() - start, 1e-6)
        repeats = max(1, min(200, int(seconds / one_pass)))

        def body() -> None:
            for args in q.args:
                drift_fn(*args)

        out = profile(body, repeats)
        out["via"] = via
        out["calls"] = repeats * len(q.args)
        return out


def _timed(fn: Callable[..., Any], args_list: list[Args]) -> list[float]:
    out = []
    for args in args_list:
        start = time.perf_counter()
        fn(*args)
        out.append(time.perf_counter() - start)
    return out


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f} ms"
