"""./sync.py against real Keystone and Glance servers, checked with Glance's own answers."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

from test.e2e.conftest import Env

TARGETS = ("RegionTwo", "RegionThree")


def status_rows(run_stdout: str) -> list[tuple[str, str, str]]:
    return [tuple(row) for row in csv.reader(io.StringIO(run_stdout))]  # type: ignore[misc]


def test_first_sync_reaches_every_region_and_rerun_uploads_nothing(env: Env) -> None:
    small = env.glance.create("RegionOne", env.name("small"), env.data("s", 1000), nid="1")
    big = env.glance.create("RegionOne", env.name("big"), env.data("b", 300_000), type="base")
    env.glance.create("RegionOne", env.name("private"), b"p", visibility="private")

    before = env.sync("--show-status", "RegionTwo", "RegionThree", "other:OtherOne")
    assert before.code == 0, before.stderr
    assert status_rows(before.stdout) == [
        ("pending_upload", region, env.name(short))
        for region in ("RegionTwo", "RegionThree", "other:OtherOne")
        for short in ("small", "big")
    ]

    run = env.sync("RegionTwo", "RegionThree", "other:OtherOne")
    assert run.code == 0, run.stderr
    for region in (*TARGETS, "OtherOne"):
        for source in (small, big):
            copy = env.glance.one(region, source["name"])
            assert copy["id"] != source["id"]
            assert copy["checksum"] == source["checksum"]
            assert copy["os_hash_value"] == source["os_hash_value"]
            assert copy["visibility"] == "public" and copy["status"] == "active"
        assert env.glance.one(region, small["name"])["nid"] == "1"
        assert env.glance.named(region, env.name("private")) == []

    snapshot = env.glance.snapshot(env.prefix)
    rerun = env.sync("RegionTwo", "RegionThree", "other:OtherOne")
    assert rerun.code == 0, rerun.stderr
    assert "0 images uploaded" in rerun.stdout
    assert env.glance.snapshot(env.prefix) == snapshot

    after = env.sync("--show-status", "RegionTwo", "other:OtherOne")
    assert {row[0] for row in status_rows(after.stdout)} == {"ok"}
    assert after.stdout.endswith("\n") and "\r" not in after.stdout


def test_pending_metadata_keeps_uuid_and_local_properties(env: Env) -> None:
    name = env.name("meta")
    env.glance.create("RegionOne", name, env.data("m"), nid="2")
    local = env.glance.create("RegionTwo", name, env.data("m"), nid="1", local_note="keep")
    status = env.sync("--show-status", "RegionTwo")
    assert status_rows(status.stdout) == [("pending_metadata", "RegionTwo", name)]
    assert env.sync("RegionTwo").code == 0
    after = env.glance.one("RegionTwo", name)
    assert after["id"] == local["id"]
    assert (after["nid"], after["local_note"]) == ("2", "keep")


def test_conflicts_rename_replace_dontupdate_and_error(env: Env) -> None:
    names = {short: env.name(short) for short in ("ren", "rep", "dont", "err")}
    olds = {}
    for short, name in names.items():
        env.glance.create("RegionOne", name, env.data(short + "new"), nid="9")
        olds[short] = env.glance.create("RegionTwo", name, env.data(short + "old"), nid="1")
    config = env.config(
        DEFAULT={
            "rename": olds["ren"]["checksum"],
            "replace": olds["rep"]["checksum"],
            "dontupdate": olds["dont"]["os_hash_value"],
            "metadata_set": "nid",
        }
    )
    status = env.sync("--show-status", "RegionTwo", config=config)
    assert status.code == 0
    assert dict((row[2], row[0]) for row in status_rows(status.stdout)) == {
        names["ren"]: "pending_rename",
        names["rep"]: "pending_replace",
        names["dont"]: "ok_stalled_checksum",
        names["err"]: "error_checksum",
    }
    run = env.sync("RegionTwo", config=config)
    assert run.code == 1, "an image left in error_checksum fails the run"
    assert names["err"] in run.stderr

    renamed = env.glance.one("RegionTwo", names["ren"] + ".old")
    assert renamed["id"] == olds["ren"]["id"] and renamed["visibility"] == "private"
    assert renamed["nid.bak"] == "1" and "nid" not in renamed
    assert env.glance.one("RegionTwo", names["ren"])["checksum"] != olds["ren"]["checksum"]

    replaced = env.glance.one("RegionTwo", names["rep"])
    assert replaced["id"] != olds["rep"]["id"]
    assert replaced["checksum"] == hashlib.md5(env.data("repnew")).hexdigest()

    assert env.glance.one("RegionTwo", names["dont"])["id"] == olds["dont"]["id"]
    assert env.glance.one("RegionTwo", names["err"])["id"] == olds["err"]["id"]


def test_forcesyncs_private_image_and_metadata_condition(env: Env) -> None:
    private = env.glance.create("RegionOne", env.name("forced"), b"f", visibility="private")
    env.glance.create("RegionOne", env.name("base"), b"b", type="baseimage")
    env.glance.create("RegionOne", env.name("other"), b"o", type="other")
    condition = (
        f"image.name.startswith('{env.prefix}') and "
        "image.user_properties.get('type') == 'baseimage'"
    )
    config = env.config(DEFAULT={"forcesyncs": private["id"], "metadata_condition": condition})
    assert env.sync("RegionTwo", config=config).code == 0
    assert env.glance.one("RegionTwo", env.name("forced"))["visibility"] == "private"
    assert env.glance.one("RegionTwo", env.name("base"))["type"] == "baseimage"
    assert env.glance.named("RegionTwo", env.name("other")) == []


def test_ami_triplet_is_remapped_to_region_uuids(env: Env) -> None:
    kernel = env.glance.create(
        "RegionOne",
        env.name("kernel"),
        env.data("k", 9000),
        disk_format="aki",
        container_format="aki",
    )
    ramdisk = env.glance.create("RegionOne", env.name("ramdisk"), env.data("r", 8000))
    env.glance.create(
        "RegionOne",
        env.name("ami"),
        env.data("a", 100),
        kernel_id=kernel["id"],
        ramdisk_id=ramdisk["id"],
    )
    status = env.sync("--show-status", "RegionTwo")
    assert ("pending_ami", "RegionTwo", env.name("ami")) in status_rows(status.stdout)
    assert env.sync("RegionTwo", "other:OtherOne").code == 0
    for region in ("RegionTwo", "OtherOne"):
        ami = env.glance.one(region, env.name("ami"))
        assert ami["kernel_id"] == env.glance.one(region, env.name("kernel"))["id"]
        assert ami["ramdisk_id"] == env.glance.one(region, env.name("ramdisk"))["id"]
        assert ami["kernel_id"] != kernel["id"]
    after = env.sync("--show-status", "RegionTwo", "other:OtherOne")
    assert {row[0] for row in status_rows(after.stdout)} == {"ok"}


def test_other_projects_image_with_only_tenant_images(env: Env) -> None:
    name = env.name("shared")
    env.glance.create("RegionOne", name, env.data("mine"))
    foreign = env.glance.create(
        "RegionTwo", name, env.data("theirs"), as_user="user2", visibility="shared"
    )
    assert env.sync("RegionTwo").code == 0
    copies = env.glance.named("RegionTwo", name)
    assert len(copies) == 2
    assert (
        env.glance.client("RegionTwo").images.get(foreign["id"])["checksum"] == foreign["checksum"]
    )

    config = env.config(DEFAULT={"only_tenant_images": "false"})
    status = env.sync("--show-status", "RegionThree", config=config)
    assert status_rows(status.stdout) == [("pending_upload", "RegionThree", name)]


def test_hidden_copy_counts_as_present(env: Env) -> None:
    name = env.name("hidden")
    env.glance.create("RegionOne", name, env.data("h"))
    hidden = env.glance.create("RegionTwo", name, env.data("h"), os_hidden=True)
    status = env.sync("--show-status", "RegionTwo")
    assert status_rows(status.stdout) == [("ok", "RegionTwo", name)]
    assert env.sync("RegionTwo").code == 0
    assert [i["id"] for i in env.glance.named("RegionTwo", name)] == [hidden["id"]]


def test_dry_run_changes_nothing_anywhere(env: Env) -> None:
    env.glance.create("RegionOne", env.name("new"), env.data("n"))
    env.glance.create("RegionOne", env.name("meta"), env.data("m"), nid="2")
    env.glance.create("RegionTwo", env.name("meta"), env.data("m"), nid="1")
    env.glance.create("RegionOne", env.name("conf"), env.data("c1"))
    env.glance.create("RegionTwo", env.name("conf"), env.data("c2"))
    before = env.glance.snapshot(env.prefix)
    config = env.config(DEFAULT={"replace": "any"})
    for args in (("--dry-run",), ("--dry-run", "--parallel"), ("--dry-run", "--format", "json")):
        run = env.sync(*args, "RegionTwo", "RegionThree", "other:OtherOne", config=config)
        assert run.code == 0, run.stderr
        assert env.glance.snapshot(env.prefix) == before
    rows = json.loads(run.stdout)
    actions = {(r["region"], r["image"]): r["action"] for r in rows}
    assert actions[("RegionTwo", env.name("conf"))] == "replace"
    assert actions[("RegionTwo", env.name("meta"))] == "update_metadata"
    assert actions[("other:OtherOne", env.name("new"))] == "upload"


def test_parallel_sync_with_two_children(env: Env, tmp_path: Path) -> None:
    env.glance.create("RegionOne", env.name("par"), env.data("p", 50_000))
    log_dir = tmp_path / "logs"
    config = env.config(main={"max_children": "2", "log_dir": str(log_dir)})
    run = env.sync("--parallel", "RegionTwo", "RegionThree", "other:OtherOne", config=config)
    assert run.code == 0, run.stderr
    assert len([line for line in run.stdout.splitlines() if ": ok; 1 image uploaded" in line]) == 3
    for region in ("RegionTwo", "RegionThree", "OtherOne"):
        assert env.glance.one(region, env.name("par"))["status"] == "active"
    (run_dir,) = log_dir.iterdir()
    assert run_dir.name.startswith("sync_") and ":" not in run_dir.name
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "RegionThree.log",
        "RegionTwo.log",
        "other_OtherOne.log",
    ]


def test_glancesync_class_from_python(env: Env) -> None:
    from glancesync import GlanceSync

    env.glance.create("RegionOne", env.name("api"), env.data("api"))
    sync = GlanceSync(str(env.config()))
    assert sync.get_regions() == ["RegionThree", "RegionTwo"]
    assert sync.get_regions(target="other") == ["other:OtherOne"]
    plan = sync.plan_region("RegionThree")
    assert [(e.master.name, e.status.value) for e in plan.entries] == [
        (env.name("api"), "pending_upload")
    ]
    result = sync.sync_region("RegionThree")
    assert result is not None and not result.failed
    assert env.glance.one("RegionThree", env.name("api"))["status"] == "active"


def test_unknown_region_is_a_usage_error_and_syncs_nothing(env: Env) -> None:
    env.glance.create("RegionOne", env.name("x"), b"x")
    run = env.sync("RegionTwo", "Atlantis")
    assert run.code == 2 and run.stdout == ""
    assert len(run.stderr.strip().splitlines()) == 1 and "Atlantis" in run.stderr
    assert env.glance.named("RegionTwo", env.name("x")) == []


def test_glance_download_pulls_inside_the_master_keystone(env: Env) -> None:
    source = env.glance.create("RegionOne", env.name("gd"), env.data("gd", 2_000_000), nid="5")
    config = env.config(master={"transfer": "glance-download"})
    run = env.sync("-v", "RegionThree", "other:OtherOne", config=config)
    assert run.code == 0, run.stderr
    for region in ("RegionThree", "OtherOne"):
        copy = env.glance.one(region, source["name"])
        assert (copy["checksum"], copy["nid"], copy["status"]) == (
            source["checksum"],
            "5",
            "active",
        )
    # RegionThree pulled the image itself; only OtherOne (another Keystone) got a stream.
    assert "[RegionThree]" not in "".join(
        line for line in run.stderr.splitlines() if "sending" in line
    )
    assert "[other:OtherOne]" in run.stderr


def test_protected_images_copy_and_replace(env: Env) -> None:
    guarded = env.glance.create("RegionOne", env.name("guarded"), env.data("g"), protected=True)
    env.glance.create("RegionOne", env.name("swap"), env.data("new"))
    old = env.glance.create("RegionTwo", env.name("swap"), env.data("old"), protected=True)

    refused = env.sync("RegionTwo", config=env.config(DEFAULT={"replace": "any"}))
    assert refused.code == 1 and "protected" in refused.stderr
    assert env.glance.one("RegionTwo", guarded["name"])["protected"] is True
    assert [i["id"] for i in env.glance.named("RegionTwo", env.name("swap"))] == [old["id"]]

    config = env.config(DEFAULT={"replace": "any", "replace_protected": "true"})
    assert env.sync("RegionTwo", config=config).code == 0
    (new,) = env.glance.named("RegionTwo", env.name("swap"))
    assert new["id"] != old["id"] and new["checksum"] != old["checksum"]


def test_obsolete_image_follows_the_master(env: Env) -> None:
    name = env.name("os")
    env.glance.create("RegionOne", name, env.data("v1"), nid="1")
    assert env.sync("RegionTwo").code == 0
    first_copy = env.glance.one("RegionTwo", name)

    master_old = env.glance.one("RegionOne", name)
    env.glance.client("RegionOne").images.update(
        master_old["id"], name=name + "_obsolete", visibility="private"
    )
    env.glance.create("RegionOne", name, env.data("v2"), nid="2")
    condition = f"image.name.startswith('{env.prefix}')"
    config = env.config(DEFAULT={"metadata_condition": condition, "obsolete_syncprops": "nid"})
    dry = env.sync("--dry-run", "RegionTwo", config=config)
    assert "rename_obsolete" in dry.stdout
    assert env.sync("RegionTwo", config=config).code == 0
    renamed = env.glance.one("RegionTwo", name + "_obsolete")
    assert renamed["id"] == first_copy["id"] and renamed["visibility"] == "private"
    assert env.glance.one("RegionTwo", name)["nid"] == "2"
