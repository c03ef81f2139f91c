"""The old tool's conveniences that print or prompt, kept for its API users.

:class:`~glancesync.api.GlanceSync` returns values and prints nothing; the
methods of the programmer's API that the old tool defined as printing
(``print_images``, ``print_images_master_region``, ``sync_region`` with
``dry_run``) or asking (``delete_image``) delegate here, so that every
write to the terminal of the library lives in this one module.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from glancesync.engine.selection import is_selected
from glancesync.model.errors import ImageError
from glancesync.model.region import RegionRef
from glancesync.report import dry_run_text, images_table

if TYPE_CHECKING:
    from glancesync.api import GlanceSync


def print_master_images(sync: GlanceSync) -> None:
    """Print the master images that at least one target selects for sync."""
    catalog = sync.master_catalog()
    targets = sync.settings.targets.values()
    chosen = [i for i in catalog.images if any(is_selected(i, t) for t in targets)]
    sys.stdout.write(images_table(chosen, {image.name: image for image in chosen}))


def print_region_images(sync: GlanceSync, region: RegionRef) -> None:
    """Print a region's images with the old tool's anomaly markers."""
    master = sync.facade.list_images(sync.master_region)
    by_name = {image.name: image for image in master if image.status == "active"}
    sys.stdout.write(images_table(sync.own_and_public(region), by_name))


def print_plan(sync: GlanceSync, region: RegionRef) -> None:
    """Print what a sync of *region* would do (the old ``dry_run``)."""
    sys.stdout.write(dry_run_text(sync.plan_region(region)))


def confirmed_delete(sync: GlanceSync, region: RegionRef, uuid: str, confirm: bool) -> bool:
    """Delete one of our images, asking on the terminal first when *confirm*."""
    image = sync.facade.get_image(region, uuid)
    if image.owner != sync.facade.project_id(region.target):
        raise ImageError(region.full, image.name, "belongs to another project; not deleted")
    if confirm:
        answer = input(f"Delete image {image.name!r} ({uuid}) in {region.full}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return False
    sync.facade.delete_image(region, uuid)
    return True
