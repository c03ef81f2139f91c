"""Moving an image's bytes from the master to a region, verified on the way.

The bytes are hashed as they pass, so a copy is checked without reading it
twice, and an image whose hashes disagree with the master's is never left
behind (the caller deletes the record on :class:`ImageError`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from glancesync.cloud.protocol import Facade
from glancesync.model.errors import ImageError
from glancesync.model.image import Image, usable_hash
from glancesync.model.region import RegionRef
from glancesync.transfer.progress import tracked
from glancesync.transfer.ratelimit import RateLimiter, paced
from glancesync.transfer.source import MasterSource


class HashingStream:
    """An iterator of chunks that hashes what flows through it."""

    def __init__(self, chunks: Iterable[bytes], os_hash_algo: str | None) -> None:
        self._chunks = iter(chunks)
        self.md5 = hashlib.md5(usedforsecurity=False)
        algo = usable_hash(os_hash_algo)
        self.os_hash = hashlib.new(algo) if algo else None
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def close(self) -> None:
        """Stop reading the source early (a failed upload), releasing what it holds."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()

    def __next__(self) -> bytes:
        chunk = next(self._chunks)
        self.md5.update(chunk)
        if self.os_hash is not None:
            self.os_hash.update(chunk)
        self.size += len(chunk)
        return chunk


def copy_image_data(
    facade: Facade,
    source: MasterSource,
    master: Image,
    region: RegionRef,
    record_id: str,
    limiter: RateLimiter | None = None,
    *,
    store: str | None = None,
    stage: bool = False,
) -> int:
    """Stream ``master``'s data into the region's record ``record_id``; return bytes sent.

    ``limiter`` caps what is sent to this region (``bwlimit``). With
    ``store`` the data goes into that store; with ``stage`` into the
    record's staging area, for an import that follows (the caller checks
    the imported image). Raises :class:`ImageError` when the bytes sent or
    the image the region ends up with do not match the master, or when the
    master gives no hash glancesync can check (an image is never left active
    unverified).
    """
    if not master.checksum and not (usable_hash(master.os_hash_algo) and master.os_hash_value):
        why = f"the master gives no usable checksum (os_hash_algo {master.os_hash_algo!r})"
        raise ImageError(region.full, master.name, f"cannot verify a copy: {why}")
    stream = HashingStream(paced(source.chunks(master), limiter), master.os_hash_algo)
    _send_and_verify(facade, stream, master, region, record_id, store, stage)
    return stream.size


def _send_and_verify(
    facade: Facade,
    stream: HashingStream,
    master: Image,
    region: RegionRef,
    record_id: str,
    store: str | None = None,
    stage: bool = False,
) -> None:
    try:
        label = f"[{region.full}] {master.name}"
        data = tracked(stream, master.size, label)
        if stage:
            facade.stage(region, record_id, data, master.size)
        elif store is not None:
            facade.upload(region, record_id, data, master.size, store)
        else:
            facade.upload(region, record_id, data, master.size)
    finally:
        stream.close()

    def fail(why: str) -> ImageError:
        return ImageError(region.full, master.name, f"verification failed: {why}")

    if stream.size != master.size:
        raise fail(f"sent {stream.size} bytes, master has {master.size}")
    if master.checksum and stream.md5.hexdigest() != master.checksum:
        raise fail("md5 of the data read from the master differs from its checksum")
    if stream.os_hash is not None and stream.os_hash.hexdigest() != master.os_hash_value:
        raise fail(f"{master.os_hash_algo} of the data read differs from the master's")
    if stage:
        return
    uploaded = facade.get_image(region, record_id)
    if uploaded.status != "active":
        raise fail(f"the region left the image in status {uploaded.status!r}")
    if not uploaded.same_content(master):
        raise fail("the region's checksum differs from the master's")
