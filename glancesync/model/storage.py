"""What a region offers for storing copies, read before its first write.

A :class:`RegionOffer` is read once per region (``GET /v2/info/import``,
``/v2/info/stores`` and ``/v2/info/usage``) and handed to the planner, which
decides from it how each copy travels and whether the region's plan fits
(doc/manual.rst, "Regions that store differently").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from glancesync.model.image import Image
from glancesync.model.values import frozen

#: Glance counts image sizes in its quotas in MiB.
MIB = 1024 * 1024


@dataclass(frozen=True)
class Quota:
    """One resource of ``GET /v2/info/usage``: its limit and what is used."""

    limit: int
    usage: int

    @property
    def left(self) -> int:
        return max(self.limit - self.usage, 0)


@dataclass(frozen=True)
class RegionOffer:
    """The region's import methods, stores and quotas; None where it tells nothing."""

    import_methods: tuple[str, ...] = ()
    #: Store names (None: the region has no multi-store API).
    stores: tuple[str, ...] | None = None
    #: Resource -> quota (None: the region exposes no usage).
    usage: Mapping[str, Quota] | None = None

    def quota(self, resource: str) -> Quota | None:
        """The quota of *resource*, when the region has one (a negative limit is none)."""
        found = self.usage.get(resource) if self.usage is not None else None
        return found if found is not None and found.limit >= 0 else None


#: The offer of a region not read (nothing is known, nothing is blocked).
UNKNOWN = RegionOffer(usage=None)


def image_stores(image: Image) -> frozenset[str]:
    """The stores Glance says the image is in (its ``stores`` field)."""
    value = image.raw.get("stores")
    if not isinstance(value, str):
        return frozenset()
    return frozenset(s.strip() for s in value.split(",") if s.strip())


def virtual_size(image: Image) -> int:
    """The image's virtual size (the size of its raw form), or its size when unknown."""
    value = image.raw.get("virtual_size")
    return value if isinstance(value, int) and value > 0 else image.size


def usage_from(doc: Mapping[str, object]) -> dict[str, Quota]:
    """Quotas from a ``usage`` document; entries that are not two whole numbers are left out."""
    found: dict[str, Quota] = {}
    for resource, entry in doc.items():
        if not isinstance(entry, Mapping):
            continue
        limit, usage = entry.get("limit"), entry.get("usage")
        if isinstance(limit, int) and isinstance(usage, int) and not isinstance(limit, bool):
            found[str(resource)] = Quota(limit, usage)
    return found


def offer(
    methods: tuple[str, ...], stores: tuple[str, ...] | None, usage: dict[str, Quota] | None
) -> RegionOffer:
    return RegionOffer(methods, stores, frozen(usage) if usage is not None else None)


__all__ = ["MIB", "UNKNOWN", "Quota", "RegionOffer", "image_stores", "offer", "virtual_size"]
