"""Progress of one transfer: a bar on a terminal, plain log lines for cron.

The bar is drawn only when stderr is a terminal, so logs of unattended runs
stay readable; there, one line at the start and one at the end say what
moved and how fast. ``--quiet`` (INFO off) draws no bar either, and child
processes of ``--parallel`` never draw one (:func:`disable_bars`): bars of
several processes on one terminal would overwrite each other.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator

LOG = logging.getLogger(__name__)

_bars_allowed = True


def disable_bars() -> None:
    """No bar in this process from now on (a ``--parallel`` child)."""
    global _bars_allowed
    _bars_allowed = False


def _draw_bar() -> bool:
    return _bars_allowed and LOG.isEnabledFor(logging.INFO) and sys.stderr.isatty()


def tracked(chunks: Iterable[bytes], total: int, label: str) -> Iterator[bytes]:
    """Pass ``chunks`` through, showing how far the transfer has got."""
    started = time.monotonic()
    LOG.info("%s: sending %.1f MB", label, total / 1e6)
    bar = None
    if _draw_bar():
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False)
    sent = 0
    try:
        for chunk in chunks:
            sent += len(chunk)
            if bar is not None:
                bar.update(len(chunk))
            yield chunk
    finally:
        if bar is not None:
            bar.close()
    seconds = max(time.monotonic() - started, 1e-9)
    LOG.info(
        "%s: sent %.1f MB in %.1f s (%.1f MB/s)", label, sent / 1e6, seconds, sent / 1e6 / seconds
    )
