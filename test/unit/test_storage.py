"""Planning rules for regions that store differently, on the in-memory cloud
(doc/manual.rst, "Regions that store differently"): converted copies in sync
by provenance, stores, and the preflight verdict."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from glancesync.api import GlanceSync
from glancesync.config.keys import ChecksumList
from glancesync.config.settings import Credentials, Settings, TargetSettings
from glancesync.engine.steps import Action, Status
from glancesync.engine.storage import LOCAL, REGION_SIDE
from glancesync.model.region import RegionRef
from glancesync.model.storage import Quota, RegionOffer
from glancesync.report import dry_run_text, plan_rows
from glancesync.testing.memcloud import MemoryCloud, converted

METHODS = ("glance-direct", "copy-image")
RAW_IN_TWO = {"disk_format_regions": MappingProxyType({"RegionTwo": "raw"})}


def make_sync(cloud: MemoryCloud, **master: Any) -> GlanceSync:
    targets = {"master": TargetSettings("master", Credentials(), **master)}
    settings = Settings(master_region="RegionOne", targets=MappingProxyType(targets))
    return GlanceSync(settings, facade=cloud)


def checksums(*sums: str | None) -> ChecksumList:
    return ChecksumList(frozenset(s for s in sums if s))


def qcow2_master(cloud: MemoryCloud, data: bytes = b"qcow2 bytes") -> None:
    cloud.add("RegionOne", "q", data, disk_format="qcow2")


def test_a_region_wanting_raw_plans_a_region_side_conversion(cloud: MemoryCloud) -> None:
    qcow2_master(cloud)
    (entry,) = make_sync(cloud, **RAW_IN_TWO).plan_region("RegionTwo").entries
    assert entry.action is Action.UPLOAD and entry.conversion is not None
    assert (entry.conversion.source, entry.conversion.target) == ("qcow2", "raw")
    assert entry.conversion.where == REGION_SIDE
    assert entry.action_text == "upload (convert qcow2\u2192raw)"
    assert entry.new_image is not None and entry.new_image.disk_format == "raw"
    assert entry.new_image.bookkeeping["glancesync_converted_from"] == "qcow2"


@pytest.mark.parametrize(
    ("offer", "mode"),
    [(RegionOffer(("copy-image",)), "auto"), (RegionOffer(METHODS), "local")],
)
def test_without_glance_direct_or_with_conversion_local_it_converts_here(
    cloud: MemoryCloud, offer: RegionOffer, mode: str
) -> None:
    qcow2_master(cloud)
    cloud.offers["RegionTwo"] = offer
    plan = make_sync(cloud, conversion=mode, **RAW_IN_TWO).plan_region("RegionTwo")
    (entry,) = plan.entries
    assert entry.conversion is not None and entry.conversion.where == LOCAL


def test_a_master_already_in_the_wanted_format_is_not_converted(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "r", b"raw bytes", disk_format="raw")
    formats = MappingProxyType({"RegionTwo": "raw", "RegionThree": "master"})
    sync = make_sync(cloud, disk_format="qcow2", disk_format_regions=formats)
    assert sync.plan_region("RegionTwo").entries[0].conversion is None
    (kept,) = sync.plan_region("RegionThree").entries  # "master": the master's own format
    assert kept.conversion is None
    assert kept.new_image is not None and kept.new_image.disk_format == "raw"


def test_formats_qemu_img_does_not_convert_are_left_as_they_are(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "kernel", b"k", disk_format="aki")
    (entry,) = make_sync(cloud, disk_format="raw").plan_region("RegionTwo").entries
    assert entry.conversion is None
    assert entry.new_image is not None and entry.new_image.disk_format == "aki"


def test_region_side_conversion_makes_a_converted_copy_that_is_ok_next_time(
    cloud: MemoryCloud,
) -> None:
    qcow2_master(cloud)
    cloud.converting.add("RegionTwo")
    sync = make_sync(cloud, **RAW_IN_TWO)
    result = sync.sync_region("RegionTwo")
    assert result is not None and not result.failed
    copy = cloud.one("RegionTwo", "q")
    assert copy.disk_format == "raw"
    assert copy.checksum != cloud.one("RegionOne", "q").checksum
    assert cloud.images["RegionTwo"][copy.id].data == converted(b"qcow2 bytes")
    assert result.bytes_uploaded == len(b"qcow2 bytes")  # the small form crossed the wire
    (again,) = sync.plan_region("RegionTwo").entries
    assert (again.status, again.action) == (Status.OK, Action.NONE)
    assert plan_rows(sync.plan_region("RegionTwo"), False)[0]["conversion"] == "qcow2\u2192raw"


def test_a_changed_master_makes_the_converted_copy_a_conflict_named_by_its_own_checksum(
    cloud: MemoryCloud,
) -> None:
    qcow2_master(cloud)
    cloud.converting.add("RegionTwo")
    make_sync(cloud, **RAW_IN_TWO).sync_region("RegionTwo")
    copy = cloud.one("RegionTwo", "q")
    master = cloud.one("RegionOne", "q")
    cloud.delete_image(RegionRef.parse("RegionOne"), master.id)
    qcow2_master(cloud, b"new qcow2 bytes")
    plain = make_sync(cloud, **RAW_IN_TWO).plan_region("RegionTwo").entries[0]
    assert plain.status is Status.ERROR_CHECKSUM
    kept = make_sync(cloud, **RAW_IN_TWO, dontupdate=checksums(copy.checksum))
    assert kept.plan_region("RegionTwo").entries[0].status is Status.OK_STALLED_CHECKSUM
    # the master's old checksum names nothing in the region
    by_master = make_sync(cloud, **RAW_IN_TWO, dontupdate=checksums(master.checksum))
    assert by_master.plan_region("RegionTwo").entries[0].status is Status.ERROR_CHECKSUM
    by_copy = make_sync(cloud, **RAW_IN_TWO, replace=checksums(copy.checksum))
    (entry,) = by_copy.plan_region("RegionTwo").entries
    assert entry.status is Status.PENDING_REPLACE and entry.conversion is not None
    assert by_copy.sync_region("RegionTwo") is not None
    fresh = cloud.one("RegionTwo", "q")
    assert cloud.images["RegionTwo"][fresh.id].data == converted(b"new qcow2 bytes")


def test_an_import_that_fails_is_cleaned_up_and_reported(cloud: MemoryCloud) -> None:
    qcow2_master(cloud)
    cloud.failing_imports.add("RegionTwo")
    cloud.offers["RegionTwo"] = RegionOffer(METHODS, ("fs", "fs2"), None)
    sync = make_sync(cloud, stores_regions=MappingProxyType({"RegionTwo": ("fs", "fs2")}))
    result = sync.sync_region("RegionTwo")
    assert result is not None and result.failed
    (failed,) = [o for o in result.outcomes if not o.ok]
    assert "glance-direct import failed: no space left" in failed.message
    assert cloud.named("RegionTwo", "q") == []  # the record was deleted


def test_a_copy_missing_a_store_gets_it_by_copy_image(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "a", b"abc")
    cloud.offers["RegionTwo"] = RegionOffer(METHODS, ("fs", "fs2"), None)
    make_sync(cloud, stores=("fs",)).sync_region("RegionTwo")
    assert cloud.one("RegionTwo", "a").raw["stores"] == "fs"
    sync = make_sync(cloud, stores=("fs", "fs2"))
    plan = sync.plan_region("RegionTwo")
    (entry,) = plan.entries
    assert (entry.action, entry.stores) == (Action.COPY_STORES, ("fs2",))
    assert "copy_stores (fs2) a" in dry_run_text(plan)
    assert sync.sync_region("RegionTwo") is not None
    assert set(cloud.one("RegionTwo", "a").raw["stores"].split(",")) == {"fs", "fs2"}
    assert sync.plan_region("RegionTwo").entries[0].status is Status.OK


@pytest.mark.parametrize(
    ("offer", "verdict"),
    [
        (RegionOffer(METHODS, ("fs",), None), "unknown store fs2 (the region has fs)"),
        (RegionOffer(METHODS, None, None), "the region lists none"),
        (RegionOffer(("copy-image",), ("fs", "fs2"), None), "no glance-direct import"),
    ],
)
def test_stores_the_region_cannot_give_block_it_before_any_write(
    cloud: MemoryCloud, offer: RegionOffer, verdict: str
) -> None:
    cloud.add("RegionOne", "a", b"abc")
    cloud.offers["RegionTwo"] = offer
    run = make_sync(cloud, stores=("fs", "fs2")).run_region("RegionTwo")
    assert run.error is not None and verdict in run.error.detail
    assert cloud.writes == []


def test_a_plan_over_quota_is_blocked_with_the_numbers(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "a", b"a" * 3_000_000)
    cloud.add("RegionOne", "b", b"b" * 2_000_000)
    usage = {"image_size_total": Quota(5, 1), "image_count_total": Quota(10, 9)}
    cloud.offers["RegionTwo"] = RegionOffer(METHODS, None, MappingProxyType(usage))
    run = make_sync(cloud).run_region("RegionTwo")
    assert run.error is not None
    assert run.error.detail == "5.0 MB to upload, 4.2 MB of image_size_total left"
    assert run.plan is not None and "region blocked, nothing written" in dry_run_text(run.plan)
    usage["image_size_total"] = Quota(50, 1)
    cloud.offers["RegionTwo"] = RegionOffer(METHODS, None, MappingProxyType(usage))
    run = make_sync(cloud).run_region("RegionTwo")
    assert run.error is not None
    assert run.error.detail == "2 images to upload, 1 of image_count_total left"
    assert cloud.writes == []


def test_a_report_of_a_blocked_region_still_shows_its_statuses(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "a", b"a" * 3_000_000)
    usage = {"image_size_total": Quota(1, 0)}
    cloud.offers["RegionTwo"] = RegionOffer(METHODS, None, MappingProxyType(usage))
    report = make_sync(cloud).run_region("RegionTwo", write=False)
    assert report.error is None and report.plan is not None and report.plan.blocked
    assert [e.status.value for e in report.plan.entries] == ["pending_upload"]
    assert "region blocked, nothing written" in dry_run_text(report.plan)


def test_a_region_without_usage_is_not_blocked(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "a", b"a" * 3_000_000)
    run = make_sync(cloud).run_region("RegionTwo")
    assert run.error is None and run.result is not None and not run.result.failed
