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
from glancesync.model.image import Image
from glancesync.model.region import RegionRef
from glancesync.transfer.progress import tracked
from glancesync.transfer.ratelimit import RateLimiter, paced
from glancesync.transfer.source import MasterSource


class HashingStream:
    """An iterator of chunks that hashes what flows through it."""

    def __init__(self, chunks: Iterable[bytes], os_hash_algo: str | None) -> None:
        self._chunks = iter(chunks)
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.os_hash = hashlib.new(os_hash_algo) if os_hash_algo else None
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
) -> int:
    """Stream ``master``'s data into the region's record ``record_id``; return bytes sent.

    ``limiter`` caps what is sent to this region (``bwlimit``). Raises
    :class:`ImageError` when the bytes sent or the image the region ends up
    with do not match the master.
    """
    stream = HashingStream(paced(source.chunks(master), limiter), master.os_hash_algo)
    _send_and_verify(facade, stream, master, region, record_id)
    return stream.size


def _send_and_verify(
    facade: Facade, stream: HashingStream, master: Image, region: RegionRef, record_id: str
) -> None:
    try:
        label = f"[{region.full}] {master.name}"
        facade.upload(region, record_id, tracked(stream, master.size, label), master.size)
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
    uploaded = facade.get_image(region, record_id)
    if uploaded.status != "active":
        raise fail(f"the region left the image in status {uploaded.status!r}")
    if not uploaded.same_content(master):
        raise fail("the region's checksum differs from the master's")
