"""The facade over real servers: Keystone v3 (keystoneauth1) and Glance v2.

This module (with :mod:`glancesync.cloud.errors`, which maps client
exceptions to ours) is the only place in glancesync that imports
keystoneauth1, glanceclient or openstacksdk. Nothing imports it at package
import time, so the CLI starts without loading them.

Per target there is one keystoneauth session (created on first use, then
cached); per region there are two thin clients sharing it:

* a keystoneauth :class:`~keystoneauth1.adapter.Adapter` with retries
  (connection errors, 429/502/503/504) for the calls that are safe to repeat
  and whose status code we want exactly: list, get, the JSON patch of
  metadata updates (built here: glanceclient's own diff can emit ``move``,
  which Glance rejects), delete, deactivate, imports; ``create`` goes
  through it too, with retries switched off;
* a glanceclient v2 client without retries, for what glanceclient does better
  than a plain request: the checksum-verified download of ``images.data``
  and the streamed ``images.upload``.
  Uploads are never retried here (a consumed stream can't be sent again);
  the apply layer decides.

Every failure leaves as :class:`~glancesync.errors.RegionError` or
:class:`~glancesync.errors.ImageError` with a one-line message from which
passwords and secrets are removed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import glanceclient
from keystoneauth1 import adapter as ksa_adapter

from glancesync.cloud import answers, logmask
from glancesync.cloud.answers import AnswerError, decode_json, next_link
from glancesync.cloud.errors import (
    MAX_RETRY_AFTER,
    Translate,
    response_detail,
    retry_after,
)
from glancesync.cloud.imports import read_offer, run_import
from glancesync.cloud.session import USER_AGENT, Target, make_target
from glancesync.cloud.stream import IterableReader
from glancesync.config.settings import Settings, TargetSettings
from glancesync.model.changes import MetadataChange, NewImage
from glancesync.model.errors import IdUnavailable, ImageError, RegionError
from glancesync.model.image import (
    Image,
    MalformedImage,
    image_from_glance,
    is_managed_property,
    usable_hash,
)
from glancesync.model.provenance import PROJECT_ID
from glancesync.model.region import RegionRef
from glancesync.model.storage import RegionOffer

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
#: A listing stops with a region error past this many images, or this many
#: pages (both listings together: enough for pages of 20 images, the
#: smallest a Glance is usually set to give). See doc/reliability.rst.
MAX_IMAGES = 20_000
MAX_PAGES = 1000
#: How often a glance-download import is checked on.
IMPORT_POLL_SECONDS = 1.0


def _image(doc: Any, region: RegionRef) -> Image:
    """An image from a Glance answer; a malformed answer is the region's fault."""
    try:
        return image_from_glance(doc, region=region.full)
    except MalformedImage as error:
        raise RegionError(region.full, f"unexpected answer from Glance: {error}") from None


_CONTENT_RANGE = re.compile(r"bytes (\d{1,20})-(\d{1,20})/(\d{1,20}|\*)")
#: Bytes per read of a resumed download's body.
RANGE_CHUNK = 1 << 16


def _range_problem(status: int, header: str | None, offset: int) -> str | None:
    """What is wrong with a Range answer starting at ``offset``; None if nothing."""
    if status != 206:
        return f"Glance answered HTTP {status}, not 206 Partial Content"
    found = _CONTENT_RANGE.fullmatch((header or "").strip())
    if found is None:
        return "no valid Content-Range in the 206 answer"
    start, end, total = found.groups()
    if int(start) != offset or int(end) < int(start):
        return f"Content-Range starts at byte {start}, {offset} asked"
    if total != "*" and int(end) >= int(total):
        return "Content-Range ends past the image's size"
    return None


class _ClosingChunks:
    """The body of a streamed response as chunks; ``close`` closes the response."""

    def __init__(self, resp: Any) -> None:
        self._resp = resp
        self._chunks: Iterator[bytes] = resp.iter_content(RANGE_CHUNK)

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._resp.close()


@dataclass
class _RegionClients:
    api: ksa_adapter.Adapter
    glance: Any  # glanceclient.v2.client.Client


class ServersFacade:
    """:class:`glancesync.cloud.protocol.Facade` over real Keystone and Glance servers."""

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

    # -- images --------------------------------------------------------------

    def list_images(self, region: RegionRef) -> list[Image]:
        """Every image the project sees, hidden ones included, each once.

        Glance leaves images with ``os_hidden=true`` out of a listing unless
        it is filtered on ``os_hidden=true`` (which then returns only those),
        so this makes two paginated listings. The whole of it must finish
        within the target's ``list_images_timeout``.
        """
        budget = self._target_settings(region.target).list_images_timeout
        deadline = time.monotonic() + budget
        docs: dict[str, dict[str, Any]] = {}
        # An empty page ends a listing, and pages are counted: a server
        # cannot keep us paging forever.
        pages = 0
        for hidden in (False, True):
            first = f"/v2/images?limit={self.page_size}"
            url: str | None = first + "&os_hidden=true" if hidden else first
            while url:
                pages += 1
                if pages > MAX_PAGES:
                    raise RegionError(region.full, f"image listing: more than {MAX_PAGES} pages")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RegionError(
                        region.full,
                        f"listing images took more than {budget:g} s (list_images_timeout)",
                    )
                try:
                    body = self._document(
                        region,
                        "GET",
                        url,
                        deadline=deadline,
                        timeout=min(remaining, self.request_timeout),
                    )
                except RegionError as exc:
                    if time.monotonic() >= deadline:
                        raise RegionError(
                            region.full,
                            f"listing images took more than {budget:g} s (list_images_timeout): "
                            f"{exc.detail}",
                        ) from exc
                    raise
                url = self._next_page(region, body, docs)
        return [_image(doc, region) for doc in docs.values()]

    def _next_page(
        self, region: RegionRef, body: dict[str, Any], docs: dict[str, dict[str, Any]]
    ) -> str | None:
        """Take one listing page's images into ``docs``; the next page's URL, if any."""
        images = body.get("images")
        if not isinstance(images, list):
            raise RegionError(region.full, "image listing: 'images' is not a list")
        for doc in images:
            if not isinstance(doc, dict):
                raise RegionError(region.full, "image listing: an entry is not an object")
            docs.setdefault(str(doc.get("id")), doc)
        if len(docs) > MAX_IMAGES:
            raise RegionError(region.full, f"image listing: more than {MAX_IMAGES} images")
        link = body.get("next")
        if link is None or not images:
            return None
        endpoint = self._clients(region).api.get_endpoint() or ""
        try:
            return next_link(link, endpoint, "/v2/images")
        except AnswerError as error:
            raise RegionError(region.full, f"image listing: {error}") from None

    def get_image(self, region: RegionRef, image_id: str) -> Image:
        doc = self._request(region, "GET", f"/v2/images/{image_id}", image=image_id)
        return _image(doc, region)

    def create_image(self, region: RegionRef, spec: NewImage) -> Image:
        """Create the record; visibility is always sent (Glance's default is ``shared``)."""
        body: dict[str, Any] = {k: v for k, v in spec.properties.items() if is_managed_property(k)}
        body.update(
            name=spec.name,
            visibility=spec.visibility,
            min_ram=int(spec.min_ram),
            min_disk=int(spec.min_disk),
            protected=bool(spec.protected),
            os_hidden=bool(spec.hidden),
            tags=list(spec.tags),
        )
        if spec.disk_format is not None:
            body["disk_format"] = spec.disk_format
        if spec.container_format is not None:
            body["container_format"] = spec.container_format
        body.update(spec.bookkeeping)
        if spec.id is not None:
            body["id"] = spec.id
        try:
            doc = self._request(
                region,
                "POST",
                "/v2/images",
                image=spec.name,
                json=body,
                # not idempotent: a retry after a lost answer would make a twin
                retry=False,
                connect_retries=0,
            )
        except ImageError as error:
            # Glance answers 409 for an id in use or once used by a deleted image.
            if spec.id is not None and "HTTP 409" in str(error):
                raise IdUnavailable(region.full, spec.name, error.detail) from error
            raise
        return _image(doc, region)

    def upload(
        self,
        region: RegionRef,
        image_id: str,
        data: Iterable[bytes],
        size: int,
        store: str | None = None,
    ) -> None:
        """Stream ``data`` (exactly ``size`` bytes) into the queued record; no retry.

        With ``store``, into that store (``X-Image-Meta-Store``)."""
        reader = IterableReader(data, expected_size=size)
        try:
            with self._translate(region, image_id, data=True) as tr:
                glance = self._clients(region).glance
                tr.secrets = self._secrets(region.target)
                glance.images.upload(image_id, reader, image_size=int(size), backend=store)
        finally:
            reader.close()

    def stage(self, region: RegionRef, image_id: str, data: Iterable[bytes], size: int) -> None:
        """Stream ``data`` into the record's staging area, for a glance-direct import."""
        reader = IterableReader(data, expected_size=size)
        try:
            with self._translate(region, image_id, data=True) as tr:
                glance = self._clients(region).glance
                tr.secrets = self._targets[region.target].secrets
                glance.images.stage(image_id, reader, image_size=int(size))
        finally:
            reader.close()

    def region_offer(self, region: RegionRef) -> RegionOffer:
        """Import methods, stores and quotas of the region (``GET /v2/info/...``)."""
        return read_offer(lambda *a, **k: self._request(region, *a, **k))

    def import_image(
        self, region: RegionRef, image_id: str, method: str, stores: tuple[str, ...], timeout: float
    ) -> Image:
        """Import a staged record (``glance-direct``) or copy an active one into more stores
        (``copy-image``); returns once done, raises ImportFailed with the region's reason."""
        return run_import(
            lambda *a, **k: self._request(region, *a, **k),
            self.get_image,
            region,
            image_id,
            {"name": method},
            stores,
            timeout,
        )

    def download(self, region: RegionRef, image_id: str, offset: int = 0) -> Iterator[bytes]:
        """The image's data from byte ``offset`` on, in chunks.

        The request is made now (a missing image fails here); the returned
        iterator raises :class:`ImageError` if the transfer breaks. From byte
        0 the data is checked as it is read against the image's
        ``os_hash_value`` (when glancesync knows its algorithm) or else its
        ``checksum``; an image with neither is not read. The check is ours,
        not glanceclient's, which fails with a traceback on algorithms it
        does not know. From further on (a resumed read) the caller hashes the
        whole image itself, as :mod:`glancesync.transfer.resume` does.
        """
        if offset < 0:
            raise ValueError("offset must be >= 0")
        if offset:
            ranged = self._ranged(region, image_id, offset)
            return self._guarded_stream(region, image_id, ranged, None)
        image = self.get_image(region, image_id)
        algo = usable_hash(image.os_hash_algo) if image.os_hash_value else None
        if algo and image.os_hash_value:
            expected = (algo, image.os_hash_value)
        elif image.checksum:
            expected = ("md5", image.checksum)
        else:
            raise ImageError(region.full, image_id, "no usable checksum; the data is not read")
        with self._translate(region, image_id, data=True) as tr:
            glance = self._clients(region).glance
            tr.secrets = self._secrets(region.target)
            try:
                body = glance.images.data(image_id, do_checksum=False)
            except (TypeError, ValueError) as exc:  # e.g. a bad Content-Length
                raise tr.region_error(f"malformed download answer ({exc})") from None
        if body is None:
            raise ImageError(region.full, image_id, "image has no data")
        return self._guarded_stream(region, image_id, body, expected)

    def _ranged(self, region: RegionRef, image_id: str, offset: int) -> Iterable[bytes]:
        """``GET .../file`` with ``Range: bytes=OFFSET-``; only a matching 206 is taken.

        The answer is checked before any byte is used: a server that ignores
        the range (200) or starts elsewhere would make the copy wrong.
        """
        with self._translate(region, image_id, data=True) as tr:
            clients = self._clients(region)
            tr.secrets = self._secrets(region.target)
            resp = clients.api.request(
                f"/v2/images/{image_id}/file",
                "GET",
                raise_exc=False,
                redirect=False,
                stream=True,
                headers={"Range": f"bytes={offset}-"},
                timeout=self.request_timeout,
            )
            if resp.status_code >= 400:
                detail = tr._msg(response_detail(resp))
                resp.close()
                raise tr.status_error(resp.status_code, detail, retry_after(resp))
            problem = _range_problem(resp.status_code, resp.headers.get("Content-Range"), offset)
            if problem is not None:
                resp.close()
                raise ImageError(region.full, image_id, f"resumed download: {problem}")
            return _ClosingChunks(resp)

    def _guarded_stream(
        self,
        region: RegionRef,
        image_id: str,
        body: Iterable[bytes],
        expected: tuple[str, str] | None,
    ) -> Iterator[bytes]:
        """*body*'s chunks, errors translated; checked against *expected* (algorithm,
        hex value) when given."""
        chunks = iter(body)
        tr = self._translate(region, image_id, data=True)
        digest = hashlib.new(expected[0]) if expected else None
        try:
            while True:
                with tr:
                    try:
                        chunk = next(chunks)
                    except StopIteration:
                        break
                if digest is not None:
                    digest.update(chunk)
                yield chunk
            if digest is not None and expected and digest.hexdigest() != expected[1].lower():
                raise ImageError(
                    region.full, image_id, f"corrupt download: {expected[0]} differs from Glance's"
                )
        finally:
            closer = getattr(body, "close", None) or getattr(chunks, "close", None)
            if callable(closer):
                try:
                    closer()
                except Exception:
                    LOG.debug("closing the download of %s failed", image_id, exc_info=True)

    def update_image(self, region: RegionRef, image_id: str, change: MetadataChange) -> Image:
        """Apply only what ``change`` names; other properties are left alone.

        The JSON patch is built here rather than by glanceclient, whose diff
        turns "set ``nid.bak``, remove ``nid``" into a ``move`` operation that
        Glance rejects. Existing keys get ``replace``, new ones ``add``, and
        only keys present are removed. (openstacksdk's update_image would
        drop every unnamed property.)
        """
        if change.is_empty():
            return self.get_image(region, image_id)
        current = self._document(region, "GET", f"/v2/images/{image_id}", image=image_id)
        wanted = change.fields()
        patch = [
            {"op": "replace" if key in current else "add", "path": f"/{key}", "value": value}
            for key, value in wanted.items()
            if current.get(key) != value
        ]
        patch += [
            {"op": "remove", "path": f"/{key}"}
            for key in change.remove_properties
            if key in current and key not in wanted
        ]
        # Members go before the patch and come after it: Glance keeps members
        # only on a shared image, and the patch may change its visibility.
        members = f"/v2/images/{image_id}/members"
        for project in change.remove_members:
            self._request(region, "DELETE", f"{members}/{project}", image=image_id)
        doc = current
        if patch:
            doc = self._request(
                region,
                "PATCH",
                f"/v2/images/{image_id}",
                image=image_id,
                json=patch,
                headers={"Content-Type": "application/openstack-images-v2.1-json-patch"},
            )
        for project in change.add_members:
            self._request(region, "POST", members, image=image_id, json={"member": project})
        return _image(doc, region)

    def list_members(self, region: RegionRef, image_id: str) -> frozenset[str]:
        """The projects the image is shared with, whatever their acceptance status."""
        body = self._request(region, "GET", f"/v2/images/{image_id}/members", image=image_id)
        entries = body.get("members") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise ImageError(region.full, image_id, "members: unexpected answer")
        found = [entry.get("member_id") if isinstance(entry, dict) else None for entry in entries]
        # A member id goes into the URL that removes it: only plain project ids.
        if not all(isinstance(m, str) and PROJECT_ID.fullmatch(m) for m in found):
            raise ImageError(region.full, image_id, "members: an entry is not a project id")
        return frozenset(str(m) for m in found)

    def delete_image(self, region: RegionRef, image_id: str) -> None:
        self._request(region, "DELETE", f"/v2/images/{image_id}", image=image_id)

    # -- beyond the Facade protocol -------------------------------------------

    def deactivate_image(self, region: RegionRef, image_id: str) -> None:
        """Make the image's data unavailable (status ``deactivated``)."""
        self._request(region, "POST", f"/v2/images/{image_id}/actions/deactivate", image=image_id)

    def image_import_methods(self, region: RegionRef) -> list[str]:
        """Names of the import methods the region's Glance offers (``GET /v2/info/import``)."""
        body = self._request(region, "GET", "/v2/info/import")
        try:
            methods = body["import-methods"]["value"]
        except (KeyError, TypeError):
            return []
        return [m for m in methods if isinstance(m, str)] if isinstance(methods, list) else []

    def import_from_region(
        self,
        region: RegionRef,
        image_id: str,
        source: RegionRef,
        source_image_id: str,
        timeout: float,
    ) -> Image:
        """Have the region's Glance pull an image from another region (glance-download).

        Both regions must share one Keystone: Glance fetches the source with
        the caller's token, found in that token's catalog. Waits until the
        record is active, and raises ImportFailed (with the region's own
        reason) if it fails or takes longer than ``timeout`` seconds.
        """
        method = {
            "name": "glance-download",
            "glance_region": source.name,
            "glance_image_id": source_image_id,
            "glance_service_interface": self._target(region.target).interface,
        }
        return run_import(
            lambda *a, **k: self._request(region, *a, **k),
            self.get_image,
            region,
            image_id,
            method,
            (),
            timeout,
        )

    def close(self) -> None:
        """Forget sessions and clients (their connections are closed with them)."""
        with self._lock:
            self._regions.clear()
            self._targets.clear()
