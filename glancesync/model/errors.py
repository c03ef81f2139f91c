"""Exception types of glancesync.

Each error carries what it is about (file, section and key; or region and
image) so the CLI can print one line an operator can act on, and so the
apply step knows whether to skip an image or give up on a whole region.
"""

from __future__ import annotations


class GlanceSyncError(Exception):
    """Base of every error glancesync raises on purpose.

    ``detail`` is the message without the prefix that says where (file,
    section and key; or region and image), for callers that print the
    place themselves.
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        self.detail = message if detail is None else detail
        super().__init__(message)


class ConfigError(GlanceSyncError):
    """A configuration problem, found at load time (exit code 2)."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        section: str | None = None,
        key: str | None = None,
    ) -> None:
        self.path = path
        self.section = section
        self.key = key
        where = []
        if path:
            where.append(path)
        if section:
            where.append(f"[{section}]")
        if key:
            where.append(key)
        prefix = " ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message, message)


class UsageError(GlanceSyncError):
    """A command-line problem: bad option or unknown region (exit code 2)."""


class ServerError(GlanceSyncError):
    """A failure reported by (or on the way to) a server.

    ``transient`` marks what may pass if tried again (connection errors,
    5xx, 429); ``retry_after`` is the server's own hint, in seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        detail: str | None = None,
        transient: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.transient = transient
        self.retry_after = retry_after
        super().__init__(message, detail)


class RegionError(ServerError):
    """A failure that stops work on one region (auth, unreachable, 5xx...).

    The other regions go on; the run exits with code 1.
    """

    def __init__(
        self,
        region: str,
        message: str,
        *,
        transient: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.region = region
        super().__init__(
            f"region {region}: {message}",
            detail=message,
            transient=transient,
            retry_after=retry_after,
        )


class ImageError(ServerError):
    """A failure tied to one image in one region: skip it and go on."""

    def __init__(
        self,
        region: str,
        image: str,
        message: str,
        *,
        transient: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.region = region
        self.image = image
        super().__init__(
            f"region {region}, image {image}: {message}",
            detail=message,
            transient=transient,
            retry_after=retry_after,
        )


class ImportFailed(ImageError):
    """An import the region ended in failure, or that did not finish in time."""


class IdUnavailable(ImageError):
    """A region refused the id asked for a new image (taken, or used before)."""
