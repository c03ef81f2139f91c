"""The planner as it is without its fast path: the reference the fast one must equal.

A frozen copy of the straightforward rules of glancesync/engine/plan.py (one
full pass per image and region), storage rules included (conversion,
stores, preflight: glancesync/engine/storage.py), kept for two readers:
test/unit/test_plan_fast.py asserts that
:func:`glancesync.engine.plan.plan_region` makes the same plans on large
generated federations, and bench/planning.py times both side by side. It
is not used by glancesync itself. The helpers that the fast planner
changed (:func:`follow_renames`, :func:`metadata_change`,
:func:`format_warnings`, a rename's entry, the AMI rules) are copied here
as they are without it, so that the reference does not move with them.
When a rule changes, it changes here too, in the same commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone

from glancesync.config.settings import TargetSettings
from glancesync.engine.life import Renamed, adoption_plan, kept_master_ids
from glancesync.engine.records import copied_properties, new_image_for, rename_change
from glancesync.engine.retire import plan_retirements
from glancesync.engine.selection import OBSOLETE_SUFFIX, MasterCatalog
from glancesync.engine.sharing import MemberChange, MemberLists, member_change, wanted_members
from glancesync.engine.steps import (
    NO_CHANGE,
    Action,
    PlannedImage,
    RegionPlan,
    Status,
)
from glancesync.engine.storage import Need, Storage, holds, preflight, storage_for, upload_need
from glancesync.model.changes import MetadataChange
from glancesync.model.image import AMI_KEYS, Image
from glancesync.model.provenance import MEMBERS, members_value, provenance_of, stamp
from glancesync.model.region import RegionRef
from glancesync.model.storage import RegionOffer
from glancesync.model.values import frozen

#: Region images in these states are records a run created and never
#: finished. They are not copies of anything, and are removed before upload.
LEFTOVER_STATES = frozenset({"queued", "saving", "killed"})
#: The member lists of a region without shared images.
NO_MEMBERS = MemberLists()
#: A region that stores copies as the master does.
NO_STORAGE_RULES = Storage()
#: States in which a region image counts as present.
PRESENT_STATES = frozenset({"active", "deactivated"})


def plan_region(
    region: RegionRef,
    catalog: MasterCatalog,
    selected: Sequence[Image],
    region_images: Sequence[Image],
    target: TargetSettings,
    project_id: str | None,
    *,
    members: MemberLists = NO_MEMBERS,
    now: datetime | None = None,
    selection_failed: bool = False,
    adopt: bool = False,
    offer: RegionOffer | None = None,
) -> RegionPlan:
    """Decide the status and action of every selected master image in ``region``.

    ``selected`` is :func:`~glancesync.engine.selection.selected_images` of the
    catalog for this target, smallest first. ``project_id`` is the project
    of the target's credentials: region images of other projects are never
    modified and, with ``only_tenant_images``, not even looked at.
    ``members`` are the member lists read for shared images, ``now`` the
    moment retirement delays are measured from, ``selection_failed`` whether
    the target's selection failed on some image (then nothing is retired).
    With ``adopt`` the plan only stamps provenance (doc/manual.rst,
    "An image's life"). ``offer`` is what the region offers (import methods,
    stores, quotas), read before a plan that writes: conversions are planned
    from it, and a plan the region cannot take is ``blocked``.
    """
    storage = storage_for(target, region.name)
    mine = [i for i in region_images if project_id is None or i.owner == project_id]
    visible = mine if target.only_tenant_images else list(region_images)
    leftovers = _by_name(i for i in mine if i.status in LEFTOVER_STATES)
    present = [i for i in visible if i.status in PRESENT_STATES]

    obsolete: list[PlannedImage] = []
    if target.support_obsolete_images:
        obsolete = _plan_obsolete(catalog, present, project_id, target)
        consumed = {entry.region_image.id for entry in obsolete if entry.region_image}
        present = [i for i in present if i.id not in consumed]
    by_name = _by_name(present)
    renamed = follow_renames(selected, by_name, present, project_id)

    base = {
        image.name: _planned_rename(renamed[image.name], members, target)
        if image.name in renamed
        else _plan_content(
            image, by_name.get(image.name, ()), target, project_id, members, storage, offer
        )
        for image in selected
    }
    entries = []
    for image in selected:
        entry = _plan_ami(base[image.name], catalog, base, by_name, project_id)
        if entry.action.uploads:
            entry = entry._replace(leftovers=tuple(leftovers.get(image.name, ())))
        entries.append(entry)
    if adopt:
        return adoption_plan(region, entries, project_id, catalog.warnings)
    claimed = {e.region_image.id for e in (*entries, *obsolete) if e.region_image is not None}
    # A region NAME_obsolete holding the bytes of the master's NAME_obsolete is not gone.
    obsolete_by_name = {i.name: i for i in catalog.obsolete}
    claimed |= {
        i.id
        for i in present
        if i.name in obsolete_by_name and i.same_content(obsolete_by_name[i.name])
    }
    retiring = plan_retirements(
        (i for i in present if i.id not in claimed),
        master_region=catalog.region,
        kept_ids=kept_master_ids(catalog, selected),
        trustworthy=_distrust(catalog, target, selection_failed),
        target=target,
        project_id=project_id,
        now=now or datetime.now(timezone.utc),
    )
    return RegionPlan(
        region=region,
        detailed=tuple(entries),
        obsolete=tuple(obsolete),
        warnings=catalog.warnings + retiring.warnings,
        retirements=retiring.steps,
        retire_blocked=retiring.blocked,
        blocked=_preflight(region, storage, entries, offer),
    )


def _preflight(
    region: RegionRef, storage: Storage, entries: Sequence[PlannedImage], offer: RegionOffer | None
) -> str | None:
    """The region's verdict on the plan's uploads and store copies (None: not read, or fits)."""
    if offer is None:
        return None
    needs = [upload_need(e.master, e.conversion, e.stores) for e in entries if e.action.uploads]
    needs += [
        Need(e.master.size * len(e.stores), 0, len(e.stores))
        for e in entries
        if e.action is Action.COPY_STORES
    ]
    return preflight(region.full, storage, needs, offer)


def _distrust(catalog: MasterCatalog, target: TargetSettings, selection_failed: bool) -> str | None:
    """Why the master view cannot be trusted to retire anything, or None."""
    if not catalog.by_id:
        return "the master listing is empty"
    if selection_failed:
        return f"the selection of target {target.name!r} failed on some image"
    return None


def _by_name(images: Iterable[Image]) -> dict[str, list[Image]]:
    result: dict[str, list[Image]] = {}
    for image in sorted(images, key=lambda i: (i.created_at, i.id)):
        result.setdefault(image.name, []).append(image)
    return result


def _plan_content(
    master: Image,
    candidates: Sequence[Image],
    target: TargetSettings,
    project_id: str | None,
    members: MemberLists,
    storage: Storage = NO_STORAGE_RULES,
    offer: RegionOffer | None = None,
) -> PlannedImage:
    """Status from the image's own content, before AMI references are looked at."""
    conversion = storage.conversion(master, offer)
    if not candidates:
        shared_with, warnings = wanted_members(master, members, target)
        return PlannedImage(
            master,
            Status.PENDING_UPLOAD,
            Action.UPLOAD,
            new_image=new_image_for(master, target, shared_with, conversion),
            warnings=warnings,
            conversion=conversion,
            stores=storage.stores,
        )
    matching = [c for c in candidates if holds(c, master, conversion)]
    # Prefer our own copy when several hold the right bytes.
    matching.sort(key=lambda c: c.owner != project_id)
    chosen = matching[0] if matching else _prefer_own(candidates, project_id)
    warnings = tuple(
        f"region has another image named {master.name!r} ({other.id}); it is left alone"
        for other in candidates
        if other.id != chosen.id
    )
    foreign = project_id is not None and chosen.owner != project_id
    if matching:
        change = NO_CHANGE
        if not foreign:
            sharing = member_change(master, chosen, provenance_of(chosen), members, target)
            change = metadata_change(master, chosen, target, sharing)
            warnings += sharing.warnings
            if conversion is None:
                warnings += format_warnings(master, chosen)
        status = Status.OK if change.is_empty() else Status.PENDING_METADATA
        action = Action.NONE if change.is_empty() else Action.UPDATE_METADATA
        missing = () if foreign else storage.missing_stores(chosen)
        if missing and change.is_empty():
            status, action = Status.PENDING_UPLOAD, Action.COPY_STORES
        elif missing:
            warnings += (
                f"image {master.name!r}: not yet in store {', '.join(missing)}; "
                "the next sync adds it",
            )
        return PlannedImage(
            master,
            status,
            action,
            chosen,
            change,
            warnings=warnings,
            conversion=conversion,
            stores=missing if action is Action.COPY_STORES else (),
        )
    if foreign:
        warning = (
            f"image {master.name!r} in the region belongs to another project "
            f"({chosen.owner}) and has another checksum; it is never modified"
        )
        return PlannedImage(
            master, Status.ERROR_CHECKSUM, Action.NONE, chosen, warnings=(*warnings, warning)
        )
    shared_with, more = wanted_members(master, members, target)
    entry = _plan_conflict(master, chosen, target, warnings + more, shared_with)
    if entry.action.uploads and entry.new_image is not None:
        spec = new_image_for(master, target, shared_with, conversion)
        entry = entry._replace(new_image=spec, conversion=conversion, stores=storage.stores)
    return entry


def _prefer_own(candidates: Sequence[Image], project_id: str | None) -> Image:
    own = [c for c in candidates if project_id is None or c.owner == project_id]
    return own[0] if own else candidates[0]


def _plan_conflict(
    master: Image,
    chosen: Image,
    target: TargetSettings,
    warnings: tuple[str, ...],
    shared_with: frozenset[str],
) -> PlannedImage:
    """Same name, other bytes: the conflict lists decide, in documented order.

    rename is tried before replace because it keeps the old image.
    """
    sums = chosen.checksums()
    if target.dontupdate.names(sums):
        return PlannedImage(master, Status.OK_STALLED_CHECKSUM, Action.NONE, chosen)
    if target.rename.names(sums) or (target.rename.any and not target.replace.names(sums)):
        return PlannedImage(
            master,
            Status.PENDING_RENAME,
            Action.RENAME_AND_UPLOAD,
            chosen,
            rename_change(chosen, target),
            new_image=new_image_for(master, target, shared_with),
            warnings=warnings,
        )
    if target.replace.names(sums) or target.replace.any:
        if chosen.protected and not target.replace_protected:
            # Decided here, not refused later: --show-status, --dry-run and
            # the sync must all say the same (doc/design.rst, "The plan is
            # the only decider").
            warning = (
                f"image {master.name!r} has checksum {chosen.checksum} in the region and "
                f"{master.checksum} on the master, and is protected in the region: "
                "set replace_protected to replace it"
            )
            return PlannedImage(
                master, Status.ERROR_CHECKSUM, Action.NONE, chosen, warnings=(*warnings, warning)
            )
        change = MetadataChange(protected=False) if chosen.protected else NO_CHANGE
        return PlannedImage(
            master,
            Status.PENDING_REPLACE,
            Action.REPLACE,
            chosen,
            change,
            new_image=new_image_for(master, target, shared_with),
            warnings=warnings,
        )
    if target.dontupdate.any:
        return PlannedImage(master, Status.OK_STALLED_CHECKSUM, Action.NONE, chosen)
    warning = (
        f"image {master.name!r} has checksum {chosen.checksum} in the region and "
        f"{master.checksum} on the master: list it in dontupdate, rename or replace"
    )
    return PlannedImage(
        master, Status.ERROR_CHECKSUM, Action.NONE, chosen, warnings=(*warnings, warning)
    )


def _plan_ami(
    entry: PlannedImage,
    catalog: MasterCatalog,
    base: Mapping[str, PlannedImage],
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
        dependency = base.get(ref.name)
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
        entry = entry._replace(
            change=change,
            awaits=frozen(awaits),
            status=Status.PENDING_METADATA if not change.is_empty() else entry.status,
            action=Action.UPDATE_METADATA if not change.is_empty() else entry.action,
        )
    if awaits and own_content_fine:
        entry = entry._replace(status=Status.PENDING_AMI)
    return entry


def _plan_obsolete(
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


def follow_renames(
    selected: Sequence[Image],
    by_name: Mapping[str, Sequence[Image]],
    present: Sequence[Image],
    project_id: str | None,
) -> dict[str, Renamed]:
    """Selected master images whose copy is found under an old name, by name.

    Only when the new name is free in the region: otherwise the conflict
    rules apply to that name as to any other. A copy qualifies when it is
    ours, its provenance names the master image, it holds the master's
    bytes, and its name is not that of another selected master image.
    """
    wanted = {image.id: image for image in selected if not by_name.get(image.name)}
    if not wanted:
        return {}
    names = {image.name for image in selected}
    found: dict[str, Renamed] = {}
    for copy in sorted(present, key=lambda i: (i.created_at, i.id)):
        if copy.name in names or (project_id is not None and copy.owner != project_id):
            continue
        origin = provenance_of(copy)
        master = wanted.get(origin.source_id) if origin is not None else None
        if master is not None and master.name not in found and copy.same_content(master):
            found[master.name] = Renamed(master, copy)
    return found


def _planned_rename(renamed: Renamed, members: MemberLists, target: TargetSettings) -> PlannedImage:
    """``Renamed.planned``: rename in place (same id, no upload), and bring the rest in step."""
    master, copy = renamed.master, renamed.copy
    sharing = member_change(master, copy, provenance_of(copy), members, target)
    change = metadata_change(master, copy, target, sharing)
    warnings = sharing.warnings + format_warnings(master, copy)
    return PlannedImage(
        master,
        Status.PENDING_METADATA,
        Action.FOLLOW_RENAME,
        copy,
        change._replace(name=master.name),
        warnings=warnings,
    )


def metadata_change(
    master: Image,
    region_image: Image,
    target: TargetSettings,
    members: MemberChange | None = None,
) -> MetadataChange:
    """What makes a same-content region image match the master.

    With ``metadata_set``, the listed properties are made equal, removals
    included. Without it, properties are added and replaced, never removed.
    ``visibility``, ``min_ram``, ``min_disk``, ``tags`` and ``protected``
    follow the master; ``os_hidden`` is the region's own business after
    upload (doc/design.rst, "Which properties travel", "Hidden images").
    A copy with provenance has it kept naming this master image and its
    bytes; a copy without provenance is given none here (``--adopt`` does).
    """
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
    members = members or MemberChange()
    if members.record is not None:
        set_properties[MEMBERS] = members_value(members.record)

    return MetadataChange(
        visibility=master.visibility if region_image.visibility != master.visibility else None,
        min_ram=master.min_ram if region_image.min_ram != master.min_ram else None,
        min_disk=master.min_disk if region_image.min_disk != master.min_disk else None,
        tags=master.tags if sorted(region_image.tags) != sorted(master.tags) else None,
        protected=master.protected if region_image.protected != master.protected else None,
        set_properties=frozen(set_properties),
        remove_properties=removed,
        add_members=members.add,
        remove_members=members.remove,
    )


def format_warnings(master: Image, region_image: Image) -> tuple[str, ...]:
    """Formats cannot change on an active image: a difference is only reported."""
    return tuple(
        f"image {master.name!r}: {what} is {mine} in the region and {theirs} on the master; "
        "it cannot change on an active image"
        for what, mine, theirs in (
            ("disk_format", region_image.disk_format, master.disk_format),
            ("container_format", region_image.container_format, master.container_format),
        )
        if mine and theirs and mine != theirs
    )
