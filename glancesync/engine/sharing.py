"""Sharing: the members of a shared master image follow it to its copies.

For a master image with ``visibility = shared``, its member projects are
added to each copy. A region of the master's Keystone has the same project
ids; another target maps them with ``member_projects``. Members without a
mapping are skipped with one warning per image. Members the master removed
are removed from copies that carry provenance, and only those glancesync
added itself (it records them on the copy): a member that only the region
added is the region's own. Accepting a membership is the member's business,
never the owner's (doc/manual.rst, "Sharing").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from glancesync.config.settings import TargetSettings
from glancesync.model.image import Image
from glancesync.model.provenance import Provenance
from glancesync.model.values import empty


@dataclass(frozen=True)
class MemberLists:
    """Member projects read for planning: master image id or region image id -> projects.

    An image missing here was not read (it is not shared, or not a copy of
    a shared image), and its members are not planned.
    """

    master: Mapping[str, frozenset[str]] = field(default_factory=empty)
    region: Mapping[str, frozenset[str]] = field(default_factory=empty)


@dataclass(frozen=True)
class MemberChange:
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    #: The new record of members glancesync added, when it changes.
    record: frozenset[str] | None = None
    warnings: tuple[str, ...] = ()


#: The change of a copy whose members were not read, or need nothing.
NO_MEMBER_CHANGE = MemberChange()


def wanted_members(
    master: Image, lists: MemberLists, target: TargetSettings
) -> tuple[frozenset[str], tuple[str, ...]]:
    """The projects a copy of *master* in this target is shared with, and warnings."""
    if master.visibility != "shared":
        return frozenset(), ()
    projects = lists.master.get(master.id, frozenset())
    if target.name == "master":
        return projects, ()
    mapped = {p: target.member_projects.get(p) for p in sorted(projects)}
    unmapped = [p for p, q in mapped.items() if q is None]
    warnings: tuple[str, ...] = ()
    if unmapped:
        warnings = (
            f"image {master.name!r}: member projects without a member_projects mapping "
            f"in target {target.name!r} are not added: {', '.join(unmapped)}",
        )
    return frozenset(q for q in mapped.values() if q is not None), warnings


def member_change(
    master: Image,
    copy: Image,
    provenance: Provenance | None,
    lists: MemberLists,
    target: TargetSettings,
) -> MemberChange:
    """What makes the copy's members follow the master's."""
    current = lists.region.get(copy.id)
    if current is None:
        return NO_MEMBER_CHANGE
    wanted, warnings = wanted_members(master, lists, target)
    add = tuple(sorted(wanted - current))
    if provenance is None:
        return MemberChange(add=add, warnings=warnings)
    remove = tuple(sorted((provenance.members - wanted) & current))
    record = wanted if wanted != provenance.members else None
    return MemberChange(add=add, remove=remove, record=record, warnings=warnings)
