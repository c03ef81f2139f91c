"""Carry out a region plan through the facade, in plan order.

An error tied to one image skips that image; an error tied to the region
stops this region only. Every outcome is kept, so the caller can log,
count and choose the exit code.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial

from glancesync.cloud.protocol import Facade
from glancesync.engine.results import (
    COPY_IMAGE,
    GLANCE_DOWNLOAD,
    ApplyResult,
    Outcome,
    Step,
    Transfer,
)
from glancesync.engine.retire import Retirement
from glancesync.engine.retry import retrying
from glancesync.engine.steps import RETIRE_ACTIONS, Action, PlannedImage, RegionPlan
from glancesync.model.changes import MetadataChange, NewImage
from glancesync.model.errors import IdUnavailable, ImageError, RegionError
from glancesync.model.image import Image
from glancesync.model.region import RegionRef
from glancesync.model.text import one_line
from glancesync.transfer.copy import copy_image_data
from glancesync.transfer.placed import RegionMemory, import_deadline, place
from glancesync.transfer.ratelimit import RateLimiter
from glancesync.transfer.source import MasterSource

LOG = logging.getLogger(__name__)


@dataclass
class _Run:
    """Mutable bookkeeping of one apply; it never leaves this module."""

    region: RegionRef
    transfer: str = "stream"
    import_methods: list[str] | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    uploaded: dict[str, str] = field(default_factory=dict)
    bytes_uploaded: int = 0
    #: The region's ``bwlimit``, and what the run learns of its imports.
    memory: RegionMemory = field(default_factory=RegionMemory)
    #: Uploads may run in threads (max_uploads_per_region).
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(
        self,
        image: str,
        step: str,
        error: ImageError | None = None,
        transfer: Transfer | None = None,
        seconds: float = 0.0,
    ) -> None:
        made = transfer or Transfer("", 0)
        if error is None:
            LOG.info("[%s] %s %s: done", self.region.full, step, image)
            outcome = Outcome(image, step, True, "", made.method, made.bytes, seconds, made.read)
        else:
            LOG.error("[%s] %s %s failed: %s", self.region.full, step, image, error.detail)
            outcome = Outcome(image, step, False, error.detail, "", 0, seconds)
        with self.lock:
            self.outcomes.append(outcome)

    def uploaded_one(self, name: str, image_id: str, size: int) -> None:
        with self.lock:
            self.uploaded[name] = image_id
            self.bytes_uploaded += size


def apply_plan(
    plan: RegionPlan,
    facade: Facade,
    source: MasterSource,
    transfer: str = "stream",
    max_uploads: int = 1,
    limiter: RateLimiter | None = None,
) -> ApplyResult:
    """Metadata first, then uploads smallest first, then AMI fix-ups.

    ``transfer`` is the target's mode: ``stream`` through glancesync, or
    ``glance-download`` (the region pulls from the master, when it can).
    ``max_uploads`` uploads run at once in the region (in threads), all
    under ``limiter``, the region's ``bwlimit`` (None: no cap).
    """
    started = time.monotonic()
    run = _Run(plan.region, transfer, memory=RegionMemory(limiter=limiter))
    region_error = None
    try:
        for entry in plan.metadata_steps():
            _guarded(run, entry, str(entry.action), partial(_update, facade, run, entry))
        for entry in plan.store_steps():
            _guarded(run, entry, entry.action_text, partial(_copy_stores, facade, run, entry))
        uploads = [
            (entry, partial(_upload, facade, source, run, entry)) for entry in plan.upload_steps()
        ]
        _run_uploads(run, uploads, max_uploads)
        for entry in plan.ami_steps():
            _guarded(run, entry, "ami_fixup", partial(_fix_ami, facade, run, entry))
        for step in plan.retirements:
            action = RETIRE_ACTIONS[step.how].value
            _guarded_named(run, step.image.name, action, partial(_retire, facade, run, step))
    except RegionError as error:
        LOG.error("[%s] region failed: %s", plan.region.full, error.detail)
        region_error = error.detail
    return ApplyResult(
        region=plan.region,
        plan=plan,
        outcomes=tuple(run.outcomes),
        region_error=region_error,
        bytes_uploaded=run.bytes_uploaded,
        images_uploaded=len(run.uploaded),
        seconds=time.monotonic() - started,
    )


def _run_uploads(run: _Run, uploads: Sequence[tuple[PlannedImage, Step]], max_uploads: int) -> None:
    """Uploads in plan order, ``max_uploads`` at a time; a region error stops them all."""
    if max_uploads <= 1:
        for entry, work in uploads:
            _guarded(run, entry, str(entry.action), work)
        return
    with ThreadPoolExecutor(max_uploads, thread_name_prefix="upload") as pool:
        futures = [pool.submit(_guarded, run, e, str(e.action), work) for e, work in uploads]
        try:
            for future in futures:
                future.result()
        except RegionError:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _guarded(run: _Run, entry: PlannedImage, step: str, work: Step) -> None:
    _guarded_named(run, entry.master.name, step, work)


def _guarded_named(run: _Run, name: str, step: str, work: Step) -> None:
    """Run one step, timed; an image error is recorded and the run goes on."""
    started = time.monotonic()
    try:
        transfer = work()
    except ImageError as error:
        run.record(name, step, error, seconds=time.monotonic() - started)
    else:
        run.record(name, step, transfer=transfer, seconds=time.monotonic() - started)


def _update(facade: Facade, run: _Run, entry: PlannedImage) -> None:
    assert entry.region_image is not None
    facade.update_image(run.region, entry.region_image.id, entry.change)


def _copy_stores(facade: Facade, run: _Run, entry: PlannedImage) -> Transfer:
    """Add the stores a right-bytes copy lacks (copy-image: the region copies, nothing sent)."""
    assert entry.region_image is not None
    deadline = import_deadline(entry.region_image.size)
    facade.import_image(run.region, entry.region_image.id, "copy-image", entry.stores, deadline)
    return Transfer(COPY_IMAGE, 0)


def _upload(facade: Facade, source: MasterSource, run: _Run, entry: PlannedImage) -> Transfer:
    """Create, fill and verify the new image; only then retire the old one.

    The record is created unprotected, whatever the master says: Glance
    refuses to delete a protected image, and a record whose upload failed
    must always be deletable. Protection is set once the copy is verified.
    """
    region, old, spec = run.region, entry.region_image, entry.new_image
    assert spec is not None
    for leftover in entry.leftovers:
        LOG.info("[%s] deleting unfinished %s (%s)", region.full, leftover.name, leftover.id)
        if leftover.protected:  # made by an older version, before the rule above
            facade.update_image(region, leftover.id, MetadataChange(protected=False))
        facade.delete_image(region, leftover.id)
    unprotected = replace(spec, protected=False)
    record: Image | None = None
    sent = 0
    method, read = GLANCE_DOWNLOAD, ""
    if entry.conversion is not None or entry.stores:
        placed = place(
            facade,
            source,
            region,
            entry,
            unprotected,
            partial(_create, facade, region),
            lambda image: _discard(facade, run, image, entry.master.name),
            run.memory,
        )
        record, sent, method = placed.image, placed.sent, placed.method
        read = source.origin(entry.master)
    elif run.transfer == "glance-download":
        record = _server_side_copy(facade, source, run, entry, unprotected)
    if record is None:
        for attempt in retrying(region, entry.master.name):
            with attempt:
                record = _create(facade, region, unprotected)
                try:
                    sent = copy_image_data(
                        facade, source, entry.master, region, record.id, run.memory.limiter
                    )
                    method = read = source.origin(entry.master)
                except Exception as error:
                    # whatever failed, the unfinished record must not stay
                    _discard(facade, run, record, entry.master.name)
                    if isinstance(error, (ImageError, RegionError)):
                        raise
                    why = one_line(f"upload failed: {type(error).__name__}: {error}")
                    raise ImageError(region.full, entry.master.name, why) from error
    assert record is not None
    if spec.protected or spec.members:
        after = MetadataChange(protected=True if spec.protected else None, add_members=spec.members)
        facade.update_image(region, record.id, after)
    run.uploaded_one(entry.master.name, record.id, sent)
    if entry.action is Action.RENAME_AND_UPLOAD and old is not None:
        facade.update_image(region, old.id, entry.change)
    elif entry.action is Action.REPLACE and old is not None:
        if not entry.change.is_empty():
            facade.update_image(region, old.id, entry.change)
        facade.delete_image(region, old.id)
    return Transfer(method, sent, read)


def _server_side_copy(
    facade: Facade, source: MasterSource, run: _Run, entry: PlannedImage, spec: NewImage
) -> Image | None:
    """Let the region pull the image itself; None means "stream it instead".

    The record is created with all its metadata first, since glance-download
    copies only a few properties. Any failure falls back to streaming.
    """
    region = run.region
    if run.import_methods is None:
        run.import_methods = facade.image_import_methods(region)
    if "glance-download" not in run.import_methods:
        LOG.info("[%s] no glance-download here; streaming instead", region.full)
        run.transfer = "stream"
        return None
    record = _create(facade, region, spec)
    timeout = import_deadline(entry.master.size)
    try:
        image = facade.import_from_region(
            region, record.id, source.master_region, entry.master.id, timeout
        )
        if not image.same_content(entry.master):
            raise ImageError(region.full, entry.master.name, "glance-download: other checksum")
    except (ImageError, RegionError) as error:
        LOG.warning(
            "[%s] glance-download of %s failed (%s); streaming instead",
            region.full,
            entry.master.name,
            error.detail,
        )
        _discard(facade, run, record, entry.master.name)
        return None
    return image


def _create(facade: Facade, region: RegionRef, spec: NewImage) -> Image:
    """Create the record, with the master's id when asked and the region can give it."""
    if spec.id is None:
        return facade.create_image(region, spec)
    try:
        return facade.create_image(region, spec)
    except IdUnavailable as error:
        LOG.warning(
            "[%s] %s: the master's id %s is not available here (%s); the copy gets a new id",
            region.full,
            spec.name,
            spec.id,
            error.detail,
        )
        return facade.create_image(region, replace(spec, id=None))


def _retire(facade: Facade, run: _Run, step: Retirement) -> None:
    """Carry out one planned retirement: its change, then deactivation or deletion."""
    image = step.image
    LOG.info("[%s] retiring %s (%s): %s", run.region.full, image.name, step.how.value, step.reason)
    if not step.change.is_empty():
        facade.update_image(run.region, image.id, step.change)
    if step.deactivate:
        facade.deactivate_image(run.region, image.id)
    if step.delete:
        facade.delete_image(run.region, image.id)


def _discard(facade: Facade, run: _Run, record: Image, name: str) -> None:
    """Remove a record whose upload failed: a half-written image must not stay.

    The delete is retried like an upload (it is idempotent). If it still
    fails, the step is recorded as failed, so the run does not end clean
    while an unfinished record is left (the next run removes it).
    """
    try:
        for attempt in retrying(run.region, name, "delete of unfinished record"):
            with attempt:
                facade.delete_image(run.region, record.id)
    except (ImageError, RegionError) as error:
        leftover = ImageError(
            run.region.full, name, f"unfinished record {record.id} left: {error.detail}"
        )
        run.record(name, "cleanup", leftover)


def _fix_ami(facade: Facade, run: _Run, entry: PlannedImage) -> None:
    """Point kernel_id/ramdisk_id at the images uploaded in this run."""
    target_id = run.uploaded.get(entry.master.name)
    if target_id is None and entry.region_image is not None and not entry.action.uploads:
        target_id = entry.region_image.id
    if target_id is None:
        raise ImageError(run.region.full, entry.master.name, "image was not uploaded")
    missing = sorted(name for name in entry.awaits.values() if name not in run.uploaded)
    if missing:
        raise ImageError(
            run.region.full, entry.master.name, f"{', '.join(missing)} was not uploaded"
        )
    ids = {key: run.uploaded[name] for key, name in entry.awaits.items()}
    change = MetadataChange(set_properties=ids)
    facade.update_image(run.region, target_id, change)
