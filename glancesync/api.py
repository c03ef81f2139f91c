"""The ``GlanceSync`` class: the programmer's entry point (the seed's API; see
doc/design.rst, "The GlanceSync constructor").

It wires the one-way flow together: configuration, listings through the
facade, the pure plan, then apply. The CLI is a thin layer on top of it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from glancesync.cloud.protocol import Facade
from glancesync.config.loader import check_targets, load_settings
from glancesync.config.settings import Settings, TargetSettings
from glancesync.engine.apply import ApplyResult, apply_plan
from glancesync.engine.plan import RegionPlan, plan_region
from glancesync.engine.selection import MasterCatalog, is_selected, master_catalog, selected_images
from glancesync.model.changes import MetadataChange
from glancesync.model.errors import ImageError, RegionError, UsageError
from glancesync.model.image import Image, image_from_glance, is_managed_property
from glancesync.model.region import MASTER, RegionRef
from glancesync.report import dry_run_text, images_table
from glancesync.transfer.source import MasterSource

LOG = logging.getLogger(__name__)

ConfigSource = str | os.PathLike[str] | IO[str] | Settings | None


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
        self.source = MasterSource(self.facade, self.master_region, self.settings.master.images_dir)
        self._catalog: MasterCatalog | None = None
        self._selected: dict[str, tuple[Image, ...]] = {}

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

    def resolve_regions(self, names: Sequence[str]) -> tuple[list[RegionRef], list[RegionError]]:
        """Turn command-line region names into regions, checking each exists.

        ``target:`` stands for every region of that target; no names means
        the master target's. An unknown target or region is a usage error:
        nothing is synced. A target whose catalog cannot be read is not: its
        error is returned and the other regions go on (doc/design.rst, "Exit
        codes in detail"). A region named explicitly in such a target is kept,
        and fails on its own.
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
            elif ref == self.master_region:
                raise UsageError(f"{ref.full} is the master region: it is never written to")
            elif ref.name in catalog:
                refs.append(ref)
            else:
                raise UsageError(
                    f"unknown region {ref.full!r}: no image endpoint in target {ref.target!r}"
                )
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
        """Keep verified copies of master images for the rest of this block.

        Worth it when several regions are synced: each image is then read
        from the master once. The directory, under ``[main] cache_dir``,
        holds at most ``cache_size_mb`` and is removed at the end.
        """
        limit = self.settings.cache_size_mb * 1_000_000
        if limit <= 0:
            yield None
            return
        directory = Path(tempfile.mkdtemp(prefix="glancesync-spool-", dir=self.settings.cache_dir))
        self.source.spool_dir, self.source.spool_limit = directory, limit
        try:
            yield directory
        finally:
            self.source.spool_dir, self.source.spool_limit = None, 0
            shutil.rmtree(directory, ignore_errors=True)

    def master_catalog(self) -> MasterCatalog:
        """The master's syncable images, read once per instance."""
        if self._catalog is None:
            images = self.facade.list_images(self.master_region)
            catalog = master_catalog(images, self.facade.project_id(MASTER))
            for warning in catalog.warnings:
                LOG.warning("%s", warning)
            self._catalog = catalog
        return self._catalog

    def plan_region(self, region: str | RegionRef) -> RegionPlan:
        """The region's plan as data: every selected image, its status and action."""
        ref = self._ref(region)
        target = self.settings.targets[ref.target]
        catalog = self.master_catalog()
        region_images = self.facade.list_images(ref)
        if ref.target not in self._selected:  # once per target, not per region
            self._selected[ref.target] = selected_images(catalog, target)
        selected = self._selected[ref.target]
        project = self.facade.project_id(ref.target)
        plan = plan_region(ref, catalog, selected, region_images, target, project)
        for entry in (*plan.obsolete, *plan.entries):
            for warning in entry.warnings:
                LOG.warning("[%s] %s", ref.full, warning)
        return plan

    def sync_region(self, region: str | RegionRef, dry_run: bool = False) -> ApplyResult | None:
        """Bring one region in line with the master.

        With ``dry_run`` the plan is printed to stdout and nothing is
        written anywhere; None is returned.
        """
        plan = self.plan_region(region)
        if dry_run:
            sys.stdout.write(dry_run_text(plan))
            return None
        return self.apply(plan)

    def apply(self, plan: RegionPlan) -> ApplyResult:
        """Carry out a plan made by :meth:`plan_region`, with its target's transfer mode."""
        transfer = self.settings.targets[plan.region.target].transfer
        uploads = self.settings.max_uploads_per_region
        return apply_plan(plan, self.facade, self.source, transfer, uploads)

    # -- the seed's helpers ----------------------------------------------

    def print_images_master_region(self) -> None:
        """Print the master images that at least one target selects for sync."""
        catalog = self.master_catalog()
        targets = self.settings.targets.values()
        chosen = [i for i in catalog.images if any(is_selected(i, t) for t in targets)]
        sys.stdout.write(images_table(chosen, {image.name: image for image in chosen}))

    def print_images(self, region: str | RegionRef) -> None:
        """Print a region's images with the old tool's anomaly markers."""
        ref = self._ref(region)
        by_name = {
            i.name: i for i in self.facade.list_images(self.master_region) if i.status == "active"
        }
        sys.stdout.write(images_table(self._own_and_public(ref), by_name))

    def get_images_region(self, region: str | RegionRef) -> list[dict[str, Any]]:
        """The project's images and the public ones, as Glance describes them."""
        return [dict(image.raw) for image in self._own_and_public(self._ref(region))]

    def _own_and_public(self, ref: RegionRef) -> list[Image]:
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
        directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d_%H%M%S")
        final = directory / f"backup_{ref.file_stem}_{stamp}.jsonl"
        images = self.get_images_region(ref)
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".backup_", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                for image in images:
                    stream.write(json.dumps(image, sort_keys=True, default=str) + "\n")
            os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return final

    def delete_image(self, region: str | RegionRef, uuid: str, confirm: bool = True) -> bool:
        """Delete an image; asks on the terminal first unless ``confirm`` is False."""
        ref = self._ref(region)
        image = self.facade.get_image(ref, uuid)
        if image.owner != self.facade.project_id(ref.target):
            raise ImageError(ref.full, image.name, "belongs to another project; not deleted")
        if confirm:
            answer = input(f"Delete image {image.name!r} ({uuid}) in {ref.full}? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                return False
        self.facade.delete_image(ref, uuid)
        return True

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
