"""ServersFacade against REAL Keystone and Glance servers (tools/devcloud).

No mocks: every call goes over HTTP to the local cloud. Each test creates
its own uniquely named images and deletes them at teardown.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import random
import socket
import time
from collections.abc import Iterator

import pytest

from glancesync.cloud.glance import ServersFacade
from glancesync.config.settings import Credentials, Settings, TargetSettings
from glancesync.model.changes import MetadataChange, NewImage
from glancesync.model.errors import ImageError, RegionError
from glancesync.model.image import Image
from glancesync.model.region import RegionRef

from .conftest import (
    MASTER_REGIONS,
    OTHER_REGIONS,
    USER2,
    Cleanup,
    make_settings,
    password_credentials,
)

MiB = 1024 * 1024


def chunks_of(
    data: bytes, sizes: tuple[int, ...] = (100_003, 1, 65_536, 1_000_000, 0)
) -> Iterator[bytes]:
    """``data`` in uneven chunks (an empty one included), as a generator."""
    pos, i = 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        yield data[pos : pos + size]
        pos += size
        i += 1


def new_image(name: str, **kw: object) -> NewImage:
    base: dict[str, object] = {
        "name": name,
        "visibility": "private",
        "disk_format": "raw",
        "container_format": "bare",
    }
    base.update(kw)
    return NewImage(**base)  # type: ignore[arg-type]


def create(facade: ServersFacade, region: RegionRef, cleanup: Cleanup, spec: NewImage) -> Image:
    image = facade.create_image(region, spec)
    cleanup.add(facade, region, image.id)
    return image


def free_port() -> int:
    """A local port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- targets ------------------------------------------------------------------


def test_regions_of_both_targets(facade: ServersFacade) -> None:
    assert facade.regions("master") == MASTER_REGIONS
    assert facade.regions("other") == OTHER_REGIONS


def test_project_id(facade: ServersFacade, r1: RegionRef, cleanup: Cleanup, uname: str) -> None:
    master = facade.project_id("master")
    other = facade.project_id("other")
    assert len(master) == 32 and int(master, 16) >= 0
    assert other and other != master  # two independent Keystones
    image = create(facade, r1, cleanup, new_image(uname))
    assert image.owner == master


def test_unknown_target(facade: ServersFacade) -> None:
    with pytest.raises(RegionError, match="unknown target"):
        facade.regions("nosuchtarget")


def test_cloud_entry_from_clouds_yaml(
    devcloud: str, monkeypatch: pytest.MonkeyPatch, facade: ServersFacade
) -> None:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", os.path.join(devcloud, "clouds.yaml"))
    via_cloud = ServersFacade(
        make_settings(
            TargetSettings("master", Credentials(cloud="master")),
            TargetSettings("other", Credentials(cloud="other")),
        )
    )
    assert via_cloud.regions("master") == MASTER_REGIONS
    assert via_cloud.regions("other") == OTHER_REGIONS
    assert via_cloud.project_id("master") == facade.project_id("master")
    assert isinstance(via_cloud.list_images(RegionRef("other", "OtherOne")), list)


def test_unknown_cloud_entry(devcloud: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", os.path.join(devcloud, "clouds.yaml"))
    f = ServersFacade(make_settings(TargetSettings("master", Credentials(cloud="nosuchcloud"))))
    with pytest.raises(RegionError, match="nosuchcloud"):
        f.project_id("master")


# -- data ---------------------------------------------------------------------


@pytest.mark.parametrize("region_name", ["RegionOne", "other:OtherOne"])
def test_create_upload_get_download_delete(
    facade: ServersFacade, cleanup: Cleanup, uname: str, region_name: str
) -> None:
    region = RegionRef.parse(region_name)
    data = random.Random(uname).randbytes(3 * MiB + 12345)
    spec = new_image(
        uname,
        min_ram=64,
        min_disk=1,
        tags=("t1", "t2"),
        properties={"nid": "123", "type": "baseimage", "owner_specified.x": "dropped"},
    )
    image = create(facade, region, cleanup, spec)
    assert image.status == "queued"
    assert image.visibility == "private"  # sent explicitly (Glance's default is shared)
    assert (image.min_ram, image.min_disk, set(image.tags)) == (64, 1, {"t1", "t2"})
    assert dict(image.properties) == {"nid": "123", "type": "baseimage"}

    facade.upload(region, image.id, chunks_of(data), len(data))

    got = facade.get_image(region, image.id)
    assert got.status == "active"
    assert got.size == len(data)
    assert got.checksum == hashlib.md5(data).hexdigest()
    assert got.os_hash_algo == "sha512"
    assert got.os_hash_value == hashlib.sha512(data).hexdigest()
    assert got.region == region.full

    chunks = list(facade.download(region, image.id))
    assert b"".join(chunks) == data
    assert len(chunks) > 1  # streamed, not one blob

    facade.delete_image(region, image.id)
    with pytest.raises(ImageError) as err:
        facade.get_image(region, image.id)
    assert "404" in str(err.value)


def test_upload_of_a_short_stream_fails_as_image_error(
    facade: ServersFacade, r1: RegionRef, cleanup: Cleanup, uname: str
) -> None:
    image = create(facade, r1, cleanup, new_image(uname))
    with pytest.raises(ImageError, match="only 1000 bytes, 2000 expected"):
        facade.upload(r1, image.id, iter([b"x" * 1000]), 2000)
    assert wait_status(facade, r1, image.id, "queued") == "queued"  # nothing was stored


def wait_status(
    facade: ServersFacade, region: RegionRef, image_id: str, want: str, limit: float = 10.0
) -> str:
    """Poll until the image has status ``want`` (Glance cleans up an aborted upload
    in the background); the last status seen."""
    deadline = time.monotonic() + limit
    while True:
        status = facade.get_image(region, image_id).status
        if status == want or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_upload_of_a_failing_source_is_image_error(
    facade: ServersFacade, r1: RegionRef, cleanup: Cleanup, uname: str
) -> None:
    def broken() -> Iterator[bytes]:
        yield b"y" * 70_000
        raise ConnectionResetError("source went away")

    image = create(facade, r1, cleanup, new_image(uname))
    with pytest.raises(ImageError, match="source went away") as err:
        facade.upload(r1, image.id, broken(), 1_000_000)
    assert err.value.region == "RegionOne" and err.value.image == image.id
    assert wait_status(facade, r1, image.id, "queued") == "queued"


def test_region_to_region_stream(facade: ServersFacade, cleanup: Cleanup, uname: str) -> None:
    """Download from one Keystone's region straight into another's: no temp file."""
    src, dst = RegionRef("master", "RegionOne"), RegionRef("other", "OtherOne")
    data = os.urandom(2 * MiB)
    a = create(facade, src, cleanup, new_image(uname))
    facade.upload(src, a.id, chunks_of(data), len(data))
    b = create(facade, dst, cleanup, new_image(uname))
    facade.upload(dst, b.id, facade.download(src, a.id), len(data))
    assert facade.get_image(src, a.id).same_content(facade.get_image(dst, b.id))


def test_download_of_corrupted_data_is_image_error(
    devcloud: str, facade: ServersFacade, r1: RegionRef, cleanup: Cleanup, uname: str
) -> None:
    data = os.urandom(MiB)
    image = create(facade, r1, cleanup, new_image(uname))
    facade.upload(r1, image.id, [data], len(data))
    path = os.path.join(devcloud, "g1", "images", image.id)  # RegionOne's file store
    assert os.path.exists(path), "devcloud layout changed: no file store at g1/images"
    with open(path, "r+b") as fh:  # same size, one byte different
        fh.seek(1234)
        fh.write(bytes([data[1234] ^ 0xFF]))
    with pytest.raises(ImageError, match=image.id[:8]):
        b"".join(facade.download(r1, image.id))


def test_deactivate_and_import_methods(
    facade: ServersFacade, r1: RegionRef, cleanup: Cleanup, uname: str
) -> None:
    assert "glance-direct" in facade.image_import_methods(r1)
    image = create(facade, r1, cleanup, new_image(uname))
    facade.upload(r1, image.id, [b"z" * 1000], 1000)
    facade.deactivate_image(r1, image.id)
    assert facade.get_image(r1, image.id).status == "deactivated"
    # Glance still serves a deactivated image's data to admins (only to them),
    # so the admin facade can read it back.
    assert b"".join(facade.download(r1, image.id)) == b"z" * 1000


# -- metadata -----------------------------------------------------------------


def test_update_is_minimal(
    facade: ServersFacade, r1: RegionRef, cleanup: Cleanup, uname: str
) -> None:
    props = {"a": "1", "b": "2", "local": "keep-me"}
    image = create(facade, r1, cleanup, new_image(uname, properties=props))
    assert dict(image.properties) == props
    updated = facade.update_image(
        r1,
        image.id,
        MetadataChange(
            name=uname + "-renamed",
            set_properties={"a": "3", "c": "4"},
            remove_properties=("b", "never-there"),
        ),
    )
    expected = {"a": "3", "c": "4", "local": "keep-me"}
    assert dict(updated.properties) == expected
    assert updated.name == uname + "-renamed"
    fresh = facade.get_image(r1, image.id)
    assert dict(fresh.properties) == expected
    assert fresh.visibility == "private"  # not named, not touched


def test_empty_update_sends_nothing(
    facade: ServersFacade, r1: RegionRef, cleanup: Cleanup, uname: str
) -> None:
    image = create(facade, r1, cleanup, new_image(uname, properties={"a": "1"}))
    time.sleep(1.1)  # updated_at has a resolution of one second
    same = facade.update_image(r1, image.id, MetadataChange())
    assert same.raw["updated_at"] == image.raw["updated_at"]
    assert dict(same.properties) == {"a": "1"}


def test_visibility_to_public(
    facade: ServersFacade, r1: RegionRef, cleanup: Cleanup, uname: str
) -> None:
    image = create(facade, r1, cleanup, new_image(uname, properties={"a": "1"}))
    updated = facade.update_image(r1, image.id, MetadataChange(visibility="public"))
    assert updated.visibility == "public" and updated.is_public
    assert dict(updated.properties) == {"a": "1"}


def test_non_admin_cannot_publicize(devcloud: str, cleanup: Cleanup, uname: str) -> None:
    user, password, project = USER2
    creds = dataclasses.replace(
        password_credentials(devcloud, "master"),
        username=user,
        password=password,
        project_name=project,
    )
    f = ServersFacade(make_settings(TargetSettings("master", creds)))
    region = RegionRef("master", "RegionOne")
    image = create(f, region, cleanup, new_image(uname))
    with pytest.raises(ImageError, match="403") as err:
        f.update_image(region, image.id, MetadataChange(visibility="public"))
    assert password not in str(err.value)
    assert "\n" not in str(err.value)


# -- listing ------------------------------------------------------------------


def test_hidden_images_are_listed(
    facade: ServersFacade, r1: RegionRef, cleanup: Cleanup, uname: str
) -> None:
    shown = create(facade, r1, cleanup, new_image(uname + "-shown"))
    hidden = create(facade, r1, cleanup, new_image(uname + "-hidden", hidden=True))
    assert hidden.hidden
    listed = facade.list_images(r1)
    ids = [i.id for i in listed]
    assert len(ids) == len(set(ids))
    by_id = {i.id: i for i in listed}
    assert shown.id in by_id and not by_id[shown.id].hidden
    assert hidden.id in by_id and by_id[hidden.id].hidden
    assert by_id[hidden.id].region == "RegionOne"


def test_pagination_returns_each_image_once(
    settings: Settings, cleanup: Cleanup, uname: str
) -> None:
    small = ServersFacade(settings, page_size=2)
    region = RegionRef("master", "RegionThree")
    ours = {
        create(small, region, cleanup, new_image(f"{uname}-{n}", hidden=n % 3 == 0)).id
        for n in range(7)
    }
    listed = [i.id for i in small.list_images(region)]
    assert len(listed) == len(set(listed))
    assert ours <= set(listed)
    assert [i for i in listed if i in ours].__len__() == len(ours)


def test_list_timeout_is_region_error(devcloud: str) -> None:
    target = TargetSettings(
        "master", password_credentials(devcloud, "master"), list_images_timeout=0.000001
    )
    f = ServersFacade(make_settings(target))
    with pytest.raises(RegionError, match="list_images_timeout"):
        f.list_images(RegionRef("master", "RegionOne"))


# -- failures -----------------------------------------------------------------


def test_wrong_password_is_one_line_region_error(devcloud: str) -> None:
    wrong = "Wr0ng-" + os.urandom(8).hex()
    creds = dataclasses.replace(password_credentials(devcloud, "master"), password=wrong)
    f = ServersFacade(make_settings(TargetSettings("master", creds)))
    for call in (
        lambda: f.project_id("master"),
        lambda: f.regions("master"),
        lambda: f.list_images(RegionRef("master", "RegionTwo")),
    ):
        with pytest.raises(RegionError) as err:
            call()
        text = str(err.value)
        assert "\n" not in text
        assert wrong not in text
        assert "authentication failed" in text
        assert "401" in text


def test_unreachable_keystone_is_region_error(devcloud: str) -> None:
    port = free_port()
    creds = dataclasses.replace(
        password_credentials(devcloud, "master"), auth_url=f"http://127.0.0.1:{port}/v3"
    )
    f = ServersFacade(make_settings(TargetSettings("master", creds)), retries=0)
    started = time.monotonic()
    with pytest.raises(RegionError) as err:
        f.list_images(RegionRef("master", "RegionOne"))
    assert time.monotonic() - started < 10
    assert err.value.region == "RegionOne"
    assert "\n" not in str(err.value)
    assert creds.password and creds.password not in str(err.value)
    with pytest.raises(RegionError):
        f.regions("master")


def test_unknown_region_is_region_error(facade: ServersFacade) -> None:
    with pytest.raises(RegionError, match="no image endpoint"):
        facade.list_images(RegionRef("master", "NoSuchRegion"))


def test_unknown_image_is_image_error(facade: ServersFacade, r1: RegionRef) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for call in (
        lambda: facade.delete_image(r1, missing),
        lambda: facade.get_image(r1, missing),
        lambda: facade.download(r1, missing),
        lambda: facade.update_image(r1, missing, MetadataChange(name="x")),
    ):
        with pytest.raises(ImageError) as err:
            call()
        assert err.value.image == missing and err.value.region == "RegionOne"
        assert "404" in str(err.value) and "\n" not in str(err.value)


def test_conflict_is_image_error(
    facade: ServersFacade, r1: RegionRef, cleanup: Cleanup, uname: str
) -> None:
    image = create(facade, r1, cleanup, new_image(uname))
    facade.upload(r1, image.id, [b"1" * 10], 10)
    with pytest.raises(ImageError, match="409"):  # data can't be uploaded twice
        facade.upload(r1, image.id, [b"2" * 10], 10)


def test_password_never_logged(devcloud: str, caplog: pytest.LogCaptureFixture) -> None:
    creds = password_credentials(devcloud, "master")
    assert creds.password
    f = ServersFacade(make_settings(TargetSettings("master", creds)))
    with caplog.at_level(logging.DEBUG):
        f.project_id("master")
        f.regions("master")
        f.list_images(RegionRef("master", "RegionOne"))
        token = f._targets["master"].session.get_token()
    assert caplog.records, "no DEBUG logs captured: keystoneauth logs requests at DEBUG"
    assert "POST" in caplog.text or "auth/tokens" in caplog.text
    assert creds.password not in caplog.text
    assert token and token not in caplog.text
    for record in caplog.records:
        assert creds.password not in record.getMessage()


# -- the upload adapter (no server needed) --------------------------------------


def test_glance_client_never_retries(facade: ServersFacade, r1: RegionRef) -> None:
    clients = facade._clients(r1)
    assert clients.glance.http_client.connect_retries == 0
    assert clients.glance.http_client.status_code_retries == 0
    assert clients.api.connect_retries == 3
