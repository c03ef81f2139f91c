"""Reading the master's bytes so that a broken download goes on where it stopped.

A download that breaks for a transient reason (a dropped connection, a 5xx)
is asked for again from the first byte not yet received (HTTP ``Range``,
answered ``206`` by Glance; :meth:`ServersFacade.download` checks the
answer), instead of from byte 0. Since the pieces come from several
answers, glanceclient's own check of the whole body cannot hold; the
image's md5 and ``os_hash_value`` are computed here over every byte, in
order, and a mismatch fails the read (doc/performance.rst, "Resumable
master reads").
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator

from glancesync.cloud.protocol import Facade
from glancesync.model.errors import ImageError, ServerError
from glancesync.model.image import Image, usable_hash
from glancesync.model.region import RegionRef

LOG = logging.getLogger(__name__)

#: Resumptions of one read after breaks that moved it on, and after breaks
#: that did not (a server that fails at once every time).
MAX_RESUMES = 20
MAX_RESUMES_WITHOUT_PROGRESS = 3


def resumable(
    facade: Facade,
    region: RegionRef,
    image: Image,
    start: int = 0,
    on_resume: Callable[[int], None] = lambda offset: None,
) -> Iterator[bytes]:
    """``image``'s bytes from ``start`` to the end, resumed after transient breaks.

    From ``start = 0`` the whole image is checked against its size and
    hashes; from further on only the size (the caller hashes the bytes it
    got before ``start``, as :class:`glancesync.transfer.copy.HashingStream`
    does). ``on_resume(offset)`` is told each resumption.
    """
    whole = start == 0
    md5 = hashlib.md5(usedforsecurity=False) if whole and image.checksum else None
    # An algorithm glancesync does not know is left to the md5 checksum.
    algo = usable_hash(image.os_hash_algo) if image.os_hash_value else None
    os_hash = hashlib.new(algo) if whole and algo else None
    offset, resumes, stuck = start, 0, 0

    def broken(why: str) -> ImageError:
        return ImageError(region.full, image.name, f"download from the master: {why}")

    while True:
        before = offset
        try:
            for chunk in facade.download(region, image.id, offset):
                if offset + len(chunk) > image.size:
                    raise broken(f"more than the image's {image.size} bytes")
                if md5 is not None:
                    md5.update(chunk)
                if os_hash is not None:
                    os_hash.update(chunk)
                offset += len(chunk)
                yield chunk
        except ServerError as error:
            stuck = 0 if offset > before else stuck + 1
            resumes += 1
            if not error.transient or resumes > MAX_RESUMES or stuck > MAX_RESUMES_WITHOUT_PROGRESS:
                raise
            LOG.warning(
                "[%s] download of %s broke at byte %d of %d (%s); resuming there",
                region.full,
                image.name,
                offset,
                image.size,
                error.detail,
            )
            on_resume(offset)
            if offset < image.size:
                continue
        if offset < image.size:
            raise broken(f"the stream ended at byte {offset} of {image.size}")
        break
    if md5 is not None and md5.hexdigest() != image.checksum:
        raise broken("md5 of the bytes read differs from the image's checksum")
    if os_hash is not None and os_hash.hexdigest() != (image.os_hash_value or "").lower():
        raise broken(f"{image.os_hash_algo} of the bytes read differs from the image's")
