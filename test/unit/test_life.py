"""An image's life on the in-memory cloud: provenance, fields, renames, sharing, retirement."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import MappingProxyType
from typing import Any

import pytest

from glancesync.api import GlanceSync
from glancesync.config.settings import Credentials, Settings, TargetSettings
from glancesync.engine.steps import Action, Status
from glancesync.model.changes import MetadataChange
from glancesync.model.provenance import (
    RETIRED_AT,
    SOURCE_HASH,
    SOURCE_ID,
    SOURCE_REGION,
    moment,
    provenance_of,
)
from glancesync.model.region import RegionRef
from glancesync.report import plan_rows
from glancesync.testing.memcloud import MemoryCloud

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


def make_sync(
    cloud: MemoryCloud, now: datetime = NOW, other: dict[str, Any] | None = None, **master: Any
) -> GlanceSync:
    targets = {
        "master": TargetSettings("master", Credentials(), **master),
        "other": TargetSettings("other", Credentials(), **(other or {})),
    }
    settings = Settings(master_region="RegionOne", targets=MappingProxyType(targets))
    return GlanceSync(settings, facade=cloud, clock=lambda: now)


def synced(cloud: MemoryCloud, region: str = "RegionTwo", **master: Any) -> None:
    result = make_sync(cloud, **master).sync_region(region)
    assert result is not None and not result.failed, result


def test_copies_record_their_provenance_and_keep_it_through_updates(cloud: MemoryCloud) -> None:
    master = cloud.add("RegionOne", "base", b"data", nid="1", glancesync_source_id="forged")
    synced(cloud)
    copy = cloud.one("RegionTwo", "base")
    assert copy.raw[SOURCE_ID] == master.id and copy.raw[SOURCE_REGION] == "RegionOne"
    assert copy.raw[SOURCE_HASH] == f"sha512:{master.os_hash_value}"
    assert "glancesync_source_id" not in copy.properties

    cloud.update_image(RegionRef.parse("RegionOne"), master.id, _set(nid="2"))
    synced(cloud, metadata_set=frozenset({"nid", "glancesync_source_id"}))
    after = cloud.one("RegionTwo", "base")
    assert after.id == copy.id and after.properties["nid"] == "2"
    assert provenance_of(after) == provenance_of(copy)


def test_min_ram_min_disk_tags_and_protected_follow_in_place(cloud: MemoryCloud) -> None:
    master = cloud.add("RegionOne", "base", b"data")
    synced(cloud)
    copy = cloud.one("RegionTwo", "base")
    cloud.images["RegionOne"][master.id].doc.update(
        min_ram=512, min_disk=4, tags=["b", "a"], protected=True
    )
    (entry,) = make_sync(cloud).plan_region("RegionTwo").entries
    assert (entry.status, entry.action) == (Status.PENDING_METADATA, Action.UPDATE_METADATA)
    synced(cloud)
    after = cloud.one("RegionTwo", "base")
    assert after.id == copy.id
    assert (after.min_ram, after.min_disk, sorted(after.tags), after.protected) == (
        512,
        4,
        ["a", "b"],
        True,
    )
    assert [e.status for e in make_sync(cloud).plan_region("RegionTwo").entries] == [Status.OK]


def test_another_disk_format_is_only_a_warning(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"data", disk_format="qcow2")
    cloud.add("RegionTwo", "base", b"data", disk_format="raw")
    (entry,) = make_sync(cloud).plan_region("RegionTwo").entries
    assert entry.status is Status.OK
    assert any("disk_format is raw in the region and qcow2" in w for w in entry.warnings)


def test_a_renamed_master_image_renames_its_copy_in_place(cloud: MemoryCloud) -> None:
    master = cloud.add("RegionOne", "old-name", b"data")
    synced(cloud)
    copy = cloud.one("RegionTwo", "old-name")
    cloud.update_image(RegionRef.parse("RegionOne"), master.id, _set(name="new-name"))
    cloud.writes.clear()
    (entry,) = make_sync(cloud).plan_region("RegionTwo").entries
    assert (entry.status, entry.action) == (Status.PENDING_METADATA, Action.FOLLOW_RENAME)
    synced(cloud)
    assert cloud.one("RegionTwo", "new-name").id == copy.id
    assert cloud.named("RegionTwo", "old-name") == []
    assert [kind for _, kind, _ in cloud.writes] == ["update"]


def test_a_rename_onto_a_taken_name_follows_the_conflict_rules(cloud: MemoryCloud) -> None:
    master = cloud.add("RegionOne", "old-name", b"data")
    synced(cloud)
    copy = cloud.one("RegionTwo", "old-name")
    other = cloud.add("RegionTwo", "new-name", b"someone else's")
    cloud.update_image(RegionRef.parse("RegionOne"), master.id, _set(name="new-name"))
    (entry,) = make_sync(cloud).plan_region("RegionTwo").entries
    assert entry.status is Status.ERROR_CHECKSUM and entry.region_image == other
    assert cloud.one("RegionTwo", "old-name").id == copy.id


def test_a_copy_without_provenance_is_never_renamed(cloud: MemoryCloud) -> None:
    master = cloud.add("RegionOne", "new-name", b"data")
    cloud.add("RegionTwo", "old-name", b"data", glancesync_source_id=master.id)
    (entry,) = make_sync(cloud).plan_region("RegionTwo").entries
    assert entry.action is Action.UPLOAD


def test_members_follow_a_shared_image_and_region_members_stay(cloud: MemoryCloud) -> None:
    master = cloud.add("RegionOne", "base", b"data", visibility="shared")
    cloud.members[("RegionOne", master.id)] = {"p-customer", "p-partner"}
    chosen = frozenset({master.id})
    synced(cloud, forcesyncs=chosen)
    copy = cloud.one("RegionTwo", "base")
    assert cloud.members[("RegionTwo", copy.id)] == {"p-customer", "p-partner"}

    cloud.members[("RegionTwo", copy.id)].add("p-regional")
    cloud.members[("RegionOne", master.id)] = {"p-customer"}
    synced(cloud, forcesyncs=chosen)
    assert cloud.members[("RegionTwo", copy.id)] == {"p-customer", "p-regional"}


def test_another_keystone_maps_members_and_warns_for_the_unmapped(cloud: MemoryCloud) -> None:
    master = cloud.add("RegionOne", "base", b"data", visibility="shared")
    cloud.members[("RegionOne", master.id)] = {"p-customer", "p-unknown"}
    other: dict[str, Any] = {"member_projects": MappingProxyType({"p-customer": "q-customer"})}
    other["forcesyncs"] = frozenset({master.id})
    sync = make_sync(cloud, other=other)
    (entry,) = sync.plan_region("other:OtherOne").entries
    assert entry.new_image is not None and entry.new_image.members == ("q-customer",)
    assert any("p-unknown" in w for w in entry.warnings)
    result = sync.sync_region("other:OtherOne")
    assert result is not None and not result.failed
    copy = cloud.one("other:OtherOne", "base")
    assert cloud.members[("other:OtherOne", copy.id)] == {"q-customer"}


def test_keep_ids_gives_the_masters_id_or_falls_back_with_a_warning(
    cloud: MemoryCloud, caplog: pytest.LogCaptureFixture
) -> None:
    first = cloud.add("RegionOne", "first", b"1")
    second = cloud.add("RegionOne", "second", b"22")
    cloud.used_ids.setdefault("RegionTwo", set()).add(second.id)  # once used, since deleted
    synced(cloud, keep_ids=True)
    assert cloud.one("RegionTwo", "first").id == first.id
    assert cloud.one("RegionTwo", "second").id != second.id
    assert f"the master's id {second.id} is not available here" in caplog.text


def _gone(cloud: MemoryCloud, name: str) -> None:
    (image,) = [i for i in cloud.images["RegionOne"].values() if i.doc["name"] == name]
    del cloud.images["RegionOne"][image.doc["id"]]


@pytest.mark.parametrize(
    ("mode", "check"),
    [
        ("hide", lambda image: image.hidden and image.raw[RETIRED_AT] == moment(NOW)),
        ("deactivate", lambda image: image.status == "deactivated"),
        ("delete", None),
    ],
)
def test_each_retire_mode_on_a_master_deletion(cloud: MemoryCloud, mode: str, check: Any) -> None:
    cloud.add("RegionOne", "keep", b"k")
    cloud.add("RegionOne", "gone", b"g")
    synced(cloud)
    _gone(cloud, "gone")
    sync = make_sync(cloud, retire=mode)
    plan = sync.plan_region("RegionTwo")
    rows = plan_rows(plan, with_action=True)
    assert rows[-1]["status"] == "pending_retire" and rows[-1]["action"] == f"retire_{mode}"
    assert [r["status"] for r in plan_rows(plan, with_action=False)] == ["ok", "pending_retire"]
    synced(cloud, retire=mode)
    found = cloud.named("RegionTwo", "gone")
    if check is None:
        assert found == []
    else:
        assert check(found[0])
    assert cloud.one("RegionTwo", "keep").status == "active"


def test_keep_is_the_default_and_shows_no_retirement(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "gone", b"g")
    synced(cloud)
    _gone(cloud, "gone")
    cloud.add("RegionOne", "other", b"o")
    plan = make_sync(cloud).plan_region("RegionTwo")
    assert plan.retirements == () and "pending_retire" not in str(plan_rows(plan, False))


def test_a_deselected_image_is_retired(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "base", b"b", nid="1")
    cloud.add("RegionOne", "more", b"m", nid="2")
    synced(cloud)
    plan = make_sync(cloud, retire="delete", forcesyncs=frozenset()).plan_region("RegionTwo")
    assert plan.retirements == ()
    cloud.images["RegionOne"][cloud.one("RegionOne", "more").id].doc["visibility"] = "private"
    plan = make_sync(cloud, retire="delete").plan_region("RegionTwo")
    assert [r.image.name for r in plan.retirements] == ["more"]


def test_more_than_max_retire_retires_nothing_and_fails(cloud: MemoryCloud) -> None:
    for name in ("a", "b", "c", "keep"):
        cloud.add("RegionOne", name, name.encode())
    synced(cloud)
    for name in ("a", "b", "c"):
        _gone(cloud, name)
    result = make_sync(cloud, retire="delete", max_retire=2).sync_region("RegionTwo")
    assert result is not None and result.failed
    assert result.plan.retire_blocked == ("a", "b", "c")
    assert len(cloud.list_images(RegionRef.parse("RegionTwo"))) == 4


def test_an_empty_master_listing_retires_nothing(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "a", b"a")
    synced(cloud)
    cloud.images["RegionOne"].clear()
    plan = make_sync(cloud, retire="delete").plan_region("RegionTwo")
    assert plan.retirements == () and any("master listing is empty" in w for w in plan.warnings)


def test_a_failed_selection_retires_nothing(cloud: MemoryCloud) -> None:
    from glancesync.config.condition import compile_condition

    cloud.add("RegionOne", "a", b"a", nid="1")
    cloud.add("RegionOne", "b", b"b", nid="2")
    synced(cloud)
    cloud.images["RegionOne"][cloud.one("RegionOne", "b").id].doc.pop("nid")
    condition = compile_condition("image.user_properties['nid'] == '1'")
    plan = make_sync(cloud, retire="delete", metadata_condition=condition).plan_region("RegionTwo")
    assert plan.retirements == () and any("failed on some image" in w for w in plan.warnings)


def test_images_without_provenance_of_others_and_protected_are_never_retired(
    cloud: MemoryCloud,
) -> None:
    master = cloud.add("RegionOne", "guarded", b"g")
    cloud.add("RegionOne", "keep", b"k")
    synced(cloud)
    cloud.images["RegionTwo"][cloud.one("RegionTwo", "guarded").id].doc["protected"] = True
    _gone(cloud, "guarded")
    cloud.add("RegionTwo", "local", b"l")
    stamp: dict[str, Any] = {
        SOURCE_ID: master.id,
        SOURCE_REGION: "RegionOne",
        SOURCE_HASH: "md5:00",
    }
    cloud.add("RegionTwo", "theirs", b"t", owner="p-someone", **stamp)
    plan = make_sync(cloud, retire="delete").plan_region("RegionTwo")
    assert plan.retirements == ()
    hidden = make_sync(cloud, retire="hide").plan_region("RegionTwo")
    assert [r.image.name for r in hidden.retirements] == ["guarded"]
    allowed = make_sync(cloud, retire="delete", retire_protected=True).plan_region("RegionTwo")
    assert [r.image.name for r in allowed.retirements] == ["guarded"]
    synced(cloud, retire="delete", retire_protected=True)
    assert cloud.named("RegionTwo", "guarded") == []
    left = {i.name for i in cloud.list_images(RegionRef.parse("RegionTwo"))}
    assert left == {"keep", "local", "theirs"}


def test_an_obsolete_master_image_keeps_its_copies(cloud: MemoryCloud) -> None:
    master = cloud.add("RegionOne", "base", b"b")
    synced(cloud)
    cloud.update_image(RegionRef.parse("RegionOne"), master.id, _set(name="base_obsolete"))
    plan = make_sync(cloud, retire="delete").plan_region("RegionTwo")
    assert plan.retirements == ()


def test_retire_delete_after_waits_for_its_days(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "gone", b"g")
    cloud.add("RegionOne", "keep", b"k")
    synced(cloud)
    _gone(cloud, "gone")
    synced(cloud, retire="hide", retire_delete_after=30.0)
    hidden = cloud.one("RegionTwo", "gone")
    assert hidden.hidden
    later = make_sync(cloud, NOW + timedelta(days=29), retire="hide", retire_delete_after=30.0)
    assert later.plan_region("RegionTwo").retirements == ()
    much_later = NOW + timedelta(days=31)
    sync = make_sync(cloud, much_later, retire="hide", retire_delete_after=30.0)
    (step,) = sync.plan_region("RegionTwo").retirements
    assert step.delete and "more than 30 days ago" in step.reason
    assert sync.sync_region("RegionTwo") is not None
    assert cloud.named("RegionTwo", "gone") == []


def test_adopt_stamps_only_same_content_copies_of_selected_images(cloud: MemoryCloud) -> None:
    master = cloud.add("RegionOne", "base", b"same")
    cloud.add("RegionOne", "changed", b"new")
    cloud.add("RegionOne", "private", b"p", visibility="private")
    cloud.add("RegionTwo", "base", b"same", nid="local")
    cloud.add("RegionTwo", "changed", b"old")
    cloud.add("RegionTwo", "private", b"p")
    sync = make_sync(cloud)
    dry = sync.run_region("RegionTwo", write=False, adopt=True)
    assert dry.plan is not None and cloud.writes == []
    assert [(e.master.name, e.action) for e in dry.plan.entries] == [
        ("changed", Action.NONE),
        ("base", Action.ADOPT),
    ]
    run = sync.run_region("RegionTwo", adopt=True)
    assert run.result is not None and all(o.ok for o in run.result.outcomes)
    assert [(kind, name) for _, kind, name in cloud.writes] == [("update", "base")]
    adopted = cloud.one("RegionTwo", "base")
    assert provenance_of(adopted) is not None and adopted.raw[SOURCE_ID] == master.id
    assert adopted.properties["nid"] == "local"
    assert provenance_of(cloud.one("RegionTwo", "changed")) is None


def _set(**fields: Any) -> Any:
    name = fields.pop("name", None)
    return MetadataChange(name=name, set_properties=fields)


def test_a_record_of_as_many_members_as_glance_allows_is_read_back(cloud: MemoryCloud) -> None:
    """Glance keeps 128 members per image by default; their record is longer than 255."""
    from glancesync.model.provenance import MAX_MEMBERS_VALUE, MEMBERS, members_value

    projects = frozenset(f"{n:064x}" for n in range(128))
    stamp: dict[str, Any] = {SOURCE_ID: "m", SOURCE_REGION: "RegionOne", SOURCE_HASH: "md5:00"}
    stamp[MEMBERS] = members_value(projects)
    copy = cloud.add("RegionTwo", "base", b"x", **stamp)
    found = provenance_of(copy)
    assert found is not None and found.members == projects
    assert len(members_value(projects)) < MAX_MEMBERS_VALUE
    stamp[MEMBERS] = "a" * (MAX_MEMBERS_VALUE + 1)
    damaged = provenance_of(cloud.add("RegionTwo", "big", b"x", **stamp))
    assert damaged is not None and damaged.members == frozenset()


def test_a_hidden_master_image_is_not_gone(cloud: MemoryCloud) -> None:
    master = cloud.add("RegionOne", "base", b"b", hidden=True, nid="1")
    synced(cloud, retire="delete")
    copy = cloud.one("RegionTwo", "base")
    assert copy.hidden  # copied on upload, then the region's own
    cloud.update_image(RegionRef.parse("RegionOne"), master.id, _set(nid="2"))
    plan = make_sync(cloud, retire="delete").plan_region("RegionTwo")
    assert plan.retirements == ()
    assert [(e.status, e.region_image and e.region_image.id) for e in plan.entries] == [
        (Status.PENDING_METADATA, copy.id)
    ]


def test_a_master_image_no_longer_shared_takes_its_members_from_the_copies(
    cloud: MemoryCloud,
) -> None:
    master = cloud.add("RegionOne", "base", b"data", visibility="shared")
    cloud.members[("RegionOne", master.id)] = {"p-customer"}
    chosen = frozenset({master.id})
    synced(cloud, forcesyncs=chosen)
    copy = cloud.one("RegionTwo", "base")
    cloud.update_image(RegionRef.parse("RegionOne"), master.id, MetadataChange(visibility="public"))
    (entry,) = make_sync(cloud, forcesyncs=chosen).plan_region("RegionTwo").entries
    assert (entry.change.visibility, entry.change.remove_members) == ("public", ("p-customer",))
    synced(cloud, forcesyncs=chosen)  # the memcloud refuses members of a public image
    assert cloud.one("RegionTwo", "base").visibility == "public"
    assert cloud.members[("RegionTwo", copy.id)] == set()
