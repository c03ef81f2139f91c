"""Arranging, checking and cleaning up the benchmark's images, through glancesync.

The benchmark seeds the master, checks the copies and deletes everything
with glancesync's own ServersFacade (the product), not with a client of its
own; only the baselines it compares against use other clients. Glance on the
local cloud keeps its records in SQLite, where many writes at once into one
server end in "database is locked" (HTTP 500); so writes go one at a time per
region, and the facade's own retries cover idempotent requests.
"""

from __future__ import annotations

import configparser
import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bench.measure import BLOCK, LOG, STATE, PatternReader, say, size_label, wait_cloud
from glancesync.cloud.glance import ServersFacade
from glancesync.config.loader import load_settings
from glancesync.model.changes import NewImage
from glancesync.model.errors import ImageError, RegionError
from glancesync.model.image import Image
from glancesync.model.region import RegionRef
from tools.devcloud import topology

MASTER = RegionRef("master", topology.MASTER_REGION)
#: region -> target, master first: every region the benchmark writes to or reads from.
REGIONS = topology.DATA_REGIONS
TARGETS = list(topology.TARGET_REGIONS)
#: The run lock of the benchmark's syncs: in the cloud's state dir, not a shared /tmp.
LOCK_FILE = STATE / "bench.lock"
#: Attempts at seeding one master image (create + upload) on a busy SQLite Glance.
SEED_ATTEMPTS = 3


def ref(region: str) -> RegionRef:
    return RegionRef(REGIONS[region], region)


def write_config(path: Path, prefix: str, extra: dict[str, dict[str, str]] | None = None) -> Path:
    """The cloud's glancesync.conf, selecting only images named ``prefix*``."""
    parser = configparser.ConfigParser(interpolation=None, default_section="\0")
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((STATE / "glancesync.conf").read_text())
    sections: dict[str, dict[str, str]] = {
        "DEFAULT": {"metadata_condition": f"image.name.startswith('{prefix}')"},
        "main": {"lock_file": str(LOCK_FILE)},
    }
    for name, values in (extra or {}).items():
        sections.setdefault(name, {}).update(values)
    for name, values in sections.items():
        if not parser.has_section(name):
            parser.add_section(name)
        for key, value in values.items():
            parser.set(name, key, value)
    with path.open("w") as fh:
        parser.write(fh)
    path.chmod(0o600)
    return path


def sync_args(regions: Iterable[str]) -> list[str]:
    return [topology.sync_name(r) for r in regions]


def chunks(reader: PatternReader) -> Iterator[bytes]:
    while piece := reader.read(BLOCK):
        yield piece


class Cloud:
    """The regions, seen through one glancesync facade shared by threads."""

    def __init__(self, config: Path) -> None:
        self.facade = ServersFacade(load_settings(config))
        self._slots = {region: threading.Lock() for region in REGIONS}
        self.undeletable: list[str] = []

    def close(self) -> None:
        self.facade.close()

    def create(self, region: str, name: str, size: int, private: bool = True) -> Image:
        """An image of ``size`` deterministic bytes (seeded by its name), streamed."""
        spec = NewImage(
            name=name,
            visibility="private" if private else "public",
            disk_format="raw",
            container_format="bare",
        )
        for attempt in range(1, SEED_ATTEMPTS + 1):
            with self._slots[region]:
                record = self.facade.create_image(ref(region), spec)
                try:
                    self.facade.upload(
                        ref(region), record.id, chunks(PatternReader(size, name)), size
                    )
                    return self.facade.get_image(ref(region), record.id)
                except (RegionError, ImageError) as error:
                    with contextlib.suppress(RegionError, ImageError):
                        self.facade.delete_image(ref(region), record.id)
                    if attempt == SEED_ATTEMPTS:
                        raise
                    LOG.warning("creating %s in %s failed, again: %s", name, region, error)
        raise AssertionError("unreachable")

    def prefixed(self, region: str, prefix: str) -> list[Image]:
        images = self.facade.list_images(ref(region))
        return [i for i in images if i.name.startswith(prefix) and i.status != "deleted"]

    def named(self, region: str, name: str) -> list[Image]:
        return [i for i in self.prefixed(region, name) if i.name == name]

    def delete(self, region: str, image_id: str) -> None:
        try:
            with self._slots[region]:
                self.facade.delete_image(ref(region), image_id)
        except ImageError:
            pass  # gone already
        except RegionError as error:  # e.g. a record left in status "deleted"
            self.undeletable.append(f"{region}/{image_id}")
            LOG.warning("cannot delete %s in %s: %s", image_id, region, error)

    def delete_prefixed(self, regions: Iterable[str], prefix: str) -> int:
        jobs = [(r, i.id) for r in regions for i in self.prefixed(r, prefix)]
        for region, image_id in jobs:
            self.delete(region, image_id)
        return len(jobs)

    def verify_and_delete_copies(self, master: Image, regions: Iterable[str]) -> None:
        """Each region holds exactly one active copy with the master's checksum; delete them."""
        problems = []
        for region in regions:
            copies = self.named(region, master.name)
            good = [
                c
                for c in copies
                if c.status == "active" and c.checksum == master.checksum and c.size == master.size
            ]
            if len(copies) != 1 or len(good) != 1:
                problems.append(f"{region}: {[(c.status, c.checksum) for c in copies]}")
            for copy in copies:
                self.delete(region, copy.id)
        if problems:
            raise RuntimeError(f"bad copies of {master.name}: {'; '.join(problems)}")

    def delete_copies(self, name: str) -> None:
        for region in TARGETS:
            for copy in self.named(region, name):
                self.delete(region, copy.id)


class Bench:
    """One benchmark run's shared state: its options, name prefix, scratch dir and cloud."""

    def __init__(self, args: Any, prefix: str, tmp: Path) -> None:
        self.args, self.prefix, self.tmp = args, prefix, tmp
        self.cloud = Cloud(write_config(tmp / "arrange.conf", prefix))

    def make_master(self, name: str, size: int) -> Image:
        started = time.perf_counter()
        image = self.cloud.create(topology.MASTER_REGION, name, size)
        say(f"master image {name} ({size_label(size)}) in {time.perf_counter() - started:.1f} s")
        return image

    def close(self) -> None:
        say(f"cleaning up images named {self.prefix}*")
        wait_cloud()
        try:
            say(f"deleted {self.cloud.delete_prefixed(REGIONS, self.prefix)} images")
        finally:
            self.cloud.close()
