"""Image data in and out of the real servers: streamed uploads, checked downloads.

A download from byte 0 is checked against the image's hash as it is read
(ours, not glanceclient's, which fails with a traceback on algorithms it
does not know); a resumed one (HTTP Range) is checked for a matching 206
answer before any byte is used, and the caller hashes the whole image
(:mod:`glancesync.transfer.resume`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any

from glancesync.cloud.connections import Connections
from glancesync.cloud.errors import response_detail, retry_after
from glancesync.cloud.stream import IterableReader
from glancesync.model.errors import ImageError
from glancesync.model.image import usable_hash
from glancesync.model.region import RegionRef

LOG = logging.getLogger(__name__)

_CONTENT_RANGE = re.compile(r"bytes (\d{1,20})-(\d{1,20})/(\d{1,20}|\*)")
#: Bytes per read of a resumed download's body.
RANGE_CHUNK = 1 << 16


def _range_problem(status: int, header: str | None, offset: int) -> str | None:
    """What is wrong with a Range answer starting at ``offset``; None if nothing."""
    if status != 206:
        return f"Glance answered HTTP {status}, not 206 Partial Content"
    found = _CONTENT_RANGE.fullmatch((header or "").strip())
    if found is None:
        return "no valid Content-Range in the 206 answer"
    start, end, total = found.groups()
    if int(start) != offset or int(end) < int(start):
        return f"Content-Range starts at byte {start}, {offset} asked"
    if total != "*" and int(end) >= int(total):
        return "Content-Range ends past the image's size"
    return None


class _ClosingChunks:
    """The body of a streamed response as chunks; ``close`` closes the response."""

    def __init__(self, resp: Any) -> None:
        self._resp = resp
        self._chunks: Iterator[bytes] = resp.iter_content(RANGE_CHUNK)

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._resp.close()


class DataStreams(Connections):
    """Upload, stage and download image data."""

    def upload(
        self,
        region: RegionRef,
        image_id: str,
        data: Iterable[bytes],
        size: int,
        store: str | None = None,
    ) -> None:
        """Stream ``data`` (exactly ``size`` bytes) into the queued record; no retry.

        With ``store``, into that store (``X-Image-Meta-Store``)."""
        reader = IterableReader(data, expected_size=size)
        try:
            with self._translate(region, image_id, data=True) as tr:
                glance = self._clients(region).glance
                tr.secrets = self._secrets(region.target)
                glance.images.upload(image_id, reader, image_size=int(size), backend=store)
        finally:
            reader.close()

    def stage(self, region: RegionRef, image_id: str, data: Iterable[bytes], size: int) -> None:
        """Stream ``data`` into the record's staging area, for a glance-direct import."""
        reader = IterableReader(data, expected_size=size)
        try:
            with self._translate(region, image_id, data=True) as tr:
                glance = self._clients(region).glance
                tr.secrets = self._targets[region.target].secrets
                glance.images.stage(image_id, reader, image_size=int(size))
        finally:
            reader.close()

    def download(self, region: RegionRef, image_id: str, offset: int = 0) -> Iterator[bytes]:
        """The image's data from byte ``offset`` on, in chunks.

        The request is made now (a missing image fails here); the returned
        iterator raises :class:`ImageError` if the transfer breaks. From byte
        0 the data is checked as it is read against the image's
        ``os_hash_value`` (when glancesync knows its algorithm) or else its
        ``checksum``; an image with neither is not read. The check is ours,
        not glanceclient's, which fails with a traceback on algorithms it
        does not know. From further on (a resumed read) the caller hashes the
        whole image itself, as :mod:`glancesync.transfer.resume` does.
        """
        if offset < 0:
            raise ValueError("offset must be >= 0")
        if offset:
            ranged = self._ranged(region, image_id, offset)
            return self._guarded_stream(region, image_id, ranged, None)
        image = self.get_image(region, image_id)
        algo = usable_hash(image.os_hash_algo) if image.os_hash_value else None
        if algo and image.os_hash_value:
            expected = (algo, image.os_hash_value)
        elif image.checksum:
            expected = ("md5", image.checksum)
        else:
            raise ImageError(region.full, image_id, "no usable checksum; the data is not read")
        with self._translate(region, image_id, data=True) as tr:
            glance = self._clients(region).glance
            tr.secrets = self._secrets(region.target)
            try:
                body = glance.images.data(image_id, do_checksum=False)
            except (TypeError, ValueError) as exc:  # e.g. a bad Content-Length
                raise tr.region_error(f"malformed download answer ({exc})") from None
        if body is None:
            raise ImageError(region.full, image_id, "image has no data")
        return self._guarded_stream(region, image_id, body, expected)

    def _ranged(self, region: RegionRef, image_id: str, offset: int) -> Iterable[bytes]:
        """``GET .../file`` with ``Range: bytes=OFFSET-``; only a matching 206 is taken.

        The answer is checked before any byte is used: a server that ignores
        the range (200) or starts elsewhere would make the copy wrong.
        """
        with self._translate(region, image_id, data=True) as tr:
            clients = self._clients(region)
            tr.secrets = self._secrets(region.target)
            resp = clients.api.request(
                f"/v2/images/{image_id}/file",
                "GET",
                raise_exc=False,
                redirect=False,
                stream=True,
                headers={"Range": f"bytes={offset}-"},
                timeout=self.request_timeout,
            )
            if resp.status_code >= 400:
                detail = tr._msg(response_detail(resp))
                resp.close()
                raise tr.status_error(resp.status_code, detail, retry_after(resp))
            problem = _range_problem(resp.status_code, resp.headers.get("Content-Range"), offset)
            if problem is not None:
                resp.close()
                raise ImageError(region.full, image_id, f"resumed download: {problem}")
            return _ClosingChunks(resp)

    def _guarded_stream(
        self,
        region: RegionRef,
        image_id: str,
        body: Iterable[bytes],
        expected: tuple[str, str] | None,
    ) -> Iterator[bytes]:
        """*body*'s chunks, errors translated; checked against *expected* (algorithm,
        hex value) when given."""
        chunks = iter(body)
        tr = self._translate(region, image_id, data=True)
        digest = hashlib.new(expected[0]) if expected else None
        try:
            while True:
                with tr:
                    try:
                        chunk = next(chunks)
                    except StopIteration:
                        break
                if digest is not None:
                    digest.update(chunk)
                yield chunk
            if digest is not None and expected and digest.hexdigest() != expected[1].lower():
                raise ImageError(
                    region.full, image_id, f"corrupt download: {expected[0]} differs from Glance's"
                )
        finally:
            closer = getattr(body, "close", None) or getattr(chunks, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception:
                    LOG.debug("closing the download of %s failed", image_id, exc_info=True)
