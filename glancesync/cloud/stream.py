"""A file-like view of an iterator of byte chunks, for streamed uploads.

glanceclient's ``images.upload`` wants an object with ``read()``; a transfer
from one region to another only has an iterator of chunks (the download).
:class:`IterableReader` joins the two without a temporary file and without
ever holding more than one source chunk in memory.

Errors are kept apart on purpose: anything the *source* iterator raises is
wrapped in :class:`SourceStreamError`, and a stream whose length differs from
the announced size raises :class:`StreamSizeError`. Neither derives from
``OSError``, so the HTTP stack under the upload (urllib3, requests) does not
mistake them for a broken connection to the *target* and lets them through
unchanged.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator
from typing import Any

#: The largest piece handed out by one ``read()``. Uploads go out with
#: chunked transfer encoding, one HTTP chunk per ``read()``; uWSGI, which
#: often fronts Glance, refuses chunks of about 1 MiB and more unless it is
#: configured otherwise, so stay well below that.
DEFAULT_MAX_READ = 64 * 1024


class TransferStreamError(Exception):
    """The data stream itself failed (not the connection to the target)."""


class SourceStreamError(TransferStreamError):
    """The iterator supplying the data raised; ``__cause__`` is the original."""


class StreamSizeError(TransferStreamError):
    """The stream ended with a different number of bytes than announced."""

    def __init__(self, expected: int, got: int, *, more: bool = False) -> None:
        self.expected = expected
        self.got = got
        what = "more than" if more else "only"
        super().__init__(f"data stream gave {what} {got} bytes, {expected} expected")


class IterableReader(io.RawIOBase):
    """Read an iterator of ``bytes`` chunks as an unseekable binary file.

    ``expected_size``, when given, is checked: one byte too many fails at
    once, too few fails when the source runs dry, so a short stream can
    never be stored as a complete image.
    """

    def __init__(
        self,
        chunks: Iterable[bytes],
        expected_size: int | None = None,
        *,
        max_read: int = DEFAULT_MAX_READ,
    ) -> None:
        super().__init__()
        if max_read <= 0:
            raise ValueError("max_read must be positive")
        self._source: Iterable[bytes] = chunks
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = memoryview(b"")
        self._expected = expected_size
        self._max_read = max_read
        self._bytes_read = 0
        self._exhausted = False

    @property
    def bytes_read(self) -> int:
        """How many bytes have been handed out so far."""
        return self._bytes_read

    def readable(self) -> bool:
        return True

    def _fill(self) -> bool:
        """Load the next non-empty chunk; False once the source is exhausted."""
        while not len(self._pending):
            if self._exhausted:
                return False
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._exhausted = True
                if self._expected is not None and self._bytes_read != self._expected:
                    raise StreamSizeError(self._expected, self._bytes_read) from None
                return False
            except Exception as exc:
                raise SourceStreamError(f"source stream failed: {exc}") from exc
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise SourceStreamError(
                    f"source stream gave {type(chunk).__name__}, bytes expected"
                )
            self._pending = memoryview(chunk).cast("B")
        return True

    def _take(self, limit: int) -> memoryview:
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if limit == 0 or not self._fill():
            return memoryview(b"")
        n = min(limit, len(self._pending), self._max_read)
        piece = self._pending[:n]
        self._pending = self._pending[n:]
        self._bytes_read += n
        if self._expected is not None and self._bytes_read > self._expected:
            raise StreamSizeError(self._expected, self._bytes_read, more=True)
        return piece

    def read(self, size: int | None = -1) -> bytes:
        """At most ``size`` bytes (and at most one chunk's worth); b"" at the end."""
        if size is None or size < 0:
            return self.readall()
        return bytes(self._take(size))

    def readall(self) -> bytes:
        parts = []
        while piece := self._take(self._max_read):
            parts.append(bytes(piece))
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        piece = self._take(len(view))
        view[: len(piece)] = piece
        return len(piece)

    def close(self) -> None:
        """Close, and close the source too when it can be (a generator, a response)."""
        if not self.closed:
            self._pending = memoryview(b"")
            closer = getattr(self._source, "close", None)
            if callable(closer):
                # closing must not hide the error that made us close
                with contextlib.suppress(Exception):
                    closer()
        super().close()
