"""One contract, two clouds: the in-memory cloud must behave like Glance.

Every test here runs twice: against :mod:`glancesync.testing.memcloud` (which
the unit tests trust) and against the real facade on the local cloud of real
Keystone and Glance servers. When Glance and the fake disagree, a test fails
on one side, so the fake cannot drift from the servers it stands for.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from glancesync.cloud.protocol import Facade
from glancesync.model.changes import MetadataChange, NewImage
from glancesync.model.errors import IdUnavailable, ImageError, RegionError
from glancesync.model.image import Image
from glancesync.model.region import RegionRef
from glancesync.model.storage import RegionOffer
from glancesync.testing.memcloud import MemoryCloud
from test.integration.conftest import Cleanup

R2 = RegionRef("master", "RegionTwo")


@dataclass
class Contract:
    facade: Facade
    created: Callable[[Image], Image]


@pytest.fixture(params=["memory", pytest.param("servers", marks=pytest.mark.cloud)])
def side(request: pytest.FixtureRequest, uname: str) -> Iterator[Contract]:
    if request.param == "memory":
        # RegionTwo of the local cloud: every import method, stores fs and fs2, no limits
        offer = RegionOffer(("glance-direct", "web-download", "copy-image"), ("fs", "fs2"), {})
        yield Contract(MemoryCloud(offers={"RegionTwo": offer}), lambda image: image)
        return
    facade = request.getfixturevalue("facade")
    cleanup: Cleanup = request.getfixturevalue("cleanup")

    def created(image: Image) -> Image:
        cleanup.add(facade, R2, image.id)
        return image

    yield Contract(facade, created)


def _spec(name: str, **fields: object) -> NewImage:
    values: dict[str, object] = {
        "name": name,
        "visibility": "private",
        "disk_format": "raw",
        "container_format": "bare",
    }
    values.update(fields)
    return NewImage(**values)  # type: ignore[arg-type]


def _new(side: Contract, spec: NewImage, data: bytes | None = None) -> Image:
    image = side.created(side.facade.create_image(R2, spec))
    if data is not None:
        side.facade.upload(R2, image.id, [data], len(data))
    return image


def test_a_new_record_is_queued_and_ours(side: Contract, uname: str) -> None:
    image = _new(side, _spec(uname, min_ram=64, tags=("t1",), properties={"nid": "7"}))
    assert image.status == "queued"
    assert (image.name, image.visibility, image.min_ram, image.tags) == (
        uname,
        "private",
        64,
        ("t1",),
    )
    assert image.properties["nid"] == "7"
    assert image.owner == side.facade.project_id("master")
    assert image.id in {i.id for i in side.facade.list_images(R2)}


def test_upload_makes_it_active_with_the_server_made_hashes(side: Contract, uname: str) -> None:
    data = b"contract" * 1000
    image = _new(side, _spec(uname), data)
    got = side.facade.get_image(R2, image.id)
    assert (got.status, got.size) == ("active", len(data))
    assert got.checksum == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert (got.os_hash_algo, got.os_hash_value) == ("sha512", hashlib.sha512(data).hexdigest())
    assert b"".join(side.facade.download(R2, image.id)) == data


def test_update_changes_only_what_it_names(side: Contract, uname: str) -> None:
    image = _new(side, _spec(uname, properties={"keep": "k", "nid": "1", "gone": "g"}), b"d")
    change = MetadataChange(
        name=uname + ".old",
        visibility="public",
        set_properties={"nid": "2", "nid.bak": "1"},
        remove_properties=("gone",),
    )
    side.facade.update_image(R2, image.id, change)
    got = side.facade.get_image(R2, image.id)
    assert (got.name, got.visibility) == (uname + ".old", "public")
    assert got.properties["keep"] == "k"
    assert (got.properties["nid"], got.properties["nid.bak"]) == ("2", "1")
    assert "gone" not in got.properties


def test_hidden_images_are_listed(side: Contract, uname: str) -> None:
    image = _new(side, _spec(uname, hidden=True), b"h")
    (listed,) = [i for i in side.facade.list_images(R2) if i.id == image.id]
    assert listed.hidden is True


def test_a_protected_image_cannot_be_deleted_until_unprotected(side: Contract, uname: str) -> None:
    image = _new(side, _spec(uname), b"p")
    side.facade.update_image(R2, image.id, MetadataChange(protected=True))
    with pytest.raises(ImageError):
        side.facade.delete_image(R2, image.id)
    side.facade.update_image(R2, image.id, MetadataChange(protected=False))
    side.facade.delete_image(R2, image.id)
    with pytest.raises(ImageError):
        side.facade.get_image(R2, image.id)
    assert image.id not in {i.id for i in side.facade.list_images(R2)}


def test_regions_of_a_target_and_an_unknown_region(side: Contract) -> None:
    assert {"RegionOne", "RegionTwo", "RegionThree"} <= set(side.facade.regions("master"))
    with pytest.raises(RegionError):
        side.facade.list_images(RegionRef("master", "NoSuchRegion"))


# -- an image's life (doc/manual.rst, "An image's life") ---------------------------

PROJECT = "0123456789abcdef0123456789abcdef"
OTHER_PROJECT = "fedcba9876543210fedcba9876543210"


def test_members_of_a_shared_image(side: Contract, uname: str) -> None:
    image = _new(side, _spec(uname, visibility="shared"), b"s")
    side.facade.update_image(R2, image.id, MetadataChange(add_members=(PROJECT, OTHER_PROJECT)))
    assert side.facade.list_members(R2, image.id) == {PROJECT, OTHER_PROJECT}
    with pytest.raises(ImageError):  # a member is added once
        side.facade.update_image(R2, image.id, MetadataChange(add_members=(PROJECT,)))
    side.facade.update_image(R2, image.id, MetadataChange(remove_members=(PROJECT,)))
    assert side.facade.list_members(R2, image.id) == {OTHER_PROJECT}
    with pytest.raises(ImageError):  # and removed once
        side.facade.update_image(R2, image.id, MetadataChange(remove_members=(PROJECT,)))


def test_only_a_shared_image_has_members(side: Contract, uname: str) -> None:
    image = _new(side, _spec(uname, visibility="private"), b"p")
    with pytest.raises(ImageError):
        side.facade.list_members(R2, image.id)
    with pytest.raises(ImageError):
        side.facade.update_image(R2, image.id, MetadataChange(add_members=(PROJECT,)))


def test_members_follow_a_change_of_visibility_in_one_update(side: Contract, uname: str) -> None:
    image = _new(side, _spec(uname, visibility="private"), b"v")
    becomes_shared = MetadataChange(visibility="shared", add_members=(PROJECT,))
    side.facade.update_image(R2, image.id, becomes_shared)
    assert side.facade.list_members(R2, image.id) == {PROJECT}
    # Members go while the image is still shared: Glance refuses them on any other.
    side.facade.update_image(
        R2, image.id, MetadataChange(visibility="public", remove_members=(PROJECT,))
    )
    assert side.facade.get_image(R2, image.id).visibility == "public"
    side.facade.update_image(R2, image.id, MetadataChange(visibility="shared"))
    assert side.facade.list_members(R2, image.id) == frozenset()


def test_create_with_an_id_and_never_again_once_deleted(side: Contract, uname: str) -> None:
    wanted = str(uuid.uuid4())
    image = _new(side, _spec(uname, id=wanted))
    assert image.id == wanted
    side.facade.delete_image(R2, image.id)
    with pytest.raises(IdUnavailable):
        side.facade.create_image(R2, _spec(uname, id=wanted))
    assert wanted not in {i.id for i in side.facade.list_images(R2)}


def test_system_fields_and_provenance_are_updated_in_place(side: Contract, uname: str) -> None:
    image = _new(
        side, _spec(uname, tags=("a", "b"), bookkeeping={"glancesync_source_id": "x"}), b"f"
    )
    members = ",".join(f"{n:032x}" for n in range(128))  # Glance's default image_member_quota
    change = MetadataChange(
        min_ram=128,
        min_disk=3,
        tags=("b", "c"),
        hidden=True,
        set_properties={"glancesync_members": members},
    )
    side.facade.update_image(R2, image.id, change)
    got = side.facade.get_image(R2, image.id)
    assert (got.min_ram, got.min_disk, sorted(got.tags), got.hidden) == (128, 3, ["b", "c"], True)
    assert got.raw["glancesync_members"] == members and got.raw["glancesync_source_id"] == "x"
    assert "glancesync_members" not in got.properties


def test_deactivate_an_active_image(side: Contract, uname: str) -> None:
    queued = _new(side, _spec(uname))
    with pytest.raises(ImageError):
        side.facade.deactivate_image(R2, queued.id)
    image = _new(side, _spec(uname + "-active"), b"d")
    side.facade.deactivate_image(R2, image.id)
    side.facade.deactivate_image(R2, image.id)  # again: nothing changes
    assert side.facade.get_image(R2, image.id).status == "deactivated"
    assert image.id in {i.id for i in side.facade.list_images(R2) if i.status == "deactivated"}
    side.facade.delete_image(R2, image.id)
    assert image.id not in {i.id for i in side.facade.list_images(R2)}


def test_the_offer_names_import_methods_and_stores(side: Contract) -> None:
    offer = side.facade.region_offer(R2)
    assert {"glance-direct", "copy-image"} <= set(offer.import_methods)
    assert offer.stores == ("fs", "fs2")
    assert offer.quota("image_size_total") is None  # no limits in RegionTwo


def test_an_upload_lands_in_the_store_named(side: Contract, uname: str) -> None:
    image = side.created(side.facade.create_image(R2, _spec(uname)))
    side.facade.upload(R2, image.id, [b"store"], 5, "fs2")
    assert side.facade.get_image(R2, image.id).raw["stores"] == "fs2"


def test_a_staged_import_lands_in_exactly_the_stores_asked(side: Contract, uname: str) -> None:
    data = b"staged" * 500
    image = side.created(side.facade.create_image(R2, _spec(uname)))
    side.facade.stage(R2, image.id, [data], len(data))
    got = side.facade.import_image(R2, image.id, "glance-direct", ("fs", "fs2"), 60)
    assert got.status == "active" and set(got.raw["stores"].split(",")) == {"fs", "fs2"}
    assert got.checksum == hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_copy_image_adds_a_store(side: Contract, uname: str) -> None:
    image = _new(side, _spec(uname), b"copied")
    assert side.facade.get_image(R2, image.id).raw["stores"] == "fs"
    got = side.facade.import_image(R2, image.id, "copy-image", ("fs2",), 60)
    assert set(got.raw["stores"].split(",")) == {"fs", "fs2"}


def test_an_unknown_store_is_refused(side: Contract, uname: str) -> None:
    image = side.created(side.facade.create_image(R2, _spec(uname)))
    with pytest.raises(ImageError):
        side.facade.upload(R2, image.id, [b"x"], 1, "nosuch")
