"""An image's life on the local cloud of real servers (doc/manual.rst, "An image's life").

Retirement acts on every copy of the target's project whose master image is
not selected, and each test selects only its own images: run as the
cloud's admin, it would retire the copies of every other test running on
the same cloud. So the retirement tests sync as a project of their own,
made for this module and removed after it, through a target named ``mine``
in the master's Keystone: two runs of these tests on one cloud never see
each other's copies. Their master images are private, since only an admin
may make an image public. Copies of the admin project are then "another
project's images", which must never be touched.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from test.e2e.conftest import REGIONS, STATE, Env
from tools.cloudclients import glance_for, password_session, session_for
from tools.devcloud import topology

LAYOUT = topology.load(str(STATE))
MASTER = "RegionOne"


def rows(stdout: str) -> list[tuple[str, ...]]:
    return [tuple(row) for row in csv.reader(io.StringIO(stdout))]


@dataclass(frozen=True)
class Account:
    """A project of its own, with a member user, in one Keystone."""

    keystone: str
    project: str
    project_id: str
    user: str
    password: str

    def section(self, **values: str) -> dict[str, str]:
        """Its credentials as a config section."""
        return {
            "user": self.user,
            "password": self.password,
            "tenant": self.project,
            "keystone_url": LAYOUT.url(self.keystone),
            **values,
        }

    def glance(self, region: str) -> Any:
        url = LAYOUT.url(self.keystone)
        return glance_for(password_session(url, self.user, self.password, self.project), region)


def _account(keystone: str) -> Iterator[Account]:
    """Make the project and user as the Keystone's admin; delete them and their images after."""
    admin = session_for(topology.keystone(keystone).cloud, LAYOUT)
    url = LAYOUT.url(keystone)
    name = f"gs-e2e-{secrets.token_hex(4)}"
    project = admin.post(f"{url}/projects", json={"project": {"name": name}}).json()["project"]
    password = secrets.token_hex(16)
    body = {"user": {"name": name, "password": password, "default_project_id": project["id"]}}
    user = admin.post(f"{url}/users", json=body).json()["user"]
    role = admin.get(f"{url}/roles?name=member").json()["roles"][0]
    admin.put(f"{url}/projects/{project['id']}/users/{user['id']}/roles/{role['id']}")
    try:
        yield Account(keystone, name, project["id"], name, password)
    finally:
        regions = [r for r in REGIONS if topology.cloud_of(r) == topology.keystone(keystone).cloud]
        for region in regions:
            client = glance_for(admin, region)
            for image in list(client.images.list(filters={"owner": project["id"]})):
                if image.get("protected"):
                    client.images.update(image["id"], protected=False)
                client.images.delete(image["id"])
        admin.delete(f"{url}/users/{user['id']}")
        admin.delete(f"{url}/projects/{project['id']}")


@pytest.fixture(scope="module")
def mine() -> Iterator[Account]:
    """The project the retirement tests sync as, in the master's Keystone."""
    yield from _account("ks1")


@pytest.fixture(scope="module")
def lone_master() -> Iterator[Account]:
    """A project in the other Keystone whose only images are those a test puts there."""
    yield from _account("ks2")


def mine_config(env: Env, mine: Account, **values: str) -> Any:
    """A config with the target ``mine``, selecting this test's images, private ones too."""
    return env.config(
        DEFAULT={"metadata_condition": f"image.name.startswith('{env.prefix}')"},
        mine=mine.section(**values),
    )


def provenance(image: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in image.items() if k.startswith("glancesync_")}


# -- provenance and every field in step --------------------------------------


def test_provenance_is_written_on_upload_and_survives_updates(env: Env) -> None:
    name = env.name("prov")
    master = env.glance.create(MASTER, name, env.data("p"), nid="1", glancesync_source_id="forged")
    config = env.config(DEFAULT={"metadata_set": "nid, glancesync_source_id"})
    assert env.sync("RegionTwo", config=config).code == 0
    copy = env.glance.one("RegionTwo", name)
    assert provenance(copy) == {
        "glancesync_source_id": master["id"],
        "glancesync_source_region": MASTER,
        "glancesync_source_hash": f"sha512:{master['os_hash_value']}",
    }
    env.glance.client(MASTER).images.update(master["id"], nid="2")
    run = env.sync("RegionTwo", config=config)
    assert run.code == 0, run.stderr
    after = env.glance.one("RegionTwo", name)
    assert (after["id"], after["nid"]) == (copy["id"], "2")
    assert provenance(after) == provenance(copy)


def test_min_ram_min_disk_tags_and_protected_follow_in_place(env: Env) -> None:
    name = env.name("fields")
    master = env.glance.create(MASTER, name, env.data("f"), min_ram=64, tags=["a"])
    assert env.sync("RegionTwo").code == 0
    copy = env.glance.one("RegionTwo", name)
    assert (copy["min_ram"], copy["tags"]) == (64, ["a"])
    client = env.glance.client(MASTER)
    client.images.update(master["id"], min_ram=128, min_disk=2, protected=True)
    client.image_tags.update(master["id"], "b")
    client.image_tags.delete(master["id"], "a")
    status = env.sync("--show-status", "RegionTwo")
    assert rows(status.stdout) == [("pending_metadata", "RegionTwo", name)]
    run = env.sync("RegionTwo")
    assert run.code == 0, run.stderr
    assert "0 images uploaded" in run.stdout
    after = env.glance.one("RegionTwo", name)
    assert after["id"] == copy["id"]
    assert (after["min_ram"], after["min_disk"], after["tags"], after["protected"]) == (
        128,
        2,
        ["b"],
        True,
    )
    assert rows(env.sync("--show-status", "RegionTwo").stdout) == [("ok", "RegionTwo", name)]


def test_a_renamed_master_image_renames_its_copy_in_place(env: Env) -> None:
    old, new = env.name("before"), env.name("after")
    master = env.glance.create(MASTER, old, env.data("r"))
    assert env.sync("RegionTwo").code == 0
    copy = env.glance.one("RegionTwo", old)
    env.glance.client(MASTER).images.update(master["id"], name=new)
    dry = env.sync("--dry-run", "RegionTwo")
    assert dry.code == 0 and "follow_rename" in dry.stdout, dry
    run = env.sync("RegionTwo")
    assert run.code == 0, run.stderr
    assert "0 images uploaded" in run.stdout
    assert env.glance.one("RegionTwo", new)["id"] == copy["id"]
    assert env.glance.named("RegionTwo", old) == []


# -- --adopt ---------------------------------------------------------------------


def test_adopt_stamps_only_same_content_copies_of_selected_images(env: Env) -> None:
    same, changed, unselected = env.name("same"), env.name("changed"), env.name("unsel")
    master = env.glance.create(MASTER, same, env.data("s"), nid="2")
    env.glance.create(MASTER, changed, env.data("new"))
    env.glance.create(MASTER, unselected, env.data("u"), visibility="private")
    env.glance.create("RegionTwo", same, env.data("s"), nid="1")  # made before provenance
    env.glance.create("RegionTwo", changed, env.data("old"))
    env.glance.create("RegionTwo", unselected, env.data("u"))

    before = env.glance.snapshot(env.prefix)
    dry = env.sync("--dry-run", "--adopt", "RegionTwo")
    assert dry.code == 0, dry.stderr
    assert same in dry.stdout and "adopt" in dry.stdout
    assert env.glance.snapshot(env.prefix) == before

    run = env.sync("--adopt", "RegionTwo")
    # The conflict of `changed` is still there, and says so.
    assert run.code == 1 and "1 image in error" in run.stdout, run
    adopted = env.glance.one("RegionTwo", same)
    assert provenance(adopted) == {
        "glancesync_source_id": master["id"],
        "glancesync_source_region": MASTER,
        "glancesync_source_hash": f"sha512:{master['os_hash_value']}",
    }
    assert adopted["nid"] == "1"  # --adopt writes nothing else
    assert provenance(env.glance.one("RegionTwo", changed)) == {}
    assert provenance(env.glance.one("RegionTwo", unselected)) == {}
    assert len(env.glance.images("RegionTwo", env.prefix)) == 3


# -- sharing -------------------------------------------------------------------


def test_a_shared_images_members_see_its_copies_in_both_keystones(env: Env) -> None:
    name = env.name("shared")
    here, there = env.glance.project_id("user2"), env.glance.project_id("other-user2")
    assert here != there  # the other Keystone's demo2 is another project
    master = env.glance.create(MASTER, name, env.data("sh"), visibility="shared")
    env.glance.client(MASTER).image_members.create(master["id"], here)
    config = env.config(
        DEFAULT={"metadata_condition": f"image.name.startswith('{env.prefix}')"},
        other={"member_projects": f"{here}:{there}"},
    )
    run = env.sync("RegionTwo", "other:OtherOne", config=config)
    assert run.code == 0, run.stderr
    for region, user, project in (("RegionTwo", "user2", here), ("OtherOne", "other-user2", there)):
        copy = env.glance.one(region, name)
        members = list(env.glance.client(region).image_members.list(copy["id"]))
        assert [(m["member_id"], m["status"]) for m in members] == [(project, "pending")]
        # The member sees the copy; accepting it is the member's own business.
        member = env.glance.client(region, as_user=user)
        assert member.images.get(copy["id"])["name"] == name
        member.image_members.update(copy["id"], project, "accepted")
        assert copy["id"] in {i["id"] for i in member.images.list()}
    assert provenance(env.glance.one("OtherOne", name))["glancesync_members"] == there

    env.glance.client(MASTER).image_members.delete(master["id"], here)
    run = env.sync("RegionTwo", "other:OtherOne", config=config)
    assert run.code == 0, run.stderr
    for region in ("RegionTwo", "OtherOne"):
        copy = env.glance.one(region, name)
        assert list(env.glance.client(region).image_members.list(copy["id"])) == []


# -- keep_ids ----------------------------------------------------------------------


def test_keep_ids_gives_the_masters_id_or_falls_back_with_a_warning(env: Env) -> None:
    kept, burnt = env.name("kept"), env.name("burnt")
    first = env.glance.create(MASTER, kept, env.data("k"))
    second = env.glance.create(MASTER, burnt, env.data("b"))
    region = env.glance.client("RegionTwo")
    used = region.images.create(id=second["id"], name=env.name("once"), disk_format="raw")
    region.images.delete(used["id"])  # Glance never gives a deleted image's id again
    run = env.sync("RegionTwo", config=env.config(master={"keep_ids": "true"}))
    assert run.code == 0, run.stderr
    assert env.glance.one("RegionTwo", kept)["id"] == first["id"]
    fallback = env.glance.one("RegionTwo", burnt)
    assert fallback["id"] != second["id"]
    assert fallback["checksum"] == second["checksum"]
    assert f"the master's id {second['id']} is not available here" in run.stderr


# -- retirement ----------------------------------------------------------------------


def synced_as_mine(env: Env, mine: Account, *names: str) -> dict[str, dict[str, Any]]:
    """Private master images, synced into RegionTwo as ``mine``; name -> master image."""
    masters = {n: env.glance.create(MASTER, n, env.data(n), visibility="private") for n in names}
    run = env.sync("mine:RegionTwo", config=mine_config(env, mine))
    assert run.code == 0, run.stderr
    return masters


def delete_master(env: Env, image: dict[str, Any]) -> None:
    env.glance.client(MASTER).images.delete(image["id"])


def _json(stdout: str) -> list[dict[str, Any]]:
    import json

    loaded: list[dict[str, Any]] = json.loads(stdout)
    return loaded


@pytest.mark.parametrize("mode", ["hide", "deactivate", "delete"])
def test_each_retire_mode_on_a_master_deletion(env: Env, mine: Account, mode: str) -> None:
    keep, gone = env.name("keep"), env.name("gone")
    masters = synced_as_mine(env, mine, keep, gone)
    copy = env.glance.one("RegionTwo", gone)
    assert copy["owner"] == mine.project_id
    delete_master(env, masters[gone])
    config = mine_config(env, mine, retire=mode)

    status = env.sync("--show-status", "--format", "json", "mine:RegionTwo", config=config)
    assert status.code == 0, status.stderr
    assert [(r["status"], r["image"], r.get("action")) for r in _json(status.stdout)] == [
        ("ok", keep, None),
        ("pending_retire", gone, f"retire_{mode}"),
    ]
    dry = env.sync("--dry-run", "mine:RegionTwo", config=config)
    assert dry.code == 0 and f"retire_{mode}" in dry.stdout, dry
    assert env.glance.one("RegionTwo", gone)["status"] == "active"

    run = env.sync("mine:RegionTwo", config=config)
    assert run.code == 0, run.stderr
    if mode == "delete":
        assert env.glance.named("RegionTwo", gone) == []
    else:
        retired = env.glance.one("RegionTwo", gone)
        assert retired["id"] == copy["id"]
        assert retired["status"] == ("deactivated" if mode == "deactivate" else "active")
        assert retired["os_hidden"] is (mode == "hide")
        assert retired["glancesync_retired_at"].endswith("Z")
    assert env.glance.one("RegionTwo", keep)["status"] == "active"
    again = env.sync("--show-status", "mine:RegionTwo", config=config)
    assert rows(again.stdout) == [("ok", "mine:RegionTwo", keep)]


def test_a_deselected_image_is_retired(env: Env, mine: Account) -> None:
    stays, leaves = env.name("stays"), env.name("leaves")
    masters = synced_as_mine(env, mine, stays, leaves)
    env.glance.client(MASTER).images.update(masters[leaves]["id"], dropped="yes")
    condition = f"image.name.startswith('{env.prefix}') and 'dropped' not in image.user_properties"
    config = env.config(
        DEFAULT={"metadata_condition": condition}, mine=mine.section(retire="delete")
    )
    run = env.sync("mine:RegionTwo", config=config)
    assert run.code == 0, run.stderr
    assert env.glance.named("RegionTwo", leaves) == []
    assert env.glance.one("RegionTwo", stays)["status"] == "active"


def test_more_than_max_retire_retires_nothing_and_exits_1(env: Env, mine: Account) -> None:
    names = [env.name(short) for short in ("a", "b", "c")]
    masters = synced_as_mine(env, mine, *names, env.name("keep"))
    for name in names:
        delete_master(env, masters[name])
    before = env.glance.snapshot(env.prefix)
    config = mine_config(env, mine, retire="delete", max_retire="2")
    run = env.sync("mine:RegionTwo", config=config)
    assert run.code == 1
    assert "3 copies would be retired, more than max_retire = 2" in run.stderr
    assert all(name in run.stderr for name in names)
    assert env.glance.snapshot(env.prefix) == before


def test_an_empty_master_listing_retires_nothing(
    env: Env, mine: Account, lone_master: Account
) -> None:
    """The master is a project of the other Keystone that holds only this test's image.

    Its copy goes to the master Keystone as target ``mine``. Once that image
    is deleted the master's listing of the project is empty: a real
    server's empty answer, which must retire nothing.
    """
    name = env.name("lone")
    client = lone_master.glance("OtherOne")
    master = client.images.create(name=name, disk_format="raw", container_format="bare")
    client.images.upload(master["id"], io.BytesIO(env.data("l")), image_size=4096)
    sections = {
        "main": {"master_region": "OtherOne"},
        "DEFAULT": {"metadata_condition": f"image.name.startswith('{env.prefix}')"},
        "master": lone_master.section(),
    }
    run = env.sync("mine:RegionTwo", config=env.config(**sections, mine=mine.section()))
    assert run.code == 0, run.stderr
    copy = env.glance.one("RegionTwo", name)
    assert provenance(copy)["glancesync_source_region"] == "OtherOne"

    client.images.delete(master["id"])
    # the premise: the master project holds nothing (public images of others,
    # which the catalog leaves out, may be listed too)
    owned = [i for i in client.images.list() if i.get("owner") == lone_master.project_id]
    assert owned == []
    config = env.config(**sections, mine=mine.section(retire="delete"))
    run = env.sync("mine:RegionTwo", config=config)
    assert run.code == 0, run.stderr
    assert "nothing retired: the master listing is empty" in run.stderr
    assert env.glance.one("RegionTwo", name)["id"] == copy["id"]


def test_images_without_provenance_of_others_and_protected_are_never_retired(
    env: Env, mine: Account
) -> None:
    gone, guarded, theirs = env.name("gone"), env.name("guarded"), env.name("theirs")
    masters = synced_as_mine(env, mine, gone, guarded, env.name("keep"))
    # the project's own image, with the bytes of a master image that goes: no provenance
    region = mine.glance("RegionTwo")
    local = region.images.create(name=env.name("local"), disk_format="raw", container_format="bare")
    region.images.upload(local["id"], io.BytesIO(env.data(gone)), image_size=4096)
    protected = env.glance.one("RegionTwo", guarded)
    mine.glance("RegionTwo").images.update(protected["id"], protected=True)
    # another project's copy, with provenance: the admin project syncs it
    masters[theirs] = env.glance.create(MASTER, theirs, env.data("t"))
    assert env.sync("RegionTwo").code == 0
    for short in (gone, guarded, theirs):
        delete_master(env, masters[short])

    run = env.sync("mine:RegionTwo", config=mine_config(env, mine, retire="delete"))
    assert run.code == 0, run.stderr
    assert env.glance.named("RegionTwo", gone) == []  # the rule does apply here
    left = {i["name"]: i for i in env.glance.images("RegionTwo", env.prefix)}
    assert set(left) == {guarded, theirs, env.name("local"), env.name("keep")}
    assert (left[env.name("local")]["id"], left[env.name("local")]["status"]) == (
        local["id"],
        "active",
    )
    assert left[guarded]["status"] == "active" and left[guarded]["protected"] is True
    assert provenance(left[theirs])["glancesync_source_id"] == masters[theirs]["id"]
    assert left[theirs]["status"] == "active" and not left[theirs]["os_hidden"]


def test_retire_delete_after_deletes_only_after_the_delay(env: Env, mine: Account) -> None:
    gone, keep = env.name("gone"), env.name("keep")
    masters = synced_as_mine(env, mine, gone, keep)
    delete_master(env, masters[gone])
    config = mine_config(env, mine, retire="hide", retire_delete_after="30")
    assert env.sync("mine:RegionTwo", config=config).code == 0
    hidden = env.glance.one("RegionTwo", gone)
    assert hidden["os_hidden"] is True

    assert env.sync("mine:RegionTwo", config=config).code == 0
    assert env.glance.one("RegionTwo", gone)["id"] == hidden["id"]  # retired today: kept

    # The clock: the moment of retirement is what the copy records.
    when = "2026-01-01T00:00:00Z"
    mine.glance("RegionTwo").images.update(hidden["id"], glancesync_retired_at=when)
    run = env.sync("mine:RegionTwo", config=config)
    assert run.code == 0, run.stderr
    assert env.glance.named("RegionTwo", gone) == []
    assert env.glance.one("RegionTwo", keep)["status"] == "active"


def test_a_hidden_master_image_is_not_gone(env: Env, mine: Account) -> None:
    name = env.name("hidden")
    master = env.glance.create(MASTER, name, env.data("h"), visibility="private", os_hidden=True)
    config = mine_config(env, mine, retire="delete")
    run = env.sync("mine:RegionTwo", config=config)
    assert run.code == 0, run.stderr
    copy = env.glance.one("RegionTwo", name)
    env.glance.client(MASTER).images.update(master["id"], nid="2")
    run = env.sync("mine:RegionTwo", config=config)
    assert run.code == 0, run.stderr
    after = env.glance.one("RegionTwo", name)
    assert (after["id"], after["nid"], after["status"]) == (copy["id"], "2", "active")
