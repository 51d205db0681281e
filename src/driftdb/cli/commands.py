"""Registers every command on the `driftdb` group (one module per command)."""

from driftdb.cli import (  # noqa: F401 - imported for their @cli.command side effect
    cmd_drift,
    cmd_ingest,
    cmd_init,
    cmd_maintenance,
    cmd_select,
    cmd_sql,
)
