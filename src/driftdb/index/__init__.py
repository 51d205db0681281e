"""Read-path indexes kept in LMDB: key directory, temporal secondary indexes, time index."""
