"""The facade over real servers: Keystone v3 (keystoneauth1) and Glance v2.

:class:`ServersFacade` is :class:`glancesync.cloud.protocol.Facade` for real
clouds. Its connections and the one request path are in
:mod:`glancesync.cloud.connections`, image data in :mod:`glancesync.cloud.data`;
this module has the image records: listings (bounded in pages, images and
time), create, get, the minimal JSON patch of metadata updates (built here:
glanceclient's own diff can emit ``move``, which Glance rejects), members,
delete, deactivate and imports. Nothing imports it at package import time,
so the CLI starts without loading the client libraries.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from glancesync.cloud.answers import AnswerError, next_link
from glancesync.cloud.connections import image_of
from glancesync.cloud.data import DataStreams
from glancesync.cloud.imports import read_offer, run_import
from glancesync.model.changes import MetadataChange, NewImage
from glancesync.model.errors import IdUnavailable, ImageError, RegionError
from glancesync.model.image import Image, is_managed_property
from glancesync.model.provenance import PROJECT_ID
from glancesync.model.region import RegionRef
from glancesync.model.storage import RegionOffer

LOG = logging.getLogger(__name__)

#: A listing stops with a region error past this many images, or this many
#: pages (both listings together: enough for pages of 20 images, the
#: smallest a Glance is usually set to give). See doc/reliability.rst.
MAX_IMAGES = 20_000
MAX_PAGES = 1000
#: How often a glance-download import is checked on.
IMPORT_POLL_SECONDS = 1.0


class ServersFacade(DataStreams):
    """:class:`glancesync.cloud.protocol.Facade` over real Keystone and Glance servers."""

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
        return [image_of(doc, region) for doc in docs.values()]

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
        return image_of(doc, region)

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
        return image_of(doc, region)

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
