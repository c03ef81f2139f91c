"""The run's spool: a private directory of master images read once, under a cap.

A sync of several regions reads each master image once: the first upload
that needs it fills a spool file, and every other upload of it reads that
file (:mod:`glancesync.transfer.fanout`). The directory is made for the run
under ``[main] cache_dir``, holds at most ``cache_size_mb``, and is removed
when the run ends, whatever happens.

No spool path is made of the server's words: a file is named by the sha256
of the image's id and hash, and checked to resolve inside the directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from glancesync.model.image import Image


def inside(directory: Path, name: str) -> Path | None:
    """``directory / name``, or None unless it resolves to a direct child of ``directory``."""
    path = directory / name
    return path if path.resolve().parent == directory.resolve() else None


@dataclass(frozen=True)
class Spool:
    """One run's spool directory and its cap in bytes."""

    directory: Path
    limit: int

    def path_for(self, image: Image) -> Path | None:
        """Where the spool keeps *image*'s bytes."""
        key = image.os_hash_value or image.checksum or ""
        return inside(self.directory, hashlib.sha256(f"{image.id}\0{key}".encode()).hexdigest())

    def room_for(self, size: int) -> bool:
        """Whether the spool can take ``size`` more bytes.

        Sibling processes add and remove files meanwhile: a file gone
        between listing and ``stat`` simply does not count. The cap is a
        budget checked, not reserved: children may overshoot it by what is
        in flight at once (at most ``max_children`` images).
        """
        used = 0
        with os.scandir(self.directory) as entries:
            for entry in entries:
                try:
                    used += entry.stat().st_size
                except FileNotFoundError:
                    continue
        return used + size <= self.limit


@contextmanager
def run_spool(parent: str | None, limit: int) -> Iterator[Spool | None]:
    """A new spool under *parent* (None: the temp directory) for this block; None when
    *limit* is 0 (the spool is off)."""
    if limit <= 0:
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="glancesync-spool-", dir=parent))
    try:
        yield Spool(directory, limit)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
