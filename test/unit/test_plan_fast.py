"""The fast planner makes the very plans of the straightforward one.

``bench/plan_reference.py`` keeps the rules without the fast path (one
full pass per image); here both plan large generated federations (fixed
seeds: thousands of master images, many regions, every status and action,
many target settings, converting regions and stores, regions whose offer
blocks the plan) and the plans must be equal, entry by entry, retirements,
preflight verdict and warnings included.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest

from bench.plan_reference import plan_region as reference_plan
from glancesync.config.settings import ChecksumList, Credentials, TargetSettings
from glancesync.engine.plan import plan_region
from glancesync.engine.selection import master_catalog, select
from glancesync.engine.sharing import MemberLists
from glancesync.engine.steps import Action, InSync, PlannedImage, RegionPlan, Status, settled
from glancesync.engine.storage import REGION_SIDE, Conversion
from glancesync.model.image import Image
from glancesync.model.provenance import (
    CONVERTED_FROM,
    MEMBERS,
    RETIRED_AT,
    SOURCE_HASH,
    master_hash,
    stamp,
)
from glancesync.model.region import RegionRef
from glancesync.model.storage import Quota, RegionOffer
from glancesync.model.values import frozen

ME, OTHER = "p-me", "p-other"
MASTER_REGION = "RegionOne"
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def _hashes(data: str) -> dict[str, str | None]:
    return {
        "checksum": hashlib.md5(data.encode()).hexdigest(),
        "os_hash_algo": "sha512",
        "os_hash_value": hashlib.sha512(data.encode()).hexdigest(),
    }


def _image(
    rnd: random.Random, number: int, name: str, data: str, region: str, **fields: Any
) -> Image:
    raw = fields.pop("raw", {})
    hashes = _hashes(data)
    if fields.pop("md5_only", False):
        hashes.update(os_hash_algo=None, os_hash_value=None)
    values: dict[str, Any] = {
        "owner": ME,
        "size": len(data) * 1000 + number,
        "visibility": "public",
        "disk_format": "qcow2",
        "container_format": "bare",
        "created_at": f"2026-01-01T{number:08d}",
        **hashes,
    }
    values.update(fields)
    return Image(id=f"{region}-{number:06d}", name=name, region=region, raw=frozen(raw), **values)


def generated_master(rnd: random.Random, count: int) -> list[Image]:
    """Master images of every kind: AMI triplets, shared, obsolete, duplicated, foreign."""
    images: list[Image] = []
    kernel = _image(rnd, 0, "kernel", "kernel", MASTER_REGION, disk_format="aki")
    ramdisk = _image(rnd, 1, "ramdisk", "ramdisk", MASTER_REGION, disk_format="ari")
    images += [kernel, ramdisk]
    for number in range(2, count):
        roll = rnd.random()
        props: dict[str, Any] = {"nid": str(number % 7), "type": rnd.choice(["base", "app"])}
        fields: dict[str, Any] = {}
        name = f"img-{number:05d}"
        if roll < 0.05:
            props.update(kernel_id=kernel.id, ramdisk_id=ramdisk.id)
        elif roll < 0.06:
            props["kernel_id"] = "not-a-master-image"
        elif roll < 0.08:
            fields["visibility"] = "shared"
        elif roll < 0.10:
            fields["visibility"] = "private"
        elif roll < 0.11:
            name = f"img-{number - 1:05d}_obsolete"
        elif roll < 0.115:
            name = "twice"
        elif roll < 0.12:
            fields["owner"] = OTHER
        elif roll < 0.125:
            fields["status"] = "deactivated"
        elif roll < 0.14:
            fields["md5_only"] = True
        elif roll < 0.16:
            fields["tags"] = ("b", "a")
        elif roll < 0.19:
            fields["disk_format"] = rnd.choice(["raw", "iso", "vmdk"])
        if rnd.random() < 0.05:
            fields["protected"] = True
        if rnd.random() < 0.05:
            fields["min_ram"] = 512
        images.append(
            _image(rnd, number, name, f"data-{number}", MASTER_REGION, properties=props, **fields)
        )
    return images


def _copy(master: Image, number: int, region: str, **changes: Any) -> Image:
    raw = changes.pop("raw", stamp(master, MASTER_REGION))
    return replace(master, id=f"{region}-{number:06d}", region=region, raw=frozen(raw), **changes)


#: The ``stores`` field of copies already in some stores.
STORE_FIELDS = ("fast", "fast,cheap", "cheap", "ceph,fast", "")

#: What a region does with one master image: (weight, maker).
Maker = Callable[[random.Random, Image, int, str], list[Image]]


def _kinds() -> list[tuple[float, Maker]]:
    def same(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return [_copy(m, n, r)]

    def unstamped(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return [_copy(m, n, r, raw={})]

    def bad_stamp(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return [_copy(m, n, r, raw={**stamp(m, MASTER_REGION), SOURCE_HASH: "not a hash"})]

    def stale_stamp(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return [_copy(m, n, r, raw={**stamp(m, MASTER_REGION), SOURCE_HASH: "md5:00ff"})]

    def members_recorded(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return [_copy(m, n, r, raw={**stamp(m, MASTER_REGION), MEMBERS: "p-a,p-b"})]

    def other_prop(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return [_copy(m, n, r, properties=frozen({**m.properties, "type": "old"}))]

    def local_prop(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return [_copy(m, n, r, properties=frozen({**m.properties, "local": "yes"}))]

    def no_props(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return [_copy(m, n, r, properties=frozen({}))]

    def system_field(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        field = rnd.choice(["visibility", "min_ram", "min_disk", "protected", "tags", "fmt"])
        changes: dict[str, dict[str, Any]] = {
            "visibility": {"visibility": "private" if m.visibility != "private" else "public"},
            "min_ram": {"min_ram": m.min_ram + 1},
            "min_disk": {"min_disk": 3},
            "protected": {"protected": not m.protected},
            "tags": {"tags": tuple(reversed(m.tags)) or ("x",)},
            "fmt": {"disk_format": "raw", "container_format": rnd.choice([None, "ovf"])},
        }
        change = changes[field]
        return [_copy(m, n, r, **change)]

    def other_bytes(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return [_copy(m, n, r, protected=rnd.random() < 0.3, **_hashes(f"other-{n}"))]

    def foreign(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        data = rnd.choice([None, f"foreign-{n}"])
        changes = _hashes(data) if data else {}
        return [_copy(m, n, r, owner=OTHER, **changes)]

    def twice(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        first = _copy(m, n, r, **_hashes(f"old-{n}"))
        second = _copy(m, n + 500_000, r, created_at="2025-01-01", owner=rnd.choice([ME, OTHER]))
        return [first, second]

    def leftover(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return [_copy(m, n, r, status=rnd.choice(["queued", "saving", "killed"]))]

    def renamed(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return [_copy(m, n, r, name=f"{m.name}-before")]

    def deactivated(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return [_copy(m, n, r, status="deactivated")]

    def missing(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return []

    def converted(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        raw = {**stamp(m, MASTER_REGION), CONVERTED_FROM: m.disk_format}
        if rnd.random() < 0.3:
            raw["stores"] = rnd.choice(STORE_FIELDS)
        return [_copy(m, n, r, disk_format="raw", raw=raw, **_hashes(f"raw-{n}"))]

    def badly_converted(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        raw = {**stamp(m, MASTER_REGION), CONVERTED_FROM: m.disk_format}
        how = rnd.choice(["stale", "from", "format", "unstamped"])
        if how == "stale":
            raw[SOURCE_HASH] = "md5:00ff"
        elif how == "from":
            raw[CONVERTED_FROM] = "vdi"
        elif how == "unstamped":
            raw = {}
        fmt = "qcow2" if how == "format" else "raw"
        return [_copy(m, n, r, disk_format=fmt, raw=raw, **_hashes(f"raw-{n}"))]

    def in_stores(rnd: random.Random, m: Image, n: int, r: str) -> list[Image]:
        return [_copy(m, n, r, raw={**stamp(m, MASTER_REGION), "stores": rnd.choice(STORE_FIELDS)})]

    return [
        (40, same),
        (6, unstamped),
        (2, bad_stamp),
        (2, stale_stamp),
        (2, members_recorded),
        (5, other_prop),
        (3, local_prop),
        (2, no_props),
        (5, system_field),
        (5, other_bytes),
        (3, foreign),
        (2, twice),
        (2, leftover),
        (2, renamed),
        (2, deactivated),
        (6, missing),
        (8, converted),
        (2, badly_converted),
        (6, in_stores),
    ]


def generated_region(rnd: random.Random, masters: list[Image], index: int) -> list[Image]:
    """One region's listing: copies of every kind, obsolete copies and gone masters' copies."""
    region = f"Region{index:02d}"
    kinds = _kinds()
    weights = [w for w, _ in kinds]
    out: list[Image] = []
    for number, master in enumerate(masters):
        (maker,) = rnd.choices([m for _, m in kinds], weights)
        if master.name == "kernel" and index % 2:
            continue  # uploaded in this run: its AMI users are pending_ami
        out += maker(rnd, master, number, region)
        if master.name.endswith("_obsolete") and rnd.random() < 0.5:
            # the region still holds the master's bytes under the old name
            out.append(
                _copy(master, number + 600_000, region, name=master.name[: -len("_obsolete")])
            )
        if master.name.endswith("_obsolete") and rnd.random() < 0.5:
            # a copy under the obsolete name whose visibility must follow the master's
            flipped = "private" if master.visibility != "private" else "public"
            out.append(_copy(master, number + 650_000, region, visibility=flipped))
    # Most copies of AMI images name this region's kernel and ramdisk, as a sync leaves them.
    own_ids = {copy.name: copy.id for copy in out if copy.name in ("kernel", "ramdisk")}
    for at, copy in enumerate(out):
        if "kernel_id" in copy.properties and rnd.random() < 0.7:
            props = dict(copy.properties)
            for key, name in (("kernel_id", "kernel"), ("ramdisk_id", "ramdisk")):
                if key in props and name in own_ids and rnd.random() < 0.9:
                    props[key] = own_ids[name]
            out[at] = replace(copy, properties=frozen(props))
    for extra in range(60):
        gone = _image(rnd, 700_000 + extra, f"gone-{extra}", f"gone-{extra}", region)
        raw: dict[str, Any] = {
            "glancesync_source_id": f"gone-master-{extra}",
            "glancesync_source_region": rnd.choice([MASTER_REGION, "Elsewhere"]),
            "glancesync_source_hash": master_hash(gone),
        }
        if rnd.random() < 0.3:
            raw[RETIRED_AT] = rnd.choice(["2026-01-01T00:00:00Z", "2026-05-31T00:00:00Z", "bad"])
        out.append(
            replace(
                gone,
                raw=frozen(raw),
                hidden=rnd.random() < 0.3,
                protected=rnd.random() < 0.2,
                status=rnd.choice(["active", "active", "deactivated"]),
                owner=rnd.choice([ME, ME, OTHER]),
            )
        )
    for extra in range(20):
        out.append(_image(rnd, 800_000 + extra, f"local-{extra}", f"local-{extra}", region))
    rnd.shuffle(out)
    return out


def _members(rnd: random.Random, images: list[Image]) -> dict[str, frozenset[str]]:
    return {
        image.id: frozenset(rnd.sample(["p-a", "p-b", "p-c"], rnd.randrange(4)))
        for image in images
        if image.visibility == "shared" or rnd.random() < 0.05
    }


TARGETS: dict[str, dict[str, Any]] = {
    "default": {},
    "metadata_set": {"metadata_set": frozenset({"nid", "type", "local"})},
    "rename": {"rename": ChecksumList(any=True), "keep_ids": True},
    "replace": {"replace": ChecksumList(any=True), "replace_protected": True},
    "replace_guarded": {"replace": ChecksumList(any=True)},
    "dontupdate": {"dontupdate": ChecksumList(any=True)},
    "tenant_only": {"only_tenant_images": True, "support_obsolete_images": False},
    "retire_hide": {"retire": "hide", "max_retire": 1000, "obsolete_syncprops": frozenset({"nid"})},
    "retire_deactivate": {"retire": "deactivate", "max_retire": 1000, "retire_delete_after": 30},
    "retire_delete": {"retire": "delete", "retire_protected": True, "max_retire": 1000},
    "retire_blocked": {"retire": "delete", "max_retire": 2},
    "other_keystone": {"name": "other", "member_projects": frozen({"p-a": "q-a", "p-b": "q-b"})},
    "convert": {"disk_format": "raw", "disk_format_regions": frozen({"Region02": "master"})},
    "convert_local": {"disk_format": "raw", "conversion": "local", "keep_ids": True},
    "convert_rename": {"disk_format": "raw", "rename": ChecksumList(any=True)},
    "convert_qcow2": {"disk_format": "qcow2", "disk_format_regions": frozen({"Region01": "vmdk"})},
    "stores": {"stores": ("fast",), "stores_regions": frozen({"Region01": ("fast", "cheap")})},
    "stores_unknown": {"stores": ("fast", "tape")},
    "convert_stores": {
        "disk_format": "raw",
        "stores": ("ceph",),
        "replace": ChecksumList(any=True),
    },
}

#: What each region offers (None: not read, as for --show-status): every
#: method and store; no glance-direct (conversions are local, stores
#: blocked); and a small quota (blocked when much is uploaded).
OFFERS: tuple[RegionOffer | None, ...] = (
    None,
    RegionOffer(("glance-direct", "copy-image", "web-download"), ("fast", "cheap", "ceph"), {}),
    RegionOffer(("web-download",), ("fast", "cheap", "ceph")),
    RegionOffer(
        ("glance-direct", "copy-image"),
        ("fast", "cheap", "ceph"),
        frozen({"image_size_total": Quota(3, 1), "image_count_total": Quota(5000, 10)}),
    ),
)


def _target(name: str) -> TargetSettings:
    settings = dict(TARGETS[name])
    return TargetSettings(
        name=settings.pop("name", "master"), credentials=Credentials(), **settings
    )


def _federation(
    seed: int, images: int, regions: int
) -> tuple[random.Random, list[Image], list[list[Image]]]:
    rnd = random.Random(seed)
    masters = generated_master(rnd, images)
    listings = [generated_region(rnd, masters, index) for index in range(regions)]
    return rnd, masters, listings


@pytest.mark.parametrize("seed", [1, 2])
def test_fast_plans_equal_reference_plans_on_a_generated_federation(seed: int) -> None:
    rnd, masters, listings = _federation(seed, images=1500, regions=4)
    catalog = master_catalog(masters, ME, MASTER_REGION)
    seen_status: Counter[Status] = Counter()
    seen_action: Counter[Action] = Counter()
    blocked: Counter[str] = Counter()
    converted_ok = 0
    compared = 0
    for name in TARGETS:
        target = _target(name)
        selection = select(catalog, target)
        master_members = _members(rnd, list(selection.images))
        for index, images in enumerate(listings):
            members = MemberLists(master_members, _members(rnd, images))
            for project in (ME, None) if index == 0 else (ME,):
                args = (RegionRef(target.name, f"Region{index:02d}"), catalog, selection.images)
                kwargs: dict[str, Any] = {
                    "members": members,
                    "now": NOW,
                    "selection_failed": index == 3 and name == "retire_hide",
                    "offer": OFFERS[index],
                }
                expected = reference_plan(*args, images, target, project, **kwargs)
                got = plan_region(*args, images, target, project, **kwargs)
                _assert_same(expected, got, f"{name} Region{index:02d} project={project}")
                compared += len(got.entries)
                seen_status.update(e.status for e in got.entries)
                seen_action.update(e.action for e in (*got.entries, *got.obsolete))
                seen_action.update(Action(f"retire_{r.how.value}") for r in got.retirements)
                if got.retire_blocked:
                    seen_action[Action.NONE] += 1
                if got.blocked:
                    blocked[got.blocked.split(" ")[0]] += 1
                converted_ok += sum(
                    1 for e in got.entries if e.status is Status.OK and e.conversion
                )
    assert compared > 50_000
    assert set(seen_status) == set(Status) - {Status.PENDING_RETIRE}, seen_status
    assert set(seen_action) >= set(Action) - {Action.ADOPT}, seen_action
    assert converted_ok > 1000, "converted copies in sync by their provenance"
    assert len(blocked) >= 3, blocked  # unknown store, no glance-direct, quota


def test_fast_adoption_plans_equal_reference_ones() -> None:
    _, masters, listings = _federation(3, images=800, regions=2)
    catalog = master_catalog(masters, ME, MASTER_REGION)
    target = _target("default")
    selected = select(catalog, target).images
    for index, images in enumerate(listings):
        args = (RegionRef("master", f"Region{index:02d}"), catalog, selected, images, target, ME)
        expected = reference_plan(*args, now=NOW, adopt=True)
        got = plan_region(*args, now=NOW, adopt=True)
        _assert_same(expected, got, f"adopt Region{index:02d}")
        assert any(e.action is Action.ADOPT for e in got.entries)


def test_in_sync_pairs_read_back_as_the_plain_in_sync_entries() -> None:
    _, masters, listings = _federation(4, images=10, regions=1)
    conversion = Conversion("qcow2", "raw", REGION_SIDE)
    pairs = InSync(
        selection=masters[2:6],
        settled=(True, False, True, True),
        listed=tuple(listings[0][:4]),
        converted=(conversion, None, None, conversion),
    )

    got = pairs.entries()
    triples = [
        (masters[2], listings[0][0], conversion),
        (masters[4], listings[0][2], None),
        (masters[5], listings[0][3], conversion),
    ]
    plain = [PlannedImage(m, Status.OK, Action.NONE, c, conversion=v) for m, c, v in triples]
    assert got == plain and repr(got) == repr(plain)
    assert got == [settled(m, c, v) for m, c, v in triples]
    assert len(pairs) == 3 and pairs.positions == (0, 2, 3)


def test_in_sync_images_are_kept_as_pairs_and_read_back_as_entries() -> None:
    _, masters, listings = _federation(6, images=300, regions=1)
    target = _target("default")
    catalog = master_catalog(masters, ME, MASTER_REGION)
    selected = select(catalog, target).images
    region = RegionRef("master", "Region00")
    plan = plan_region(region, catalog, selected, listings[0], target, ME, now=NOW)

    assert len(plan.in_sync) > len(selected) // 2, "most of a generated region is in sync"
    assert len(plan.in_sync) + len(plan.detailed) == len(plan.entries) == len(selected)
    assert all(
        e == PlannedImage(e.master, Status.OK, Action.NONE, e.region_image, conversion=e.conversion)
        for e in plan.in_sync.entries()
    )
    assert [e.master for e in plan.entries] == list(selected)
    spelled = RegionPlan(
        region,
        detailed=plan.entries,
        obsolete=plan.obsolete,
        warnings=plan.warnings,
        retirements=plan.retirements,
        retire_blocked=plan.retire_blocked,
        blocked=plan.blocked,
    )
    assert spelled == plan, "equal plans whichever images each keeps as pairs"
    assert spelled.upload_steps() == plan.upload_steps()
    assert spelled.metadata_steps() == plan.metadata_steps()
    assert spelled.synchronised is plan.synchronised
    one_off = plan.in_sync.entries()[0]._replace(status=Status.PENDING_METADATA)
    changed = list(plan.entries)
    changed[plan.in_sync.positions[0]] = one_off
    assert RegionPlan(region, detailed=tuple(changed), warnings=plan.warnings) != plan


def _assert_same(expected: RegionPlan, got: RegionPlan, where: str) -> None:
    """Equal plans; on a difference, name the first entry that differs."""
    for mine, theirs in zip(got.entries, expected.entries, strict=True):
        assert mine == theirs, f"{where}: {theirs.master.name}"
        assert mine.region_image is theirs.region_image or (
            mine.region_image is not None
            and theirs.region_image is not None
            and mine.region_image.raw == theirs.region_image.raw
        )
    assert got == expected, where


def test_the_per_target_view_lives_only_as_long_as_its_catalog() -> None:
    import gc
    import weakref

    from glancesync.engine import prepared

    _, masters, listings = _federation(5, images=50, regions=1)
    target = _target("default")
    catalog = master_catalog(masters, ME, MASTER_REGION)
    selected = select(catalog, target).images
    region = RegionRef("master", "Region00")
    plan_region(region, catalog, selected, listings[0], target, ME, now=NOW)
    key = (id(catalog), id(target))
    assert prepared._views[key].selected is selected
    fewer = selected[: len(selected) // 2]
    got = plan_region(region, catalog, fewer, listings[0], target, ME, now=NOW)
    assert [e.master for e in got.entries] == list(fewer), "another selection, another view"
    assert got == reference_plan(region, catalog, fewer, listings[0], target, ME, now=NOW)
    alive = weakref.ref(catalog)
    del catalog
    gc.collect()
    assert alive() is None and key not in prepared._views


def test_the_planning_benchmark_runs_and_checks_its_plans_equal() -> None:
    from bench import planning

    figures = planning.run(n_images=400, n_regions=3, traced_regions=1)

    assert figures["in_sync_pairs_all_regions"] > 800, "most copies are kept as pairs"
    assert {"ok", "pending_metadata", "pending_upload", "error_checksum"} <= set(
        figures["statuses_all_regions"]
    )
    assert figures["plan_seconds_total"] > 0 and figures["reference_seconds_total"] > 0
