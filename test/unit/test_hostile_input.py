"""Server data that could escape, leak or crash, handled by pure code (no server).

The same findings run end to end against a hostile server in test/hostile.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from glancesync.cloud.answers import AnswerError, decode_json, next_link
from glancesync.cloud.errors import MAX_RETRY_AFTER, retry_after
from glancesync.model.image import Image, MalformedImage, image_from_glance
from glancesync.model.region import RegionRef
from glancesync.model.text import mask, one_line
from glancesync.testing.memcloud import MemoryCloud
from glancesync.transfer.source import MasterSource
from glancesync.transfer.spool import Spool
from test.unit.test_apply import make_sync


@pytest.mark.parametrize("evil", ["../../escaped", "/abs/escaped", "..", "a/../../b"])
def test_spool_names_never_come_from_the_id(tmp_path: Path, evil: str) -> None:
    spool = tmp_path / "deep" / "spool"
    spool.mkdir(parents=True)
    (tmp_path / "escaped").write_bytes(b"local file")
    md5 = hashlib.md5(b"abc", usedforsecurity=False).hexdigest()
    image = Image(id=evil, name="n", size=3, checksum=md5, os_hash_value="../../../../etc/x")

    class Master:
        def download(self, region: RegionRef, image_id: str, offset: int = 0) -> Any:
            return iter([b"abc"[offset:]])

    source = MasterSource(Master(), RegionRef("master", "R1"))  # type: ignore[arg-type]
    with source.spooled(Spool(spool, 100)):
        assert b"".join(source.chunks(image)) == b"abc", "the local file is never read"
    assert sorted(p.parent for p in tmp_path.rglob("*") if p.is_file()) == [tmp_path, spool]
    assert (tmp_path / "escaped").read_bytes() == b"local file"
    with source.spooled(Spool(spool, 100)):
        assert b"".join(source.chunks(image)) == b"abc"  # now from the spool


def test_images_dir_is_only_read_under_a_uuid(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"abc")
    image = Image(
        id="../" + tmp_path.name + "/x",
        name="n",
        size=3,
        checksum="900150983cd24fb0d6963f7d28e17f72",
    )
    source = MasterSource(MemoryCloud(), RegionRef("master", "R1"), images_dir=str(tmp_path))
    assert source._images_dir_file(image) is None


@pytest.mark.parametrize(
    "name", ["../../../escaped", "a/b", "..", ".x", "c\x1b[0m", "\u202eevil", "é/" * 300]
)
def test_region_file_stems_are_plain_file_names(name: str) -> None:
    stem = RegionRef("t", name).file_stem
    assert "/" not in stem and not stem.startswith(".") and stem.isprintable()
    assert all(c.isascii() for c in stem) and len(stem) <= 160
    assert RegionRef("t", name).file_stem != RegionRef("t", name + "x").file_stem


def test_region_stems_that_meet_get_distinct_log_files(tmp_path: Path) -> None:
    from glancesync.runner.regions import _log_paths

    regions = [RegionRef("t_a", "b"), RegionRef("t", "a_b")]
    paths = _log_paths(regions, tmp_path)
    assert len(set(paths.values())) == 2
    assert all(p.parent == tmp_path for p in paths.values())


SECRET = 'Hx"9/e+Q%z\\wq7!'


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        json.dumps(SECRET)[1:-1],
        quote(SECRET),
        quote(SECRET, safe=""),
        base64.b64encode(f"user:{SECRET}".encode()).decode(),
        base64.b64encode(f"us:{SECRET}".encode()).decode(),
        base64.b64encode(f"u:{SECRET}".encode()).decode(),
    ],
)
def test_a_secret_is_masked_in_any_form(form: str) -> None:
    text = one_line(f"the server said {form} back", secrets=[SECRET])
    assert form not in text and "***" in text


@pytest.mark.parametrize(
    "text",
    [
        "X-Auth-Token: gAAAAAtoken123",
        '{"X-Auth-Token": "gAAAAAtoken123"}',
        "http://user:gAAAAAtoken123@host:5000/v3",
        '{"password": "gAAAAAtoken123"}',
    ],
)
def test_secret_shapes_are_masked_without_knowing_them(text: str) -> None:
    assert "gAAAAAtoken123" not in mask(text)


def _resp(value: str) -> requests.Response:
    resp = requests.Response()
    resp.headers["Retry-After"] = value
    return resp


@pytest.mark.parametrize(
    "value, seconds",
    [
        ("5", 5.0),
        ("100000000", MAX_RETRY_AFTER),
        ("-5", None),
        ("nan", None),
        ("inf", None),
        ("1e400", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ("", None),
    ],
)
def test_retry_after_is_bounded(value: str, seconds: float | None) -> None:
    assert retry_after(_resp(value)) == seconds


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a": NaN}', b'{"a": Infinity}', b"\xff", b"1" * 5000],
)
def test_answers_that_json_would_take_badly_are_answer_errors(body: bytes) -> None:
    with pytest.raises(AnswerError):
        decode_json(body)


@pytest.mark.parametrize(
    "link, ok",
    [
        ("/v2/images?marker=a", True),
        ("http://h:9292/image/v2/images?marker=a", True),
        ("http://h/image/v2/images?marker=a", False),  # other port
        ("https://h:9292/image/v2/images", False),
        ("//evil:9292/image/v2/images", False),
        ("http://evil:9292/image/v2/images", False),
        ("/v3/auth/tokens", False),
        ("http://h:9292/v2/images", False),  # leaves the endpoint's path
        (123, False),
        ({"href": "/v2/images"}, False),
    ],
)
def test_next_links_stay_on_the_endpoint(link: Any, ok: bool) -> None:
    endpoint = "http://h:9292/image"
    if ok:
        assert next_link(link, endpoint, "/v2/images") == link
    else:
        with pytest.raises(AnswerError):
            next_link(link, endpoint, "/v2/images")


@pytest.mark.parametrize(
    "doc",
    [
        {"id": "a", "size": float("inf")},
        {"id": "a", "min_ram": 10**30},
        {"id": "a", "size": -1},
        {"id": "a", "size": True},
        {"id": "a", "tags": 5},
        {"id": "a", "tags": [1]},
        {"id": "a", "name": ["x"]},
        {"id": "a", "protected": "yes"},
        {"id": "a", "checksum": {}},
        {"id": "a/../b"},
        {"id": ".."},
        {"id": "a b"},
        {"id": "x" * 300},
    ],
)
def test_malformed_image_documents_are_refused(doc: dict[str, Any]) -> None:
    with pytest.raises(MalformedImage):
        image_from_glance(doc)


def test_any_failure_inside_an_upload_removes_the_record(
    cloud: MemoryCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cloud.add("RegionOne", "a", b"data")

    def broken(*args: Any) -> None:
        raise ValueError("something odd")

    monkeypatch.setattr(cloud, "upload", broken)
    result = make_sync(cloud).sync_region("RegionTwo")
    assert result is not None and result.failed
    assert [o.message for o in result.outcomes if not o.ok] == [
        "upload failed: ValueError: something odd"
    ]
    assert cloud.named("RegionTwo", "a") == []
