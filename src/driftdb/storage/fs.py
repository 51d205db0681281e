"""The one I/O seam: every write, fsync, rename and truncate of DriftDB goes through here.

Tests swap the active file layer (`use`) for one that fails on demand or forgets what was not
fsynced, which is how "acknowledged means durable" is proven rather than assumed.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from driftdb.storage import safe_path
from driftdb.storage.paths import TEMP_SUFFIX

# Owner-only, whatever the umask (as PostgreSQL does with its data directory): a database may
# hold secrets. Modes of existing files are left as a user set them (to share deliberately).
FILE_MODE = 0o600
DIR_MODE = 0o700


class FileLayer:
    """The real operating system. Subclass and override to inject faults.

    Nothing is opened through a link: a link, FIFO or device where a file should be is an
    UnsafeFileError naming it (see `safe_path`)."""

    def open_append(self, path: str, create: bool) -> int:
        """A descriptor for writing, standing at the end of the file. Not O_APPEND: the
        segment writer moves it back over the zeros it wrote ahead (storage/appender.py)."""
        flags = os.O_WRONLY
        if create:
            flags |= os.O_CREAT | os.O_EXCL
        fd = safe_path.open_fd(path, flags, FILE_MODE)
        try:
            if create:
                os.fchmod(fd, FILE_MODE)  # the umask may have taken bits away, never added
            else:
                os.lseek(fd, 0, os.SEEK_END)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def write(self, fd: int, data: bytes) -> None:
        written = os.write(fd, data)
        if written == len(data):
            return  # (nearly always: one call)
        view = memoryview(data)[written:]
        while view:
            written = os.write(fd, view)
            view = view[written:]

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def fdatasync(self, fd: int) -> None:
        """Make the file's bytes and length durable, not its timestamps: a commit that only
        overwrote written zeros then costs no journal commit (storage/appender.py). A layer
        that overrides `fsync` (a test's fault or power-loss layer) sees this as an fsync,
        so it watches every sync without knowing the two apart."""
        if type(self).fsync is not FileLayer.fsync:
            self.fsync(fd)
            return
        # Looked up per call (a benchmark wraps it); macOS has no fdatasync.
        getattr(os, "fdatasync", os.fsync)(fd)

    def close(self, fd: int) -> None:
        os.close(fd)

    def fsync_dir(self, path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def rename(self, src: str, dst: str) -> None:
        os.replace(src, dst)

    def truncate(self, path: str, size_bytes: int) -> None:
        fd = safe_path.open_fd(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, size_bytes)
            os.fsync(fd)
        finally:
            os.close(fd)

    def makedirs(self, path: str) -> None:
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            safe_path.check_dir(path)
            return
        os.chmod(path, DIR_MODE)

    def remove(self, path: str) -> None:
        os.remove(path)


_active: FileLayer = FileLayer()


def layer() -> FileLayer:
    """The file layer in force."""
    return _active


@contextlib.contextmanager
def use(replacement: FileLayer) -> Iterator[FileLayer]:
    """Run a block with another file layer (fault injection in tests)."""
    global _active
    previous, _active = _active, replacement
    try:
        yield replacement
    finally:
        _active = previous


def write_file_atomically(path: str, data: bytes) -> None:
    """Replace `path` by write-temp, fsync, rename, fsync of the directory.

    When it returns the new contents are durable; a crash at any point leaves either the old
    file or the new one, never a mix.
    """
    fl = layer()
    tmp = path + TEMP_SUFFIX
    with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)
    fd = fl.open_append(tmp, create=True)
    try:
        fl.write(fd, data)
        fl.fsync(fd)
    finally:
        fl.close(fd)
    fl.rename(tmp, path)
    fl.fsync_dir(os.path.dirname(path) or ".")


def make_dirs_durably(path: str) -> None:
    """Create `path` and its missing parents, fsyncing each parent that got a new entry."""
    missing: list[str] = []
    current = os.path.abspath(path)
    safe_path.check_dir(current)  # the directory itself is never a link (its parents may be)
    while not os.path.isdir(current):
        missing.append(current)
        current = os.path.dirname(current)
    fl = layer()
    for directory in reversed(missing):
        fl.makedirs(directory)
        fl.fsync_dir(os.path.dirname(directory))


def write_file_durably(path: str, data: bytes) -> None:
    """Create `path` (it must not exist) with `data`, fsynced, and fsync its directory. For
    staged files that a manifest will later rename into place."""
    fl = layer()
    fd = fl.open_append(path, create=True)
    try:
        fl.write(fd, data)
        fl.fsync(fd)
    finally:
        fl.close(fd)
    fl.fsync_dir(os.path.dirname(path) or ".")


def remove_durably(paths: list[str]) -> None:
    """Remove the files that exist among `paths`, then fsync each directory touched."""
    fl = layer()
    dirs: set[str] = set()
    for path in paths:
        if os.path.exists(path):
            fl.remove(path)
            dirs.add(os.path.dirname(path) or ".")
    for directory in sorted(dirs):
        fl.fsync_dir(directory)
