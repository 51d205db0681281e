"""doctor, the restore: acknowledged events the log lost, rebuilt from the index.

The index is written only after the events it covers were fsynced, so its key directory
proves that each version it holds was acknowledged, and holds the row as it stood after each
one (docs/format.md, "Witnesses"). An event missing from the log is rebuilt from it: an INSERT
and a SOFT_DELETE exactly; a PATCH as the merge patch that turns the previous row into the
next, with `{"reconstructed": true}` in its meta (the original patch may have named keys that
did not change). What cannot be rebuilt this way is reported as lost, by seq.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from driftdb.index.store import TableIndex, Version
from driftdb.model.events import Document, Event, EventType, Key
from driftdb.model.merge_patch import patch_between
from driftdb.model.schema import TableSchema
from driftdb.storage import paths
from driftdb.storage.position import NO_SEGMENT
from driftdb.storage.witness import Witness, identity_mismatch, read_witness

RECONSTRUCTED = {"reconstructed": True}  # merged into the meta of a rebuilt PATCH


@dataclass
class Restorable:
    """What the index proves about a table's log: its witness, the events it can rebuild
    (with the segment each was in), and the seqs it knows were lost but cannot rebuild."""

    witness: Witness
    events: list[tuple[int, Event]] = field(default_factory=list)
    unrebuildable: list[int] = field(default_factory=list)


def find_restorable(
    directory: str, schema: TableSchema | None, in_log: set[int], base_seq: int
) -> Restorable:
    """The witness of the table at `directory` and what its index can rebuild of the events
    it covers that are not `in_log` (the seqs of the log's good frames)."""
    witness = read_witness(directory)
    found = Restorable(witness)
    name = os.path.basename(directory)
    if schema is None or not os.path.exists(paths.index_data_path(directory)):
        return found
    try:
        index = TableIndex(paths.index_dir(directory), schema.indexes, readonly=True)
    except Exception:  # a damaged index witnesses nothing it could prove
        return found
    try:
        with index.read() as reader:
            covered = reader.covered()
            if covered is None or identity_mismatch(name, directory, reader.identity()):
                return found  # an empty index, or another table's: it proves nothing here
            found.witness = Witness(covered.seq, "the index", -1).merge(
                read_witness(directory, index_covers=True)
            )
            keys = reader.keys_touched(base_seq, covered.seq, 2**62) or []
            for key in dict.fromkeys(keys):
                previous: Version | None = None
                for version in reader.versions(key):
                    if (
                        version.segment != NO_SEGMENT
                        and base_seq < version.seq <= covered.seq
                        and version.seq not in in_log
                    ):
                        before = previous.row if previous is not None else None
                        event = _rebuild(version, key, before)
                        if event is None:
                            found.unrebuildable.append(version.seq)
                        else:
                            found.events.append((version.segment, event))
                    previous = version
    except Exception:  # an entry that fails its checksum: rebuild nothing from this index
        found.events, found.unrebuildable = [], []
    finally:
        index.close()
    found.events.sort(key=lambda item: item[1].seq)
    found.unrebuildable.sort()
    return found


def _rebuild(version: Version, key: Key, before: Document | None) -> Event | None:
    """The event of `version` (None when its row images cannot say what it was)."""
    seq, unix_ms, kind, after = version.seq, version.unix_ms, version.type, version.row
    if kind is EventType.INSERT and after is not None:
        return Event(seq, unix_ms, kind, key, dict(after))
    if kind is EventType.SOFT_DELETE and after is None:
        return Event(seq, unix_ms, kind, key)
    if kind is EventType.PATCH and before is not None and after is not None:
        patch = patch_between(before, after)
        if patch is not None:
            return Event(seq, unix_ms, kind, key, patch, dict(RECONSTRUCTED))
    return None
