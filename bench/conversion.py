"""Part f: the same qcow2 image made raw in two regions, by the region's own import
(RegionConvert, Glance's image_conversion plugin) and locally with qemu-img
(RegionThree): bytes sent by glancesync and wall time of each sync.

The image is a real qcow2 file made with qemu-img: random data over a quarter
of its virtual size, zeros elsewhere, so the qcow2 is about a quarter of the
raw form -- the case the region-side path is for.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.arrange import Bench, write_config
from bench.measure import say, wait_cloud
from glancesync.api import GlanceSync
from glancesync.model.changes import NewImage
from glancesync.model.region import RegionRef
from tools.devcloud import topology

CHUNK = 1 << 20
PATHS = (("region-side", "RegionConvert", "auto"), ("local", "RegionThree", "local"))


def make_qcow2(directory: Path, virtual: int) -> Path:
    raw, made = directory / "f.raw", directory / "f.qcow2"
    with raw.open("wb") as out:
        out.truncate(virtual)
        left = virtual // 4
        while left > 0:
            out.write(os.urandom(min(CHUNK, left)))
            left -= CHUNK
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, made], check=True)
    raw.unlink()
    return made


def run(bench: Bench) -> dict[str, Any]:
    virtual = bench.args.conversion_size
    name = f"{bench.prefix}f"
    qcow2 = make_qcow2(bench.tmp, virtual)
    config = write_config(
        bench.tmp / "f.conf",
        name,
        {"master": {"ignore_regions": ", ".join(topology.FAULT_REGIONS)}},
    )
    sync = GlanceSync(str(config))
    master = RegionRef("master", topology.MASTER_REGION)
    spec = NewImage(name, "public", "qcow2", "bare")
    record = sync.facade.create_image(master, spec)
    size = qcow2.stat().st_size
    with qcow2.open("rb") as data:
        sync.facade.upload(master, record.id, iter(lambda: data.read(CHUNK), b""), size)
    say(f"(f) master qcow2 {size / 1e6:.1f} MB, virtual {virtual / 1e6:.1f} MB")
    try:
        rows = [measure(config, name, *path) for path in PATHS]
    finally:
        # the bench's own cleanup knows the data regions; RegionConvert is not one
        for image in sync.facade.list_images(RegionRef("master", "RegionConvert")):
            if image.name == name:
                sync.facade.delete_image(RegionRef("master", "RegionConvert"), image.id)
    return {"qcow2_bytes": size, "virtual_bytes": virtual, "rows": rows}


def measure(config: Path, name: str, label: str, region: str, mode: str) -> dict[str, Any]:
    """One sync of the image into *region*, converting as *mode* says."""
    wait_cloud()
    overrides = [f"master.disk_format_regions={region}:raw", f"master.conversion={mode}"]
    run_sync = GlanceSync(str(config), overrides=overrides)
    started = time.perf_counter()
    result = run_sync.sync_region(region)
    seconds = time.perf_counter() - started
    assert result is not None
    if result.failed:
        raise RuntimeError(f"(f) {region}: {result.region_error or result.outcomes}")
    (copy,) = [
        i for i in run_sync.facade.list_images(RegionRef("master", region)) if i.name == name
    ]
    say(f"(f) {label}: {result.bytes_uploaded / 1e6:.1f} MB sent in {seconds:.2f} s")
    return {
        "path": label,
        "region": region,
        "bytes_sent": result.bytes_uploaded,
        "seconds": seconds,
        "stored_bytes": copy.size,
        "disk_format": copy.disk_format,
    }
