"""``make demo``: a real sync on the local cloud, shown step by step.

Seeds the master region (RegionOne) with a few sample images — public,
private, with properties, and an AMI triplet — then prints ``--show-status``,
runs ``./sync.py`` and prints the status again. Running it twice shows a
no-op rerun. The cloud must be up (``make cloud-up``).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.cloudclients import glance_for, session_for  # noqa: E402
from tools.devcloud import topology  # noqa: E402

STATE = Path(topology.default_state())
CONFIG = STATE / "glancesync.conf"


def master_client() -> Any:
    return glance_for(session_for("master", topology.load(str(STATE))), topology.MASTER_REGION)


def ensure(client: Any, name: str, size: int, **fields: object) -> str:
    """Create the sample image once; return its id."""
    for image in client.images.list(filters={"name": name}):
        return str(image["id"])
    fields.setdefault("disk_format", "raw")
    fields.setdefault("container_format", "bare")
    image = client.images.create(name=name, **fields)
    data = (name.encode() * (size // len(name) + 1))[:size]
    client.images.upload(image["id"], io.BytesIO(data), image_size=size)
    return str(image["id"])


def seed() -> None:
    client = master_client()
    ensure(client, "demo_ubuntu", 2_000_000, visibility="public", nid="101", type="baseimage")
    ensure(client, "demo_centos", 1_000_000, visibility="public", nid="102", type="baseimage")
    ensure(client, "demo_private_notes", 10_000, visibility="private")
    kernel = ensure(
        client,
        "demo_kernel",
        300_000,
        visibility="public",
        disk_format="aki",
        container_format="aki",
    )
    ramdisk = ensure(
        client,
        "demo_ramdisk",
        200_000,
        visibility="public",
        disk_format="ari",
        container_format="ari",
    )
    ensure(
        client,
        "demo_ami",
        100_000,
        visibility="public",
        disk_format="ami",
        container_format="ami",
        kernel_id=kernel,
        ramdisk_id=ramdisk,
    )


def sync(*args: str) -> None:
    print(f"$ ./sync.py {' '.join(args)}", flush=True)
    env = dict(os.environ, GLANCESYNC_CONFIG=str(CONFIG))
    subprocess.run([sys.executable, "sync.py", *args], cwd=ROOT, env=env, check=False)
    print(flush=True)


def main() -> None:
    if not CONFIG.exists():
        sys.exit(f"no {CONFIG}: start the local cloud first (make cloud-up)")
    seed()
    print("Master RegionOne holds demo_ubuntu, demo_centos, demo_private_notes (private)")
    print("and an AMI triplet (demo_ami -> demo_kernel, demo_ramdisk).")
    print("demo_private_notes is private: without forcesyncs or a metadata_condition that")
    print("selects it, only public images are synced, so it is in no status list below.\n")
    targets = [topology.sync_name(region) for region in topology.TARGET_REGIONS]
    sync("--show-status", *targets)
    sync(*targets)
    sync("--show-status", *targets)


if __name__ == "__main__":
    main()
