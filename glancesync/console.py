"""What the command writes on stderr: levels, and the HTTP libraries kept short.

keystoneauth logs one long WARNING per retry of a connection or of a
retriable status (``Failure: ... Retrying in 0.5s. 3 retries left``). For
an operator, and for the mail cron sends, one line per endpoint and series
of attempts says the same; ``-v`` shows every attempt as the library wrote
it. ``--quiet`` lets through only glancesync's own warnings and errors: a
retry that ends in failure is reported by glancesync as a region error
anyway (doc/operations.rst, Logs).
"""

from __future__ import annotations

import logging
import re
import sys

from glancesync.model.text import PrintableFormatter

#: Loggers of the client libraries; their debug log is opt-in with ``-vv``.
LIBRARY_LOGGERS = ("keystoneauth", "glanceclient", "urllib3", "stevedore", "openstack")

_RETRY = re.compile(
    r"^(?:Failure: (?P<failure>.*)|Retriable status code (?P<code>\d+))\. "
    r"Retrying in [\d.]+s\. (?P<left>\d+) retries left$",
    re.DOTALL,
)
_URL = re.compile(r"https?://[^/\s:'\"]+(?::\d+)?")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')(]+)")


class RetrySummary(logging.Filter):
    """Turn each series of library retry warnings into one short line.

    A series is keyed by endpoint (scheme, host and port), or by status
    code when the library does not say where; a count of retries left that
    does not go down starts a new series.
    """

    def __init__(self) -> None:
        super().__init__()
        self._left: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("keystoneauth"):
            return True
        match = _RETRY.match(record.getMessage())
        if match is None:
            return True
        left = int(match.group("left"))
        if match.group("code"):
            key = f"HTTP {match.group('code')}"
            reason = f"a server answered HTTP {match.group('code')}"
        else:
            failure = match.group("failure")
            url = _URL.search(failure)
            key = url.group(0) if url else failure[:80]
            cause = _ERRNO.search(failure)
            detail = cause.group(1).strip() if cause else "connection failed"
            reason = f"cannot connect to {key}: {detail}"
        previous = self._left.get(key)
        self._left[key] = left
        if previous is not None and left < previous:
            return False  # the same series: already said
        record.name = "glancesync"
        record.msg = "%s; retrying up to %d times (-v shows each attempt)"
        record.args = (reason, left)
        return True


class OwnRecordsOnly(logging.Filter):
    """``--quiet``: nothing from the client libraries, only glancesync's own lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == "glancesync" or record.name.startswith("glancesync.")


def setup_logging(verbose: int, quiet: bool) -> None:
    """One handler on stderr for the whole process, at the level the options ask."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(message)s"))
    if quiet:
        handler.addFilter(OwnRecordsOnly())
    elif not verbose:
        handler.addFilter(RetrySummary())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    noisy = logging.DEBUG if verbose > 1 else logging.WARNING
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(noisy)
