"""Which master images exist for syncing, and which of them a target wants.

Two questions, kept apart: :func:`master_catalog` cleans the master's listing
once per run (non-active, foreign and duplicated images are left out), and
:func:`is_selected` applies one target's rules to one image.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from glancesync.config.condition import ConditionError
from glancesync.config.settings import TargetSettings
from glancesync.model.image import Image

LOG = logging.getLogger(__name__)

OBSOLETE_SUFFIX = "_obsolete"


@dataclass(frozen=True)
class MasterCatalog:
    """The master images that can be synced, by name and by id."""

    #: Active images of our project with a unique, non-obsolete name.
    images: tuple[Image, ...] = ()
    #: Active images of our project named ``NAME_obsolete``.
    obsolete: tuple[Image, ...] = ()
    #: Every active image of our project, by id: AMI references resolve here.
    by_id: Mapping[str, Image] = field(default_factory=lambda: MappingProxyType({}))
    warnings: tuple[str, ...] = ()
    #: The master region's name, which provenance records.
    region: str = ""


def master_catalog(
    images: Iterable[Image], project_id: str | None, region: str = ""
) -> MasterCatalog:
    """Leave out what must never be synced from the master's listing.

    Duplicated names are left out entirely: with two candidates there is no
    telling which one the regions should get.
    """
    usable = [
        image
        for image in images
        if image.status == "active"
        and image.name
        and (project_id is None or image.owner == project_id)
    ]
    counts = Counter(image.name for image in usable)
    warnings = tuple(
        f"master has {count} images named {name!r}; none of them is synced"
        for name, count in sorted(counts.items())
        if count > 1
    )
    unique = [image for image in usable if counts[image.name] == 1]
    return MasterCatalog(
        images=tuple(i for i in unique if not i.name.endswith(OBSOLETE_SUFFIX)),
        obsolete=tuple(i for i in unique if i.name.endswith(OBSOLETE_SUFFIX)),
        by_id=MappingProxyType({image.id: image for image in usable}),
        warnings=warnings,
        region=region,
    )


@dataclass(frozen=True)
class ConditionView:
    """What a ``metadata_condition`` sees of an image: the old tool's names."""

    id: str
    name: str
    owner: str | None
    size: int
    region: str
    is_public: bool
    visibility: str
    checksum: str | None
    status: str
    user_properties: dict[str, object]

    @classmethod
    def of(cls, image: Image) -> ConditionView:
        return cls(
            id=image.id,
            name=image.name,
            owner=image.owner,
            size=image.size,
            region=image.region,
            is_public=image.is_public,
            visibility=image.visibility,
            checksum=image.checksum,
            status=image.status,
            # A fresh dict per call: a condition can never change the image.
            user_properties=dict(image.properties),
        )


@dataclass(frozen=True)
class Selection:
    """The master images one target wants, smallest first."""

    images: tuple[Image, ...] = ()
    #: Whether the target's condition failed on some image: then the
    #: selection cannot be trusted to say an image is gone.
    failed: bool = False


def select(catalog: MasterCatalog, target: TargetSettings) -> Selection:
    """The catalog's images the target wants.

    It depends on the target only, not on the region: compute it once per
    target and plan every region of the target with it.
    """
    chosen = []
    failed = False
    for image in catalog.images:
        verdict = _verdict(image, target)
        failed = failed or verdict is None
        if verdict:
            chosen.append(image)
    return Selection(tuple(sorted(chosen, key=lambda i: (i.size, i.name))), failed)


def selected_images(catalog: MasterCatalog, target: TargetSettings) -> tuple[Image, ...]:
    """The images of :func:`select`."""
    return select(catalog, target).images


def is_selected(image: Image, target: TargetSettings) -> bool:
    """The seed's selection rules, in their order.

    A condition that fails on one image's data (a missing key, say) does
    not select it, and says so once in the log.
    """
    return bool(_verdict(image, target))


def _verdict(image: Image, target: TargetSettings) -> bool | None:
    """Whether the target selects *image*; None when its condition failed on it."""
    if image.id in target.forcesyncs:
        return True
    if target.metadata_condition is not None:
        try:
            return target.metadata_condition.evaluate(ConditionView.of(image), target.metadata_set)
        except ConditionError as error:
            LOG.warning(
                "[%s] metadata_condition failed for image %r: %s", target.name, image.name, error
            )
            return None
    if not image.is_public:
        return False
    if target.metadata_set:
        return bool(target.metadata_set.intersection(image.properties))
    return True
