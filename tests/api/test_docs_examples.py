"""The docs are tested: every ```python block of each page under docs/ runs, the page's blocks
in order in a fresh directory (their asserts are the documented answers)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ["python-api.md", "dbapi.md", "dataframes.md", "duckdb.md"]


def test_every_page_is_in_the_docs_and_has_examples() -> None:
    for page in PAGES:
        assert re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.S), page


@pytest.mark.parametrize("page", PAGES)
def test_docs_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if page in ("dataframes.md", "duckdb.md"):
        pytest.importorskip("pyarrow")
        pytest.importorskip("pandas")
        pytest.importorskip("polars")
        pytest.importorskip("duckdb")
    monkeypatch.chdir(tmp_path)
    for block in re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.S):
        exec(compile(block, str(DOCS / page), "exec"), {})
