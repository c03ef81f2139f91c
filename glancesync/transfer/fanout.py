"""One read of the master feeding the uploads of many regions at once.

The medium is the run's spool. The first upload that needs an image claims
its *fill file* (``.fill-NAME`` beside the spool copy ``NAME``) and a
producer thread writes the master's bytes into it as they come; every
upload of that image, in this process or in a ``--parallel`` sibling, reads
the growing file at its own pace. So the master is read once, a slow region
never holds up a fast one (the file, bounded by ``cache_size_mb``, is the
buffer), and memory stays at one chunk per reader (doc/performance.rst,
"Fan-out over slow links").

Who is still writing is told by a lock, not by guessing: the producer holds
an exclusive ``flock`` on the fill file from before it is visible (it is
made under a private name, locked, then linked into place) until it has
finished. A reader that finds no new bytes and can take the lock knows the
producer is gone. Then either the file is complete (the producer checked
every byte against the master's hashes and renamed it to ``NAME``, the
same file the reader holds open), or it stopped short (a failed read, a
killed child) and the reader goes on from the master itself, with a Range
request from the byte it has reached. Each region's upload is verified on
its own as before (:mod:`glancesync.transfer.copy`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from glancesync.model.errors import ImageError
from glancesync.model.image import Image

LOG = logging.getLogger(__name__)

CHUNK = 1 << 20
#: How long a reader that caught up with the producer waits before looking again.
POLL_SECONDS = 0.02


def fill_path(final: Path) -> Path:
    return final.with_name(f".fill-{final.name}")


def claim(final: Path) -> int | None:
    """The fill file's descriptor, locked, if this caller is the first; else None."""
    fd_name = final.with_name(f".claim-{final.name}-{os.getpid()}-{threading.get_ident()}")
    fd = os.open(fd_name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.link(fd_name, fill_path(final))
    except FileExistsError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    finally:
        fd_name.unlink(missing_ok=True)
    return fd


def release(fd: int, final: Path) -> None:
    """Give back a claim that turned out not to be needed: no fill is written."""
    fill_path(final).unlink(missing_ok=True)
    os.close(fd)


def produce(
    fd: int,
    final: Path,
    chunks: Iterable[bytes],
    count: Callable[[int], None],
    stop: threading.Event,
) -> None:
    """Write ``chunks`` (already checked by the reader of the master) into the fill file.

    On success the file is renamed to ``final``; on any failure it is
    removed. The lock goes with the descriptor, last, so a reader that can
    take it sees the file in its final state.
    """
    fill = fill_path(final)
    try:
        with os.fdopen(fd, "wb", closefd=False) as out:
            for chunk in chunks:
                if stop.is_set():
                    raise ImageError("spool", final.name, "the run's spool is closing")
                out.write(chunk)
                out.flush()
                count(len(chunk))
        os.replace(fill, final)
    except BaseException as error:
        LOG.warning("reading %s into the spool stopped: %s", final.name, error)
        fill.unlink(missing_ok=True)
    finally:
        close = getattr(chunks, "close", None)
        if callable(close):
            close()
        os.close(fd)


def start_producer(
    fd: int,
    final: Path,
    chunks: Iterable[bytes],
    count: Callable[[int], None],
    stop: threading.Event,
) -> threading.Thread:
    thread = threading.Thread(
        target=produce, args=(fd, final, chunks, count, stop), name="fanout", daemon=True
    )
    thread.start()
    return thread


def _producer_gone(stream: BinaryIO) -> bool:
    """Whether no one holds the fill file's lock any more."""
    try:
        fcntl.flock(stream.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(stream.fileno(), fcntl.LOCK_UN)
    return True


def follow(
    final: Path,
    image: Image,
    rest_from_master: Callable[[int], Iterator[bytes]],
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[bytes]:
    """The image's bytes from the (growing) fill file, or the finished spool copy.

    ``rest_from_master(offset)`` supplies the bytes from ``offset`` on when
    the producer stops short.
    """
    try:
        stream = fill_path(final).open("rb")
    except FileNotFoundError:
        try:
            stream = final.open("rb")
        except FileNotFoundError:  # the fill failed before this reader came
            yield from rest_from_master(0)
            return
    with stream:
        offset = 0
        while offset < image.size:
            data = stream.read(CHUNK)
            if data:
                offset += len(data)
                yield data
                continue
            if not _producer_gone(stream):
                sleep(POLL_SECONDS)
                continue
            data = stream.read(CHUNK)  # what it wrote before letting go
            if data:
                offset += len(data)
                yield data
                continue
            LOG.warning(
                "the spool copy of %s stopped at byte %d of %d; reading on from the master",
                image.name,
                offset,
                image.size,
            )
            yield from rest_from_master(offset)
            return
        # Past the last byte, wait for the producer to let go too: the upload
        # then ends once the spool copy is settled (renamed into place, or
        # removed when the master's bytes did not verify), never before.
        while not _producer_gone(stream):
            sleep(POLL_SECONDS)
