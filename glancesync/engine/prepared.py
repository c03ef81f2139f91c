"""What the planner knows about a target's master images before it looks at any region.

A sync plans every region of a target against the same catalog and
selection, so whatever depends only on them (the properties a copy must
carry, its provenance stamp, the AMI references) is computed once per
target, not once per region and image. :func:`prepared` keeps such a view
as long as the catalog it was made from lives.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import attrgetter, contains, eq, itemgetter
from typing import Any, NamedTuple

from glancesync.config.settings import TargetSettings
from glancesync.engine.life import kept_master_ids
from glancesync.engine.records import copied_properties, new_image_for
from glancesync.engine.selection import MasterCatalog
from glancesync.engine.steps import Action, PlannedImage, Status
from glancesync.engine.storage import Conversion
from glancesync.model.image import AMI_KEYS, Image
from glancesync.model.provenance import (
    MEMBERS,
    SOURCE_HASH,
    SOURCE_ID,
    SOURCE_REGION,
    provenance_of,
    stamp,
)
from glancesync.model.values import frozen

_STAMP_KEYS = (SOURCE_ID, SOURCE_REGION, SOURCE_HASH)
_stamp_values_of = itemgetter(*_STAMP_KEYS)
#: The fields a copy must share with its master to be settled by the quick
#: check: the strongest hash (so the same bytes), then what a metadata
#: change would write or a format warning compare, then the properties.
_QUICK_FIELDS = (
    "os_hash_algo",
    "os_hash_value",
    "visibility",
    "min_ram",
    "min_disk",
    "protected",
    "disk_format",
    "container_format",
    "tags",
    "properties",
)
_fields_of = attrgetter(*_QUICK_FIELDS)
#: The same with the copy's owner first, for a plan that looks at owners.
_owned_fields_of = attrgetter("owner", *_QUICK_FIELDS)
_raw_of = attrgetter("raw")
#: What stands for the copy of a name the region does not hold exactly once:
#: it has no hash, so it matches no master image's fields.
NO_COPY = Image(id="", name="")


class MasterFacts(NamedTuple):
    """What a copy of one master image must look like to be in sync, in a target.

    A named tuple, not a dataclass: a sync makes one per selected image and
    reads it once per region, and a tuple is the cheapest value to do both.
    """

    #: ``copied_properties``: the properties a copy must hold, as they must be.
    wanted: Mapping[str, Any]
    #: ``metadata_set`` keys a copy must not have (removals in the metadata change).
    removable: tuple[str, ...]
    #: The provenance a copy keeps naming this master image: the values of
    #: :data:`_STAMP_KEYS`, in that order.
    stamp_values: tuple[str, ...]
    tags: tuple[str, ...]
    #: Whether the image is shared or has AMI references: then it takes the full rules.
    involved: bool
    #: Whether the image has AMI references to resolve.
    ami: bool
    #: The hash, system fields and properties a copy must have
    #: (:data:`_QUICK_FIELDS`); None when the quick check cannot settle the
    #: image (no hash to compare, or :attr:`involved`).
    fields: tuple[Any, ...] | None


@dataclass(frozen=True)
class TargetView:
    """Per-target facts for :func:`glancesync.engine.plan.plan_region`."""

    selected: Sequence[Image]
    target: TargetSettings
    facts: tuple[MasterFacts, ...]
    #: The selected images' names, in their order, and where each is.
    names: tuple[str, ...]
    positions: Mapping[str, int]
    #: Where the images with AMI references are.
    ami_positions: tuple[int, ...]
    #: Of those, the ones the quick check may settle (not shared, with a
    #: hash): position -> each AMI key with the position of the image it
    #: names (:func:`settle_ami_copies`).
    ami_refs: Mapping[int, tuple[tuple[str, int], ...]]
    kept_ids: frozenset[str]
    obsolete_by_name: Mapping[str, Image]
    #: What the quick check compares each image's copy with, per project
    #: (see :meth:`expected`), made on first need.
    expectations: dict[str | None, tuple[tuple[Any, ...] | None, ...]] = field(
        default_factory=dict, compare=False
    )
    #: Upload entries of unshared images by master id, conversion and
    #: stores, made on first need.
    uploads: dict[tuple[str, Conversion | None, tuple[str, ...]], PlannedImage] = field(
        default_factory=dict, compare=False
    )

    def expected(self, project_id: str | None) -> tuple[tuple[Any, ...] | None, ...]:
        """Per selected image, the fields its copy must have, owner first when owners count."""
        found = self.expectations.get(project_id)
        if found is None:
            owner = () if project_id is None else (project_id,)
            found = tuple(None if f.fields is None else (*owner, *f.fields) for f in self.facts)
            self.expectations[project_id] = found
        return found

    def upload_entry(
        self, master: Image, conversion: Conversion | None, stores: tuple[str, ...]
    ) -> PlannedImage:
        """The entry of an unshared master image a region lacks.

        The same in every region that stores copies alike (regions may differ
        in disk format and stores: engine/storage.py).
        """
        key = (master.id, conversion, stores)
        entry = self.uploads.get(key)
        if entry is None:
            entry = PlannedImage(
                master,
                Status.PENDING_UPLOAD,
                Action.UPLOAD,
                new_image=new_image_for(master, self.target, frozenset(), conversion),
                conversion=conversion,
                stores=stores,
            )
            self.uploads[key] = entry
        return entry


def master_facts(master: Image, target: TargetSettings) -> MasterFacts:
    """The facts of one master image in one target."""
    properties = copied_properties(master, target)
    # Most images copy all their properties: share the master's mapping then.
    wanted = master.properties if properties == master.properties else frozen(properties)
    ami = not master.properties.keys().isdisjoint(AMI_KEYS)
    involved = ami or master.visibility == "shared"
    removable: tuple[str, ...] = ()
    if target.metadata_set:
        kept = wanted.keys() | set(AMI_KEYS)
        removable = tuple(sorted(k for k in target.metadata_set if k not in kept))
    return MasterFacts(
        wanted=wanted,
        removable=removable,
        stamp_values=_stamp_values_of(stamp(master, master.region)),
        tags=tuple(sorted(master.tags)),
        involved=involved,
        ami=ami,
        fields=None
        if involved or not (master.os_hash_algo and master.os_hash_value)
        else (*_fields_of(master)[:-1], wanted),
    )


def quickly_in_sync(
    view: TargetView, copies: Sequence[Image], project_id: str | None
) -> list[bool]:
    """Per selected image, whether its copy needs nothing, by the quick check.

    ``copies`` holds, at each image's position, the region's only image of
    that name (:data:`NO_COPY` where there is none or more than one). A copy
    passes when it is our own (``project_id``), its hash, compared fields
    and properties equal the master's, it records no members, and any
    provenance it has names this master image and its bytes as written.
    Most copies of a large region pass, so the fields of all of them are
    compared in one pass at C speed. False says nothing: the caller then
    looks closer (:func:`in_sync`, and the full rules).
    """
    fields_of = _fields_of if project_id is None else _owned_fields_of
    passed = list(map(eq, map(fields_of, copies), view.expected(project_id)))
    raws = list(map(_raw_of, compress(copies, passed)))
    if not any(map(contains, raws, repeat(MEMBERS))) and not any(
        map(contains, raws, repeat(SOURCE_ID))
    ):
        return passed  # no copy records members or provenance: nothing more to compare
    for index in compress(range(len(passed)), passed):
        if not _bookkeeping_agrees(copies[index].raw, view.facts[index]):
            passed[index] = False
    return passed


def settle_ami_copies(
    view: TargetView,
    copies: Sequence[Image],
    project_id: str | None,
    settled: list[bool],
) -> None:
    """The quick check for images with AMI references, after every other image.

    A copy of such an image is in sync when it passes the quick check with
    its ``kernel_id`` and ``ramdisk_id`` naming this region's copies of the
    master's kernel and ramdisk, and those copies are settled themselves:
    then the AMI rules (:mod:`glancesync.engine.ami`) would resolve each
    reference to the id it already holds. Only images whose references all
    name selected images are looked at (:attr:`TargetView.ami_refs`); any
    other takes the full rules. ``settled`` is updated in place.
    """
    for index, refs in view.ami_refs.items():
        if not all(settled[at] for _, at in refs):
            continue
        copy = copies[index]
        if project_id is not None and copy.owner != project_id:
            continue
        facts = view.facts[index]
        wanted = dict(facts.wanted)
        wanted.update((key, copies[at].id) for key, at in refs)
        expected = (*_fields_of(view.selected[index])[:-1], wanted)
        if _fields_of(copy) == expected and _bookkeeping_agrees(copy.raw, facts):
            settled[index] = True


def _bookkeeping_agrees(raw: Mapping[str, Any], facts: MasterFacts) -> bool:
    """No members recorded, and any provenance names the master image as written."""
    if MEMBERS in raw:
        return False
    return SOURCE_ID not in raw or (
        (raw.get(SOURCE_ID), raw.get(SOURCE_REGION), raw.get(SOURCE_HASH)) == facts.stamp_values
    )


def in_sync(master: Image, facts: MasterFacts, copy: Image, formats: bool = True) -> bool:
    """Whether the full rules would find nothing to do on this own, same-content copy.

    True only when the metadata change would be empty, no member or format
    warning would be given and no AMI reference needs resolving; anything
    else returns False and the full rules decide. The provenance stamp is
    compared as it is written: equal values mean nothing to write, whether
    the copy's provenance is valid or not. ``formats=False`` for a converted
    copy: its disk format is not the master's, and no format warning is given.
    """
    if (
        facts.involved
        or copy.visibility != master.visibility
        or copy.min_ram != master.min_ram
        or copy.min_disk != master.min_disk
        or copy.protected != master.protected
    ):
        return False
    if formats and (
        copy.disk_format != master.disk_format and copy.disk_format and master.disk_format
    ):
        return False
    if (
        formats
        and copy.container_format != master.container_format
        and copy.container_format
        and master.container_format
    ):
        return False
    if copy.tags != master.tags and tuple(sorted(copy.tags)) != facts.tags:
        return False
    current = copy.properties
    if current != facts.wanted:
        for key, value in facts.wanted.items():
            if current.get(key) != value:
                return False
    for key in facts.removable:
        if key in current:
            return False
    raw = copy.raw
    if MEMBERS in raw:
        return False
    for key, value in zip(_STAMP_KEYS, facts.stamp_values, strict=True):
        if raw.get(key) != value:
            # Only a copy with valid provenance gets its stamp rewritten.
            return SOURCE_ID not in raw or provenance_of(copy) is None
    return True


def _ami_refs(
    catalog: MasterCatalog, selected: Sequence[Image], positions: Mapping[str, int]
) -> dict[int, tuple[tuple[str, int], ...]]:
    """The AMI images the quick check may settle, with where their references are."""
    found: dict[int, tuple[tuple[str, int], ...]] = {}
    for index, image in enumerate(selected):
        keys = [key for key in AMI_KEYS if key in image.properties]
        hashed = image.os_hash_algo and image.os_hash_value
        if not keys or image.visibility == "shared" or not hashed:
            continue
        refs = []
        for key in keys:
            named = catalog.by_id.get(str(image.properties[key]))
            at = positions.get(named.name) if named is not None else None
            if at is None:
                break  # not an image of the master, or not selected: the full rules
            refs.append((key, at))
        else:
            found[index] = tuple(refs)
    return found


#: (id of the catalog, id of the target) -> the view made for them. An entry
#: leaves when its catalog is freed (weakref.finalize), so the cache never
#: keeps a master listing alive, and an id is never reused while in it.
_views: dict[tuple[int, int], TargetView] = {}


def prepared(
    catalog: MasterCatalog, selected: Sequence[Image], target: TargetSettings
) -> TargetView:
    """The view of (catalog, selected, target), computed on first use.

    All three are frozen values, so their identity stands for their
    content: the view holds the selection and the target, and is dropped
    with the catalog.
    """
    key = (id(catalog), id(target))
    view = _views.get(key)
    if view is not None and view.selected is selected:
        return view
    facts = tuple(master_facts(image, target) for image in selected)
    positions = {image.name: index for index, image in enumerate(selected)}
    view = TargetView(
        selected=selected,
        target=target,
        facts=facts,
        names=tuple(image.name for image in selected),
        positions=positions,
        ami_positions=tuple(index for index, f in enumerate(facts) if f.ami),
        ami_refs=_ami_refs(catalog, selected, positions),
        kept_ids=kept_master_ids(catalog, selected),
        obsolete_by_name={i.name: i for i in catalog.obsolete},
    )
    if key not in _views:
        weakref.finalize(catalog, _views.pop, key, None)
    _views[key] = view
    return view
