"""Maintenance: compaction and retention, purge, the log-rewrite toolkit they share, doctor
(check and repair). Imports the engine and below, and takes the engine's table handle."""
