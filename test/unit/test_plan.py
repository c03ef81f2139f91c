"""The planner, rule by rule, on in-memory images.

Each scenario is data: the master's images, the region's images, the target
settings, and the expected status (and action) of every selected image.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from glancesync.config.condition import compile_condition
from glancesync.config.settings import ChecksumList, Credentials, TargetSettings
from glancesync.engine.plan import plan_region
from glancesync.engine.selection import master_catalog, selected_images
from glancesync.engine.steps import Action, RegionPlan, Status
from glancesync.model.image import Image
from glancesync.model.region import RegionRef

ME, OTHER = "p-me", "p-other"
REGION = RegionRef("master", "RegionTwo")
_ids = itertools.count(1)


def img(name: str, data: str = "", *, owner: str = ME, vis: str = "public", **props: Any) -> Image:
    """An active image whose checksum follows from ``data`` (default: its name)."""
    payload = (data or name).encode()
    number = next(_ids)
    return Image(
        id=f"id-{number:04d}",
        name=name,
        owner=owner,
        size=props.pop("size", len(payload)),
        checksum=hashlib.md5(payload).hexdigest(),
        os_hash_algo="sha512",
        os_hash_value=hashlib.sha512(payload).hexdigest(),
        status=props.pop("status", "active"),
        visibility=vis,
        protected=props.pop("protected", False),
        hidden=props.pop("hidden", False),
        created_at=f"2026-01-01T{number:06d}",
        properties=props,
    )


def md5(data: str) -> str:
    return hashlib.md5(data.encode()).hexdigest()


def target(**settings: Any) -> TargetSettings:
    for key in ("rename", "replace", "dontupdate"):
        if isinstance(settings.get(key), str):
            words = settings[key].split(",")
            settings[key] = ChecksumList(frozenset(w for w in words if w != "any"), "any" in words)
    if "metadata_condition" in settings:
        settings["metadata_condition"] = compile_condition(settings["metadata_condition"])
    for key in ("metadata_set", "forcesyncs", "obsolete_syncprops"):
        if key in settings:
            settings[key] = frozenset(settings[key])
    return TargetSettings(name="master", credentials=Credentials(), **settings)


def plan(master: list[Image], region: list[Image], **settings: Any) -> RegionPlan:
    settings_ = target(**settings)
    catalog = master_catalog(master, ME)
    selected = selected_images(catalog, settings_)
    return plan_region(REGION, catalog, selected, region, settings_, ME)


def statuses(result: RegionPlan) -> dict[str, str]:
    return {e.master.name: e.status.value for e in result.entries}


@dataclass
class Case:
    id: str
    master: list[Image]
    region: list[Image]
    expected: dict[str, str]
    settings: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "empty region uploads every public image",
        [img("a"), img("b")],
        [],
        {"a": "pending_upload", "b": "pending_upload"},
    ),
    Case("already synced", [img("a", nid="1")], [img("a", nid="1")], {"a": "ok"}),
    Case(
        "private master images are not selected",
        [img("a", vis="private"), img("b")],
        [],
        {"b": "pending_upload"},
    ),
    Case("metadata differs", [img("a", nid="2")], [img("a", nid="1")], {"a": "pending_metadata"}),
    Case("visibility differs", [img("a")], [img("a", vis="private")], {"a": "pending_metadata"}),
    Case(
        "local property only in the region survives without metadata_set",
        [img("a", nid="1")],
        [img("a", nid="1", local="x")],
        {"a": "ok"},
    ),
    Case(
        "metadata_set selects images having one of its properties",
        [img("a", nid="1"), img("b"), img("c", type="t")],
        [],
        {"a": "pending_upload", "c": "pending_upload"},
        {"metadata_set": {"nid", "type"}},
    ),
    Case(
        "metadata_set limits compared properties",
        [img("a", nid="1", other="m")],
        [img("a", nid="1", other="r")],
        {"a": "ok"},
        {"metadata_set": {"nid"}},
    ),
    Case(
        "checksum conflict without directives is an error",
        [img("a", "new")],
        [img("a", "old")],
        {"a": "error_checksum"},
    ),
    Case(
        "dontupdate by region checksum stalls",
        [img("a", "new")],
        [img("a", "old")],
        {"a": "ok_stalled_checksum"},
        {"dontupdate": md5("old")},
    ),
    Case(
        "rename by checksum",
        [img("a", "new")],
        [img("a", "old")],
        {"a": "pending_rename"},
        {"rename": md5("old")},
    ),
    Case(
        "replace by checksum",
        [img("a", "new")],
        [img("a", "old")],
        {"a": "pending_replace"},
        {"replace": md5("old")},
    ),
    Case(
        "rename wins over replace for the same checksum",
        [img("a", "new")],
        [img("a", "old")],
        {"a": "pending_rename"},
        {"rename": md5("old"), "replace": md5("old")},
    ),
    Case(
        "dontupdate wins over rename any",
        [img("a", "new")],
        [img("a", "old")],
        {"a": "ok_stalled_checksum"},
        {"dontupdate": md5("old"), "rename": "any"},
    ),
    Case(
        "replace by checksum wins over rename any",
        [img("a", "new")],
        [img("a", "old")],
        {"a": "pending_replace"},
        {"replace": md5("old"), "rename": "any"},
    ),
    Case(
        "rename any wins over replace any",
        [img("a", "new")],
        [img("a", "old")],
        {"a": "pending_rename"},
        {"replace": "any", "rename": "any"},
    ),
    Case(
        "replace any",
        [img("a", "new")],
        [img("a", "old")],
        {"a": "pending_replace"},
        {"replace": "any"},
    ),
    Case(
        "conflict lists name the region checksum, not the master's",
        [img("a", "new")],
        [img("a", "old")],
        {"a": "error_checksum"},
        {"replace": md5("new")},
    ),
    Case(
        "conflict lists accept os_hash_value",
        [img("a", "new")],
        [img("a", "old")],
        {"a": "pending_replace"},
        {"replace": hashlib.sha512(b"old").hexdigest()},
    ),
    Case("private image without forcesyncs is not selected", [img("a", vis="private")], [], {}, {}),
    Case(
        "condition selects by property",
        [img("a", type="baseimage"), img("b", type="other")],
        [],
        {"a": "pending_upload"},
        {"metadata_condition": "image.user_properties.get('type') == 'baseimage'"},
    ),
    Case(
        "condition may select private images",
        [img("a", vis="private", nid="1")],
        [],
        {"a": "pending_upload"},
        {"metadata_condition": "'nid' in image.user_properties"},
    ),
    Case("hidden region copy counts as present", [img("a")], [img("a", hidden=True)], {"a": "ok"}),
    Case(
        "foreign image ignored with only_tenant_images",
        [img("a")],
        [img("a", owner=OTHER)],
        {"a": "pending_upload"},
    ),
    Case(
        "foreign same checksum counts without only_tenant_images",
        [img("a")],
        [img("a", owner=OTHER)],
        {"a": "ok"},
        {"only_tenant_images": False},
    ),
    Case(
        "foreign other checksum is an error even with replace any",
        [img("a", "new")],
        [img("a", "old", owner=OTHER)],
        {"a": "error_checksum"},
        {"only_tenant_images": False, "replace": "any"},
    ),
    Case(
        "regional duplicate: the matching one wins",
        [img("a", "new")],
        [img("a", "old"), img("a", "new")],
        {"a": "ok"},
    ),
    Case(
        "master filtering: non-active, foreign and duplicated names left out",
        [img("a", status="queued"), img("b", owner=OTHER), img("c", "1"), img("c", "2"), img("d")],
        [],
        {"d": "pending_upload"},
    ),
    Case("obsolete names are never synced", [img("a_obsolete")], [], {}),
    Case(
        "non-active region image does not count as present",
        [img("a")],
        [img("a", status="queued")],
        {"a": "pending_upload"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_scenario_statuses(case: Case) -> None:
    assert statuses(plan(case.master, case.region, **case.settings)) == case.expected


def test_forcesyncs_selects_private_image_by_uuid() -> None:
    private = img("a", vis="private")
    assert statuses(plan([private], [], forcesyncs={private.id})) == {"a": "pending_upload"}


def test_entries_are_smallest_first_and_uploads_keep_that_order() -> None:
    result = plan([img("big", size=300), img("small", size=1), img("mid", size=20)], [])
    assert [e.master.name for e in result.entries] == ["small", "mid", "big"]
    assert [e.master.name for e in result.upload_steps()] == ["small", "mid", "big"]


def test_actions_follow_statuses() -> None:
    result = plan(
        [img("u"), img("m", nid="2"), img("r", "new"), img("p", "new2"), img("e", "new3")],
        [img("m", nid="1"), img("r", "old"), img("p", "old2"), img("e", "old3")],
        rename=md5("old"),
        replace=md5("old2"),
    )
    actions = {e.master.name: e.action for e in result.entries}
    assert actions == {
        "u": Action.UPLOAD,
        "m": Action.UPDATE_METADATA,
        "r": Action.RENAME_AND_UPLOAD,
        "p": Action.REPLACE,
        "e": Action.NONE,
    }
    assert result.has_errors and not result.synchronised


def test_metadata_update_adds_and_replaces_but_never_removes_without_metadata_set() -> None:
    entry = plan([img("a", nid="2", new="n")], [img("a", nid="1", local="x")]).entries[0]
    assert dict(entry.change.set_properties) == {"nid": "2", "new": "n"}
    assert entry.change.remove_properties == ()


def test_metadata_set_makes_listed_properties_equal_including_removal() -> None:
    entry = plan(
        [img("a", nid="2")], [img("a", nid="1", type="t", local="x")], metadata_set={"nid", "type"}
    ).entries[0]
    assert dict(entry.change.set_properties) == {"nid": "2"}
    assert entry.change.remove_properties == ("type",)


def test_upload_copies_system_fields_and_only_metadata_set_properties() -> None:
    master = replace(img("a", nid="1", extra="e"), min_ram=512, tags=("t",), hidden=True)
    spec = plan([master], [], metadata_set={"nid"}).entries[0].new_image
    assert spec is not None
    assert (spec.visibility, spec.min_ram, spec.tags, spec.hidden) == ("public", 512, ("t",), True)
    assert dict(spec.properties) == {"nid": "1"}


def test_glance_owned_properties_are_never_copied() -> None:
    from glancesync.model.image import image_from_glance

    doc = {
        "id": "x",
        "name": "a",
        "status": "active",
        "visibility": "public",
        "owner": ME,
        "checksum": md5("a"),
        "stores": "fs",
        "os_glance_importing": "1",
        "owner_specified.openstack.md5": "m",
        "nid": "1",
    }
    spec = plan([image_from_glance(doc)], []).entries[0].new_image
    assert spec is not None and dict(spec.properties) == {"nid": "1"}


def test_rename_makes_old_image_private_and_backs_up_metadata_set_properties() -> None:
    entry = plan(
        [img("a", "new", nid="2")],
        [img("a", "old", nid="1", local="x")],
        rename="any",
        metadata_set={"nid"},
    ).entries[0]
    assert entry.change.name == "a.old"
    assert entry.change.visibility == "private"
    assert dict(entry.change.set_properties) == {"nid.bak": "1"}
    assert entry.change.remove_properties == ("nid",)


def test_duplicate_region_images_warn_about_the_others() -> None:
    entry = plan([img("a", "new")], [img("a", "old"), img("a", "new")]).entries[0]
    assert entry.region_image is not None and entry.region_image.same_content(img("x", "new"))
    assert any("another image named 'a'" in w for w in entry.warnings)


def test_master_duplicates_are_warned_about() -> None:
    result = plan([img("c", "1"), img("c", "2")], [])
    assert result.entries == () and "2 images named 'c'" in result.warnings[0]


def test_leftover_records_are_deleted_before_upload() -> None:
    leftover = img("a", status="queued")
    entry = plan([img("a")], [leftover]).entries[0]
    assert entry.action is Action.UPLOAD and entry.leftovers == (leftover,)


# -- AMI --------------------------------------------------------------------


def ami_triplet(**ami_props: Any) -> tuple[Image, Image, Image]:
    kernel = img("kernel", size=50)
    ramdisk = img("ramdisk", size=40)
    ami = img("ami", size=10, kernel_id=kernel.id, ramdisk_id=ramdisk.id, **ami_props)
    return kernel, ramdisk, ami


def test_ami_smaller_than_its_kernel_waits_for_the_kernel_upload() -> None:
    kernel, ramdisk, ami = ami_triplet()
    result = plan([kernel, ramdisk, ami], [])
    assert statuses(result) == {
        "ami": "pending_ami",
        "ramdisk": "pending_upload",
        "kernel": "pending_upload",
    }
    entry = result.entries[0]
    assert entry.master.name == "ami"
    assert dict(entry.awaits) == {"kernel_id": "kernel", "ramdisk_id": "ramdisk"}
    assert entry.new_image is not None and "kernel_id" not in entry.new_image.properties
    assert [e.master.name for e in result.ami_steps()] == ["ami"]


def test_ami_uses_region_uuids_of_kernel_already_there() -> None:
    kernel, ramdisk, ami = ami_triplet()
    rk, rr = img("kernel"), img("ramdisk")
    entry = plan([kernel, ramdisk, ami], [rk, rr]).entries[0]
    assert entry.status is Status.PENDING_UPLOAD
    assert entry.new_image is not None
    assert dict(entry.new_image.properties) == {"kernel_id": rk.id, "ramdisk_id": rr.id}


def test_present_ami_with_master_uuids_gets_pending_metadata_with_region_uuids() -> None:
    kernel, ramdisk, ami = ami_triplet()
    rk, rr = img("kernel"), img("ramdisk")
    region_ami = img("ami", kernel_id=kernel.id, ramdisk_id=ramdisk.id)
    entry = plan([kernel, ramdisk, ami], [rk, rr, region_ami]).entries[0]
    assert entry.status is Status.PENDING_METADATA
    assert dict(entry.change.set_properties) == {"kernel_id": rk.id, "ramdisk_id": rr.id}


def test_present_ami_whose_kernel_is_pending_is_pending_ami() -> None:
    kernel, ramdisk, ami = ami_triplet()
    rr = img("ramdisk")
    entry = plan([kernel, ramdisk, ami], [rr, img("ami", ramdisk_id=rr.id)]).entries[0]
    assert entry.status is Status.PENDING_AMI
    assert dict(entry.awaits) == {"kernel_id": "kernel"}


def test_ami_whose_kernel_is_not_selected_is_error_ami_and_not_uploaded() -> None:
    kernel, ramdisk, ami = ami_triplet()
    kernel = replace(kernel, visibility="private")
    result = plan([kernel, ramdisk, ami], [])
    entry = next(e for e in result.entries if e.master.name == "ami")
    assert entry.status is Status.ERROR_AMI and entry.action is Action.NONE
    assert result.has_errors


def test_ami_with_unselected_kernel_present_in_region_is_fine() -> None:
    kernel, ramdisk, ami = ami_triplet()
    kernel = replace(kernel, visibility="private")
    rk = img("kernel", vis="private")
    result = plan([kernel, ramdisk, ami], [rk])
    entry = next(e for e in result.entries if e.master.name == "ami")
    assert entry.status is Status.PENDING_AMI
    assert entry.new_image is not None and entry.new_image.properties["kernel_id"] == rk.id


def test_ami_kernel_reference_missing_on_master_is_error_ami() -> None:
    ami = img("ami", kernel_id="no-such-id")
    assert statuses(plan([ami], [])) == {"ami": "error_ami"}


def test_own_checksum_conflict_wins_over_ami_status() -> None:
    kernel, ramdisk, ami = ami_triplet()
    region_ami = img("ami", "other bytes")
    result = plan([kernel, ramdisk, ami], [region_ami])
    assert statuses(result)["ami"] == "error_checksum"
    result = plan([kernel, ramdisk, ami], [region_ami], rename="any")
    entry = next(e for e in result.entries if e.master.name == "ami")
    assert entry.status is Status.PENDING_RENAME and dict(entry.awaits)


def test_kernel_in_error_makes_ami_error_ami() -> None:
    kernel, ramdisk, ami = ami_triplet()
    result = plan([kernel, ramdisk, ami], [img("kernel", "different")])
    assert statuses(result) == {
        "ami": "error_ami",
        "ramdisk": "pending_upload",
        "kernel": "error_checksum",
    }


# -- obsolete ---------------------------------------------------------------


def test_obsolete_master_image_renames_region_copy_and_frees_the_name() -> None:
    old = img("a_obsolete", "v1", vis="private", nid="1")
    new = img("a", "v2")
    region_old = img("a", "v1", nid="1")
    result = plan([old, new], [region_old], obsolete_syncprops={"nid"})
    assert statuses(result) == {"a": "pending_upload"}
    (obsolete,) = result.obsolete
    assert obsolete.action is Action.RENAME_OBSOLETE
    assert obsolete.region_image == region_old
    assert (obsolete.change.name, obsolete.change.visibility) == ("a_obsolete", "private")
    assert not result.synchronised


def test_obsolete_region_copy_follows_master_visibility_and_syncprops() -> None:
    old = img("a_obsolete", "v1", vis="private", nid="2")
    region_old = img("a_obsolete", "v1", vis="public", nid="1")
    (entry,) = plan([old], [region_old], obsolete_syncprops={"nid"}).obsolete
    assert entry.action is Action.UPDATE_OBSOLETE
    assert entry.change.visibility == "private" and dict(entry.change.set_properties) == {
        "nid": "2"
    }


def test_obsolete_handling_can_be_turned_off_and_never_touches_other_bytes() -> None:
    old = img("a_obsolete", "v1")
    assert plan([old], [img("a", "v1")], support_obsolete_images=False).obsolete == ()
    assert plan([old], [img("a", "other")]).obsolete == ()


def test_plan_steps_put_metadata_before_uploads() -> None:
    result = plan([img("u", size=1), img("m", size=99, nid="2")], [img("m", size=99, nid="1")])
    assert [e.master.name for e in result.metadata_steps()] == ["m"]
    assert [e.master.name for e in result.upload_steps()] == ["u"]


def test_foreign_ami_copy_is_never_fixed_up() -> None:
    kernel, ramdisk, ami = ami_triplet()
    foreign = img("ami", kernel_id="their-kernel", owner=OTHER)
    result = plan([kernel, ramdisk, ami], [foreign], only_tenant_images=False)
    entry = next(e for e in result.entries if e.master.name == "ami")
    assert entry.status is Status.OK and entry.action is Action.NONE
    assert entry.change.is_empty() and not entry.awaits


def test_ami_keys_in_metadata_set_are_never_removed() -> None:
    kernel = img("kernel", size=50)
    ami = img("ami", size=10, kernel_id=kernel.id)
    region_kernel = img("kernel")
    region_ami = img("ami", kernel_id=region_kernel.id)
    entry = plan(
        [kernel, ami], [region_kernel, region_ami], metadata_set={"kernel_id", "nid"}
    ).entries[0]
    assert entry.status is Status.OK and entry.change.remove_properties == ()
