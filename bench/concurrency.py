"""Part e: several uploads at once into one region, through glancesync's facade
(each a verified stream from the master), at 1, 2 and 4 uploads at once."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.arrange import MASTER, Bench, ref
from bench.measure import LOG, master_bytes, mbps, say, wait_cloud
from glancesync.model.changes import NewImage
from glancesync.model.image import Image
from tools.devcloud import topology

REGION = "RegionTwo"
IMAGES = 4
ATTEMPTS = 3


def run(bench: Bench) -> list[dict[str, Any]]:
    size, prefix, cloud = bench.args.concurrent_size, f"{bench.prefix}e", bench.cloud
    facade = cloud.facade
    masters = [bench.make_master(f"{prefix}{i}", size) for i in range(IMAGES)]
    failures: list[str] = []

    def copy_once(master: Image) -> None:
        spec = NewImage(
            name=master.name,
            visibility=master.visibility,
            disk_format=master.disk_format,
            container_format=master.container_format,
        )
        record = facade.create_image(ref(REGION), spec)
        facade.upload(ref(REGION), record.id, facade.download(MASTER, master.id), size)
        got = facade.get_image(ref(REGION), record.id)
        if got.status != "active" or got.checksum != master.checksum:
            raise RuntimeError(f"(e) bad copy of {master.name}: {got.status}")

    def copy(master: Image) -> float:
        """One verified copy; a failed attempt is deleted, counted and tried again."""
        t0 = time.perf_counter()
        for attempt in range(ATTEMPTS):
            try:
                copy_once(master)
                break
            except Exception as error:
                failures.append(str(error)[:200])
                LOG.warning("(e) copy of %s failed: %s", master.name, error)
                for image in cloud.named(REGION, master.name):
                    cloud.delete(REGION, image.id)
                if attempt == ATTEMPTS - 1:
                    raise
        return time.perf_counter() - t0

    rows = []
    try:
        facade.list_images(MASTER)  # authenticate before timing
        for _round in range(bench.args.repeat_e):
            for width in (1, 2, 4):
                wait_cloud()
                failures.clear()
                started = time.perf_counter()
                with master_bytes() as served, ThreadPoolExecutor(width) as pool:
                    each = list(pool.map(copy, masters))
                wall = time.perf_counter() - started
                for master in masters:
                    for image in cloud.named(REGION, master.name):
                        cloud.delete(REGION, image.id)
                row = {
                    "uploads_at_once": width,
                    "images": IMAGES,
                    "size": size,
                    "seconds": wall,
                    "aggregate_mb_per_s": mbps(IMAGES * size, wall),
                    "per_upload_seconds": each,
                    "master_served": served["served"],
                    "failed_attempts": list(failures),
                }
                say(f"(e) {width} at once: {wall:.2f} s, {row['aggregate_mb_per_s']:.1f} MB/s")
                rows.append(row)
    finally:
        for master in masters:
            cloud.delete(topology.MASTER_REGION, master.id)
        cloud.delete_prefixed([REGION], prefix)
    return rows
