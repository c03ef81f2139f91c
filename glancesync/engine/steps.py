"""The plan's values: statuses, actions, and what one region needs.

A plan is a value (doc/design.rst, "The plan is the only decider"): the
planner (:mod:`glancesync.engine.plan`) makes it, ``--show-status`` and
``--dry-run`` print it, and apply (:mod:`glancesync.engine.apply`) carries
out its steps and nothing else.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from typing import NamedTuple

from glancesync.engine.collector import collector_paused
from glancesync.engine.retire import Retirement, RetireMode
from glancesync.engine.storage import Conversion
from glancesync.model.changes import MetadataChange, NewImage
from glancesync.model.image import Image
from glancesync.model.region import RegionRef
from glancesync.model.values import empty


class Status(str, enum.Enum):
    """The nine statuses of the seed manual."""

    OK = "ok"
    OK_STALLED_CHECKSUM = "ok_stalled_checksum"
    ERROR_CHECKSUM = "error_checksum"
    ERROR_AMI = "error_ami"
    PENDING_METADATA = "pending_metadata"
    PENDING_UPLOAD = "pending_upload"
    PENDING_REPLACE = "pending_replace"
    PENDING_RENAME = "pending_rename"
    PENDING_AMI = "pending_ami"
    #: The only status beyond the old tool's nine: a copy the next sync retires.
    PENDING_RETIRE = "pending_retire"

    @property
    def is_error(self) -> bool:
        return self in (Status.ERROR_CHECKSUM, Status.ERROR_AMI)

    @property
    def is_final(self) -> bool:
        return self in (Status.OK, Status.OK_STALLED_CHECKSUM)

    def __str__(self) -> str:
        return self.value


class Action(str, enum.Enum):
    """What apply does with one plan entry."""

    NONE = "none"
    UPDATE_METADATA = "update_metadata"
    UPLOAD = "upload"
    RENAME_AND_UPLOAD = "rename_and_upload"
    REPLACE = "replace"
    RENAME_OBSOLETE = "rename_obsolete"
    UPDATE_OBSOLETE = "update_obsolete"
    #: The master image was renamed: its copy follows in place (same id).
    FOLLOW_RENAME = "follow_rename"
    #: ``--adopt``: stamp provenance on a same-content copy, nothing else.
    ADOPT = "adopt"
    RETIRE_HIDE = "retire_hide"
    RETIRE_DEACTIVATE = "retire_deactivate"
    RETIRE_DELETE = "retire_delete"
    #: A copy with the right bytes lacks some of the wanted stores: copy-image adds them.
    COPY_STORES = "copy_stores"

    @property
    def uploads(self) -> bool:
        return self in (Action.UPLOAD, Action.RENAME_AND_UPLOAD, Action.REPLACE)

    def __str__(self) -> str:
        return self.value


#: The change that changes nothing.
NO_CHANGE = MetadataChange()
_METADATA_ACTIONS = frozenset({Action.UPDATE_METADATA, Action.FOLLOW_RENAME, Action.ADOPT})
#: How each retirement is shown and applied.
RETIRE_ACTIONS = {
    RetireMode.HIDE: Action.RETIRE_HIDE,
    RetireMode.DEACTIVATE: Action.RETIRE_DEACTIVATE,
    RetireMode.DELETE: Action.RETIRE_DELETE,
}


#: The AMI references of an entry that awaits none.
NO_AWAITS: Mapping[str, str] = empty()


class PlannedImage(NamedTuple):
    """One master image in one region: its status and the work it needs.

    A named tuple, not a dataclass: a plan makes one for every image that
    needs work in every region, and a tuple is the cheapest frozen value to
    make (bench/planning.py). Copies with another field are made with
    ``_replace``.
    """

    master: Image
    status: Status
    action: Action
    #: The region's image this entry is about (kept, updated, renamed or replaced).
    region_image: Image | None = None
    #: Metadata change for ``region_image`` (update, rename to ``.old``, obsolete).
    change: MetadataChange = NO_CHANGE
    #: The record to create when the action uploads.
    new_image: NewImage | None = None
    #: AMI keys waiting for an image uploaded in this run: key -> image name.
    awaits: Mapping[str, str] = NO_AWAITS
    #: Unfinished records of an earlier run, deleted before the upload.
    leftovers: tuple[Image, ...] = ()
    warnings: tuple[str, ...] = ()
    #: The copy is (or, when uploaded, will be) converted from the master's format.
    conversion: Conversion | None = None
    #: The stores the upload lands in, or (``copy_stores``) the ones to add.
    stores: tuple[str, ...] = ()

    @property
    def action_text(self) -> str:
        """The action as reports show it: ``upload (convert qcow2→raw)``."""
        if self.action.uploads and self.conversion is not None:
            return f"{self.action.value} (convert {self.conversion})"
        if self.action is Action.COPY_STORES:
            return f"{self.action.value} ({', '.join(self.stores)})"
        return str(self.action.value)


def settled(master: Image, copy: Image, conversion: Conversion | None = None) -> PlannedImage:
    """The entry of an image in sync: ``copy`` holds ``master`` as it must be."""
    return PlannedImage(master, Status.OK, Action.NONE, copy, conversion=conversion)


@dataclass(frozen=True)
class InSync:
    """The images of a region that need nothing, kept as pairs, not as entries.

    Most images of a synchronised federation are in sync, and what the
    plan says of each is fully given by its master image, its copy and the
    copy's conversion: :func:`settled` makes the entry from them. Kept as
    the planner left them (per position of the selection: whether it is in
    sync, and the region's copy), a region of ten thousand such images is
    planned without ten thousand entries; a reader that wants them (the
    status report, say) gets them from :attr:`RegionPlan.entries`, and
    apply, which has nothing to do for them, never does (doc/design.rst,
    "A plan names its in-sync images").
    """

    #: The selection the plan was made for.
    selection: Sequence[Image] = ()
    #: Per position of the selection: whether that image is in sync.
    settled: tuple[bool, ...] = ()
    #: Per position: the region's copy (meaningful where :attr:`settled`).
    listed: tuple[Image, ...] = ()
    #: Per position: the copy's conversion; () when no copy is converted.
    converted: tuple[Conversion | None, ...] = ()

    def __len__(self) -> int:
        return self.settled.count(True)

    @functools.cached_property
    def positions(self) -> tuple[int, ...]:
        """Where the in-sync images are in the selection."""
        return tuple(compress(range(len(self.settled)), self.settled))

    @property
    def masters(self) -> tuple[Image, ...]:
        return tuple(compress(self.selection, self.settled))

    @property
    def copies(self) -> tuple[Image, ...]:
        return tuple(compress(self.listed, self.settled))

    def entries(self) -> list[PlannedImage]:
        """The entries these pairs stand for, in their order.

        Each is :func:`settled` of its pair, made field by field at C speed
        (``PlannedImage._make``): a status report of a large federation
        reads hundreds of thousands.
        """
        conversions = compress(self.converted, self.settled) if self.converted else repeat(None)
        fields = zip(
            self.masters,
            repeat(Status.OK),
            repeat(Action.NONE),
            self.copies,
            repeat(NO_CHANGE),
            repeat(None),
            repeat(NO_AWAITS),
            repeat(()),
            repeat(()),
            conversions,
            repeat(()),
        )
        return list(map(PlannedImage._make, fields))


#: A region with no image in sync.
NONE_IN_SYNC = InSync()


@dataclass(frozen=True, eq=False)
class RegionPlan:
    """Everything one region needs, in the order it must be done.

    Two plans are equal when they say the same of every image
    (:attr:`entries`), whichever images each keeps as pairs.
    """

    region: RegionRef
    #: The entries spelled out, in selection order: every image that is not
    #: in :attr:`in_sync` (a planner may also spell out in-sync ones).
    detailed: tuple[PlannedImage, ...] = ()
    #: The images that need nothing, as pairs.
    in_sync: InSync = NONE_IN_SYNC
    #: Renames and updates of obsolete images (not part of the status report).
    obsolete: tuple[PlannedImage, ...] = ()
    warnings: tuple[str, ...] = ()
    #: Copies whose master image is gone, retired after every other step.
    retirements: tuple[Retirement, ...] = ()
    #: Names of the copies a run over ``max_retire`` would have retired.
    retire_blocked: tuple[str, ...] = ()
    #: Why the region cannot take this plan (preflight); nothing is written then.
    blocked: str | None = None

    @functools.cached_property
    @collector_paused
    def entries(self) -> tuple[PlannedImage, ...]:
        """One entry per selected master image, smallest first."""
        if not self.in_sync:
            return self.detailed
        # Position by position, the next in-sync entry where the image is
        # settled, else the next spelled-out one (a bool indexes the pair).
        sources = (iter(self.detailed), iter(self.in_sync.entries()))
        return tuple(map(next, map(sources.__getitem__, self.in_sync.settled)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RegionPlan):
            return NotImplemented
        return self._compared() == other._compared()

    __hash__ = None  # type: ignore[assignment]

    def _compared(self) -> tuple[object, ...]:
        return (
            self.region,
            self.entries,
            self.obsolete,
            self.warnings,
            self.retirements,
            self.retire_blocked,
            self.blocked,
        )

    @property
    def synchronised(self) -> bool:
        """True only when nothing is pending and nothing is in error."""
        return (
            all(entry.status.is_final for entry in self.detailed)
            and all(entry.action is Action.NONE for entry in self.obsolete)
            and not self.retirements
            and not self.retire_blocked
            and self.blocked is None
        )

    @property
    def has_errors(self) -> bool:
        return any(entry.status.is_error for entry in self.detailed) or bool(self.retire_blocked)

    def metadata_steps(self) -> list[PlannedImage]:
        """Metadata work, done before any upload (it is cheap and safe)."""
        updates = [e for e in self.detailed if e.action in _METADATA_ACTIONS]
        return [e for e in self.obsolete if e.action is not Action.NONE] + updates

    def store_steps(self) -> list[PlannedImage]:
        """Copies of region images into the stores they lack (region-side, no upload)."""
        return [e for e in self.detailed if e.action is Action.COPY_STORES]

    def upload_steps(self) -> list[PlannedImage]:
        """Uploads, smallest first, so a full region is found early."""
        return [e for e in self.detailed if e.action.uploads]

    def ami_steps(self) -> list[PlannedImage]:
        """AMI fix-ups, last: they wait for kernels and ramdisks uploaded before."""
        return [e for e in self.detailed if e.awaits]
