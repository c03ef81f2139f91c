"""The rules for one selected master image in a region: its content, then its conflicts.

A region image of the same name holds the master's bytes (or, for a copy
converted for its region, records them), or it does not: then the conflict
lists decide, in the documented order (doc/manual.rst, "Conflicts"). Called
by :func:`glancesync.engine.plan.plan_region` for every image the quick
in-sync check did not settle.
"""

from __future__ import annotations

from collections.abc import Sequence

from glancesync.config.settings import TargetSettings
from glancesync.engine.prepared import (
    MasterFacts,
    TargetView,
)
from glancesync.engine.records import (
    format_warnings,
    metadata_change,
    new_image_for,
    rename_change,
)
from glancesync.engine.sharing import MemberLists, member_change, wanted_members
from glancesync.engine.steps import (
    NO_CHANGE,
    Action,
    PlannedImage,
    Status,
)
from glancesync.engine.storage import (
    Conversion,
    Storage,
    holds,
)
from glancesync.model.changes import MetadataChange
from glancesync.model.image import Image
from glancesync.model.provenance import provenance_of

#: A region that stores copies as the master does.
NO_STORAGE_RULES = Storage()


def plan_content(
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
    chosen = matching[0] if matching else prefer_own(candidates, project_id)
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
        empty = change.is_empty()
        status = Status.OK if empty else Status.PENDING_METADATA
        action = Action.NONE if empty else Action.UPDATE_METADATA
        missing = () if foreign or not storage.stores else storage.missing_stores(chosen)
        if missing and empty:
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
    entry = plan_conflict(master, chosen, target, warnings + more, shared_with)
    if entry.action.uploads and entry.new_image is not None:
        spec = new_image_for(master, target, shared_with, conversion)
        entry = entry._replace(new_image=spec, conversion=conversion, stores=storage.stores)
    return entry


def prefer_own(candidates: Sequence[Image], project_id: str | None) -> Image:
    own = [c for c in candidates if project_id is None or c.owner == project_id]
    return own[0] if own else candidates[0]


def plan_conflict(
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
