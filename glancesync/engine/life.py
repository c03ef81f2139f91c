"""The planner's rules for an image's life after its first copy: renames and adoption.

Both rest on provenance (:mod:`glancesync.model.provenance`): a copy that
records which master image it was made from can follow that image when it
is renamed, and ``--adopt`` gives that record to copies made before it
existed (doc/manual.rst, "An image's life").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass

from glancesync.config.settings import TargetSettings
from glancesync.engine.records import format_warnings, metadata_change
from glancesync.engine.selection import MasterCatalog
from glancesync.engine.sharing import MemberLists, member_change
from glancesync.engine.steps import NO_CHANGE, Action, PlannedImage, RegionPlan, Status
from glancesync.model.changes import MetadataChange
from glancesync.model.image import Image
from glancesync.model.provenance import provenance_of, stamp
from glancesync.model.region import RegionRef
from glancesync.model.values import frozen


@dataclass(frozen=True)
class Renamed:
    """A copy whose master image now has another name."""

    master: Image
    copy: Image

    def planned(self, members: MemberLists, target: TargetSettings) -> PlannedImage:
        """Rename in place (same id, no upload), and bring the rest in step."""
        sharing = member_change(self.master, self.copy, provenance_of(self.copy), members, target)
        change = metadata_change(self.master, self.copy, target, sharing)
        warnings = sharing.warnings + format_warnings(self.master, self.copy)
        return PlannedImage(
            self.master,
            Status.PENDING_METADATA,
            Action.FOLLOW_RENAME,
            self.copy,
            change._replace(name=self.master.name),
            warnings=warnings,
        )


def follow_renames(
    selected: Sequence[Image],
    by_name: Mapping[str, Sequence[Image]],
    present: Sequence[Image],
    project_id: str | None,
    names: Set[str] | None = None,
) -> dict[str, Renamed]:
    """Selected master images whose copy is found under an old name, by name.

    Only when the new name is free in the region: otherwise the conflict
    rules apply to that name as to any other. A copy qualifies when it is
    ours, its provenance names the master image, it holds the master's
    bytes, and its name is not that of another selected master image.
    *present* are the region's images, which *by_name* groups by name.
    *names* are the names of every selected image when *selected* holds
    only some of them (the planner passes those the region lacks).
    """
    wanted = {image.id: image for image in selected if not by_name.get(image.name)}
    if not wanted:
        return {}
    if names is None:
        names = {image.name for image in selected}
    others = [
        copy
        for copy in present
        if copy.name not in names and (project_id is None or copy.owner == project_id)
    ]
    found: dict[str, Renamed] = {}
    for copy in sorted(others, key=lambda i: (i.created_at, i.id)):
        origin = provenance_of(copy)
        master = wanted.get(origin.source_id) if origin is not None else None
        if master is not None and master.name not in found and copy.same_content(master):
            found[master.name] = Renamed(master, copy)
    return found


def kept_master_ids(catalog: MasterCatalog, selected: Sequence[Image]) -> frozenset[str]:
    """Master ids whose copies are never retired in this run.

    The selected images, and the master's active images that are not synced
    for a reason other than being gone: ``NAME_obsolete`` images (retired only
    once the master removes them) and images with a duplicated name.
    """
    listed = {image.id for image in catalog.images}
    return frozenset(image.id for image in selected) | (frozenset(catalog.by_id) - listed)


def adoption_plan(
    region: RegionRef,
    entries: Sequence[PlannedImage],
    project_id: str | None,
    warnings: tuple[str, ...],
) -> RegionPlan:
    """``--adopt``: stamp provenance on our same-content copies that lack it; nothing else."""
    adopted = []
    for entry in entries:
        copy = entry.region_image
        adoptable = (
            copy is not None
            and (project_id is None or copy.owner == project_id)
            and copy.same_content(entry.master)
            and provenance_of(copy) is None
        )
        if adoptable:
            change = MetadataChange(set_properties=frozen(stamp(entry.master, entry.master.region)))
            adopted.append(entry._replace(action=Action.ADOPT, change=change, new_image=None))
        else:
            adopted.append(
                entry._replace(
                    action=Action.NONE,
                    change=NO_CHANGE,
                    new_image=None,
                    awaits=frozen({}),
                    leftovers=(),
                )
            )
    return RegionPlan(region=region, detailed=tuple(adopted), warnings=warnings)
