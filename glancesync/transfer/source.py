"""Where an upload reads the master's bytes from.

In order of preference:

1. ``images_dir`` (the old deployment on the master Glance host): the
   master's own file, used only once its md5 matches the master's checksum;
2. the run's spool: a copy of an image that an earlier upload of this run
   streamed and verified, so the master is read once per run, not once per
   region;
3. the master's Glance API, streamed; when the spool is on and has room,
   the bytes are also written to it on the way (a tee).

A spool file only becomes visible (renamed into place) after the upload it
was written during has verified every byte against the master's hashes, so
a reader never sees a partial or wrong copy. Several child processes may
share one spool directory: renames are atomic and names are per image.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from glancesync.cloud.protocol import Facade
from glancesync.model.image import Image
from glancesync.model.region import RegionRef

LOG = logging.getLogger(__name__)

CHUNK = 1 << 20


def _read_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            yield chunk


class MasterSource:
    """The master's image data, read as few times as possible."""

    def __init__(
        self,
        facade: Facade,
        master_region: RegionRef,
        images_dir: str | None = None,
        spool_dir: Path | None = None,
        spool_limit: int = 0,
    ) -> None:
        self.facade = facade
        self.master_region = master_region
        self.images_dir = Path(images_dir) if images_dir else None
        self.spool_dir = spool_dir
        self.spool_limit = spool_limit
        self._checked_files: dict[str, bool] = {}
        self._pending: dict[str, Path] = {}
        #: Bytes read from the master's API by this process (for the summary).
        self.bytes_from_master = 0
        #: Where :meth:`chunks` last read each image from, by master id:
        #: ``images_dir``, ``spool`` or ``stream`` (for the run's report).
        self.origins: dict[str, str] = {}

    def chunks(self, image: Image) -> Iterator[bytes]:
        """The image's bytes, from the cheapest verified place."""
        local = self._images_dir_file(image)
        if local is not None:
            LOG.debug("reading %s from %s", image.name, local)
            self.origins[image.id] = "images_dir"
            return _read_file(local)
        spooled = self._spool_path(image)
        if spooled is not None and spooled.is_file() and spooled.stat().st_size == image.size:
            LOG.debug("reading %s from the spool", image.name)
            self.origins[image.id] = "spool"
            return _read_file(spooled)
        self.origins[image.id] = "stream"
        return self._from_master(image, spooled)

    def verified(self, image: Image) -> None:
        """The upload that read ``image`` checked every byte: publish its spool copy."""
        partial = self._pending.pop(image.id, None)
        final = self._spool_path(image)
        if partial is not None and final is not None:
            os.replace(partial, final)

    def discard(self, image: Image) -> None:
        """The upload that read ``image`` failed: its spool copy cannot be trusted."""
        partial = self._pending.pop(image.id, None)
        if partial is not None:
            partial.unlink(missing_ok=True)

    def _from_master(self, image: Image, spooled: Path | None) -> Iterator[bytes]:
        stream = self.facade.download(self.master_region, image.id)
        if spooled is None or not self._room_for(image.size):
            for chunk in stream:
                self.bytes_from_master += len(chunk)
                yield chunk
            return
        assert self.spool_dir is not None
        fd, name = tempfile.mkstemp(dir=self.spool_dir, prefix=".part-")
        partial = Path(name)
        complete = False
        try:
            with os.fdopen(fd, "wb") as copy:
                for chunk in stream:
                    self.bytes_from_master += len(chunk)
                    copy.write(chunk)
                    yield chunk
            complete = True
            self._pending[image.id] = partial
        finally:
            if not complete:
                partial.unlink(missing_ok=True)

    def _spool_path(self, image: Image) -> Path | None:
        if self.spool_dir is None or self.spool_limit <= 0:
            return None
        key = image.os_hash_value or image.checksum or image.id
        return self.spool_dir / f"{image.id}-{key[:32]}"

    def _room_for(self, size: int) -> bool:
        """Whether the spool can take ``size`` more bytes.

        Sibling processes add and remove files meanwhile: a file gone
        between listing and ``stat`` simply does not count. The cap is a
        budget checked, not reserved: children may overshoot it by what is
        in flight at once (at most ``max_children`` images).
        """
        assert self.spool_dir is not None
        used = 0
        with os.scandir(self.spool_dir) as entries:
            for entry in entries:
                try:
                    used += entry.stat().st_size
                except FileNotFoundError:
                    continue
        return used + size <= self.spool_limit

    def _images_dir_file(self, image: Image) -> Path | None:
        """The master's own file, if it is there and holds the right bytes."""
        if self.images_dir is None or not image.checksum:
            return None
        path = self.images_dir / image.id
        if image.id not in self._checked_files:
            ok = path.is_file() and path.stat().st_size == image.size
            if ok:
                digest = hashlib.md5(usedforsecurity=False)
                for chunk in _read_file(path):
                    digest.update(chunk)
                ok = digest.hexdigest() == image.checksum
                if not ok:
                    LOG.warning("%s does not match the master's checksum; using the API", path)
            self._checked_files[image.id] = ok
        return path if self._checked_files[image.id] else None
