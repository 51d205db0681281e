"""Storage: the only code that knows bytes and files: file names (paths), the I/O seam (fs),
the lock, frames, segments, the log tail with the batch-completeness check, snapshot files,
the rewrite manifest. Imports `model`."""
