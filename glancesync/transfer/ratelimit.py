"""A bandwidth cap (``bwlimit``): pacing of the bytes that flow through glancesync.

A :class:`RateLimiter` keeps one number, the moment the next byte may go
(``next_free``); taking ``n`` bytes moves it on by ``n / rate`` and sleeps
until the old value when it lies ahead. ``next_free`` never lags the clock
by more than :data:`CREDIT_SECONDS`: that much time lost to an oversleep or
a slow source is made up, and no more, so over any interval the bytes let
through stay within ``rate * (seconds + CREDIT_SECONDS)`` plus one chunk
(doc/performance.rst, "Bandwidth cap").

``next_free`` lives in shared memory created before ``--parallel`` forks,
so every child of a run draws from the same budget, and ``CLOCK_MONOTONIC``
is one clock for all processes of the host. The clock and the sleep are
injected so the pacing is tested without waiting (test/unit/test_ratelimit.py).
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

#: MB as ``bwlimit`` counts it: 10**6 bytes.
MB = 1_000_000
#: The most time behind schedule that the pacing makes up (a burst of at
#: most ``rate * CREDIT_SECONDS`` bytes after an idle moment).
CREDIT_SECONDS = 0.1


class RateLimiter:
    """At most ``rate`` bytes per second, shared by threads and forked children."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self._clock = clock
        self._sleep = sleep
        context = multiprocessing.get_context("fork")
        self._lock: Any = context.Lock()
        self._next: Any = context.RawValue("d", 0.0)

    def take(self, n: int) -> None:
        """Account for ``n`` bytes; return once they may go."""
        if n <= 0:
            return
        with self._lock:
            now = self._clock()
            start = max(now - CREDIT_SECONDS, self._next.value)
            self._next.value = start + n / self.rate
        if start > now:
            self._sleep(start - now)

    def paced(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """``chunks``, each let through only once the cap allows it.

        Closing the result closes ``chunks`` (a download stops at once).
        """
        try:
            for chunk in chunks:
                self.take(len(chunk))
                yield chunk
        finally:
            close = getattr(chunks, "close", None)
            if callable(close):
                close()


def limiter(mb_per_second: float | None) -> RateLimiter | None:
    """A limiter for ``bwlimit`` in MB/s; None (no cap) for None or 0."""
    if not mb_per_second:
        return None
    return RateLimiter(mb_per_second * MB)


def paced(chunks: Iterable[bytes], *limiters: RateLimiter | None) -> Iterable[bytes]:
    """``chunks`` under every cap given (None: no cap)."""
    for cap in limiters:
        if cap is not None:
            chunks = cap.paced(chunks)
    return chunks
