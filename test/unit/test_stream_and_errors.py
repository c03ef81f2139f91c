"""The upload stream and the translation of client-library errors: pure, no server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ksa_exc

from glancesync.cloud.errors import Translate
from glancesync.cloud.stream import IterableReader, SourceStreamError, StreamSizeError
from glancesync.model.errors import ImageError, RegionError


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


def test_reader_rechunks_and_counts() -> None:
    data = os.urandom(300_000)
    reader = IterableReader(chunks_of(data), expected_size=len(data), max_read=50_000)
    pieces = []
    while piece := reader.read(1 << 20):
        assert len(piece) <= 50_000
        pieces.append(piece)
    assert b"".join(pieces) == data and reader.bytes_read == len(data)
    buf = bytearray(10)
    assert reader.readinto(buf) == 0


def test_reader_refuses_a_wrong_size() -> None:
    with pytest.raises(StreamSizeError, match="only 3 bytes, 4 expected"):
        IterableReader([b"abc"], expected_size=4).read()
    reader = IterableReader([b"abc", b"de"], expected_size=4)
    assert reader.read(3) == b"abc"
    with pytest.raises(StreamSizeError, match="more than"):
        reader.read(3)


def test_reader_wraps_source_errors_and_closes_the_source() -> None:
    closed = []

    def source() -> Iterator[bytes]:
        try:
            yield b"ok"
            raise OSError("disk gone")
        finally:
            closed.append(True)

    reader = IterableReader(source())
    assert reader.read(10) == b"ok"
    with pytest.raises(SourceStreamError, match="disk gone") as err:
        reader.read(10)
    assert not isinstance(err.value, OSError)  # urllib3 would take it for a broken socket
    reader.close()
    assert closed == [True]


def _raised(error: Exception, image: str | None = None, secrets: tuple[str, ...] = ()) -> Exception:
    with pytest.raises((RegionError, ImageError)) as caught, Translate("R2", image, secrets):
        raise error
    return caught.value


def test_keystone_refusals_are_region_errors_that_say_authentication() -> None:
    error = _raised(ksa_exc.Unauthorized("The request you have made requires authentication."))
    assert isinstance(error, RegionError) and "authentication failed" in str(error)
    assert not error.transient


def test_connection_failures_are_transient_region_errors() -> None:
    error = _raised(ksa_exc.ConnectFailure("Unable to establish connection to http://h:1"))
    assert isinstance(error, RegionError) and error.transient


def test_glance_http_errors_are_image_errors_and_5xx_transient() -> None:
    missing = _raised(glance_exc.HTTPNotFound("no image"), image="img")
    assert isinstance(missing, ImageError) and "HTTP 404" in str(missing)
    assert not missing.transient
    busy = _raised(glance_exc.HTTPServiceUnavailable("later"), image="img")
    assert isinstance(busy, RegionError) and busy.transient


def test_translated_messages_hold_no_secret() -> None:
    error = _raised(ksa_exc.Unauthorized("bad password s3cr3t!"), secrets=("s3cr3t!",))
    assert "s3cr3t!" not in str(error) and "***" in str(error)


def test_our_own_errors_pass_unchanged() -> None:
    ours = RegionError("R2", "already ours")
    with pytest.raises(RegionError) as caught, Translate("R2", None, ()):
        raise ours
    assert caught.value is ours
