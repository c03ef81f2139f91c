"""Where an upload reads the master's bytes from.

In order of preference:

1. ``images_dir`` (the old deployment on the master Glance host): the
   master's own file, used only once its md5 matches the master's checksum;
2. the run's spool: the master's bytes read once, by whichever upload of
   this run (thread or ``--parallel`` child) needed the image first, and
   read by every upload of it at its own pace, while it is still being
   written (:mod:`glancesync.transfer.fanout`);
3. the master's Glance API, streamed, when the spool is off or full.

The master is read through :func:`glancesync.transfer.resume.resumable`
(a broken download goes on from where it stopped, and the whole image is
checked against its hashes) and under ``[main] bwlimit``. A spool file
only gets its final name once every byte matched the master's hashes.
Several child processes share one spool directory: names are per image,
claims and renames are atomic.

No local path is ever made of the server's words: a spool file is named by
:class:`~glancesync.transfer.spool.Spool`, and an ``images_dir`` file is only
looked for under an id that is a UUID (Glance's own file names), checked to
resolve inside its directory.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from glancesync.cloud.protocol import Facade
from glancesync.model.image import Image
from glancesync.model.region import RegionRef
from glancesync.transfer import fanout
from glancesync.transfer.ratelimit import RateLimiter, paced
from glancesync.transfer.resume import resumable
from glancesync.transfer.spool import Spool, inside

LOG = logging.getLogger(__name__)

CHUNK = 1 << 20
#: Where an upload read the master's bytes from (:meth:`MasterSource.origin`).
IMAGES_DIR, SPOOL, STREAM = "images_dir", "spool", "stream"


def _is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def _finished(spooled: Path, image: Image) -> bool:
    """Whether the spool holds the image's whole verified copy."""
    return spooled.is_file() and spooled.stat().st_size == image.size


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
        limiter: RateLimiter | None = None,
    ) -> None:
        self.facade = facade
        self.master_region = master_region
        self.images_dir = Path(images_dir) if images_dir else None
        #: The run's spool, while :meth:`spooled` holds one (None: no spool).
        self.spool: Spool | None = None
        #: ``[main] bwlimit`` on what is read from the master (None: no cap).
        self.limiter = limiter
        self._checked_files: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._producers: list[threading.Thread] = []
        #: Bytes read from the master's API by this process (for the summary).
        self.bytes_from_master = 0
        #: Downloads from the master resumed after a break, by this process.
        self.resumes = 0
        #: Where :meth:`chunks` last read each image from, per thread (an
        #: upload reads in its own thread): see :meth:`origin`.
        self._origins = threading.local()

    def chunks(self, image: Image) -> Iterator[bytes]:
        """The image's bytes, from the cheapest verified place."""
        local = self._images_dir_file(image)
        if local is not None:
            LOG.debug("reading %s from %s", image.name, local)
            self._read_from(image, IMAGES_DIR)
            return _read_file(local)
        spool = self.spool
        spooled = spool.path_for(image) if spool is not None else None
        if spool is None or spooled is None:
            self._read_from(image, STREAM)
            return self.from_master(image)
        if _finished(spooled, image):
            return self._from_spool(image, spooled)
        filling = fanout.fill_path(spooled).exists()
        if not filling and not spool.room_for(image.size):
            self._read_from(image, STREAM)
            return self.from_master(image)
        fd = None if filling else fanout.claim(spooled)
        if fd is not None and _finished(spooled, image):
            # Another upload finished the copy between the first look and the claim.
            fanout.release(fd, spooled)
            return self._from_spool(image, spooled)
        if fd is not None:
            LOG.debug("reading %s from the master into the spool", image.name)
            chunks = self.from_master(image, counted=False)
            thread = fanout.start_producer(fd, spooled, chunks, self._count, self._stop)
            with self._lock:
                self._producers.append(thread)
        # The upload that claimed the fill streams the master's bytes; the others share them.
        self._read_from(image, STREAM if fd is not None else SPOOL)
        return fanout.follow(spooled, image, lambda offset: self.from_master(image, offset))

    def _from_spool(self, image: Image, spooled: Path) -> Iterator[bytes]:
        LOG.debug("reading %s from the spool", image.name)
        self._read_from(image, SPOOL)
        return _read_file(spooled)

    def origin(self, image: Image) -> str:
        """Where this thread's last :meth:`chunks` of *image* read it from.

        :data:`IMAGES_DIR`, :data:`SPOOL` (a finished spool file, or one
        another upload is filling from the master) or :data:`STREAM` (this
        upload's own read of the master, into the spool or not). Per thread:
        regions of a ``fan_out`` run and a region's parallel uploads share
        this source, and each upload reads in its own thread.
        """
        return str(getattr(self._origins, image.id, STREAM))

    def _read_from(self, image: Image, origin: str) -> None:
        setattr(self._origins, image.id, origin)

    def from_master(self, image: Image, start: int = 0, counted: bool = True) -> Iterator[bytes]:
        """The image's bytes from the master's API, resumable and under the cap.

        ``counted=False``: the caller adds them to :attr:`bytes_from_master`.
        """
        chunks = resumable(self.facade, self.master_region, image, start, self._resumed)
        if counted:
            chunks = self._counted(chunks)
        return iter(paced(chunks, self.limiter))

    @contextmanager
    def spooled(self, spool: Spool | None) -> Iterator[None]:
        """Read through *spool* for the rest of this block; its producers stop at the end."""
        self.spool = spool
        try:
            yield
        finally:
            self.close()
            self.spool = None

    def close(self) -> None:
        """Stop the spool's producers (the run is over) and wait for them."""
        self._stop.set()
        with self._lock:
            producers, self._producers = self._producers, []
        for thread in producers:
            thread.join()
        self._stop.clear()

    def _counted(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self._count(len(chunk))
            yield chunk

    def _count(self, n: int) -> None:
        with self._lock:
            self.bytes_from_master += n

    def _resumed(self, offset: int) -> None:
        with self._lock:
            self.resumes += 1

    def _images_dir_file(self, image: Image) -> Path | None:
        """The master's own file, if it is there and holds the right bytes."""
        if self.images_dir is None or not image.checksum or not _is_uuid(image.id):
            return None
        path = inside(self.images_dir, image.id)
        if path is None:
            return None
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
