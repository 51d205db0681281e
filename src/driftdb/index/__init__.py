"""Read-path indexes kept in LMDB: key directory, temporal secondary indexes and counts, time
index. Imports `storage` and `model`."""
