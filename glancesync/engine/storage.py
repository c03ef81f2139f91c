"""How copies are stored in a region: conversion, stores, and the preflight verdict.

Pure rules for the planner (doc/manual.rst, "Regions that store differently").
A region may want its copies in another disk format than the master's (Ceph
wants ``raw``): such a *converted copy* holds other bytes than the master, so
it is in sync by provenance -- the master hash recorded on it equals the
master's current one -- and the conflict lists name its own checksum, as for
any region image (doc/design.rst, "Converted copies").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from glancesync.config.settings import TargetSettings
from glancesync.config.storage import DISK_FORMATS
from glancesync.model.image import Image
from glancesync.model.provenance import converted_from, made_from, provenance_of
from glancesync.model.storage import MIB, RegionOffer, image_stores, virtual_size

#: Where a conversion is planned: by the region's import, or here with qemu-img.
REGION_SIDE = "region"
LOCAL = "local"


@dataclass(frozen=True)
class Conversion:
    """A copy made in another disk format than the master's."""

    source: str
    target: str
    #: :data:`REGION_SIDE` (stage and import; local conversion if that fails) or :data:`LOCAL`.
    where: str = LOCAL

    def __str__(self) -> str:
        return f"{self.source}\u2192{self.target}"


@dataclass(frozen=True)
class Storage:
    """What one region wants of its copies."""

    disk_format: str | None = None
    stores: tuple[str, ...] = ()
    conversion_mode: str = "auto"

    def conversion(self, master: Image, offer: RegionOffer | None) -> Conversion | None:
        """The conversion a copy of *master* needs here, and where it is planned."""
        if self.disk_format is None or master.disk_format in (None, self.disk_format):
            return None
        if master.disk_format not in DISK_FORMATS:  # ami, aki, iso...: qemu-img cannot
            return None
        where = LOCAL
        if self.conversion_mode == "auto" and (
            offer is None or "glance-direct" in offer.import_methods
        ):
            where = REGION_SIDE
        return Conversion(str(master.disk_format), self.disk_format, where)

    def missing_stores(self, image: Image) -> tuple[str, ...]:
        """The wanted stores *image* is not in yet."""
        if not self.stores:
            return ()
        held = image_stores(image)
        return tuple(s for s in self.stores if s not in held)


def storage_for(target: TargetSettings, region: str) -> Storage:
    return Storage(target.format_in(region), target.stores_in(region), target.conversion)


def holds(candidate: Image, master: Image, conversion: Conversion | None) -> bool:
    """Whether *candidate* is a copy of *master*'s current bytes in the wanted form.

    Without conversion: the same bytes. With one: a copy in the wanted format
    whose provenance records the master's current hash and its source format.
    """
    if conversion is None:
        return candidate.same_content(master)
    found = provenance_of(candidate)
    return (
        found is not None
        and made_from(found, master)
        and candidate.disk_format == conversion.target
        and converted_from(candidate) == conversion.source
    )


@dataclass(frozen=True)
class Need:
    """What one planned upload asks of the region."""

    bytes: int
    #: Bytes staged for an import (counted against ``image_stage_total``).
    staged: int
    #: New store copies of an existing image, by copy-image.
    copies: int = 0


def upload_need(master: Image, conversion: Conversion | None, stores: Sequence[str]) -> Need:
    """Bytes the copy takes in the region, and bytes staged on the way."""
    stored = virtual_size(master) if conversion is not None else master.size
    imports = bool(stores) or (conversion is not None and conversion.where == REGION_SIDE)
    return Need(stored * max(len(stores), 1), master.size if imports else 0)


def preflight(
    region: str, storage: Storage, needs: Sequence[Need], offer: RegionOffer
) -> str | None:
    """Why the region cannot take its plan, in one line naming the numbers; None if it can.

    Unknown store names and missing import methods are found here, before
    anything is written; quotas only where the region exposes its usage.
    """
    if storage.stores:
        if offer.stores is None:
            return "stores are asked for, but the region lists none (GET /v2/info/stores)"
        unknown = [s for s in storage.stores if s not in offer.stores]
        if unknown:
            return (
                f"unknown store {', '.join(unknown)} (the region has "
                f"{', '.join(offer.stores) or 'none'})"
            )
        if needs and "glance-direct" not in offer.import_methods:
            return "stores are asked for, but the region offers no glance-direct import"
    if any(n.copies for n in needs) and "copy-image" not in offer.import_methods:
        return "copies must be added to stores, but the region offers no copy-image import"
    total = sum(n.bytes for n in needs)
    staged = sum(n.staged for n in needs)
    checks = (
        ("image_size_total", total, "to upload"),
        ("image_stage_total", staged, "to stage"),
    )
    for resource, wanted, what in checks:
        quota = offer.quota(resource)
        if quota is not None and wanted > quota.left * MIB:
            return f"{_mb(wanted)} {what}, {_mb(quota.left * MIB)} of {resource} left"
    count = offer.quota("image_count_total")
    images = len([n for n in needs if not n.copies])
    if count is not None and images > count.left:
        return f"{images} images to upload, {count.left} of image_count_total left"
    return None


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
