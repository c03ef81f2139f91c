"""Turning client-library exceptions into glancesync's own errors.

keystoneauth1, glanceclient and requests each fail in their own way. This
module maps them to :class:`RegionError` (the region as a whole: auth,
unreachable, 5xx) or :class:`ImageError` (one image), marks what is worth
retrying, and keeps every message on one line with secrets masked. It is
part of the facade: only :mod:`glancesync.cloud.glance` uses it.
"""

from __future__ import annotations

import math
import re
from types import TracebackType

import requests
from glanceclient import exc as glance_exc
from keystoneauth1 import exceptions as ksa_exc

from glancesync.cloud.answers import AnswerError, decode_json
from glancesync.cloud.stream import SourceStreamError, TransferStreamError
from glancesync.model.errors import GlanceSyncError, ImageError, RegionError
from glancesync.model.text import one_line

_TAG_RE = re.compile(r"<[^>]*>")


def response_detail(resp: requests.Response) -> str:
    """The useful part of an error answer from Glance (JSON, HTML or text)."""
    try:
        body = decode_json(resp.content) if resp.content else None
    except AnswerError:
        body = None
    messages: list[str] = []
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and value.get("message"):
                messages.append(str(value["message"]))
        if not messages and body.get("message"):
            messages.append(str(body["message"]))
    if messages:
        return "; ".join(messages)
    text = _TAG_RE.sub(" ", resp.text or "")
    # webob answers "404 Not Found\n\nThe resource could not be found.\n\n detail"
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line and line not in lines and not re.fullmatch(rf"{resp.status_code}\b.*", line):
            lines.append(line)
    return ": ".join(lines) or (resp.reason or "")


_CONNECT_URL_RE = re.compile(r"(?:connection to|communicating with|address for) (\S+?):? ")
_ERRNO_RE = re.compile(r"\[Errno -?\d+\] ([^\"')(]+)")


#: The longest wait a server may ask for with Retry-After; a longer one is
#: capped to this (a server cannot make a run sleep for years holding the lock).
MAX_RETRY_AFTER = 60.0


def retry_after(resp: requests.Response) -> float | None:
    """The server's Retry-After in seconds, at most MAX_RETRY_AFTER.

    The HTTP-date form, a negative, non-finite or malformed value are
    ignored (as if there were no header).
    """
    value = resp.headers.get("Retry-After", "").strip()
    if not value or len(value) > 20:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


def connection_message(text: str) -> str:
    """ "cannot connect to URL: Connection refused" out of urllib3's long story."""
    url = _CONNECT_URL_RE.search(text)
    cause = _ERRNO_RE.search(text)
    if "timed out" in text.lower() and not cause:
        reason = "timed out"
    elif cause:
        reason = cause.group(1).strip()
    else:
        return text
    where = f" to {url.group(1)}" if url else ""
    return f"cannot connect{where}: {reason}"


class Translate:
    """Context manager turning client exceptions into glancesync errors."""

    def __init__(
        self,
        where: str,
        image: str | None,
        secrets: tuple[str, ...],
        data: bool = False,
    ):
        self.where = where
        self.image = image
        self.secrets = secrets
        self.data = data

    def __enter__(self) -> Translate:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or not isinstance(exc, Exception):
            return
        if isinstance(exc, (GlanceSyncError, StopIteration)):
            return
        error = self.translate(exc)
        if error is not None:
            raise error from exc

    def _msg(self, text: str) -> str:
        return one_line(text, secrets=self.secrets)

    def region_error(
        self, text: str, transient: bool = False, retry_after: float | None = None
    ) -> RegionError:
        return RegionError(
            self.where, self._msg(text), transient=transient, retry_after=retry_after
        )

    def status_error(
        self, code: int | None, detail: str, retry_after: float | None = None
    ) -> GlanceSyncError:
        """The error for an HTTP status of a Glance answer.

        5xx and 429 are transient: the caller may try again, after
        ``retry_after`` seconds if the server said so.
        """
        label = f"HTTP {code}" if code else "HTTP error"
        transient = code is not None and (code >= 500 or code == 429)
        if code == 401:
            return self.region_error(f"Glance rejected the credentials ({label}): {detail}")
        if code is not None and code >= 500:
            return self.region_error(f"Glance failed ({label}): {detail}", True, retry_after)
        if self.image is None:
            return self.region_error(f"{label}: {detail}", transient, retry_after)
        return ImageError(
            self.where,
            self.image,
            self._msg(f"{label}: {detail}"),
            transient=transient,
            retry_after=retry_after,
        )

    def translate(self, exc: Exception) -> GlanceSyncError | None:
        text = str(exc) or type(exc).__name__
        # -- answers we will not use (glancesync.cloud.answers) --------------
        if isinstance(exc, AnswerError):
            return self.region_error(f"unusable answer: {text}")
        if isinstance(exc, (RecursionError, OverflowError)):
            return self.region_error(f"malformed answer ({type(exc).__name__})")
        # -- authentication (Keystone) ---------------------------------------
        if isinstance(exc, (ksa_exc.Unauthorized, ksa_exc.AuthorizationFailure)):
            return self.region_error(f"authentication failed: {text}")
        if isinstance(exc, ksa_exc.HttpError):
            # Data calls use raise_exc=False, so a raised HttpError comes
            # from Keystone while authenticating.
            return self.region_error(f"Keystone answered HTTP {exc.http_status}: {text}")
        if isinstance(exc, ksa_exc.EndpointNotFound):
            return self.region_error(f"no image endpoint: {text}")
        if isinstance(exc, ksa_exc.ConnectTimeout):
            return self.region_error(f"timed out: {connection_message(text)}", True)
        if isinstance(exc, ksa_exc.ConnectFailure):
            return self.region_error(connection_message(text), True)
        if isinstance(exc, ksa_exc.DiscoveryFailure):
            return self.region_error(connection_message(text))
        if isinstance(exc, ksa_exc.ClientException):
            # SSLError, EmptyCatalog, other keystoneauth failures
            return self.region_error(f"{type(exc).__name__}: {text}")
        # -- glanceclient ----------------------------------------------------
        if isinstance(exc, glance_exc.HTTPException):
            code = exc.code if isinstance(exc.code, int) else None
            detail = getattr(exc, "details", None) or text
            return self.status_error(code, self._msg(str(detail)))
        if isinstance(exc, glance_exc.CommunicationError):
            return self.region_error(f"Glance: {connection_message(text)}", True)
        if isinstance(exc, glance_exc.InvalidEndpoint):
            return self.region_error(f"Glance: {connection_message(text)}")
        if isinstance(exc, glance_exc.BaseException):
            return self.region_error(text)
        # -- the data stream -------------------------------------------------
        if isinstance(exc, TransferStreamError):
            cause = exc.__cause__
            if isinstance(exc, SourceStreamError) and isinstance(cause, GlanceSyncError):
                text = f"source stream failed: {cause}"
            return ImageError(
                self.where,
                self.image or "?",
                self._msg(text),
                transient=isinstance(exc, SourceStreamError),
            )
        if self.data and isinstance(exc, (requests.RequestException, OSError)):
            # broken download, or glanceclient's "Corrupt image download"
            return ImageError(
                self.where,
                self.image or "?",
                self._msg(f"data transfer failed: {text}"),
                transient=True,
            )
        return None
