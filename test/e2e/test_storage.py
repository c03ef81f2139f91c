"""Regions that store differently, on real servers (doc/manual.rst, "Regions that store
differently"): a qcow2 master converted to raw by RegionConvert's own import
(Glance's image_conversion plugin) and locally with qemu-img for RegionThree,
copies in exactly the stores asked (RegionTwo has fs and fs2), an unknown store
and a plan over RegionLimits' unified limits failing only their region, before
any write. The images are real qcow2 files made with qemu-img.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from test.e2e.conftest import Env
from tools.devcloud import topology

CONVERTING, LIMITED = "RegionConvert", "RegionLimits"
#: The config lines that let runs reach the storage regions (the cloud's file ignores them).
REACH = {"ignore_regions": ", ".join(topology.FAULT_REGIONS)}


@pytest.fixture
def storage(env: Env) -> Iterator[Env]:
    """The test's Env, on a cloud that has the storage regions; their images are removed."""
    missing = [
        r for r in topology.STORAGE_REGIONS if r not in topology.load().catalog_regions("ks1")
    ]
    if missing:
        pytest.fail(
            f"the cloud has no {', '.join(missing)}: run `python3 -m tools.devcloud up` once "
            "more to add them",
            pytrace=False,
        )
    if shutil.which("qemu-img") is None:
        pytest.fail("qemu-img is missing: apt-get install -y qemu-utils", pytrace=False)
    yield env
    for region in topology.STORAGE_REGIONS:
        client = env.glance.client(region, "master")
        for image in client.images.list():
            if image["name"] and image["name"].startswith(env.prefix):
                client.images.delete(image["id"])


def qcow2(tmp: Path, label: str, virtual_mb: int = 2) -> tuple[bytes, bytes]:
    """A real qcow2 image (bytes) and its raw form as qemu-img makes it."""
    raw = tmp / f"{label}.raw"
    seed = hashlib.sha256(label.encode()).digest()
    with raw.open("wb") as out:
        out.truncate(virtual_mb << 20)
        out.write(seed * 2000)
        out.seek(virtual_mb << 19)
        out.write(seed[::-1] * 500)
    made = tmp / f"{label}.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, made], check=True)
    return made.read_bytes(), raw.read_bytes()


def create_in(env: Env, region: str, name: str, data: bytes, **props: Any) -> dict[str, Any]:
    client = env.glance.client(region, "master")
    props.setdefault("disk_format", "raw")
    image = client.images.create(name=name, visibility="public", container_format="bare", **props)
    client.images.upload(image.id, io.BytesIO(data), image_size=len(data))
    return dict(client.images.get(image.id))


def images_in(env: Env, region: str) -> list[dict[str, Any]]:
    client = env.glance.client(region, "master")
    return [dict(i) for i in client.images.list() if (i["name"] or "").startswith(env.prefix)]


def the(env: Env, region: str) -> dict[str, Any]:
    (image,) = images_in(env, region)
    return image


def snapshot(env: Env, *regions: str) -> dict[str, list[str]]:
    return {
        r: sorted(json.dumps(i, sort_keys=True, default=str) for i in images_in(env, r))
        for r in regions
    }


def test_qcow2_master_is_converted_by_the_region_and_locally_and_stays_ok(
    storage: Env, tmp_path: Path
) -> None:
    env = storage
    data, raw = qcow2(tmp_path, env.prefix)
    master = create_in(env, "RegionOne", env.name("q"), data, disk_format="qcow2")
    config = env.config(
        master={**REACH, "disk_format_regions": f"{CONVERTING}:raw, RegionThree:raw"}
    )
    before = snapshot(env, CONVERTING, "RegionThree")
    dry = env.sync("--dry-run", CONVERTING, "RegionThree", config=config)
    assert dry.code == 0, dry.stderr
    assert dry.stdout.count(f"upload (convert qcow2\u2192raw) {env.name('q')}") == 2
    assert snapshot(env, CONVERTING, "RegionThree") == before

    report = tmp_path / "report.json"
    run = env.sync("--report", str(report), CONVERTING, "RegionThree", config=config)
    assert run.code == 0, run.stderr
    assert f"[{CONVERTING}] {env.name('q')}: converted qcow2\u2192raw by the region" in run.stderr
    assert f"[RegionThree] {env.name('q')}: converted qcow2\u2192raw locally" in run.stderr
    rows = {r["region"]: r["images"] for r in json.loads(report.read_text())["regions"]}
    sent = {CONVERTING: len(data), "RegionThree": len(raw)}  # the region converts what it gets
    for region, method in ((CONVERTING, "convert-region"), ("RegionThree", "convert-local")):
        copy = the(env, region)
        assert copy["disk_format"] == "raw" and copy["status"] == "active"
        assert copy["glancesync_converted_from"] == "qcow2"
        assert copy["glancesync_source_hash"] == f"sha512:{master['os_hash_value']}"
        assert copy["size"] == len(raw)
        # qemu-img's raw form, made here independently, is what the region holds
        assert copy["checksum"] == hashlib.md5(raw).hexdigest()
        (row,) = rows[region]
        assert (row["image"], row["action"], row["method"]) == (env.name("q"), "upload", method)
        assert (row["result"], row["error"], row["bytes"]) == ("ok", "", sent[region])

    status = env.sync("--show-status", CONVERTING, "RegionThree", config=config)
    assert status.stdout.splitlines() == [
        f"ok,{CONVERTING},{env.name('q')}",
        f"ok,RegionThree,{env.name('q')}",
    ]
    rows = json.loads(
        env.sync("--show-status", "--format", "json", "RegionThree", config=config).stdout
    )
    assert [r["conversion"] for r in rows] == ["qcow2\u2192raw"]


def test_changed_master_makes_the_converted_copy_pending_and_lists_name_its_checksum(
    storage: Env, tmp_path: Path
) -> None:
    env = storage
    old, _ = qcow2(tmp_path, env.prefix + "old")
    first = create_in(env, "RegionOne", env.name("q"), old, disk_format="qcow2")
    formats = {**REACH, "disk_format_regions": "RegionThree:raw", "conversion": "local"}
    assert env.sync("RegionThree", config=env.config(master=formats)).code == 0
    copy = the(env, "RegionThree")
    env.glance.client("RegionOne").images.delete(first["id"])
    new, raw = qcow2(tmp_path, env.prefix + "new")
    create_in(env, "RegionOne", env.name("q"), new, disk_format="qcow2")

    # the lists name the copy's own (raw) checksum, not the master's
    kept = env.config(master={**formats, "dontupdate": copy["checksum"]})
    assert env.sync("--show-status", "RegionThree", config=kept).stdout == (
        f"ok_stalled_checksum,RegionThree,{env.name('q')}\n"
    )
    assert env.sync("--show-status", "RegionThree", config=env.config(master=formats)).stdout == (
        f"error_checksum,RegionThree,{env.name('q')}\n"
    )
    replace = env.config(master={**formats, "replace": copy["checksum"]})
    assert env.sync("--show-status", "RegionThree", config=replace).stdout == (
        f"pending_replace,RegionThree,{env.name('q')}\n"
    )
    before = snapshot(env, "RegionThree")
    dry = env.sync("--dry-run", "RegionThree", config=replace)
    assert f"replace (convert qcow2\u2192raw) {env.name('q')}" in dry.stdout
    assert snapshot(env, "RegionThree") == before
    assert env.sync("RegionThree", config=replace).code == 0
    fresh = the(env, "RegionThree")
    assert fresh["id"] != copy["id"] and fresh["checksum"] == hashlib.md5(raw).hexdigest()
    assert env.sync("--show-status", "RegionThree", config=replace).stdout == (
        f"ok,RegionThree,{env.name('q')}\n"
    )


def test_copies_land_in_exactly_the_stores_asked(storage: Env) -> None:
    env = storage
    env.glance.create("RegionOne", env.name("one"), env.data("one"))
    env.glance.create("RegionOne", env.name("two"), env.data("two"))
    only_fs2 = env.config(
        DEFAULT={"metadata_condition": f"image.name == '{env.name('one')}'"},
        master={"stores_regions": "RegionTwo:fs2"},
    )
    assert env.sync("RegionTwo", config=only_fs2).code == 0
    assert env.glance.one("RegionTwo", env.name("one"))["stores"] == "fs2"

    both = env.config(master={"stores_regions": "RegionTwo:fs+fs2"})
    dry = env.sync("--dry-run", "RegionTwo", config=both)
    assert f"copy_stores (fs) {env.name('one')}" in dry.stdout
    assert f"upload {env.name('two')}" in dry.stdout
    report = env.tmp / "report.json"
    run = env.sync("--report", str(report), "RegionTwo", config=both)
    assert run.code == 0, run.stderr
    (region,) = json.loads(report.read_text())["regions"]
    by_image = {row["image"]: row for row in region["images"]}
    assert by_image[env.name("one")]["action"] == "copy_stores (fs)"
    assert by_image[env.name("one")]["method"] == "copy-image"
    assert by_image[env.name("one")]["bytes"] == 0, "the region copies it, nothing is sent"
    assert (by_image[env.name("two")]["action"], by_image[env.name("two")]["method"]) == (
        "upload",
        "store",
    )
    for short in ("one", "two"):
        stores = env.glance.one("RegionTwo", env.name(short))["stores"]
        assert set(stores.split(",")) == {"fs", "fs2"}
    assert env.sync("--show-status", "RegionTwo", config=both).stdout.splitlines() == [
        f"ok,RegionTwo,{env.name('one')}",
        f"ok,RegionTwo,{env.name('two')}",
    ]


def test_an_unknown_store_fails_only_its_region_before_any_write(storage: Env) -> None:
    env = storage
    env.glance.create("RegionOne", env.name("a"), env.data("a"))
    config = env.config(master={"stores_regions": "RegionTwo:nosuch"})
    before = env.glance.snapshot(env.prefix)
    dry = env.sync("--dry-run", "RegionTwo", "RegionThree", config=config)
    assert "unknown store nosuch (the region has fs, fs2)" in dry.stdout + dry.stderr
    assert env.glance.snapshot(env.prefix) == before
    run = env.sync("RegionTwo", "RegionThree", config=config)
    assert run.code != 0
    lines = [line for line in run.stderr.splitlines() if "unknown store nosuch" in line]
    assert len(lines) == 1 and "RegionTwo" in lines[0]
    assert env.glance.named("RegionTwo", env.name("a")) == []
    assert env.glance.one("RegionThree", env.name("a"))["status"] == "active"


def test_a_plan_over_quota_fails_its_region_with_the_numbers_before_any_write(
    storage: Env,
) -> None:
    env = storage
    size = (topology.LIMITS["image_size_total"] + 1) << 20
    env.glance.create("RegionOne", env.name("big"), os.urandom(size))
    config = env.config(master=REACH)
    left = topology.LIMITS["image_size_total"] << 20
    verdict = f"{size / 1e6:.1f} MB to upload, {left / 1e6:.1f} MB of image_size_total left"
    dry = env.sync("--dry-run", LIMITED, "RegionThree", config=config)
    assert verdict in dry.stdout + dry.stderr
    assert images_in(env, LIMITED) == [] and env.glance.named("RegionThree", env.name("big")) == []
    run = env.sync(LIMITED, "RegionThree", config=config)
    assert run.code != 0
    assert f"{LIMITED}" in run.stderr and verdict in run.stderr
    assert images_in(env, LIMITED) == []
    assert env.glance.one("RegionThree", env.name("big"))["status"] == "active"
