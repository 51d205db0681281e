"""Exports of a database's history to formats other engines read (Delta Lake: delta.py, and
its independent checker: verify.py). An API-level package: it reads through the API's read
views and imports the API's modules and those below; `driftdb.database` imports it lazily."""
