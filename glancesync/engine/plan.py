"""The region plan: what state each image is in, and what to do about it.

:func:`plan_region` is a pure function. ``--show-status`` and ``--dry-run``
print its result and sync applies it, so the status an operator reads and
the work glancesync does can never disagree.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import cast

from glancesync.config.settings import TargetSettings
from glancesync.engine.ami import resolve_ami
from glancesync.engine.life import adoption_plan, follow_renames
from glancesync.engine.prepared import (
    MasterFacts,
    TargetView,
    in_sync,
    prepared,
    quick_in_sync,
)
from glancesync.engine.records import (
    format_warnings,
    metadata_change,
    new_image_for,
    rename_change,
)
from glancesync.engine.retire import RetireMode, RetirePlan, plan_retirements
from glancesync.engine.selection import OBSOLETE_SUFFIX, MasterCatalog
from glancesync.engine.sharing import MemberLists, member_change, wanted_members
from glancesync.engine.steps import (
    NO_CHANGE,
    Action,
    PlannedImage,
    RegionPlan,
    Status,
    settled,
)
from glancesync.engine.storage import (
    Conversion,
    Need,
    Storage,
    holds,
    preflight,
    storage_for,
    upload_need,
)
from glancesync.model.changes import MetadataChange
from glancesync.model.image import Image
from glancesync.model.provenance import provenance_of
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
#: A place in the entry list, filled once renames are known.
NOTHING_YET = cast(PlannedImage, None)


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

    The cyclic garbage collector is paused meanwhile: a plan is tens of
    thousands of acyclic frozen values, and the collector's passes over the
    whole heap, triggered by their allocation, would find nothing to free
    (bench/planning.py measures the difference).
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _plan_region(
            region,
            catalog,
            selected,
            region_images,
            target,
            project_id,
            members=members,
            now=now,
            selection_failed=selection_failed,
            adopt=adopt,
            offer=offer,
        )
    finally:
        if paused:
            gc.enable()


def _plan_region(
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
    """:func:`plan_region`, the collector paused."""
    storage = storage_for(target, region.name)
    mine = (
        list(region_images)
        if project_id is None
        else [i for i in region_images if i.owner == project_id]
    )
    visible = mine if target.only_tenant_images else region_images
    leftovers = _by_name(i for i in mine if i.status in LEFTOVER_STATES)
    present = [i for i in visible if i.status in PRESENT_STATES]

    obsolete: list[PlannedImage] = []
    if target.support_obsolete_images:
        obsolete = _plan_obsolete(catalog, present, project_id, target)
        consumed = {entry.region_image.id for entry in obsolete if entry.region_image}
        present = [i for i in present if i.id not in consumed]
    view = prepared(catalog, selected, target)
    by_name = _by_name(present)

    # Most images are in sync: a cheap check settles them (prepared.in_sync);
    # every other image takes the full rules below.
    entries: list[PlannedImage] = []
    slow: list[int] = []
    missing: list[int] = []
    conversions = _conversions(view, storage, offer)
    stores = storage.stores
    append, listed = entries.append, by_name.get
    for index, (image, facts) in enumerate(view.pairs):
        candidates = listed(image.name)
        if candidates is None:
            missing.append(index)
            append(NOTHING_YET)
            continue
        conversion = conversions[index] if conversions else None
        if len(candidates) == 1:
            copy = candidates[0]
            if (
                (project_id is None or copy.owner == project_id)
                and _in_sync(image, facts, copy, conversion)
                and not (stores and storage.missing_stores(copy))
            ):
                append(settled(image, copy, conversion))
                continue
        slow.append(index)
        append(
            _plan_content(
                image, candidates, target, project_id, members, view, facts, storage, conversion
            )
        )
    if missing:
        lacking = [selected[index] for index in missing]
        renamed = follow_renames(lacking, by_name, project_id, names=view.name_set)
        for index, image in zip(missing, lacking, strict=True):
            entries[index] = (
                renamed[image.name].planned(members, target)
                if image.name in renamed
                else _plan_content(
                    image,
                    (),
                    target,
                    project_id,
                    members,
                    view,
                    view.facts[index],
                    storage,
                    conversions[index] if conversions else None,
                )
            )
        slow = sorted(slow + missing)
    base = (
        dict(zip(view.names, entries, strict=True)) if any(view.facts[i].ami for i in slow) else {}
    )
    for index in slow:
        image = selected[index]
        entry = entries[index]
        if view.facts[index].ami:
            entry = resolve_ami(entry, catalog, base, by_name, project_id)
        if entry.action.uploads and image.name in leftovers:
            entry = replace(entry, leftovers=tuple(leftovers[image.name]))
        entries[index] = entry
    if adopt:
        return adoption_plan(region, entries, project_id, catalog.warnings)
    retiring = RetirePlan()
    if RetireMode(target.retire) is not RetireMode.KEEP:
        claimed = {e.region_image.id for e in (*entries, *obsolete) if e.region_image is not None}
        # A region NAME_obsolete holding the bytes of the master's NAME_obsolete is not gone.
        obsolete_by_name = view.obsolete_by_name
        claimed |= {
            i.id
            for i in present
            if i.name in obsolete_by_name and i.same_content(obsolete_by_name[i.name])
        }
        retiring = plan_retirements(
            (i for i in present if i.id not in claimed),
            master_region=catalog.region,
            kept_ids=view.kept_ids,
            trustworthy=_distrust(catalog, target, selection_failed),
            target=target,
            project_id=project_id,
            now=now or datetime.now(timezone.utc),
        )
    return RegionPlan(
        region=region,
        entries=tuple(entries),
        obsolete=tuple(obsolete),
        warnings=catalog.warnings + retiring.warnings,
        retirements=retiring.steps,
        retire_blocked=retiring.blocked,
        blocked=_preflight(region, storage, entries, offer),
    )


def _conversions(
    view: TargetView, storage: Storage, offer: RegionOffer | None
) -> tuple[Conversion | None, ...]:
    """Each selected image's conversion in this region; () when the region wants none."""
    if storage.disk_format is None:
        return ()
    return tuple(storage.conversion(image, offer) for image in view.selected)


def _in_sync(image: Image, facts: MasterFacts, copy: Image, conversion: Conversion | None) -> bool:
    """Whether this own copy, the only one of its name, needs nothing (but maybe stores).

    Without conversion the copy holds the master's bytes; with one it holds
    them converted, by its provenance (:func:`~glancesync.engine.storage.holds`),
    and its format differs from the master's by design, so formats are not
    compared (no format warning is given then either).
    """
    if conversion is None:
        return quick_in_sync(facts, copy) or (
            copy.same_content(image) and in_sync(image, facts, copy)
        )
    return holds(copy, image, conversion) and in_sync(image, facts, copy, formats=False)


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


def _by_name(images: Iterable[Image]) -> dict[str, Sequence[Image]]:
    """Images by name, each name's oldest first (then by id).

    Most names are held by one image: those are grouped at C speed, and
    only a listing with repeated names is grouped again image by image.
    """
    listed = list(images)
    result: dict[str, Sequence[Image]] = {image.name: (image,) for image in listed}
    if len(result) < len(listed):
        groups: dict[str, list[Image]] = {}
        for image in listed:
            groups.setdefault(image.name, []).append(image)
        for name, same in groups.items():
            if len(same) > 1:
                result[name] = sorted(same, key=lambda i: (i.created_at, i.id))
    return result


def _plan_content(
    master: Image,
    candidates: Sequence[Image],
    target: TargetSettings,
    project_id: str | None,
    members: MemberLists,
    view: TargetView,
    facts: MasterFacts,
    storage: Storage = NO_STORAGE_RULES,
    conversion: Conversion | None = None,
) -> PlannedImage:
    """Status from the image's own content, before AMI references are looked at.

    *conversion* is ``storage.conversion(master, offer)``, made by the caller.
    """
    if not candidates and master.visibility != "shared":
        return view.upload_entry(master, conversion, storage.stores)
    if not candidates:
        shared_with, notes = wanted_members(master, members, target)
        return PlannedImage(
            master,
            Status.PENDING_UPLOAD,
            Action.UPLOAD,
            new_image=new_image_for(master, target, shared_with, conversion),
            warnings=notes,
            conversion=conversion,
            stores=storage.stores,
        )
    matching = [c for c in candidates if holds(c, master, conversion)]
    # Prefer our own copy when several hold the right bytes.
    if len(matching) > 1:
        matching.sort(key=lambda c: c.owner != project_id)
    chosen = matching[0] if matching else _prefer_own(candidates, project_id)
    warnings: tuple[str, ...] = ()
    if len(candidates) > 1:
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
            change = metadata_change(master, chosen, target, sharing, facts.wanted)
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
        entry = replace(entry, new_image=spec, conversion=conversion, stores=storage.stores)
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
