"""The region plan: what state each image is in, and what to do about it.

:func:`plan_region` is a pure function. ``--show-status`` and ``--dry-run``
print its result and sync applies it, so the status an operator reads and
the work glancesync does can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from itertools import compress, repeat
from operator import and_, attrgetter, is_, itemgetter, not_

from glancesync.config.settings import TargetSettings
from glancesync.engine.ami import resolve_ami
from glancesync.engine.collector import collector_paused
from glancesync.engine.conflicts import plan_content
from glancesync.engine.life import adoption_plan, follow_renames
from glancesync.engine.obsolete import plan_obsolete
from glancesync.engine.prepared import (
    NO_COPY,
    MasterFacts,
    TargetView,
    in_sync,
    prepared,
    quickly_in_sync,
    settle_ami_copies,
)
from glancesync.engine.retire import RetireMode, RetirePlan, plan_retirements
from glancesync.engine.selection import MasterCatalog
from glancesync.engine.sharing import MemberLists
from glancesync.engine.steps import (
    Action,
    InSync,
    PlannedImage,
    RegionPlan,
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
from glancesync.model.image import Image
from glancesync.model.region import RegionRef
from glancesync.model.storage import RegionOffer

#: Region images in these states are records a run created and never
#: finished. They are not copies of anything, and are removed before upload.
LEFTOVER_STATES = frozenset({"queued", "saving", "killed"})
#: The member lists of a region without shared images.
NO_MEMBERS = MemberLists()
#: States in which a region image counts as present.
PRESENT_STATES = frozenset({"active", "deactivated"})
_ID = attrgetter("id")
_first = itemgetter(0)
#: The group of a name the region does not hold.
_NO_GROUP = (NO_COPY,)


@collector_paused
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

    The cyclic garbage collector is paused meanwhile: planning a region
    allocates thousands of acyclic values (tuples of fields, entries), and
    the collector's passes over the whole heap, triggered by their
    allocation, would find nothing to free. Without the pause, bench part d
    took 1.21 to 1.35 s instead of 1.04 to 1.08 s in the same hour.
    """
    storage = storage_for(target, region.name)
    mine = (
        list(region_images)
        if project_id is None
        else [i for i in region_images if i.owner == project_id]
    )
    visible = mine if target.only_tenant_images else region_images
    leftovers = _by_name([i for i in mine if i.status in LEFTOVER_STATES])
    present = [i for i in visible if i.status in PRESENT_STATES]

    obsolete: list[PlannedImage] = []
    if target.support_obsolete_images:
        obsolete = plan_obsolete(catalog, present, project_id, target)
        consumed = {entry.region_image.id for entry in obsolete if entry.region_image}
        if consumed:
            present = [i for i in present if i.id not in consumed]
    view = prepared(catalog, selected, target)
    by_name = _by_name(present)
    conversions = _conversions(view, storage, offer)

    # Most images are in sync: one pass over all copies settles them;
    # every other image takes the full rules.
    copies = _copies_at(view, by_name, len(present))
    settled_here = _settled_quickly(view, copies, project_id, conversions, storage)
    spelled: dict[int, PlannedImage] = {}
    missing: list[int] = []
    for index in compress(range(len(copies)), map(not_, settled_here)):
        image, facts = selected[index], view.facts[index]
        candidates = by_name.get(image.name)
        if candidates is None:
            missing.append(index)
            continue
        conversion = conversions[index] if conversions else None
        if len(candidates) == 1:
            copy = candidates[0]
            if (
                (project_id is None or copy.owner == project_id)
                and _in_sync(image, facts, copy, conversion)
                and not (storage.stores and storage.missing_stores(copy))
            ):
                settled_here[index] = True
                continue
        spelled[index] = plan_content(
            image, candidates, target, project_id, members, view, facts, storage, conversion
        )
    if missing:
        lacking = [selected[index] for index in missing]
        renamed = follow_renames(lacking, by_name, present, project_id, names=view.positions.keys())
        for index, image in zip(missing, lacking, strict=True):
            spelled[index] = (
                renamed[image.name].planned(members, target)
                if image.name in renamed
                else plan_content(
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
    in_sync = InSync(selected, tuple(settled_here), tuple(copies), conversions)
    entry_of = _content_entries(view, spelled, copies, conversions)
    _finish_entries(spelled, entry_of, view, catalog, by_name, project_id, leftovers)
    detailed = tuple(spelled[index] for index in sorted(spelled))
    if adopt:
        entries = RegionPlan(region, detailed, in_sync).entries
        return adoption_plan(region, entries, project_id, catalog.warnings)
    retiring = RetirePlan()
    if RetireMode(target.retire) is not RetireMode.KEEP:
        claimed = {e.region_image.id for e in (*detailed, *obsolete) if e.region_image is not None}
        claimed.update(map(_ID, compress(copies, settled_here)))
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
        detailed=detailed,
        in_sync=in_sync,
        obsolete=tuple(obsolete),
        warnings=catalog.warnings + retiring.warnings,
        retirements=retiring.steps,
        retire_blocked=retiring.blocked,
        blocked=_preflight(region, storage, detailed, offer),
    )


def _settled_quickly(
    view: TargetView,
    copies: Sequence[Image],
    project_id: str | None,
    conversions: Sequence[Conversion | None],
    storage: Storage,
) -> list[bool]:
    """Per selected image, whether the quick check settles its copy (prepared.quickly_in_sync).

    A converted copy holds other bytes than the master's, and a copy that
    lacks a wanted store needs a copy-image: neither is settled here.
    """
    settled_here = quickly_in_sync(view, copies, project_id)
    if conversions:
        settled_here = list(map(and_, settled_here, map(is_, conversions, repeat(None))))
    if storage.stores:
        for index in compress(range(len(copies)), settled_here):
            if storage.missing_stores(copies[index]):
                settled_here[index] = False
    if not conversions and not storage.stores:
        # Where copies are converted or stored apart, the AMI rules see a
        # kernel's entry as its conversion or stores leave it: full rules then.
        settle_ami_copies(view, copies, project_id, settled_here)
    return settled_here


def _finish_entries(
    spelled: dict[int, PlannedImage],
    entry_of: Callable[[str], PlannedImage | None],
    view: TargetView,
    catalog: MasterCatalog,
    by_name: Mapping[str, Sequence[Image]],
    project_id: str | None,
    leftovers: Mapping[str, Sequence[Image]],
) -> None:
    """Resolve AMI references and name the leftovers to delete, in ``spelled``.

    Both concern few images: those with AMI references, and the uploads of
    a name an interrupted run left records of.

    ``entry_of`` gives the entry of a selected name as the content rules
    left it, so that each image's references are resolved against its
    kernel's and ramdisk's entries before their own references are.
    """
    for index in view.ami_positions:
        if index in spelled:
            spelled[index] = resolve_ami(spelled[index], catalog, entry_of, by_name, project_id)
    for name, records in leftovers.items():
        at = view.positions.get(name)
        entry = spelled.get(at) if at is not None else None
        if at is not None and entry is not None and entry.action.uploads:
            spelled[at] = entry._replace(leftovers=tuple(records))


def _content_entries(
    view: TargetView,
    spelled: Mapping[int, PlannedImage],
    copies: Sequence[Image],
    conversions: Sequence[Conversion | None],
) -> Callable[[str], PlannedImage | None]:
    """A lookup of each selected name's entry as the content rules made it.

    An image not in ``spelled`` is in sync, with the copy at its position.
    """
    before = dict(spelled)  # a copy: AMI resolution then rewrites ``spelled``

    def entry_of(name: str) -> PlannedImage | None:
        index = view.positions.get(name)
        if index is None:
            return None
        if index in before:
            return before[index]
        conversion = conversions[index] if conversions else None
        return settled(view.selected[index], copies[index], conversion)

    return entry_of


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
        return copy.same_content(image) and in_sync(image, facts, copy)
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


def _copies_at(view: TargetView, by_name: Mapping[str, Sequence[Image]], count: int) -> list[Image]:
    """At each selected image's position, the region's only image of that name.

    :data:`~glancesync.engine.prepared.NO_COPY` where the region holds none
    or several; *count* is the number of images in ``by_name``.
    """
    copies = list(map(_first, map(by_name.get, view.names, repeat(_NO_GROUP))))
    if len(by_name) < count:
        for name, same in by_name.items():
            at = view.positions.get(name)
            if len(same) > 1 and at is not None:
                copies[at] = NO_COPY
    return copies
