"""Run locks per region: two syncs may run at once when they write different regions.

Each region a sync writes is locked with :func:`~glancesync.runner.lock.run_lock`
on its own file beside ``[main] lock_file`` (``LOCK_FILE.REGION-HASH``), so
every guarantee of that lock holds for each file: ``flock`` dropped by the
kernel when the run dies, no link followed, files owned by the user, in
the user's own directory. Files are taken in sorted order, so two runs that
want overlapping sets can never wait for each other in a circle
(doc/operations.rst, Running unattended).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from glancesync.model.region import RegionRef
from glancesync.runner.lock import LockBusy, run_lock

LOG = logging.getLogger(__name__)

#: Characters of the region name kept readable in the file name.
READABLE_CHARS = 40


def region_lock_path(base: str | os.PathLike[str], region: RegionRef) -> Path:
    """The lock file of one region, beside ``base``.

    Region names come from the servers' catalogs: the name is written as
    :attr:`RegionRef.file_stem` writes it (safe, and readable for the
    operator), and a hash of the full name keeps two names that look alike
    apart.
    """
    readable = region.file_stem[:READABLE_CHARS]
    digest = hashlib.sha256(region.full.encode()).hexdigest()[:12]
    base_path = Path(base)
    return base_path.with_name(f"{base_path.name}.{readable}-{digest}")


@contextmanager
def region_locks(
    base: str | os.PathLike[str], regions: Iterable[RegionRef], wait_seconds: float = 0.0
) -> Iterator[None]:
    """Hold the lock of every region in ``regions``; raise LockBusy if one stays taken.

    ``wait_seconds`` bounds the whole wait, not each file. Waiting is said
    once, on the first busy region.
    """
    paths = sorted({region_lock_path(base, region): region for region in regions}.items())
    started = time.monotonic()
    deadline = started + max(0.0, wait_seconds)
    announced = False
    with ExitStack() as held:
        for path, region in paths:
            try:
                held.enter_context(run_lock(path))
                continue
            except LockBusy as busy:
                if wait_seconds <= 0:
                    raise LockBusy(f"{busy} (region {region.full})") from None
                if not announced:
                    LOG.info(
                        "%s (region %s): waiting up to %g s for it",
                        busy,
                        region.full,
                        wait_seconds,
                    )
                    announced = True
            try:
                held.enter_context(run_lock(path, max(0.0, deadline - time.monotonic())))
            except LockBusy as busy:
                waited = time.monotonic() - started
                raise LockBusy(
                    f"{busy} (region {region.full}); gave up after waiting {waited:.1f} s"
                ) from None
        yield
