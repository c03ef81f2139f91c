"""The connections of the real facade: one session per target, clients per region.

Per target there is one keystoneauth session (created on first use, then
cached); per region there are two thin clients sharing it:

* a keystoneauth :class:`~keystoneauth1.adapter.Adapter` for the calls whose
  status code we want exactly (list, get, the JSON patch of metadata
  updates, delete, deactivate, imports, ``create`` with retries off). They
  all go through :meth:`Connections._request`, the one request path: it
  retries 429/502/503/504 itself with a bounded wait (keystoneauth would
  sleep any Retry-After), follows no redirect, and decodes JSON within the
  bounds of :mod:`glancesync.cloud.answers`;
* a glanceclient v2 client without retries, for the streamed
  ``images.upload`` (a consumed stream can't be sent again; apply decides).

Every failure leaves as :class:`~glancesync.model.errors.RegionError` or
:class:`~glancesync.model.errors.ImageError` with a one-line message from
which passwords, secrets and tokens are removed.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import glanceclient
from keystoneauth1 import adapter as ksa_adapter

from glancesync.cloud import answers, logmask
from glancesync.cloud.answers import AnswerError, decode_json
from glancesync.cloud.errors import MAX_RETRY_AFTER, Translate, response_detail, retry_after
from glancesync.cloud.session import USER_AGENT, Target, make_target
from glancesync.config.settings import Settings, TargetSettings
from glancesync.model.errors import RegionError
from glancesync.model.image import Image, MalformedImage, image_from_glance
from glancesync.model.region import RegionRef

LOG = logging.getLogger(__name__)

#: Images per page when listing (Glance's own maximum is usually 1000).
DEFAULT_PAGE_SIZE = 200
#: Socket timeout of every request, in seconds (connect, and each read).
DEFAULT_REQUEST_TIMEOUT = 120.0
#: Retries of idempotent calls (connection failures and retriable statuses).
DEFAULT_RETRIES = 3
RETRIABLE_STATUS_CODES = (429, 502, 503, 504)
#: First wait before retrying a retriable status without Retry-After; doubles.
RETRY_DELAY = 0.5


def image_of(doc: Any, region: RegionRef) -> Image:
    """An image from a Glance answer; a malformed answer is the region's fault."""
    try:
        return image_from_glance(doc, region=region.full)
    except MalformedImage as error:
        raise RegionError(region.full, f"unexpected answer from Glance: {error}") from None


@dataclass
class _RegionClients:
    api: ksa_adapter.Adapter
    glance: Any  # glanceclient.v2.client.Client


class Connections:
    """Sessions, clients and the one request path of the real facade."""

    def __init__(
        self,
        settings: Settings,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        if page_size <= 0:
            raise ValueError("page_size must be positive")
        self.settings = settings
        self.page_size = page_size
        self.request_timeout = request_timeout
        self.retries = retries
        self._lock = threading.RLock()
        self._targets: dict[str, Target] = {}
        self._regions: dict[tuple[str, str], _RegionClients] = {}

    # -- sessions and clients ----------------------------------------------

    def _target_settings(self, target: str) -> TargetSettings:
        try:
            return self.settings.targets[target]
        except KeyError:
            raise RegionError(target, f"unknown target {target!r}") from None

    def _target(self, target: str) -> Target:
        with self._lock:
            cached = self._targets.get(target)
            if cached is not None:
                return cached
            creds = self._target_settings(target).credentials
            secrets = tuple(s for s in (creds.password, creds.application_credential_secret) if s)
            with Translate(target, None, secrets):
                made = make_target(target, creds, secrets, self.request_timeout, self.retries)
            answers.install(made.session.session)
            logmask.install(made.secrets)
            self._targets[target] = made
            return made

    def _clients(self, region: RegionRef) -> _RegionClients:
        key = (region.target, region.name)
        with self._lock:
            cached = self._regions.get(key)
            if cached is None:
                target = self._target(region.target)
                api = ksa_adapter.Adapter(
                    target.session,
                    service_type="image",
                    interface=target.interface,
                    region_name=region.name,
                    user_agent=USER_AGENT,
                    connect_retries=self.retries,
                    # statuses are retried by _request, which bounds the
                    # server's Retry-After (keystoneauth sleeps any value)
                    status_code_retries=0,
                )
                glance = glanceclient.Client(
                    "2",
                    session=target.session,
                    region_name=region.name,
                    interface=target.interface,
                    # never resend: an upload's stream is consumed by the first try
                    connect_retries=0,
                    status_code_retries=0,
                )
                cached = _RegionClients(api=api, glance=glance)
                self._regions[key] = cached
            return cached

    def _secrets(self, target: str) -> tuple[str, ...]:
        """The target's secrets, and its token once it has one (a server may echo it)."""
        made = self._targets.get(target)
        if made is None:
            return ()
        token = getattr(getattr(made.session.auth, "auth_ref", None), "auth_token", None)
        if not isinstance(token, str) or not token:
            return made.secrets
        logmask.FILTER.add((token,))
        return (*made.secrets, token)

    def _translate(
        self, region: RegionRef, image: str | None = None, data: bool = False
    ) -> Translate:
        return Translate(region.full, image, self._secrets(region.target), data)

    def _request(
        self,
        region: RegionRef,
        method: str,
        url: str,
        *,
        image: str | None = None,
        retry: bool = True,
        deadline: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """One call through the adapter; the decoded JSON body or None.

        A retriable status is tried again up to ``retries`` times (unless
        ``retry`` is false), waiting the server's Retry-After (bounded by
        MAX_RETRY_AFTER and by ``deadline``, a ``time.monotonic()`` value)
        or else 0.5 s, 1 s, 2 s... Redirects are not followed.
        """
        with self._translate(region, image) as tr:
            clients = self._clients(region)
            tr.secrets = self._secrets(region.target)
            for attempt in range(self.retries + 1 if retry else 1):
                resp = clients.api.request(url, method, raise_exc=False, redirect=False, **kwargs)
                if resp.status_code not in RETRIABLE_STATUS_CODES or attempt == self.retries:
                    break
                wait = retry_after(resp)
                if wait is None:
                    wait = min(RETRY_DELAY * 2**attempt, MAX_RETRY_AFTER)
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait < 0:
                        break
                LOG.warning(
                    "[%s] %s %s: HTTP %d, retrying in %.1f s",
                    region.full,
                    method,
                    url.split("?")[0],
                    resp.status_code,
                    wait,
                )
                time.sleep(wait)
            tr.secrets = self._secrets(region.target)  # the token exists by now
            if resp.status_code >= 400:
                raise tr.status_error(
                    resp.status_code, tr._msg(response_detail(resp)), retry_after(resp)
                )
            if resp.status_code >= 300:
                raise tr.region_error(
                    f"{method} {url}: unexpected redirect (HTTP {resp.status_code})"
                )
            if not resp.content:
                return None
            try:
                return decode_json(resp.content)
            except AnswerError as exc:
                raise tr.region_error(f"{method} {url}: {exc}") from None

    def _document(self, region: RegionRef, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """A call whose answer must be one JSON object."""
        body = self._request(region, method, url, **kwargs)
        if not isinstance(body, dict):
            raise RegionError(region.full, f"{method} {url}: the answer is not a JSON object")
        return body

    # -- targets -----------------------------------------------------------

    def regions(self, target: str) -> list[str]:
        """Names of the regions with an ``image`` endpoint on our interface."""
        tgt = self._target(target)
        with Translate(target, None, tgt.secrets):
            auth: Any = tgt.session.auth
            if auth is None or not hasattr(auth, "get_access"):
                raise RegionError(target, "the session has no authentication")
            try:
                access = auth.get_access(tgt.session)
                data = access.service_catalog.get_endpoints_data(
                    service_type="image", interface=tgt.interface
                )
                names = {ep.region_name for eps in data.values() for ep in eps if ep.region_name}
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                # keystoneauth reads the catalog as it comes
                raise RegionError(target, f"malformed catalog ({type(exc).__name__})") from None
        if not all(isinstance(name, str) for name in names):
            raise RegionError(target, "malformed catalog: a region name is not a string")
        return sorted(names)

    def project_id(self, target: str) -> str:
        tgt = self._target(target)
        with Translate(target, None, tgt.secrets):
            project = tgt.session.get_project_id()
        if not project:
            raise RegionError(target, "the credentials are not scoped to a project")
        return str(project)

    def get_image(self, region: RegionRef, image_id: str) -> Image:
        doc = self._request(region, "GET", f"/v2/images/{image_id}", image=image_id)
        return image_of(doc, region)

    def close(self) -> None:
        """Forget sessions and clients (their connections are closed with them)."""
        with self._lock:
            self._regions.clear()
            self._targets.clear()
