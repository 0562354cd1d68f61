"""The tests' one way to wait: on a condition, never on a fixed time (a loaded CI machine runs
everything at once, so how long anything takes is no test's business)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(condition: Callable, seconds: float = 60.0, every: float = 0.2, why: Callable[[], str] | None = None):
    """The condition's first true value within `seconds`; a failed test if none came, saying `why()`."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:.0f} s" + (f": {why()}" if why else ""))
        time.sleep(every)
    return value
