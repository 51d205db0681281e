"""encode_value keeps the encodings of short strings it has seen (index/keycodec.py): a cached
encoding must be exactly the computed one, for every string, the first time and after; other
types equal to a cached string's value never get its encoding; the cache stays bounded."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftdb.index import keycodec
from driftdb.index.keycodec import TAG_STRING, encode_value
from helpers.depth import examples


def computed(text: str) -> bytes:
    return bytes((TAG_STRING,)) + keycodec._escape_bounded(keycodec._body(text))


@settings(max_examples=examples(300))
@given(st.text(max_size=80))
def test_a_cached_encoding_is_the_computed_one(text: str) -> None:
    assert encode_value(text) == computed(text)
    assert encode_value(text) == computed(text)  # (now from the cache, when short)
    assert encode_value(text[::-1]) == computed(text[::-1])


def test_a_str_subclass_is_encoded_not_looked_up() -> None:
    class Tagged(str):
        pass

    assert encode_value("paid") == computed("paid")
    assert encode_value(Tagged("paid")) == computed("paid")
    assert "paid" in keycodec._SHORT_STRINGS and all(
        type(k) is str for k in keycodec._SHORT_STRINGS
    )


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keycodec, "_SHORT_STRINGS", {})
    monkeypatch.setattr(keycodec, "_SHORT_STRINGS_KEPT", 8)
    for i in range(100):
        assert encode_value(f"v{i}") == computed(f"v{i}")
        assert len(keycodec._SHORT_STRINGS) <= 8
    assert encode_value("x" * 65) == computed("x" * 65)  # longer than cached: computed
    assert "x" * 65 not in keycodec._SHORT_STRINGS
