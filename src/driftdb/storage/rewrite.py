"""Crash-safe replacement of a table's files (compaction, retention, purge, repair).

A rewrite never changes a file in place. Its plan:

1. Stage: write every new file under a temporary name (`*.rewrite.tmp`, which no reader
   lists), fsync it, fsync its directory.
2. Commit: write the manifest `tables/<t>/COMPACTING` atomically (temp, fsync, rename,
   directory fsync). It names each staged file with its final name and size, and each file to
   remove. From this instant the rewrite WILL happen, whatever crashes.
3. Apply: rename the staged files into place in ascending order, then remove the files the
   manifest names, fsyncing each directory. Every step is idempotent.
4. The caller updates the indexes (or leaves them for a rebuild).
5. Finish: remove the manifest and fsync the table directory.

Recovery (the writer, on open, before reading the log): a manifest means steps 3-5 must be
re-run (the indexes are then rebuilt from the log); no manifest means any staged leftovers
belong to a rewrite that never committed, and are removed. So there is never a lost or a
duplicated event: the log is wholly the old one or wholly the new one once recovery is done.

A reader that lists segments during step 3 can see a mix; it notices (a seq that goes back,
or a segment that changed under it) and retries.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
from collections.abc import Iterable
from typing import Any

from driftdb.errors import CorruptionError
from driftdb.model.frozen import Frozen, Record, set_field
from driftdb.storage import fs, paths, safe_path
from driftdb.storage.frame import segment_header
from driftdb.storage.paths import segment_path

MANIFEST_NAME = paths.MANIFEST
TEMP_SUFFIX = paths.REWRITE_TEMP_SUFFIX
MANIFEST_FORMAT = 1
# The only files a manifest may name, relative to the table directory: what `Rewrite` stages
# (segments by `stage_segment`, snapshots and bases by `stage_file`) and removes. A temp name is
# its final name + TEMP_SUFFIX. Anything else (absolute, "..", another name) is not DriftDB's.
MANIFEST_FILE = re.compile(r"(segments/\d{8}\.seg|snapshots/\d{1,20}(\.base)?\.snap)\Z")
MAX_ENTRY_CHARS = 120
WRITE_SLICE_BYTES = 1 << 20


class Rewrite(Record):
    """A rewrite of one table's files being built (steps 1-2), then applied (3, 5)."""

    __slots__ = __match_args__ = ("table_dir", "op", "install", "remove", "committed")
    table_dir: str
    op: str
    install: list[dict[str, Any]]
    remove: list[str]
    committed: bool

    def __init__(
        self,
        table_dir: str,
        op: str,
        install: list[dict[str, Any]] | None = None,
        remove: list[str] | None = None,
        committed: bool = False,
    ) -> None:
        self.table_dir = table_dir
        self.op = op
        self.install = [] if install is None else install
        self.remove = [] if remove is None else remove
        self.committed = committed

    def _stage(self, rel_final: str, chunks: Iterable[bytes]) -> int:
        final = os.path.join(self.table_dir, rel_final)
        temp = final + TEMP_SUFFIX
        if os.path.exists(temp):
            fs.layer().remove(temp)
        fl = fs.layer()
        fd = fl.open_append(temp, create=True)
        size = 0
        try:
            pending = bytearray()
            for chunk in chunks:  # frames: written in ~1 MiB slices, not one call each
                pending += chunk
                size += len(chunk)
                if len(pending) >= WRITE_SLICE_BYTES:
                    fl.write(fd, bytes(pending))
                    pending.clear()
            if pending:
                fl.write(fd, bytes(pending))
            fl.fsync(fd)
        finally:
            fl.close(fd)
        self.install.append({"final": rel_final, "temp": rel_final + TEMP_SUFFIX, "size": size})
        return size

    def stage_segment(self, number: int, frames: Iterable[bytes]) -> int:
        """Stage segment `number` holding `frames` (whole frames, in seq order)."""
        rel = os.path.relpath(
            segment_path(paths.segments_dir(self.table_dir), number), self.table_dir
        )
        return self._stage(rel, itertools.chain([segment_header()], frames))

    def stage_file(self, rel_final: str, data: bytes) -> int:
        """Stage any file (a snapshot) to be installed at `rel_final`."""
        fs.make_dirs_durably(os.path.dirname(os.path.join(self.table_dir, rel_final)))
        return self._stage(rel_final, [data])

    def remove_file(self, rel: str) -> None:
        if rel not in self.remove:
            self.remove.append(rel)

    def commit(self) -> None:
        """Steps 1 (directory fsyncs) and 2: after this the rewrite is durable."""
        for directory in sorted(
            {os.path.dirname(os.path.join(self.table_dir, i["final"])) for i in self.install}
        ):
            fs.layer().fsync_dir(directory)
        finals = {i["final"] for i in self.install}
        body = {
            "format": MANIFEST_FORMAT,
            "op": self.op,
            "install": sorted(self.install, key=lambda i: str(i["final"])),
            "remove": [r for r in self.remove if r not in finals],
        }
        fs.write_file_atomically(
            os.path.join(self.table_dir, MANIFEST_NAME), json.dumps(body, indent=1).encode()
        )
        self.committed = True

    def apply(self) -> None:
        """Step 3."""
        assert self.committed
        apply_manifest(self.table_dir, read_manifest(self.table_dir))

    def finish(self) -> None:
        """Step 5."""
        finish(self.table_dir)

    def __enter__(self) -> Rewrite:
        """Stage inside a `with` block: it commits when the block ends, or aborts if the
        block (or the commit) raises."""
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:
            self.abort()
            return
        try:
            self.commit()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """After a failure: if the manifest reached its name (even if `commit` then failed),
        the rewrite stands and the next writer open finishes it, so nothing is touched;
        otherwise the staged files are removed (best effort: an open removes leftovers too)."""
        if self.committed or os.path.exists(os.path.join(self.table_dir, MANIFEST_NAME)):
            return
        with contextlib.suppress(OSError):
            fs.remove_durably([os.path.join(self.table_dir, i["temp"]) for i in self.install])


def read_manifest(table_dir: str) -> dict[str, Any] | None:
    """The committed manifest of `table_dir`, or None. Raises CorruptionError if it exists
    but cannot be read (it was written atomically, so that is damage, not a torn write)."""
    path = os.path.join(table_dir, MANIFEST_NAME)
    try:
        with safe_path.open_read(path) as handle:
            raw: Any = json.loads(handle.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CorruptionError(path, None, f"unreadable maintenance manifest ({exc})") from None
    if (
        not isinstance(raw, dict)
        or raw.get("format") != MANIFEST_FORMAT
        or not isinstance(raw.get("install"), list)
        or not isinstance(raw.get("remove"), list)
    ):
        raise CorruptionError(path, None, "malformed maintenance manifest")
    check_manifest(table_dir, raw)
    return raw


def check_manifest(table_dir: str, manifest: dict[str, Any]) -> None:
    """Raise CorruptionError (naming the manifest and the entry) unless every entry names a
    file DriftDB itself writes in this table, as a regular file or absent: a manifest is obeyed
    on every writer open and by repair, so a crafted one must never move or delete anything."""
    path = os.path.join(table_dir, MANIFEST_NAME)

    def refuse(entry: object, why: str) -> CorruptionError:
        text = repr(entry)
        if len(text) > MAX_ENTRY_CHARS:
            text = text[:MAX_ENTRY_CHARS] + "..."
        return CorruptionError(
            path,
            None,
            f"maintenance manifest entry {text} {why}; it was not written by DriftDB and is "
            "left alone (nothing was renamed or removed)",
            "neither a writer nor doctor --repair will carry it out: check it, then remove it",
        )

    def own(entry: object) -> str:
        if not isinstance(entry, str) or not MANIFEST_FILE.match(entry):
            raise refuse(entry, "is not a segment or snapshot of this table")
        reason = safe_path.problem(os.path.join(table_dir, entry), want_dir=False)
        if reason is not None:
            raise refuse(entry, reason)
        return entry

    for item in manifest["install"]:
        if not isinstance(item, dict):
            raise refuse(item, "is not an install entry")
        final = own(item.get("final"))
        temp = item.get("temp")
        if temp != final + TEMP_SUFFIX:
            raise refuse(temp, f"is not the staged name of {final!r}")
        reason = safe_path.problem(os.path.join(table_dir, temp), want_dir=False)
        if reason is not None:
            raise refuse(temp, reason)
        size = item.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise refuse(item, "has no valid size")
    for entry in manifest["remove"]:
        own(entry)


def apply_manifest(table_dir: str, manifest: dict[str, Any] | None) -> None:
    """Step 3, idempotent: safe to re-run after a crash at any point inside it."""
    if manifest is None:
        return
    fl = fs.layer()
    touched: set[str] = set()
    for item in manifest["install"]:
        final = os.path.join(table_dir, item["final"])
        temp = os.path.join(table_dir, item["temp"])
        if os.path.exists(temp):
            size = os.path.getsize(temp)
            if size != item["size"]:
                raise CorruptionError(
                    temp, None, f"staged file is {size} bytes, the manifest says {item['size']}"
                )
            fl.rename(temp, final)
            touched.add(os.path.dirname(final))
        elif not os.path.exists(final) or os.path.getsize(final) < item["size"]:
            raise CorruptionError(
                final,
                None,
                "a file the maintenance manifest installs is "
                "missing or short, and its staged copy is gone",
            )
    for directory in sorted(touched):
        fl.fsync_dir(directory)
    fs.remove_durably([os.path.join(table_dir, rel) for rel in manifest["remove"]])


def finish(table_dir: str) -> None:
    """Step 5: the rewrite is complete."""
    fs.remove_durably([os.path.join(table_dir, MANIFEST_NAME)])


def recover(table_dir: str) -> tuple[str, bool] | None:
    """On the writer's open: finish a committed rewrite, or clear an uncommitted one's
    leftovers. Returns (a note for the caller, whether files were replaced, so that the
    indexes must be rebuilt), or None when there was nothing to do."""
    manifest = read_manifest(table_dir)
    if manifest is not None:
        apply_manifest(table_dir, manifest)
        finish(table_dir)
        return f"finished an interrupted {manifest.get('op', 'maintenance')}", True
    leftovers = list(_leftovers(table_dir))
    if leftovers:
        fs.remove_durably(leftovers)
        names = ", ".join(os.path.relpath(p, table_dir) for p in leftovers)
        return f"removed leftovers of an interrupted maintenance ({names})", False
    return None


def _leftovers(table_dir: str) -> list[str]:
    out = []
    for sub in (paths.SEGMENTS, paths.SNAPSHOTS, ""):
        directory = os.path.join(table_dir, sub) if sub else table_dir
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            continue
        for name in names:
            if (
                name.endswith(TEMP_SUFFIX)
                or name == MANIFEST_NAME + paths.TEMP_SUFFIX
                or (sub == paths.SNAPSHOTS and name.endswith(paths.TEMP_SUFFIX))
            ):
                out.append(os.path.join(directory, name))
    return sorted(out)


class Stamp(Frozen):
    """What a reader checks before and after reading a table's log: whether a rewrite was in
    progress, and which file (inode) each segment number was."""

    __slots__ = __match_args__ = ("rewriting", "segments")
    rewriting: bool
    segments: tuple[tuple[int, int], ...]

    def __init__(self, rewriting: bool, segments: tuple[tuple[int, int], ...]) -> None:
        set_field(self, "rewriting", rewriting)
        set_field(self, "segments", segments)


def stamp(table_dir: str) -> Stamp:
    from driftdb.storage.paths import list_segments

    segments_dir = paths.segments_dir(table_dir)
    seen = []
    for number in list_segments(segments_dir):
        try:
            seen.append((number, os.stat(segment_path(segments_dir, number)).st_ino))
        except FileNotFoundError:
            seen.append((number, -1))
    return Stamp(os.path.exists(os.path.join(table_dir, MANIFEST_NAME)), tuple(seen))


def unchanged(before: Stamp, after: Stamp) -> bool:
    """True if no rewrite overlapped the read between the two stamps (new segments appended
    at the end are normal growth)."""
    return (
        not before.rewriting
        and not after.rewriting
        and after.segments[: len(before.segments)] == before.segments
    )
