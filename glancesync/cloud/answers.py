"""Limits on what a server may send back, applied where the answer enters.

Keystone and Glance are not trusted (doc/reliability.rst, "Hostile
servers"). Before an answer is parsed anywhere:

* its body is read up to :data:`MAX_ANSWER_BYTES` (a hook on the session's
  ``requests`` session, so keystoneauth's own token and catalog requests are
  bounded too; streamed image data is left alone);
* a redirect to another scheme, host or port loses its ``Location``, so the
  token is never sent to a host the catalog did not name;
* JSON is decoded without ``NaN``/``Infinity`` and with nesting that cannot
  exhaust the stack turned into a plain error;
* a listing's ``next`` link must stay on the region's own endpoint.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

#: Largest body of one answer that is not image data.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
_READ = 64 * 1024
_REDIRECTS = (301, 302, 303, 305, 307, 308)


class AnswerError(Exception):
    """An answer glancesync will not use (too large, not JSON, bad link)."""


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of ``url`` (the default port made explicit)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise AnswerError(f"not a valid URL: {url[:80]!r}") from None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def bound_answer(resp: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """A ``requests`` response hook: read at most MAX_ANSWER_BYTES, drop foreign redirects."""
    location = resp.headers.get("Location")
    if resp.status_code in _REDIRECTS and location and resp.request.url:
        target = urljoin(resp.request.url, location)
        if origin(target) != origin(resp.request.url):
            del resp.headers["Location"]
    if kwargs.get("stream"):
        return resp  # image data: the caller reads it chunk by chunk
    body = bytearray()
    for chunk in resp.iter_content(_READ):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            resp.close()
            raise AnswerError(
                f"answer of {resp.request.method} {resp.url} is larger than "
                f"{MAX_ANSWER_BYTES // (1024 * 1024)} MiB"
            )
    resp._content = bytes(body)
    return resp


def install(session: requests.Session) -> None:
    """Bound every answer of ``session`` (idempotent)."""
    hooks = session.hooks.setdefault("response", [])
    if bound_answer not in hooks:
        hooks.append(bound_answer)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def decode_json(content: bytes) -> Any:
    """The JSON of an answer; AnswerError if it is not JSON we can hold."""
    try:
        return json.loads(content, parse_constant=_no_constant)
    except RecursionError:
        raise AnswerError("answer is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise AnswerError(f"answer is not JSON ({str(error)[:80]})") from None


def next_link(link: Any, endpoint: str, path: str) -> str:
    """The URL to follow for a listing's ``next`` link, or AnswerError.

    Accepted: a path (Glance's usual ``/v2/images?marker=...``) or an
    absolute URL with the endpoint's own scheme, host and port; either must
    name ``path`` (the listing itself).
    """
    if not isinstance(link, str):
        raise AnswerError(f"'next' is a {type(link).__name__}, not a link")
    parts = urlsplit(link)
    if parts.scheme or parts.netloc:
        if origin(link) != origin(endpoint):
            raise AnswerError(f"'next' leads to another server: {link[:80]!r}")
        base = urlsplit(endpoint).path.rstrip("/")
        if not parts.path.startswith(base):
            raise AnswerError(f"'next' leaves the endpoint: {link[:80]!r}")
        wanted = base + path
    else:
        wanted = path
    if parts.path.rstrip("/") != wanted:
        raise AnswerError(f"'next' is not an image listing: {link[:80]!r}")
    return link
