"""Obsolete images: the region follows the master's ``NAME_obsolete``.

See doc/design.rst, "Obsolete images".
"""

from __future__ import annotations

from collections.abc import Sequence

from glancesync.config.settings import TargetSettings
from glancesync.engine.selection import OBSOLETE_SUFFIX, MasterCatalog
from glancesync.engine.steps import (
    Action,
    PlannedImage,
    Status,
)
from glancesync.model.changes import MetadataChange
from glancesync.model.image import Image
from glancesync.model.values import frozen


def plan_obsolete(
    catalog: MasterCatalog,
    present: Sequence[Image],
    project_id: str | None,
    target: TargetSettings,
) -> list[PlannedImage]:
    """Follow the master when it marks an image ``NAME_obsolete``.

    Only our own region copies with the same bytes are touched: the region's
    ``NAME`` is renamed, and an existing ``NAME_obsolete`` gets the master's
    visibility and ``obsolete_syncprops``. A region ``NAME`` that is also the
    copy of the master's live ``NAME`` (same bytes) stays: renaming it would
    make every run upload it again and rename it again.
    """
    if not catalog.obsolete:
        return []
    live = {image.name: image for image in catalog.images}
    own = [i for i in present if project_id is None or i.owner == project_id]
    entries = []
    for master in sorted(catalog.obsolete, key=lambda i: (i.size, i.name)):
        base_name = master.name[: -len(OBSOLETE_SUFFIX)]
        current = live.get(base_name)
        for image in own:
            if not image.same_content(master) or image.name not in (base_name, master.name):
                continue
            if image.name == base_name and current is not None and image.same_content(current):
                continue
            props = {
                k: master.properties[k]
                for k in sorted(target.obsolete_syncprops)
                if k in master.properties and image.properties.get(k) != master.properties[k]
            }
            change = MetadataChange(
                name=master.name if image.name != master.name else None,
                visibility=master.visibility if image.visibility != master.visibility else None,
                set_properties=frozen(props),
            )
            if change.is_empty():
                continue
            action = Action.RENAME_OBSOLETE if change.name else Action.UPDATE_OBSOLETE
            entries.append(PlannedImage(master, Status.PENDING_METADATA, action, image, change))
    return entries
