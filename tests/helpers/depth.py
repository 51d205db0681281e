"""How hard the property suites try: quick in `make test`, thorough in `make test-deep`.

Whether a property test catches a slip depends on how many examples it draws (over five seeds,
40 examples never caught a wrong sign in the float encoding). `make test` keeps the suite fast;
`make test-deep` (DRIFTDB_TEST_DEPTH=deep) multiplies every property suite's examples and is run
before each release and whenever the storage, index or recovery code changes.
"""

from __future__ import annotations

import os

DEEP = os.environ.get("DRIFTDB_TEST_DEPTH", "") == "deep"
DEEP_FACTOR = 25
DEEP_MINIMUM = 2_000


def examples(default: int) -> int:
    """The number of hypothesis examples for a property suite at the current depth."""
    return max(default * DEEP_FACTOR, DEEP_MINIMUM) if DEEP else default
