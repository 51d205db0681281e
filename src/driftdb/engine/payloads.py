"""Deferred payloads of a history: the key directory holds each version's seq, time, type, row
and frame location, so `Table.history` lists a key's events without opening a frame, and an
entry's data, meta and purge record are read from its frame only when first asked for.

By then the read that listed them is over (its view closed, maybe the database too), and
maintenance may have moved frames. So the frames are read at the locations the listing saw and
each is checked to be the very event listed (CRC, seq, key, type, time, purged or not); if one
is not (moved by a compaction, a purge, retention), they are read again through the table's
current key directory (`reload`: TableView.payloads on a fresh view), whose own checks turn a
changed or vanished event into an error. Never another event's payload.
"""

from __future__ import annotations

from collections.abc import Callable

from driftdb.errors import DriftError
from driftdb.index.store import VersionTuple
from driftdb.model.events import Event, EventType, Key, unpack_event
from driftdb.model.replay import DriftEntry, Payload, PayloadGroup
from driftdb.storage.segment import FrameReader

Reload = Callable[[list[DriftEntry]], list[Payload]]


def same_event(entry: DriftEntry, event: Event) -> bool:
    """Whether `event`, read from a frame, is the event `entry` was listed from. A purge
    rewrites an event in place (same seq): the listed row tells whether it was purged then
    (no row after an INSERT or a PATCH only if purged; a soft delete cannot tell)."""
    if event.seq != entry.seq or event.type is not entry.type or event.unix_ms != entry.unix_ms:
        return False
    if entry.type is EventType.SOFT_DELETE:
        return True
    return (entry.row is None) == (event.purged is not None)


def changed_error(key: Key, entry: DriftEntry) -> DriftError:
    return DriftError(
        f"event @seq:{entry.seq} of key {key!r} changed or left the log after its history was "
        "read (a purge or retention); read the history again"
    )


def deferred_history(
    segments_dir: str, key: Key, reload: Reload, listed: list[VersionTuple]
) -> list[DriftEntry]:
    """Entries for the key directory's versions `listed`, their payloads read on first use."""
    return PayloadGroup(FramePayloads(segments_dir, key, reload, listed).load).defer(listed)


class FramePayloads:
    """Reads the deferred payloads of one history (see the module docstring)."""

    __slots__ = ("key", "listed", "reload", "segments_dir")

    def __init__(
        self, segments_dir: str, key: Key, reload: Reload, listed: list[VersionTuple]
    ) -> None:
        self.segments_dir = segments_dir
        self.key = key
        self.reload = reload
        self.listed = listed  # the key directory's versions as the listing read them

    def load(self, entries: list[DriftEntry]) -> list[Payload]:
        found = self._read_listed(entries)
        return found if found is not None else self.reload(entries)

    def _read_listed(self, entries: list[DriftEntry]) -> list[Payload] | None:
        """The payloads from the locations the listing saw; None if any frame is not there
        (or is not the event listed)."""
        locations = {v[0]: (v[3], v[4]) for v in self.listed}
        frames = FrameReader(self.segments_dir)
        out: list[Payload] = []
        try:
            for entry in entries:
                segment, offset = locations[entry.seq]
                body = frames.read(segment, offset)
                if isinstance(body, str):
                    return None
                try:
                    event = unpack_event(body.seq, body.unix_ms, body.event_type, body.payload)
                except ValueError:
                    return None  # the reload reports damage, with the frame's place
                if event.key != self.key or not same_event(entry, event):
                    return None
                out.append((event.data, event.meta, event.purged))
        except OSError:
            return None  # a segment replaced or removed by maintenance
        finally:
            frames.close()
        return out
