"""Pausing the cyclic garbage collector while many acyclic values are made.

Planning a region, or reading back its in-sync entries, allocates
thousands of tuples at once; each batch of allocations triggers a pass of
the collector over the whole heap, which finds nothing to free in them
(bench/planning.py measures the difference).
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def collector_paused(function: Callable[P, R]) -> Callable[P, R]:
    """Run *function* with the cyclic garbage collector paused, then restore it."""

    @functools.wraps(function)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return function(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()

    return paused
