"""Test helpers shared by tests/storage, tests/model and tests/api.

Import as `from helpers.bytes_edit import flip_byte` (tests/ is on sys.path through the rootdir
conftest). Nothing here imports DriftDB's storage code: the segment reader is written from
docs/format.md alone, so it can act as an independent check of the format.
"""
