"""Moving an image's bytes from the master to a region, verified on the way.

The bytes are hashed as they pass, so a copy is checked without reading it
twice, and an image whose hashes disagree with the master's is never left
behind (the caller deletes the record on :class:`ImageError`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from glancesync.errors import ImageError
from glancesync.facade_api import Facade
from glancesync.image import Image
from glancesync.region import RegionRef


class HashingStream:
    """An iterator of chunks that hashes what flows through it."""

    def __init__(self, chunks: Iterable[bytes], os_hash_algo: str | None) -> None:
        self._chunks = iter(chunks)
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.os_hash = hashlib.new(os_hash_algo) if os_hash_algo else None
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        chunk = next(self._chunks)
        self.md5.update(chunk)
        if self.os_hash is not None:
            self.os_hash.update(chunk)
        self.size += len(chunk)
        return chunk


def copy_image_data(
    facade: Facade, source: RegionRef, master: Image, region: RegionRef, record_id: str
) -> int:
    """Stream ``master``'s data into the region's record ``record_id``; return bytes sent.

    Raises :class:`ImageError` when the bytes sent or the image the region
    ends up with do not match the master.
    """
    stream = HashingStream(facade.download(source, master.id), master.os_hash_algo)
    facade.upload(region, record_id, stream, master.size)

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
    return stream.size
