"""Local conversion: the master's bytes into another disk format with ``qemu-img``.

Used when a region wants another format than the master's and does not
convert on import itself (doc/manual.rst, "Regions that store differently").
The image never sits in memory: the master's bytes go to a temporary file
(hashed on the way and checked against the master's hashes), ``qemu-img
convert`` writes the converted file beside it, and that file is streamed to
the region, hashed again, so the region's checksum can be checked against
the bytes really sent. Both files are removed whatever happens.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from glancesync.engine.storage import Conversion
from glancesync.model.errors import ImageError
from glancesync.model.image import Image
from glancesync.model.region import RegionRef
from glancesync.model.storage import virtual_size
from glancesync.transfer.copy import HashingStream
from glancesync.transfer.source import CHUNK, MasterSource

#: qemu-img may take this long, plus one second per 50 MB of the raw image.
CONVERT_SECONDS = 60.0
CONVERT_BYTES_PER_SECOND = 50e6
#: Room left free on the file system beyond both files.
SPARE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Converted:
    """A converted image file (hashed when it is sent, not before)."""

    path: Path
    size: int


def qemu_img() -> str:
    found = shutil.which("qemu-img")
    if found is None:
        raise FileNotFoundError("qemu-img not found (Debian: apt-get install qemu-utils)")
    return found


@contextlib.contextmanager
def converted_file(
    source: MasterSource,
    master: Image,
    conversion: Conversion,
    region: RegionRef,
    workdir: str | None = None,
) -> Iterator[Converted]:
    """The master's image converted to ``conversion.target``, in a temporary directory."""

    def fail(why: str) -> ImageError:
        return ImageError(region.full, master.name, f"local conversion: {why}")

    try:
        tool = qemu_img()
    except FileNotFoundError as error:
        raise fail(str(error)) from None
    spool = source.spool
    base = workdir or (str(spool.directory) if spool is not None else tempfile.gettempdir())
    needed = master.size + virtual_size(master) + SPARE_BYTES
    free = shutil.disk_usage(base).free
    if free < needed:
        raise fail(f"{needed / 1e6:.1f} MB needed in {base}, {free / 1e6:.1f} MB free")
    directory = Path(tempfile.mkdtemp(prefix="glancesync-convert-", dir=base))
    try:
        original, result = directory / "source", directory / f"image.{conversion.target}"
        _fetch(source, master, original, fail)
        timeout = CONVERT_SECONDS + virtual_size(master) / CONVERT_BYTES_PER_SECOND
        command = [tool, "convert", "-q", "-f", conversion.source, "-O", conversion.target]
        try:
            done = subprocess.run(
                [*command, str(original), str(result)],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise fail(f"qemu-img took more than {timeout:.0f} s") from None
        if done.returncode != 0:
            raise fail(f"qemu-img failed: {(done.stderr or done.stdout).strip()[:300]}")
        original.unlink()
        yield Converted(result, result.stat().st_size)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _fetch(
    source: MasterSource, master: Image, path: Path, fail: Callable[[str], ImageError]
) -> None:
    """The master's bytes into *path*, checked against its hashes."""
    stream = HashingStream(source.chunks(master), master.os_hash_algo)
    try:
        with path.open("wb") as out:
            for chunk in stream:
                out.write(chunk)
        ok = (
            stream.size == master.size
            and (not master.checksum or stream.md5.hexdigest() == master.checksum)
            and (stream.os_hash is None or stream.os_hash.hexdigest() == master.os_hash_value)
        )
    finally:
        stream.close()
    if not ok:
        raise fail("the bytes read from the master do not match its hashes")


def file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            yield chunk
