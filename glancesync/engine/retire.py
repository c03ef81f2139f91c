"""Retirement: what becomes of a copy whose master image is gone.

A copy is retired only when everything below holds (doc/manual.rst,
"Retirement"):

* the target asks for it (``retire`` is not ``keep``);
* the copy carries provenance naming this master region, belongs to our
  project, and its master image is gone: not in the master's listing,
  deactivated, or no longer selected for the target (a ``NAME_obsolete``
  master image still counts as there);
* the master view is trustworthy: the listing was read, is not empty, and the
  target's selection did not fail at run time;
* the region would retire at most ``max_retire`` copies in this run: a run
  that would retire more retires none, so a selection mistake or a
  half-read master can never wipe a region.

Protected copies are hidden but never deactivated or deleted unless
``retire_protected``. ``retire_delete_after`` deletes a hidden or
deactivated copy that many days after the moment recorded on it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from glancesync.config.settings import TargetSettings
from glancesync.model.changes import MetadataChange
from glancesync.model.image import Image
from glancesync.model.provenance import RETIRED_AT, Provenance, moment, provenance_of
from glancesync.model.values import frozen


class RetireMode(str, enum.Enum):
    """The ``retire`` key: what happens to a copy whose master is gone."""

    KEEP = "keep"
    HIDE = "hide"
    DEACTIVATE = "deactivate"
    DELETE = "delete"


@dataclass(frozen=True)
class Retirement:
    """One copy to retire, and how."""

    image: Image
    provenance: Provenance
    #: ``hide``, ``deactivate`` or ``delete``: what the operator is shown.
    how: RetireMode
    #: Written first (hidden flag, retirement moment, lifted protection).
    change: MetadataChange
    reason: str
    #: Then the image is deactivated, or deleted.
    deactivate: bool = False
    delete: bool = False


@dataclass(frozen=True)
class RetirePlan:
    """The retirements of one region, or why there are none."""

    steps: tuple[Retirement, ...] = ()
    #: Names of the copies a blocked run would have retired (max_retire).
    blocked: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def plan_retirements(
    candidates: Iterable[Image],
    master_region: str,
    kept_ids: Set[str],
    trustworthy: str | None,
    target: TargetSettings,
    project_id: str | None,
    now: datetime,
) -> RetirePlan:
    """Decide the region's retirements.

    *candidates* are the region's images not claimed by a selected master
    image; *kept_ids* the master ids whose copies must stay (selected, or
    ``NAME_obsolete``, or unsyncable for a reason that is not the image's
    removal). *trustworthy* is None when the master view can be trusted,
    else the reason it cannot.
    """
    mode = RetireMode(target.retire)
    if mode is RetireMode.KEEP:
        return RetirePlan()
    steps: list[Retirement] = []
    for image in sorted(candidates, key=lambda i: (i.size, i.name, i.id)):
        found = provenance_of(image)
        if found is None or found.source_region != master_region:
            continue
        if project_id is not None and image.owner != project_id:
            continue
        if found.source_id in kept_ids:
            continue
        step = _retirement(image, found, mode, target, now)
        if step is not None:
            steps.append(step)
    if not steps:
        return RetirePlan()
    if trustworthy is not None:
        return RetirePlan(warnings=(f"nothing retired: {trustworthy}",))
    if len(steps) > target.max_retire:
        names = tuple(step.image.name for step in steps)
        warning = (
            f"{len(steps)} copies would be retired, more than max_retire = "
            f"{target.max_retire}: none is retired ({', '.join(names)})"
        )
        return RetirePlan(blocked=names, warnings=(warning,))
    return RetirePlan(steps=tuple(steps))


def _retirement(
    image: Image, found: Provenance, mode: RetireMode, target: TargetSettings, now: datetime
) -> Retirement | None:
    """The step for one copy whose master is gone, or None when it needs none now."""
    protected_ok = not image.protected or target.retire_protected
    unprotect = MetadataChange(protected=False) if image.protected else MetadataChange()
    stamp = frozen({RETIRED_AT: moment(now)})
    gone = "its master image is gone"
    if mode is RetireMode.DELETE:
        if not protected_ok:
            return None
        return Retirement(image, found, mode, unprotect, gone, delete=True)
    hide = mode is RetireMode.HIDE
    retired = image.hidden if hide else image.status == "deactivated"
    if not retired:
        if not hide and not protected_ok:
            return None
        change = MetadataChange(hidden=True if hide else None, set_properties=stamp)
        return Retirement(image, found, mode, change, gone, deactivate=not hide)
    if found.retired_at is None:  # hidden or deactivated by hand: start the clock
        return Retirement(image, found, mode, MetadataChange(set_properties=stamp), gone)
    after = target.retire_delete_after
    if after is None or not protected_ok:
        return None
    if now - found.retired_at < timedelta(days=after):
        return None
    reason = f"retired on {moment(found.retired_at)}, more than {after:g} days ago"
    return Retirement(image, found, RetireMode.DELETE, unprotect, reason, delete=True)
