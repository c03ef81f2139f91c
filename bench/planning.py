"""Part d: plan time and memory for many images x many regions, in memory (no servers).

Synthetic listings: a master of N images (an AMI triplet now and then, a few
broken kernel references) and, per region, ~85% ok, 6% pending_metadata, 5%
missing, 4% conflicts and 100 local images. The catalog is built once, then
``plan_region`` runs per region, as a sync does: the fast planner and the
reference one (bench/plan_reference.py, the rules as they were before the
fast path) on the same listings, side by side in one run, and their plans
are checked equal on the way.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import time
import tracemalloc
from collections import Counter
from typing import Any


def synthetic_master(n_images: int, project: str) -> list[Any]:
    from glancesync.model.image import Image

    rnd = random.Random(1)
    images = []
    kernel, ramdisk = f"{0:032x}", f"{1:032x}"
    for i in range(n_images):
        props: dict[str, Any] = {"nid": str(i), "type": "base", "sdc_aware": "true"}
        if i >= 2 and i % 50 == 0:
            props.update(kernel_id=kernel, ramdisk_id=ramdisk)
        if i % 500 == 250:
            props["kernel_id"] = "deadbeef" * 4  # not an image of the master: error_ami
        images.append(
            Image(
                id=f"{i:032x}",
                name=f"image-{i:05d}",
                owner=project,
                size=rnd.randrange(10**6, 10**10),
                checksum=hashlib.md5(str(i).encode()).hexdigest(),
                os_hash_algo="sha512",
                os_hash_value=hashlib.sha512(str(i).encode()).hexdigest(),
                visibility="public",
                disk_format="aki" if i == 0 else "ari" if i == 1 else "qcow2",
                container_format="aki" if i == 0 else "ari" if i == 1 else "bare",
                created_at="2024-01-01T00:00:00Z",
                region="RegionOne",
                properties=props,
            )
        )
    return images


def synthetic_region(masters: list[Any], index: int, project: str) -> list[Any]:
    """A region's listing: ~85% ok, 6% pending_metadata, 5% missing, 4% conflicts, 100 extras."""
    from dataclasses import replace

    rnd = random.Random(1000 + index)
    region = f"Region{index:02d}"
    out = []
    ids = {}
    for i, master in enumerate(masters):
        roll = rnd.random() if i > 1 else 0.0
        if 0.91 <= roll < 0.96 or (i == 1 and index % 5 == 0):
            continue  # missing (in every fifth region, the ramdisk too: pending_ami)
        new_id = f"r{index:02d}{i:030x}"
        ids[master.id] = new_id
        props = dict(master.properties)
        checksum, os_hash = master.checksum, master.os_hash_value
        if 0.85 <= roll < 0.91:
            props["type"] = "old"  # pending_metadata
        elif roll >= 0.96:
            checksum = hashlib.md5(f"{i}-{index}".encode()).hexdigest()  # conflict
            os_hash = hashlib.sha512(f"{i}-{index}".encode()).hexdigest()
        out.append(
            replace(
                master,
                id=new_id,
                checksum=checksum,
                os_hash_value=os_hash,
                region=region,
                properties=props,
            )
        )
    fixed = []
    for image in out:
        props = image.properties
        if "kernel_id" in props and rnd.random() < 0.7:
            props = {
                **props,
                "kernel_id": ids.get(props["kernel_id"], ""),
                "ramdisk_id": ids.get(props["ramdisk_id"], ""),
            }
            image = replace(image, properties=props)
        fixed.append(image)
    for j in range(100):
        fixed.append(
            replace(masters[2], id=f"x{index:02d}{j:030x}", name=f"local-{j}", region=region)
        )
    return fixed


def run(n_images: int, n_regions: int, traced_regions: int) -> dict[str, Any]:
    from bench.plan_reference import plan_region as reference_plan
    from glancesync.config.settings import Credentials, TargetSettings
    from glancesync.engine.plan import plan_region
    from glancesync.engine.selection import master_catalog, selected_images
    from glancesync.model.region import RegionRef

    project = "f" * 32
    target = TargetSettings(name="master", credentials=Credentials())
    masters = synthetic_master(n_images, project)

    t0 = time.perf_counter()
    catalog = master_catalog(masters, project)
    catalog_seconds = time.perf_counter() - t0
    selected = selected_images(catalog, target)
    plan_seconds: list[float] = []
    reference_seconds: list[float] = []
    entries_seconds: list[float] = []
    statuses: Counter[str] = Counter()
    in_sync_pairs = 0
    for index in range(n_regions):
        images = synthetic_region(masters, index, project)
        ref = RegionRef("master", f"Region{index:02d}")
        t0 = time.perf_counter()
        plan = plan_region(ref, catalog, selected, images, target, project)
        plan_seconds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plan.entries  # noqa: B018 - what a status report reads: the in-sync pairs made entries
        entries_seconds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        expected = reference_plan(ref, catalog, selected, images, target, project)
        reference_seconds.append(time.perf_counter() - t0)
        if plan != expected:
            raise AssertionError(f"the fast plan of {ref.name} differs from the reference plan")
        statuses.update(str(e.status) for e in plan.entries)
        in_sync_pairs += len(plan.in_sync)
        del plan, expected, images

    # memory, on a few regions (tracemalloc slows everything down several times)
    del catalog, masters
    tracemalloc.start()
    masters = synthetic_master(n_images, project)
    after_masters = tracemalloc.get_traced_memory()[0]
    catalog = master_catalog(masters, project)
    selected = selected_images(catalog, target)
    after_catalog = tracemalloc.get_traced_memory()[0]
    plan_peaks = []
    for index in range(traced_regions):
        images = synthetic_region(masters, index, project)
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        plan = plan_region(
            RegionRef("master", f"Region{index:02d}"), catalog, selected, images, target, project
        )
        plan_peaks.append(tracemalloc.get_traced_memory()[1] - base)
        del plan, images
    _, overall_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "master_images": n_images,
        "regions": n_regions,
        "catalog_seconds": catalog_seconds,
        "plan_seconds_total": sum(plan_seconds),
        "reference_seconds_total": sum(reference_seconds),
        "entries_seconds_total": sum(entries_seconds),
        "in_sync_pairs_all_regions": in_sync_pairs,
        "reference_ms_per_region_median": statistics.median(reference_seconds) * 1000,
        "speedup": sum(reference_seconds) / sum(plan_seconds),
        "plan_ms_per_region_median": statistics.median(plan_seconds) * 1000,
        "plan_ms_per_region_max": max(plan_seconds) * 1000,
        "statuses_all_regions": dict(statuses),
        "traced_regions": traced_regions,
        "master_images_traced_bytes": after_masters,
        "catalog_traced_bytes": after_catalog - after_masters,
        "plan_peak_bytes_max": max(plan_peaks),
        "overall_traced_peak_bytes": overall_peak,
    }
