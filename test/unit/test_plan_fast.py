"""The fast planner makes the very plans of the straightforward one.

``bench/plan_reference.py`` keeps the rules as they were before the fast
path (one full pass per image); here both plan large generated federations
(fixed seeds: thousands of master images, many regions, every status and
action, many target settings) and the plans must be equal, entry by entry,
retirements and warnings included.
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
from glancesync.engine.steps import Action, PlannedImage, RegionPlan, Status, settled
from glancesync.model.image import Image
from glancesync.model.provenance import MEMBERS, RETIRED_AT, SOURCE_HASH, master_hash, stamp
from glancesync.model.region import RegionRef
from glancesync.model.values import frozen

ME, OTHER = "p-me", "p-other"
MASTER_REGION = "RegionOne"
NOW = datetime(2026, 6, 1, tzinfo=timezone.utc)


def _hashes(data: str) -> dict[str, str]:
    return {
        "checksum": hashlib.md5(data.encode()).hexdigest(),
        "os_hash_algo": "sha512",
        "os_hash_value": hashlib.sha512(data.encode()).hexdigest(),
    }


def _image(rnd: random.Random, number: int, name: str, data: str, region: str, **fields: Any):
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


#: What a region does with one master image: (weight, maker).
Maker = Callable[[random.Random, Image, int, str], list[Image]]


def _kinds() -> list[tuple[float, Maker]]:
    def same(rnd, m, n, r):
        return [_copy(m, n, r)]

    def unstamped(rnd, m, n, r):
        return [_copy(m, n, r, raw={})]

    def bad_stamp(rnd, m, n, r):
        return [_copy(m, n, r, raw={**stamp(m, MASTER_REGION), SOURCE_HASH: "not a hash"})]

    def stale_stamp(rnd, m, n, r):
        return [_copy(m, n, r, raw={**stamp(m, MASTER_REGION), SOURCE_HASH: "md5:00ff"})]

    def members_recorded(rnd, m, n, r):
        return [_copy(m, n, r, raw={**stamp(m, MASTER_REGION), MEMBERS: "p-a,p-b"})]

    def other_prop(rnd, m, n, r):
        return [_copy(m, n, r, properties=frozen({**m.properties, "type": "old"}))]

    def local_prop(rnd, m, n, r):
        return [_copy(m, n, r, properties=frozen({**m.properties, "local": "yes"}))]

    def no_props(rnd, m, n, r):
        return [_copy(m, n, r, properties=frozen({}))]

    def system_field(rnd, m, n, r):
        field = rnd.choice(["visibility", "min_ram", "min_disk", "protected", "tags", "fmt"])
        change: dict[str, Any] = {
            "visibility": {"visibility": "private" if m.visibility != "private" else "public"},
            "min_ram": {"min_ram": m.min_ram + 1},
            "min_disk": {"min_disk": 3},
            "protected": {"protected": not m.protected},
            "tags": {"tags": tuple(reversed(m.tags)) or ("x",)},
            "fmt": {"disk_format": "raw", "container_format": rnd.choice([None, "ovf"])},
        }[field]
        return [_copy(m, n, r, **change)]

    def other_bytes(rnd, m, n, r):
        return [_copy(m, n, r, protected=rnd.random() < 0.3, **_hashes(f"other-{n}"))]

    def foreign(rnd, m, n, r):
        data = rnd.choice([None, f"foreign-{n}"])
        changes = _hashes(data) if data else {}
        return [_copy(m, n, r, owner=OTHER, **changes)]

    def twice(rnd, m, n, r):
        first = _copy(m, n, r, **_hashes(f"old-{n}"))
        second = _copy(m, n + 500_000, r, created_at="2025-01-01", owner=rnd.choice([ME, OTHER]))
        return [first, second]

    def leftover(rnd, m, n, r):
        return [_copy(m, n, r, status=rnd.choice(["queued", "saving", "killed"]))]

    def renamed(rnd, m, n, r):
        return [_copy(m, n, r, name=f"{m.name}-before")]

    def deactivated(rnd, m, n, r):
        return [_copy(m, n, r, status="deactivated")]

    def missing(rnd, m, n, r):
        return []

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


TARGETS = {
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
}


def _target(name: str) -> TargetSettings:
    settings = dict(TARGETS[name])
    return TargetSettings(
        name=settings.pop("name", "master"), credentials=Credentials(), **settings
    )


def _federation(seed: int, images: int, regions: int):
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
    assert compared > 50_000
    assert set(seen_status) == set(Status) - {Status.PENDING_RETIRE}, seen_status
    assert set(seen_action) >= set(Action) - {Action.ADOPT}, seen_action


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


def test_a_settled_entry_is_the_plain_in_sync_entry() -> None:
    _, masters, listings = _federation(4, images=10, regions=1)
    master, copy = masters[3], listings[0][0]

    plain = PlannedImage(master, Status.OK, Action.NONE, copy)
    fast = settled(master, copy)
    assert fast == plain and repr(fast) == repr(plain)
    assert replace(fast, status=Status.PENDING_METADATA) == replace(
        plain, status=Status.PENDING_METADATA
    )


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
