"""`python -m driftdb`: the `driftdb` command (driftdb/cli/main.py)."""

from driftdb.cli.main import main

if __name__ == "__main__":
    main()
