"""What the rest of glancesync may ask of OpenStack.

:class:`Facade` is the contract. The real implementation
(:class:`glancesync.cloud.glance.ServersFacade`) speaks Keystone v3 and
Glance v2; :mod:`glancesync.testing.memcloud` is an in-memory cloud with the
same behaviour, held to it by ``test/contract``. Nothing outside
:mod:`glancesync.cloud` imports keystoneauth1, glanceclient, openstacksdk or
requests (``test/unit/test_boundaries.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from glancesync.model.changes import MetadataChange, NewImage
from glancesync.model.image import Image
from glancesync.model.region import RegionRef
from glancesync.model.storage import RegionOffer


class Facade(Protocol):
    """Every operation glancesync needs from Keystone and Glance.

    Methods raise :class:`glancesync.errors.RegionError` for failures of the
    region as a whole (authentication, unreachable endpoint, repeated 5xx)
    and :class:`glancesync.errors.ImageError` for failures tied to one image.
    """

    def regions(self, target: str) -> list[str]:
        """Names of the target's regions that have an ``image`` endpoint."""
        ...

    def project_id(self, target: str) -> str:
        """The id of the project the target's credentials are scoped to."""
        ...

    def list_images(self, region: RegionRef) -> list[Image]:
        """Every image the project can see in the region, hidden ones included."""
        ...

    def get_image(self, region: RegionRef, image_id: str) -> Image:
        """One image, fresh from the server."""
        ...

    def create_image(self, region: RegionRef, spec: NewImage) -> Image:
        """Create an image record (status ``queued``); no data yet.

        With ``spec.id`` the record gets that id, or :class:`IdUnavailable`
        is raised when the region cannot give it.
        """
        ...

    def upload(
        self,
        region: RegionRef,
        image_id: str,
        data: Iterable[bytes],
        size: int,
        store: str | None = None,
    ) -> None:
        """Stream ``data`` into the record ``image_id`` (into ``store``, when named)."""
        ...

    def stage(self, region: RegionRef, image_id: str, data: Iterable[bytes], size: int) -> None:
        """Stream ``data`` into the record's staging area (before a glance-direct import)."""
        ...

    def region_offer(self, region: RegionRef) -> RegionOffer:
        """The region's import methods, stores and quotas (``GET /v2/info/*``)."""
        ...

    def import_image(
        self, region: RegionRef, image_id: str, method: str, stores: tuple[str, ...], timeout: float
    ) -> Image:
        """Import a staged record (``glance-direct``) or add stores to an active image
        (``copy-image``), into exactly ``stores`` (empty: the default); returns once done.

        Raises :class:`glancesync.model.errors.ImportFailed` (an ImageError)
        with the region's reason when the import fails or stalls past ``timeout``.
        """
        ...

    def download(self, region: RegionRef, image_id: str, offset: int = 0) -> Iterator[bytes]:
        """Stream an image's data in chunks, from byte ``offset`` on (HTTP Range)."""
        ...

    def update_image(self, region: RegionRef, image_id: str, change: MetadataChange) -> Image:
        """Apply a minimal metadata change (members included); return the updated image."""
        ...

    def delete_image(self, region: RegionRef, image_id: str) -> None:
        """Delete an image."""
        ...

    def list_members(self, region: RegionRef, image_id: str) -> frozenset[str]:
        """The projects an image is shared with (``GET /v2/images/{id}/members``)."""
        ...

    def deactivate_image(self, region: RegionRef, image_id: str) -> None:
        """Make the image's data unavailable (status ``deactivated``)."""
        ...

    def close(self) -> None:
        """Forget sessions and connections; the next call opens new ones.

        A child process calls it first thing: connections inherited through
        ``fork`` must not be shared with the parent.
        """
        ...

    def image_import_methods(self, region: RegionRef) -> list[str]:
        """The import methods the region's Glance offers (``GET /v2/info/import``)."""
        ...

    def import_from_region(
        self,
        region: RegionRef,
        image_id: str,
        source: RegionRef,
        source_image_id: str,
        timeout: float,
    ) -> Image:
        """Have the region pull the data of ``image_id`` from ``source`` (glance-download).

        Returns once the image is active; raises ImageError on failure or timeout.
        """
        ...
