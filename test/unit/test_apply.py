"""Applying plans to the in-memory cloud: the region's state afterwards."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from glancesync.api import GlanceSync
from glancesync.config.settings import ChecksumList, Credentials, Settings, TargetSettings
from glancesync.engine.steps import Action, Status
from glancesync.model.region import RegionRef
from glancesync.testing.memcloud import PROJECTS, MemoryCloud


def make_sync(
    cloud: MemoryCloud, preferable_order: tuple[str, ...] = (), **master: Any
) -> GlanceSync:
    targets = {
        "master": TargetSettings("master", Credentials(), **master),
        "other": TargetSettings("other", Credentials()),
    }
    settings = Settings(
        master_region="RegionOne",
        targets=MappingProxyType(targets),
        preferable_order=preferable_order,
    )
    return GlanceSync(settings, facade=cloud)


def test_first_sync_uploads_verified_copies_with_metadata(cloud: MemoryCloud) -> None:
    source = cloud.add("RegionOne", "base", b"0123456789", nid="7", visibility="public")
    result = make_sync(cloud).sync_region("RegionTwo")
    assert result is not None and not result.failed
    copy = cloud.one("RegionTwo", "base")
    assert copy.id != source.id
    assert (copy.checksum, copy.visibility, copy.properties["nid"]) == (
        source.checksum,
        "public",
        "7",
    )
    assert result.bytes_uploaded == 10 and result.images_uploaded == 1


def test_rerun_is_a_no_op(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"abc")
    sync = make_sync(cloud)
    sync.sync_region("RegionTwo")
    writes = len(cloud.writes)
    result = make_sync(cloud).sync_region("RegionTwo")
    assert result is not None and result.outcomes == ()
    assert len(cloud.writes) == writes


def test_dry_run_writes_nothing_and_prints_the_plan(
    cloud: MemoryCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "base", b"abc")
    cloud.add("RegionOne", "meta", b"m", nid="2")
    cloud.add("RegionTwo", "meta", b"m", nid="1")
    before = cloud.state("RegionTwo")
    assert make_sync(cloud).sync_region("RegionTwo", dry_run=True) is None
    assert cloud.state("RegionTwo") == before and cloud.writes == []
    out = capsys.readouterr().out
    assert "upload base" in out and "update_metadata meta" in out


def test_metadata_update_keeps_uuid_and_local_properties(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"abc", nid="2")
    region_copy = cloud.add("RegionTwo", "base", b"abc", nid="1", local="keep")
    make_sync(cloud).sync_region("RegionTwo")
    after = cloud.one("RegionTwo", "base")
    assert after.id == region_copy.id
    assert dict(after.properties) == {"nid": "2", "local": "keep"}


def test_rename_keeps_old_image_as_private_dot_old(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"new")
    old = cloud.add("RegionTwo", "base", b"old")
    make_sync(cloud, rename=ChecksumList(any=True)).sync_region("RegionTwo")
    renamed = cloud.one("RegionTwo", "base.old")
    assert renamed.id == old.id and renamed.visibility == "private"
    assert cloud.one("RegionTwo", "base").checksum != old.checksum


def test_replace_deletes_old_only_after_new_is_verified(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"new")
    old = cloud.add("RegionTwo", "base", b"old")
    make_sync(cloud, replace=ChecksumList(frozenset({old.checksum or ""}))).sync_region("RegionTwo")
    assert [i.id for i in cloud.named("RegionTwo", "base")] != [old.id]
    ops = [op for region, op, name in cloud.writes if name == "base"]
    assert ops == ["create", "upload", "delete"]


def test_corrupted_upload_is_deleted_and_reported(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"payload")
    cloud.corrupt_uploads.add("RegionTwo")
    result = make_sync(cloud).sync_region("RegionTwo")
    assert result is not None and result.failed
    assert cloud.named("RegionTwo", "base") == []
    assert "verification failed" in result.outcomes[0].message


def test_protected_image_is_not_replaced(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"new")
    old = cloud.add("RegionTwo", "base", b"old", protected=True)
    sync = make_sync(cloud, replace=ChecksumList(any=True))
    (planned,) = sync.plan_region("RegionTwo").entries
    assert (planned.status, planned.action) == (Status.ERROR_CHECKSUM, Action.NONE)
    assert "replace_protected" in planned.warnings[-1]
    result = sync.sync_region("RegionTwo")
    assert result is not None and result.failed and result.outcomes == ()
    assert [i.id for i in cloud.named("RegionTwo", "base")] == [old.id]


def test_replace_protected_lifts_protection_only_when_configured(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"new")
    old = cloud.add("RegionTwo", "base", b"old", protected=True)
    allowed = make_sync(cloud, replace=ChecksumList(any=True), replace_protected=True)
    result = allowed.sync_region("RegionTwo")
    assert result is not None and not result.failed
    (copy,) = cloud.named("RegionTwo", "base")
    assert copy.id != old.id and copy.checksum != old.checksum


def test_ami_fixup_writes_region_uuids_after_uploads(cloud: MemoryCloud) -> None:
    kernel = cloud.add("RegionOne", "kernel", b"k" * 50)
    ramdisk = cloud.add("RegionOne", "ramdisk", b"r" * 40)
    cloud.add("RegionOne", "ami", b"a", kernel_id=kernel.id, ramdisk_id=ramdisk.id)
    sync = make_sync(cloud)
    assert {e.status for e in sync.plan_region("RegionTwo").entries} >= {Status.PENDING_AMI}
    result = sync.sync_region("RegionTwo")
    assert result is not None and not result.failed
    ami = cloud.one("RegionTwo", "ami")
    assert ami.properties["kernel_id"] == cloud.one("RegionTwo", "kernel").id
    assert ami.properties["ramdisk_id"] == cloud.one("RegionTwo", "ramdisk").id
    assert [e.status for e in make_sync(cloud).plan_region("RegionTwo").entries] == [Status.OK] * 3


def test_failed_kernel_upload_leaves_ami_without_a_fake_uuid(cloud: MemoryCloud) -> None:
    kernel = cloud.add("RegionOne", "kernel", b"k" * 50)
    cloud.add("RegionOne", "ami", b"a", kernel_id=kernel.id)
    sync = make_sync(cloud)
    plan = sync.plan_region("RegionTwo")
    cloud.corrupt_uploads.add("RegionTwo")
    from glancesync.engine.apply import apply_plan

    result = apply_plan(plan, cloud, sync.source)
    assert result.failed
    assert cloud.named("RegionTwo", "ami") == []  # corrupted too, removed


def test_leftover_queued_record_is_deleted_before_upload(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"abc")
    leftover = cloud.add("RegionTwo", "base", status="queued")
    make_sync(cloud).sync_region("RegionTwo")
    (copy,) = cloud.named("RegionTwo", "base")
    assert copy.id != leftover.id and copy.status == "active"


def test_foreign_images_are_never_modified(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"abc", nid="2")
    foreign = cloud.add("RegionTwo", "base", b"abc", nid="1", owner="p-stranger")
    make_sync(cloud, only_tenant_images=False).sync_region("RegionTwo")
    assert cloud.state("RegionTwo")[foreign.id]["nid"] == "1"
    assert cloud.writes == []


def test_region_error_stops_only_that_region(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"abc")
    sync = make_sync(cloud)
    cloud.failing_regions.add("RegionTwo")
    with pytest.raises(Exception, match="RegionTwo"):
        sync.sync_region("RegionTwo")
    result = sync.sync_region("RegionThree")
    assert result is not None and not result.failed


def test_obsolete_rename_applied(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "img_obsolete", b"v1", visibility="private")
    cloud.add("RegionOne", "img", b"v2")
    old = cloud.add("RegionTwo", "img", b"v1")
    make_sync(cloud).sync_region("RegionTwo")
    renamed = cloud.one("RegionTwo", "img_obsolete")
    assert renamed.id == old.id and renamed.visibility == "private"
    assert cloud.one("RegionTwo", "img").checksum != old.checksum


def test_other_target_region_uses_its_own_project(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"abc")
    make_sync(cloud).sync_region("other:OtherOne")
    assert cloud.one("other:OtherOne", "base").owner == PROJECTS["other"]


def test_get_regions_orders_and_filters(cloud: MemoryCloud) -> None:
    sync = make_sync(cloud, ignore_regions=("RegionThree",))
    assert sync.get_regions() == ["RegionTwo"]
    assert sync.get_regions(omit_master_region=False) == ["RegionOne", "RegionTwo"]
    assert sync.get_regions(target="other") == ["other:OtherOne"]
    assert make_sync(cloud).get_regions() == ["RegionThree", "RegionTwo"]
    ordered = make_sync(cloud, preferable_order=("Nowhere", "RegionTwo"))
    assert ordered.get_regions() == ["RegionTwo", "RegionThree"]


def test_backup_is_json_lines_with_every_field(cloud: MemoryCloud, tmp_path: Path) -> None:
    import json

    cloud.add("RegionTwo", "base", b"abc", nid="1")
    path = make_sync(cloud).backup_glancemetadata_region("RegionTwo", tmp_path)
    (line,) = path.read_text().splitlines()
    record = json.loads(line)
    assert record["name"] == "base" and record["nid"] == "1" and "checksum" in record
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_backup_never_replaces_another_of_the_same_second(
    cloud: MemoryCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.add("RegionTwo", "base", b"abc", nid="1")
    sync = make_sync(cloud)
    monkeypatch.setattr("glancesync.runner.backup.time.strftime", lambda _: "20261201_101010")
    first = sync.backup_glancemetadata_region("RegionTwo", tmp_path)
    cloud.add("RegionTwo", "later", b"def", nid="2")
    second = sync.backup_glancemetadata_region("RegionTwo", tmp_path)

    assert first.name == "backup_RegionTwo_20261201_101010.jsonl"
    assert second.name == "backup_RegionTwo_20261201_101010_2.jsonl"
    assert len(first.read_text().splitlines()) == 1, "the first backup is kept as it was"
    assert len(second.read_text().splitlines()) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name, second.name]


def test_delete_image_asks_and_refuses_foreign(
    cloud: MemoryCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = cloud.add("RegionTwo", "mine", b"1")
    sync = make_sync(cloud)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert sync.delete_image("RegionTwo", mine.id) is False
    assert sync.delete_image("RegionTwo", mine.id, confirm=False) is True
    assert cloud.named("RegionTwo", "mine") == []


def test_update_metadata_image_changes_only_given_fields(cloud: MemoryCloud) -> None:
    image = cloud.add("RegionTwo", "x", b"1", nid="1", local="l")
    wanted = {"id": image.id, "name": "y", "visibility": "public", "nid": "2"}
    updated = make_sync(cloud).update_metadata_image("RegionTwo", wanted)
    assert (updated.name, dict(updated.properties)) == ("y", {"nid": "2", "local": "l"})


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("glancesync.engine.retry.BACKOFF_SECONDS", 0.0)


def test_transient_upload_failure_is_retried_without_leaving_records(
    cloud: MemoryCloud, no_backoff: None
) -> None:
    cloud.add("RegionOne", "base", b"abc")
    cloud.flaky_uploads["RegionTwo"] = 2
    result = make_sync(cloud).sync_region("RegionTwo")
    assert result is not None and not result.failed
    assert [i.status for i in cloud.named("RegionTwo", "base")] == ["active"]
    ops = [op for _, op, _ in cloud.writes]
    assert ops == ["create", "delete", "create", "delete", "create", "upload"]


def test_persistent_transient_failure_gives_up_after_three_attempts(
    cloud: MemoryCloud, no_backoff: None
) -> None:
    cloud.add("RegionOne", "base", b"abc")
    cloud.flaky_uploads["RegionTwo"] = 5
    result = make_sync(cloud).sync_region("RegionTwo")
    assert result is not None and result.failed and "503" in result.outcomes[0].message
    assert cloud.named("RegionTwo", "base") == []
    assert cloud.flaky_uploads["RegionTwo"] == 2


def test_glance_download_lets_the_region_pull_the_image(cloud: MemoryCloud) -> None:
    source = cloud.add("RegionOne", "base", b"abc", nid="1")
    result = make_sync(cloud, transfer="glance-download").sync_region("RegionTwo")
    assert result is not None and not result.failed and result.bytes_uploaded == 0
    assert cloud.downloads == []
    copy = cloud.one("RegionTwo", "base")
    assert (copy.checksum, copy.properties["nid"]) == (source.checksum, "1")
    assert [op for _, op, _ in cloud.writes] == ["create", "import"]


def test_glance_download_falls_back_to_streaming(
    cloud: MemoryCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.add("RegionOne", "base", b"abc")
    monkeypatch.setattr(cloud, "image_import_methods", lambda region: ["glance-direct"])
    result = make_sync(cloud, transfer="glance-download").sync_region("RegionTwo")
    assert result is not None and not result.failed and result.bytes_uploaded == 3
    assert cloud.downloads == [("RegionOne", "base")]


def test_failed_glance_download_is_deleted_then_streamed(
    cloud: MemoryCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glancesync.model.errors import ImageError

    def broken(region: RegionRef, image_id: str, *args: object) -> None:
        raise ImageError(region.full, image_id, "glance-download ended killed")

    cloud.add("RegionOne", "base", b"abc")
    monkeypatch.setattr(cloud, "import_from_region", broken)
    result = make_sync(cloud, transfer="glance-download").sync_region("RegionTwo")
    assert result is not None and not result.failed
    assert [op for _, op, _ in cloud.writes] == ["create", "delete", "create", "upload"]
    assert cloud.one("RegionTwo", "base").status == "active"


def test_delete_image_refuses_other_projects_without_asking(
    cloud: MemoryCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glancesync.model.errors import ImageError

    foreign = cloud.add("RegionTwo", "theirs", b"1", owner="p-stranger")
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("asked"))
    with pytest.raises(ImageError, match="another project"):
        make_sync(cloud).delete_image("RegionTwo", foreign.id)
    assert cloud.named("RegionTwo", "theirs") != []


def test_print_images_master_region_lists_selected_images(
    cloud: MemoryCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "public_one", b"1")
    cloud.add("RegionOne", "private_one", b"2", visibility="private")
    make_sync(cloud).print_images_master_region()
    out = capsys.readouterr().out
    assert "public_one" in out and "private_one" not in out


def test_print_images_marks_anomalies(
    cloud: MemoryCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "same", b"1")
    cloud.add("RegionOne", "differs", b"2")
    cloud.add("RegionTwo", "same", b"1")
    cloud.add("RegionTwo", "differs", b"other")
    cloud.add("RegionTwo", "local_only", b"3")
    make_sync(cloud).print_images("RegionTwo")
    lines = {line.split("\t")[0] for line in capsys.readouterr().out.splitlines()}
    assert lines == {"  same", "! differs", "+ local_only"}


def test_cleanup_of_a_failed_upload_is_retried(cloud: MemoryCloud, no_backoff: None) -> None:
    cloud.add("RegionOne", "base", b"abc")
    cloud.flaky_uploads["RegionTwo"] = 1
    cloud.flaky_deletes["RegionTwo"] = 1
    result = make_sync(cloud).sync_region("RegionTwo")
    assert result is not None and not result.failed
    assert [i.status for i in cloud.named("RegionTwo", "base")] == ["active"]


def test_a_record_that_cannot_be_cleaned_up_fails_the_run(
    cloud: MemoryCloud, no_backoff: None
) -> None:
    cloud.add("RegionOne", "base", b"abc")
    cloud.flaky_uploads["RegionTwo"] = 1
    cloud.flaky_deletes["RegionTwo"] = 3
    result = make_sync(cloud).sync_region("RegionTwo")
    assert result is not None and result.failed
    assert any("unfinished record" in o.message for o in result.outcomes)
    statuses = sorted(i.status for i in cloud.named("RegionTwo", "base"))
    assert statuses == ["active", "queued"]
    rerun = make_sync(cloud).sync_region("RegionTwo")
    assert rerun is not None and not rerun.failed


def test_several_uploads_at_once_in_one_region(cloud: MemoryCloud) -> None:
    from glancesync.engine.apply import apply_plan

    for number in range(6):
        cloud.add("RegionOne", f"img{number}", bytes([number]) * (10 + number))
    sync = make_sync(cloud)
    result = apply_plan(sync.plan_region("RegionTwo"), cloud, sync.source, max_uploads=3)
    assert not result.failed and result.images_uploaded == 6
    assert result.bytes_uploaded == sum(10 + n for n in range(6))
    for number in range(6):
        assert cloud.one("RegionTwo", f"img{number}").status == "active"


def test_protected_master_image_is_copied_unprotected_until_verified(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"abc", protected=True)
    cloud.corrupt_uploads.add("RegionTwo")
    failed = make_sync(cloud).sync_region("RegionTwo")
    assert failed is not None and failed.failed
    assert cloud.named("RegionTwo", "base") == [], "the corrupt record could be deleted"
    cloud.corrupt_uploads.clear()
    result = make_sync(cloud).sync_region("RegionTwo")
    assert result is not None and not result.failed
    assert cloud.one("RegionTwo", "base").protected


def test_rename_waits_for_the_new_image_to_be_verified(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"new")
    old = cloud.add("RegionTwo", "base", b"old")
    cloud.corrupt_uploads.add("RegionTwo")
    result = make_sync(cloud, rename=ChecksumList(any=True)).sync_region("RegionTwo")
    assert result is not None and result.failed
    assert [i.id for i in cloud.named("RegionTwo", "base")] == [old.id]
    assert cloud.named("RegionTwo", "base.old") == []


def test_selection_is_computed_once_per_target_not_per_region(
    cloud: MemoryCloud, caplog: pytest.LogCaptureFixture
) -> None:
    from glancesync.config.condition import compile_condition

    cloud.add("RegionOne", "no_nid", b"a")
    cloud.add("RegionOne", "with_nid", b"b", nid="12")
    condition = compile_condition("image.user_properties['nid'].startswith('1')")
    sync = make_sync(cloud, metadata_condition=condition)
    plans = [sync.plan_region(region) for region in ("RegionTwo", "RegionThree")]
    assert [[e.master.name for e in p.entries] for p in plans] == [["with_nid"], ["with_nid"]]
    failures = [r for r in caplog.records if "metadata_condition failed" in r.getMessage()]
    assert len(failures) == 1, "the failing condition was evaluated once, for both regions"
