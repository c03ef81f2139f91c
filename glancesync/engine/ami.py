"""AMI references: a copy's ``kernel_id`` and ``ramdisk_id`` name this region's images.

The master's references are master ids; each region has its own ids for
the same kernel and ramdisk, so the planner resolves them per region
(doc/design.rst, "Which properties travel").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from glancesync.engine.selection import MasterCatalog
from glancesync.engine.steps import NO_CHANGE, Action, PlannedImage, Status
from glancesync.model.image import AMI_KEYS, Image
from glancesync.model.values import frozen


def resolve_ami(
    entry: PlannedImage,
    catalog: MasterCatalog,
    entry_of: Callable[[str], PlannedImage | None],
    by_name: Mapping[str, Sequence[Image]],
    project_id: str | None,
) -> PlannedImage:
    """Resolve kernel_id and ramdisk_id to this region's UUIDs.

    An image's own checksum conflict has the last word; only an image whose
    content is fine (missing, or present with the right bytes) gets
    ``pending_ami`` or ``error_ami``. Only real region UUIDs are ever written,
    and never into another project's image (doc/design.rst, "Other projects'
    images are never modified").
    """
    refs = {key: entry.master.properties[key] for key in AMI_KEYS if key in entry.master.properties}
    if not refs or entry.status in (Status.ERROR_CHECKSUM, Status.OK_STALLED_CHECKSUM):
        return entry
    region_image = entry.region_image
    if region_image and project_id is not None and region_image.owner != project_id:
        return entry
    resolved: dict[str, str] = {}
    awaits: dict[str, str] = {}
    problems: list[str] = []
    for key, master_id in refs.items():
        ref = catalog.by_id.get(str(master_id))
        if ref is None:
            problems.append(f"{key} {master_id} is not an image of the master")
            continue
        dependency = entry_of(ref.name)
        if dependency is not None:
            if dependency.status.is_error:
                problems.append(f"{key} image {ref.name!r} is in {dependency.status}")
            elif dependency.action.uploads:
                awaits[key] = ref.name
            elif dependency.region_image is not None:
                resolved[key] = dependency.region_image.id
            continue
        copies = [i for i in by_name.get(ref.name, ()) if i.same_content(ref)]
        if copies:
            resolved[key] = copies[0].id
        else:
            problems.append(f"{key} image {ref.name!r} is not selected for sync")

    own_content_fine = entry.status in (
        Status.OK,
        Status.PENDING_METADATA,
        Status.PENDING_UPLOAD,
    )
    if entry.new_image is not None:
        new_image = replace(
            entry.new_image, properties=frozen({**entry.new_image.properties, **resolved})
        )
        entry = entry._replace(new_image=new_image, awaits=frozen(awaits))
    if problems and own_content_fine:
        warning = f"image {entry.master.name!r}: " + "; ".join(problems)
        return entry._replace(
            status=Status.ERROR_AMI,
            action=Action.NONE,
            change=NO_CHANGE,
            new_image=None,
            awaits=frozen({}),
            warnings=(*entry.warnings, warning),
        )
    if entry.region_image is not None and entry.status in (Status.OK, Status.PENDING_METADATA):
        current = entry.region_image.properties
        fixes = {k: v for k, v in resolved.items() if current.get(k) != v}
        change = entry.change
        if fixes:
            change = change._replace(set_properties=frozen({**change.set_properties, **fixes}))
        status = Status.PENDING_METADATA if not change.is_empty() else entry.status
        action = Action.UPDATE_METADATA if not change.is_empty() else entry.action
        # Most copies have their references right already: then the entry stays as it is.
        if (
            fixes
            or awaits
            or entry.awaits
            or status is not entry.status
            or action is not entry.action
        ):
            entry = entry._replace(
                change=change, awaits=frozen(awaits), status=status, action=action
            )
    if awaits and own_content_fine:
        entry = entry._replace(status=Status.PENDING_AMI)
    return entry
