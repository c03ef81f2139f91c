"""Secrets masked in the client libraries' own log records, at every verbosity.

keystoneauth, urllib3, requests and glanceclient log URLs, headers and
answers themselves (warnings by default, everything with ``-vv``); an
``auth_url`` with a password in it, or a server echoing a secret, would
reach the terminal and the ``--parallel`` log files through them. A filter
on each of their loggers rewrites every record with
:func:`glancesync.model.text.mask`, with the secrets of every target made
so far.

A logger's filters only see records logged on that very logger, not on its
children, so the filter goes on every logger of those libraries that exists
when a facade is made (they create theirs at import), plus the ones
keystoneauth makes on first use.
"""

from __future__ import annotations

import logging
import threading

from glancesync.model.text import mask

LIBRARIES = ("keystoneauth", "keystoneauth1", "urllib3", "requests", "glanceclient", "openstack")
#: Loggers keystoneauth only creates when it first logs a request.
LAZY = tuple(
    f"keystoneauth.session.{part}" for part in ("request", "response", "body", "request-id")
)


class SecretFilter(logging.Filter):
    """Rewrites a record's message with its secrets masked; never drops a record."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()

    def add(self, secrets: tuple[str, ...]) -> None:
        with self._lock:
            self._secrets = self._secrets | {s for s in secrets if s}

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format string: keep its raw text
            message = str(record.msg)
        record.msg, record.args = mask(message, self._secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text, self._secrets)
        return True


FILTER = SecretFilter()


def install(secrets: tuple[str, ...] = ()) -> None:
    """Put :data:`FILTER` on every library logger (idempotent) and learn ``secrets``."""
    FILTER.add(secrets)
    names = [
        name for name in list(logging.root.manager.loggerDict) if name.split(".", 1)[0] in LIBRARIES
    ]
    for name in (*LIBRARIES, *LAZY, *names):
        logger = logging.getLogger(name)
        if FILTER not in logger.filters:
            logger.addFilter(FILTER)
