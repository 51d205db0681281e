"""How messages count things, in one place: `1 row`, `2 rows`; `seq 8`, `seqs 8-9`."""

from __future__ import annotations

from collections.abc import Sequence


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 row`, `3 rows` (`nouns`: an irregular plural)."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


def seq_span(seqs: Sequence[int]) -> str:
    """`seq 8` or `seqs 8-9`: the seqs a set of writes got, first to last (non-empty)."""
    return f"seq {seqs[0]}" if len(seqs) == 1 else f"seqs {seqs[0]}-{seqs[-1]}"
