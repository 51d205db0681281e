"""Frame payloads are packed by a packer kept per thread (model/events.py, pack_payload): the
bytes equal a fresh `msgpack.packb`, after a payload that could not be packed too, and in
threads packing at the same time."""

from __future__ import annotations

import threading
from typing import Any

import msgpack
import pytest

from driftdb.model.events import Event, EventType, Txn, pack_payload


def fresh(event: Event) -> bytes:
    return bytes(msgpack.packb(event.payload(), use_bin_type=True))


def test_equal_to_a_fresh_pack_after_a_failed_one() -> None:
    good = Event(7, 1, EventType.INSERT, 7, {"id": 7, "s": "x" * 300}, {"who": "a"}, Txn(7, 2))
    assert pack_payload(good) == fresh(good)
    bad = Event(8, 1, EventType.PATCH, 8, {"v": object()})
    with pytest.raises(TypeError):
        pack_payload(bad)
    small = Event(9, 1, EventType.SOFT_DELETE, "k")
    assert pack_payload(small) == fresh(small)
    assert pack_payload(good) == fresh(good)


def test_threads_pack_alike() -> None:
    failures: list[Any] = []

    def work(n: int) -> None:
        for i in range(2000):
            event = Event(i + 1, 1, EventType.INSERT, i, {"id": i, "n": n, "t": "y" * (i % 50)})
            if pack_payload(event) != fresh(event):
                failures.append((n, i))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
