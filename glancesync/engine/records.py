"""The records a plan asks to write: what a new copy carries, what changes on an old one.

The planner (:mod:`glancesync.engine.plan`) decides *whether* an image is
uploaded, updated or renamed; this module says *what* is written then,
following the property rules of ``doc/design.rst`` ("Which properties
travel", "Removing properties", "Renamed images").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from glancesync.config.settings import TargetSettings
from glancesync.engine.sharing import NO_MEMBER_CHANGE, MemberChange
from glancesync.engine.storage import Conversion
from glancesync.model.changes import MetadataChange, NewImage
from glancesync.model.image import AMI_KEYS, Image
from glancesync.model.provenance import (
    CONVERTED_FROM,
    MEMBERS,
    PREFIX,
    members_value,
    provenance_of,
    stamp,
)
from glancesync.model.values import frozen

#: The suffix of a region image set aside by the ``rename`` rule.
RENAMED_SUFFIX = ".old"
#: The suffix its ``metadata_set`` properties get, so they answer to nothing.
BACKUP_SUFFIX = ".bak"


def copied_properties(master: Image, target: TargetSettings) -> dict[str, Any]:
    """The master's properties a region gets; AMI keys aside.

    See doc/design.rst, "Which properties travel".
    """
    keys = target.metadata_set or master.properties.keys()
    return {
        key: master.properties[key]
        for key in keys
        if key in master.properties and key not in AMI_KEYS
    }


def new_image_for(
    master: Image,
    target: TargetSettings,
    members: frozenset[str] = frozenset(),
    conversion: Conversion | None = None,
) -> NewImage:
    """The record to create in a region for ``master``: system fields always travel.

    It carries its provenance, asks for the master's id with ``keep_ids``,
    and names the projects it is shared with once verified. A converted copy
    is created in its own disk format and records the master's.
    """
    bookkeeping = stamp(master, master.region)
    if members:
        bookkeeping[MEMBERS] = members_value(members)
    if conversion is not None:
        bookkeeping[CONVERTED_FROM] = conversion.source
    return NewImage(
        name=master.name,
        visibility=master.visibility,
        disk_format=conversion.target if conversion is not None else master.disk_format,
        container_format=master.container_format,
        min_ram=master.min_ram,
        min_disk=master.min_disk,
        protected=master.protected,
        hidden=master.hidden,
        tags=master.tags,
        properties=frozen(copied_properties(master, target)),
        bookkeeping=frozen(bookkeeping),
        id=master.id if target.keep_ids else None,
        members=tuple(sorted(members)),
    )


def metadata_change(
    master: Image,
    region_image: Image,
    target: TargetSettings,
    members: MemberChange | None = None,
    wanted: Mapping[str, Any] | None = None,
) -> MetadataChange:
    """What makes a same-content region image match the master.

    With ``metadata_set``, the listed properties are made equal, removals
    included. Without it, properties are added and replaced, never removed.
    ``visibility``, ``min_ram``, ``min_disk``, ``tags`` and ``protected``
    follow the master; ``os_hidden`` is the region's own business after
    upload (doc/design.rst, "Which properties travel", "Hidden images").
    A copy with provenance has it kept naming this master image and its
    bytes; a copy without provenance is given none here (``--adopt`` does).
    *wanted* is :func:`copied_properties` when the caller has it already.
    """
    if wanted is None:
        wanted = copied_properties(master, target)
    current = region_image.properties
    set_properties = {k: v for k, v in wanted.items() if current.get(k) != v}
    removed: tuple[str, ...] = ()
    if target.metadata_set:
        # AMI keys follow the AMI rules whatever metadata_set says
        # (doc/design.rst, "Which properties travel").
        kept = wanted.keys() | set(AMI_KEYS)
        removed = tuple(sorted(k for k in target.metadata_set if k in current and k not in kept))
    found = provenance_of(region_image)
    if found is not None:
        fresh = stamp(master, master.region)
        set_properties.update({k: v for k, v in fresh.items() if region_image.raw.get(k) != v})
    members = members or NO_MEMBER_CHANGE
    if members.record is not None:
        set_properties[MEMBERS] = members_value(members.record)

    return MetadataChange(
        visibility=master.visibility if region_image.visibility != master.visibility else None,
        min_ram=master.min_ram if region_image.min_ram != master.min_ram else None,
        min_disk=master.min_disk if region_image.min_disk != master.min_disk else None,
        tags=None if _same_tags(region_image.tags, master.tags) else master.tags,
        protected=master.protected if region_image.protected != master.protected else None,
        set_properties=frozen(set_properties),
        remove_properties=removed,
        add_members=members.add,
        remove_members=members.remove,
    )


def _same_tags(mine: tuple[str, ...], theirs: tuple[str, ...]) -> bool:
    return mine == theirs or sorted(mine) == sorted(theirs)


def format_warnings(master: Image, region_image: Image) -> tuple[str, ...]:
    """Formats cannot change on an active image: a difference is only reported."""
    if (
        region_image.disk_format == master.disk_format
        and region_image.container_format == master.container_format
    ):
        return ()
    return tuple(
        f"image {master.name!r}: {what} is {mine} in the region and {theirs} on the master; "
        "it cannot change on an active image"
        for what, mine, theirs in (
            ("disk_format", region_image.disk_format, master.disk_format),
            ("container_format", region_image.container_format, master.container_format),
        )
        if mine and theirs and mine != theirs
    )


def rename_change(old: Image, target: TargetSettings) -> MetadataChange:
    """Turn the region's old image into ``NAME.old``: private, answering to nothing.

    Its properties that are in ``metadata_set`` become ``PROP.bak`` so that
    selection rules and users no longer take it for the current image
    (doc/design.rst, "Renamed images").
    """
    moved = {k: old.properties[k] for k in sorted(target.metadata_set) if k in old.properties}
    # Set aside, it is no copy of anything any more: it loses its provenance,
    # so that it is the region's own and never retired.
    bookkeeping = tuple(sorted(k for k in old.raw if k.startswith(PREFIX)))
    return MetadataChange(
        name=old.name + RENAMED_SUFFIX,
        visibility="private" if old.visibility != "private" else None,
        set_properties=frozen({k + BACKUP_SUFFIX: v for k, v in moved.items()}),
        remove_properties=tuple(moved) + bookkeeping,
    )
