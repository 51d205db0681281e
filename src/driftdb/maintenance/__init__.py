"""Maintenance: compaction, retention, purge and doctor, over the engine and below."""
