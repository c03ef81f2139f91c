"""Whole-step retries of apply: an upload (or a cleanup delete) tried again on a transient failure.

Calls that are safe to repeat are retried inside the cloud room, one request
at a time; an upload consumes its stream, so it is retried here as a whole,
after its failed record has been deleted (doc/design.rst, "One retry layer").
"""

from __future__ import annotations

import logging

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from glancesync.model.errors import ServerError
from glancesync.model.region import RegionRef

LOG = logging.getLogger(__name__)

#: An upload is tried this many times when it fails for a transient reason
#: (connection error, 5xx, 429), waiting 1 s, then 2 s... between attempts.
UPLOAD_ATTEMPTS = 3
BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0


def is_transient(error: BaseException) -> bool:
    return isinstance(error, ServerError) and error.transient


def backoff(state: RetryCallState) -> float:
    """Exponential backoff, but never sooner than the server's Retry-After."""
    backoff = wait_exponential(multiplier=BACKOFF_SECONDS, max=MAX_BACKOFF_SECONDS)(state)
    error = state.outcome.exception() if state.outcome else None
    hint = error.retry_after if isinstance(error, ServerError) and error.retry_after else 0.0
    return max(backoff, min(hint, MAX_BACKOFF_SECONDS))


def retrying(region: RegionRef, image: str, what: str = "upload") -> Retrying:
    """Try a whole upload again on transient failures; the failed record is gone by then."""

    def log(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        LOG.warning(
            "[%s] %s of %s failed (attempt %d of %d), retrying: %s",
            region.full,
            what,
            image,
            state.attempt_number,
            UPLOAD_ATTEMPTS,
            getattr(error, "detail", error),
        )

    return Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(UPLOAD_ATTEMPTS),
        wait=backoff,
        before_sleep=log,
        reraise=True,
    )
