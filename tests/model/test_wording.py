"""Messages count things in one way (model/wording.py): singular for one, plural otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftdb.maintenance.purge import PurgeReport
from driftdb.model.wording import plural, seq_span


@pytest.mark.parametrize(
    ("count", "expected"), [(0, "0 rows"), (1, "1 row"), (2, "2 rows"), (-1, "-1 rows")]
)
def test_plural_is_singular_only_for_one(count: int, expected: str) -> None:
    assert plural(count, "row") == expected


def test_an_irregular_plural_is_given() -> None:
    assert plural(2, "index", "indexes") == "2 indexes"
    assert plural(1, "index", "indexes") == "1 index"


def test_a_span_of_seqs_names_first_and_last() -> None:
    assert seq_span([8]) == "seq 8"
    assert seq_span(range(6, 9)) == "seqs 6-8"


def test_a_purge_of_one_segment_says_segment() -> None:
    text = str(PurgeReport("t", 1, 2, 1, 0, 0.02))
    assert "2 events redacted in 1 segment, 0 snapshots rewritten" in text


def test_doctor_counts_one_error_as_one_error(tmp_path: Path) -> None:
    from driftdb.maintenance.doctor.check import Report

    report = Report(str(tmp_path))
    report.add("error", "schema.yaml", None, "bad")
    assert ": damaged (1 error, 0 warnings)" in report.render()
