"""Copies stored differently: converted, or into named stores (doc/manual.rst,
"Regions that store differently").

The plan says what a copy needs (:class:`~glancesync.engine.storage.Conversion`,
stores); this module carries it out through the facade and says which path
was used:

* region-side conversion: the record is created in the master's format, the
  master's (small) bytes are staged and imported with ``glance-direct``, and
  the region's ``image_conversion`` plugin converts. Verified: the import
  finished, the image is in the wanted format, and the region recorded its
  hash. A region that kept the master's format, or whose import failed or
  stalled, is followed by local conversion (and remembered for the run);
* local conversion with ``qemu-img`` (:mod:`glancesync.transfer.convert`),
  the converted bytes hashed as they are sent and checked against what the
  region reports;
* stores only: one store is a direct upload with the store header, several
  are a staged ``glance-direct`` import into exactly those stores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from glancesync.cloud.protocol import Facade
from glancesync.engine.steps import PlannedImage
from glancesync.engine.storage import REGION_SIDE, Conversion
from glancesync.model.changes import NewImage
from glancesync.model.errors import ImageError, RegionError
from glancesync.model.image import Image
from glancesync.model.region import RegionRef
from glancesync.model.storage import virtual_size
from glancesync.transfer.convert import converted_file, file_chunks
from glancesync.transfer.copy import HashingStream, copy_image_data
from glancesync.transfer.progress import tracked
from glancesync.transfer.ratelimit import RateLimiter, paced
from glancesync.transfer.source import MasterSource

LOG = logging.getLogger(__name__)

#: An import may take this long, plus 1 s per 20 MB of the image it stores.
IMPORT_TIMEOUT_SECONDS = 120.0
IMPORT_MIN_BYTES_PER_SECOND = 20e6

Create = Callable[[NewImage], Image]
Discard = Callable[[Image], None]


def import_deadline(size: int) -> float:
    """Seconds an import of *size* bytes may take before it counts as stalled."""
    return IMPORT_TIMEOUT_SECONDS + size / IMPORT_MIN_BYTES_PER_SECOND


@dataclass
class RegionMemory:
    """What one run knows of a region: its ``bwlimit``, and whether its imports convert."""

    limiter: RateLimiter | None = None
    converts: bool | None = None


#: How a copy was made (the report's ``method``): converted by the region's
#: import, converted here with qemu-img, or put unconverted into named stores.
CONVERT_REGION, CONVERT_LOCAL, STORE = "convert-region", "convert-local", "store"


@dataclass(frozen=True)
class Placed:
    """A verified copy, the bytes sent for it, and how it was made."""

    image: Image
    sent: int
    #: :data:`CONVERT_REGION`, :data:`CONVERT_LOCAL` or :data:`STORE`.
    method: str


def place(
    facade: Facade,
    source: MasterSource,
    region: RegionRef,
    entry: PlannedImage,
    spec: NewImage,
    create: Create,
    discard: Discard,
    memory: RegionMemory,
) -> Placed:
    """Make the copy *entry* plans, in its format and stores; ImageError if it cannot."""
    placing = _Placing(facade, source, region, entry, spec, create, discard, memory)
    conversion = entry.conversion
    if conversion is None:
        return placing.into_stores()
    if conversion.where == REGION_SIDE and memory.converts is not False:
        placed = placing.region_side(conversion)
        if placed is not None:
            return placed
    return placing.local(conversion)


@dataclass(frozen=True)
class _Placing:
    """One planned copy being made: what every way of making it needs."""

    facade: Facade
    source: MasterSource
    region: RegionRef
    entry: PlannedImage
    spec: NewImage
    create: Create
    discard: Discard
    memory: RegionMemory

    def region_side(self, conversion: Conversion) -> Placed | None:
        """Stage the master's bytes and let the region convert on import; None: convert here."""
        region, master = self.region, self.entry.master
        record = self.create(replace(self.spec, disk_format=conversion.source))
        try:
            sent = self._master_bytes(record, stage=True)
            image = self._import(record, virtual_size(master))
            if image.disk_format != conversion.target:
                self.memory.converts = False
                raise ImageError(
                    region.full,
                    master.name,
                    f"the region kept it {image.disk_format}: it does not convert on import",
                )
            if not image.os_hash_value and not image.checksum:
                raise ImageError(region.full, master.name, "the region recorded no hash")
        except (ImageError, RegionError) as error:
            self.discard(record)
            if isinstance(error, RegionError):
                raise
            LOG.warning(
                "[%s] %s: region-side conversion did not work (%s); converting locally",
                region.full,
                master.name,
                error.detail,
            )
            return None
        self.memory.converts = True
        LOG.info(
            "[%s] %s: converted %s by the region on import", region.full, master.name, conversion
        )
        return Placed(image, sent, CONVERT_REGION)

    def local(self, conversion: Conversion) -> Placed:
        """Convert with qemu-img here, send the converted file, check the region's hashes.

        The spec is already in the target format (engine/records.py).
        """
        region, master = self.region, self.entry.master
        with converted_file(self.source, master, conversion, region) as converted:
            record = self.create(self.spec)
            chunks = paced(file_chunks(converted.path), self.memory.limiter)
            stream = HashingStream(chunks, "sha512")
            try:
                image = self._send_file(record, stream, converted.size)
                fail = _mismatch(image, stream, converted.size)
                if fail:
                    raise ImageError(region.full, master.name, f"verification failed: {fail}")
            except (ImageError, RegionError):
                self.discard(record)
                raise
        LOG.info(
            "[%s] %s: converted %s locally with qemu-img", region.full, master.name, conversion
        )
        return Placed(image, stream.size, CONVERT_LOCAL)

    def into_stores(self) -> Placed:
        """The master's bytes, unconverted, into exactly the stores asked."""
        region, master, stores = self.region, self.entry.master, self.entry.stores
        record = self.create(self.spec)
        try:
            if len(stores) > 1:
                sent = self._master_bytes(record, stage=True)
                image = self._import(record, master.size)
                if not image.same_content(master):
                    raise ImageError(region.full, master.name, "imported with another checksum")
            else:
                sent = self._master_bytes(record, store=stores[0])
                image = self.facade.get_image(region, record.id)
        except (ImageError, RegionError):
            self.discard(record)
            raise
        return Placed(image, sent, STORE)

    def _master_bytes(self, record: Image, *, stage: bool = False, store: str | None = None) -> int:
        """The master's bytes into *record* (staged, or into *store*), checked; bytes sent."""
        return copy_image_data(
            self.facade,
            self.source,
            self.entry.master,
            self.region,
            record.id,
            self.memory.limiter,
            stage=stage,
            store=store,
        )

    def _import(self, record: Image, size: int) -> Image:
        """Import a staged *record* into the planned stores, within its deadline."""
        return self.facade.import_image(
            self.region, record.id, "glance-direct", self.entry.stores, import_deadline(size)
        )

    def _send_file(self, record: Image, stream: HashingStream, size: int) -> Image:
        """Send converted bytes: staged and imported into several stores, else uploaded."""
        facade, region, stores = self.facade, self.region, self.entry.stores
        data = tracked(stream, size, f"[{region.full}] {self.entry.master.name}")
        try:
            if len(stores) > 1:
                facade.stage(region, record.id, data, size)
                return self._import(record, size)
            if stores:
                facade.upload(region, record.id, data, size, stores[0])
            else:
                facade.upload(region, record.id, data, size)
        finally:
            stream.close()
        return facade.get_image(region, record.id)


def _mismatch(image: Image, stream: HashingStream, size: int) -> str:
    """Why the region's image is not the bytes sent; "" when it is."""
    if stream.size != size:
        return f"sent {stream.size} bytes of {size}"
    if image.status != "active":
        return f"the region left the image in status {image.status!r}"
    if image.checksum and image.checksum != stream.md5.hexdigest():
        return "the region's md5 differs from the converted bytes'"
    sha512 = stream.os_hash.hexdigest() if stream.os_hash is not None else None
    if image.os_hash_algo == "sha512" and image.os_hash_value != sha512:
        return "the region's sha512 differs from the converted bytes'"
    if not image.checksum and not image.os_hash_value:
        return "the region recorded no hash"
    return ""
