"""The ``GlanceSync`` class: the programmer's entry point (doc/api.rst).

It wires the one-way flow together: configuration, listings through the
facade, the pure plan, then apply, and returns values; it prints nothing
(the old tool's printing helpers live in :mod:`glancesync.legacy`). The CLI
drives the same region pipeline, :meth:`GlanceSync.run_region`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import IO, Any

from glancesync import legacy
from glancesync.cloud.protocol import Facade
from glancesync.config.loader import check_targets, load_settings
from glancesync.config.settings import Settings, TargetSettings
from glancesync.engine.apply import apply_plan
from glancesync.engine.plan import plan_region
from glancesync.engine.results import ApplyResult
from glancesync.engine.selection import MasterCatalog, Selection, master_catalog, select
from glancesync.engine.sharing import MemberLists
from glancesync.engine.steps import RegionPlan
from glancesync.model.changes import MetadataChange
from glancesync.model.errors import RegionError, UsageError
from glancesync.model.image import Image, image_from_glance, is_managed_property
from glancesync.model.region import MASTER, RegionRef
from glancesync.runner.backup import write_backup
from glancesync.transfer.ratelimit import limiter
from glancesync.transfer.source import MasterSource
from glancesync.transfer.spool import run_spool

LOG = logging.getLogger(__name__)

ConfigSource = str | os.PathLike[str] | IO[str] | Settings | None


@dataclass(frozen=True)
class RegionRun:
    """One region through the pipeline: its plan, what applying it did, or why neither."""

    region: RegionRef
    plan: RegionPlan | None = None
    #: None when only the plan was asked for, or when planning failed.
    result: ApplyResult | None = None
    error: RegionError | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or (self.result is not None and self.result.failed)


def _unknown_region(ref: RegionRef, catalog: Sequence[str]) -> str:
    """The error for a name the catalog lacks: the known names, and the likely one."""
    text = f"unknown region {ref.full!r}: no image endpoint in target {ref.target!r}"
    alike = [name for name in catalog if name.lower() == ref.name.lower()]
    if alike:
        text += f" (did you mean {RegionRef(ref.target, alike[0]).full}?)"
    return text + "; known: " + (", ".join(sorted(catalog)) or "none")


class GlanceSync:
    """Sync the images of a master region to other regions.

    ``config`` is a path, a text stream, a :class:`Settings` value or None
    (``$GLANCESYNC_CONFIG``, else ``/etc/glancesync.conf``, else the
    environment). ``config_parameters`` is the old tool's name for it.
    """

    def __init__(
        self,
        config: ConfigSource = None,
        *,
        config_parameters: ConfigSource = None,
        overrides: Sequence[str] = (),
        facade: Facade | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        source = config if config is not None else config_parameters
        if isinstance(source, Settings):
            self.settings = source
        else:
            self.settings = load_settings(source, overrides)
        if facade is None:
            from glancesync.cloud.glance import ServersFacade  # heavy: only when talking to clouds

            facade = ServersFacade(self.settings)
        self.facade: Facade = facade
        self.master_region = RegionRef(MASTER, self.settings.master_region)
        self.source = MasterSource(
            self.facade,
            self.master_region,
            self.settings.master.images_dir,
            limiter=limiter(self.settings.bwlimit),
        )
        self._catalog: MasterCatalog | None = None
        self._selected: dict[str, Selection] = {}
        self._master_members: dict[str, frozenset[str]] = {}
        #: Now, for retirement delays; a test passes a clock it controls.
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    # -- regions ---------------------------------------------------------

    def get_regions(self, omit_master_region: bool = True, target: str = MASTER) -> list[str]:
        """Full names of the target's regions, minus ``ignore_regions``.

        Master regions come in ``preferable_order`` first; other targets'
        names are prefixed ``target:`` (doc/design.rst, "Region names in lists").
        """
        return [ref.full for ref in self.region_refs(target, omit_master_region)]

    def region_refs(self, target: str = MASTER, omit_master_region: bool = True) -> list[RegionRef]:
        """Like :meth:`get_regions`, as :class:`RegionRef` values."""
        settings = self._target(target)
        names = [n for n in self.facade.regions(target) if n not in settings.ignore_regions]
        if target == MASTER:
            if omit_master_region:
                names = [n for n in names if n != self.settings.master_region]
            first = [n for n in self.settings.preferable_order if n in names]
            names = first + [n for n in names if n not in first]
        return [RegionRef(target, name) for name in names]

    def resolve_regions(
        self, names: Sequence[str], allow_master: bool = False
    ) -> tuple[list[RegionRef], list[RegionError]]:
        """Turn command-line region names into regions, checking each exists.

        ``target:`` stands for every region of that target; no names means
        the master target's. An unknown target or region is a usage error:
        nothing is synced. A target whose catalog cannot be read is not: its
        error is returned and the other regions go on (doc/design.rst, "Exit
        codes in detail"). A region named explicitly in such a target is kept,
        and fails on its own. The master region is refused unless
        *allow_master* (a backup only reads it).
        """
        refs: list[RegionRef] = []
        failures: list[RegionError] = []
        for ref in [RegionRef.parse(name) for name in names] or [RegionRef(MASTER, "")]:
            self._target(ref.target)
            try:
                catalog = self.facade.regions(ref.target)
            except RegionError as error:
                if ref.name:
                    refs.append(ref)
                else:
                    failures.append(error)
                continue
            if not ref.name:
                refs.extend(self.region_refs(ref.target))
            elif ref == self.master_region and not allow_master:
                raise UsageError(f"{ref.full} is the master region: it is never written to")
            elif ref.name in catalog:
                refs.append(ref)
            else:
                raise UsageError(_unknown_region(ref, catalog))
        return list(dict.fromkeys(refs)), failures

    def _target(self, name: str) -> TargetSettings:
        """The target's settings; an unknown name is a usage error, with a hint."""
        check_targets(self.settings, [f"{name}:"])
        return self.settings.targets[name]

    def _ref(self, region: str | RegionRef) -> RegionRef:
        ref = region if isinstance(region, RegionRef) else RegionRef.parse(region)
        self._target(ref.target)
        return ref

    # -- planning and syncing -------------------------------------------

    @contextlib.contextmanager
    def spool(self) -> Iterator[Path | None]:
        """Keep the master images read in this block for the rest of it.

        Worth it when several regions are synced: each image is then read
        from the master once. The directory, under ``[main] cache_dir``,
        holds at most ``cache_size_mb`` and is removed at the end.
        """
        limit = self.settings.cache_size_mb * 1_000_000
        with run_spool(self.settings.cache_dir, limit) as spool, self.source.spooled(spool):
            yield spool.directory if spool is not None else None

    def master_catalog(self) -> MasterCatalog:
        """The master's syncable images, read once per instance."""
        if self._catalog is None:
            images = self.facade.list_images(self.master_region)
            catalog = master_catalog(
                images, self.facade.project_id(MASTER), self.master_region.full
            )
            for warning in catalog.warnings:
                LOG.warning("%s", warning)
            self._catalog = catalog
        return self._catalog

    def selected(self, target: str) -> Selection:
        """The master images *target* selects, computed once per target."""
        if target not in self._selected:
            self._selected[target] = select(self.master_catalog(), self._target(target))
        return self._selected[target]

    def master_members(self, selection: Selection) -> Mapping[str, frozenset[str]]:
        """Member projects of the selection's shared master images, each read once."""
        for image in selection.images:
            if image.visibility == "shared" and image.id not in self._master_members:
                found = self.facade.list_members(self.master_region, image.id)
                self._master_members[image.id] = found
        return self._master_members

    def prepare(self, regions: Iterable[RegionRef]) -> None:
        """Read the master and select every target's images now, once.

        Called before ``--parallel`` forks: the children inherit both, so
        the master is listed once and each warning is printed once per run.
        """
        self.master_catalog()
        for target in dict.fromkeys(region.target for region in regions):
            self.master_members(self.selected(target))

    def plan_region(self, region: str | RegionRef, adopt: bool = False) -> RegionPlan:
        """The region's plan as data: every selected master image, its status and action.

        With *adopt*, the plan only stamps provenance on same-content copies.
        """
        ref = self._ref(region)
        catalog = self.master_catalog()
        selection = self.selected(ref.target)
        region_images = self.facade.list_images(ref)
        project = self.facade.project_id(ref.target)
        target = self.settings.targets[ref.target]
        members = MemberLists(
            self.master_members(selection), self._region_members(ref, region_images)
        )
        plan_with = partial(
            plan_region,
            ref,
            catalog,
            selection.images,
            region_images,
            target,
            project,
            members=members,
            now=self.clock(),
            selection_failed=selection.failed,
            adopt=adopt,
        )
        plan = plan_with()
        if plan.upload_steps() or plan.store_steps():
            # Before the first write: what the region offers decides how copies
            # travel and whether the plan fits (doc/manual.rst, "Regions that
            # store differently").
            plan = plan_with(offer=self.facade.region_offer(ref))
        for entry in (*plan.obsolete, *plan.entries):
            for warning in entry.warnings:
                LOG.warning("[%s] %s", ref.full, warning)
        for warning in plan.warnings[len(catalog.warnings) :]:
            LOG.warning("[%s] %s", ref.full, warning)
        return plan

    def _region_members(self, ref: RegionRef, images: Sequence[Image]) -> dict[str, frozenset[str]]:
        """Members of the region's shared images of our project (others have none)."""
        project = self.facade.project_id(ref.target)
        return {
            image.id: self.facade.list_members(ref, image.id)
            if image.visibility == "shared"
            else frozenset()
            for image in images
            if image.owner == project and image.status in ("active", "deactivated")
        }

    def run_region(
        self, region: str | RegionRef, write: bool = True, adopt: bool = False
    ) -> RegionRun:
        """The region pipeline: plan, then apply that very plan when *write*.

        A region that cannot be read or written is a value here, not an
        exception: the caller goes on with the other regions.
        """
        ref = self._ref(region)
        try:
            plan = self.plan_region(ref, adopt)
        except RegionError as error:
            return RegionRun(ref, error=error)
        if plan.blocked is None:
            return RegionRun(ref, plan, self.apply(plan) if write else None)
        if write:
            return RegionRun(ref, plan, error=RegionError(ref.full, plan.blocked))
        # A report still shows every status; the verdict is one warning (and
        # the dry run's text says it too): reading the region did not fail.
        LOG.warning("[%s] a sync would write nothing here: %s", ref.full, plan.blocked)
        return RegionRun(ref, plan)

    def sync_region(self, region: str | RegionRef, dry_run: bool = False) -> ApplyResult | None:
        """Bring one region in line with the master; raise RegionError if it cannot be read.

        With ``dry_run`` the plan is printed to stdout, as the old tool did,
        and nothing is written anywhere; None is returned.
        """
        ref = self._ref(region)
        if dry_run:
            legacy.print_plan(self, ref)
            return None
        run = self.run_region(ref)
        if run.error is not None:
            raise run.error
        assert run.result is not None
        return run.result

    def apply(self, plan: RegionPlan) -> ApplyResult:
        """Carry out a plan made by :meth:`plan_region`, with its target's transfer mode."""
        target = self.settings.targets[plan.region.target]
        uploads = self.settings.max_uploads_per_region
        cap = self.settings.bwlimit if target.upload_bwlimit is None else target.upload_bwlimit
        return apply_plan(plan, self.facade, self.source, target.transfer, uploads, limiter(cap))

    # -- the old tool's helpers (doc/api.rst) ---------------------------

    def print_images_master_region(self) -> None:
        """Print the master images that at least one target selects for sync."""
        legacy.print_master_images(self)

    def print_images(self, region: str | RegionRef) -> None:
        """Print a region's images with the old tool's anomaly markers."""
        legacy.print_region_images(self, self._ref(region))

    def get_images_region(self, region: str | RegionRef) -> list[dict[str, Any]]:
        """The project's images and the public ones, as Glance describes them."""
        return [dict(image.raw) for image in self.own_and_public(self._ref(region))]

    def own_and_public(self, ref: RegionRef) -> list[Image]:
        """The region's images of our project, and the public ones."""
        project = self.facade.project_id(ref.target)
        return [
            image
            for image in self.facade.list_images(ref)
            if image.owner == project or image.is_public
        ]

    def backup_glancemetadata_region(
        self, region: str | RegionRef, path: str | os.PathLike[str] | None = None
    ) -> Path:
        """Save the region's image metadata as JSON Lines; return the file.

        The file is written under a temporary name and renamed once
        complete, so a backup is never half-written (doc/design.rst, "Metadata backups").
        """
        ref = self._ref(region)
        directory = Path(path) if path is not None else Path.cwd()
        return write_backup(self.get_images_region(ref), directory, ref.file_stem)

    def delete_image(self, region: str | RegionRef, uuid: str, confirm: bool = True) -> bool:
        """Delete an image; asks on the terminal first unless ``confirm`` is False."""
        return legacy.confirmed_delete(self, self._ref(region), uuid, confirm)

    def update_metadata_image(
        self, region: str | RegionRef, image: Image | Mapping[str, Any]
    ) -> Image:
        """Make the region's image (found by ``image``'s id) carry ``image``'s metadata.

        The name, visibility and user properties may change; the id cannot.
        Properties missing from ``image`` are left as they are.
        """
        ref = self._ref(region)
        wanted = image if isinstance(image, Image) else image_from_glance(image)
        current = self.facade.get_image(ref, wanted.id)
        change = MetadataChange(
            name=wanted.name if wanted.name and wanted.name != current.name else None,
            visibility=wanted.visibility if wanted.visibility != current.visibility else None,
            set_properties={
                k: v
                for k, v in wanted.properties.items()
                if is_managed_property(k) and current.properties.get(k) != v
            },
        )
        return self.facade.update_image(ref, wanted.id, change)
