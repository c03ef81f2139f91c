"""An in-memory cloud that behaves like Keystone v3 + Glance v2 for unit tests.

It keeps Glance's rules that matter to glancesync: server-made ids and
checksums, ``queued`` records until data arrives, read-only hashes, owners,
visibility and hidden images. It is a fake server, not canned answers: the
code under test changes its state and the tests read that state back.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from glancesync.model.changes import MetadataChange, NewImage
from glancesync.model.errors import IdUnavailable, ImageError, ImportFailed, RegionError
from glancesync.model.image import Image, image_from_glance
from glancesync.model.region import RegionRef
from glancesync.model.storage import RegionOffer

PROJECTS = {"master": "p-master", "other": "p-other"}
#: The store an image lands in when none is named.
DEFAULT_STORE = "default"


def converted(data: bytes) -> bytes:
    """The in-memory cloud's "raw form" of an image: other bytes, made from these."""
    return b"RAW:" + data


_clock = itertools.count(1)


@dataclass
class _Stored:
    doc: dict[str, Any]
    data: bytes = b""


@dataclass
class MemoryCloud:
    """Targets -> regions -> images, plus a log of every write."""

    regions_by_target: dict[str, list[str]] = field(
        default_factory=lambda: {
            "master": ["RegionOne", "RegionTwo", "RegionThree"],
            "other": ["OtherOne"],
        }
    )
    images: dict[str, dict[str, _Stored]] = field(default_factory=dict)
    writes: list[tuple[str, str, str]] = field(default_factory=list)
    failing_regions: set[str] = field(default_factory=set)
    corrupt_uploads: set[str] = field(default_factory=set)
    #: (region, image name) of every download, in order.
    downloads: list[tuple[str, str]] = field(default_factory=list)
    #: Region -> how many more uploads fail with a transient 503.
    flaky_uploads: dict[str, int] = field(default_factory=dict)
    #: Region -> the next download from it breaks after this many bytes.
    cut_downloads: dict[str, int] = field(default_factory=dict)
    #: Region -> uploads to it break after reading this many bytes (not transient).
    broken_uploads: dict[str, int] = field(default_factory=dict)
    #: Region -> how many more deletes fail with a transient 500.
    flaky_deletes: dict[str, int] = field(default_factory=dict)
    #: (region, image id) -> member projects.
    members: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    #: Ids ever used in a region: Glance never gives a deleted image's id again.
    used_ids: dict[str, set[str]] = field(default_factory=dict)
    #: Region -> what it offers (import methods, stores, usage); default: every
    #: import method, no multi-store API, no usage.
    offers: dict[str, RegionOffer] = field(default_factory=dict)
    #: Regions whose imports convert to raw (Glance's image_conversion plugin).
    converting: set[str] = field(default_factory=set)
    #: Regions whose imports fail (the image is left with os_glance_failed_import).
    failing_imports: set[str] = field(default_factory=set)
    #: (region, image id) -> bytes staged for a glance-direct import.
    staged: dict[tuple[str, str], bytes] = field(default_factory=dict)

    # -- test helpers ----------------------------------------------------

    def add(
        self,
        region: str,
        name: str,
        data: bytes = b"x",
        *,
        owner: str | None = None,
        visibility: str = "public",
        status: str = "active",
        hidden: bool = False,
        **properties: Any,
    ) -> Image:
        """Put an image straight into a region (like an operator upload would)."""
        ref = RegionRef.parse(region)
        doc = self._new_doc(ref, name, visibility, owner or PROJECTS[ref.target])
        doc.update(properties, os_hidden=hidden)
        self._bucket(ref)[doc["id"]] = _Stored(doc, data if status == "active" else b"")
        self.used_ids.setdefault(ref.full, set()).add(doc["id"])
        if status == "active":
            self._store_data(doc, data)
        doc["status"] = status
        return image_from_glance(doc, ref.full)

    def state(self, region: str) -> dict[str, dict[str, Any]]:
        """A snapshot of a region: id -> every field (for no-write checks)."""
        return {i: dict(s.doc) for i, s in self._bucket(RegionRef.parse(region)).items()}

    def named(self, region: str, name: str) -> list[Image]:
        return [i for i in self.list_images(RegionRef.parse(region)) if i.name == name]

    def one(self, region: str, name: str) -> Image:
        found = self.named(region, name)
        assert len(found) == 1, f"{len(found)} images named {name} in {region}"
        return found[0]

    # -- the Facade protocol --------------------------------------------

    def regions(self, target: str) -> list[str]:
        self._check_target(target)
        return sorted(self.regions_by_target[target])  # as the catalog-backed facade does

    def project_id(self, target: str) -> str:
        self._check_target(target)
        return PROJECTS[target]

    def list_images(self, region: RegionRef) -> list[Image]:
        self._check(region)
        return [image_from_glance(dict(s.doc), region.full) for s in self._bucket(region).values()]

    def get_image(self, region: RegionRef, image_id: str) -> Image:
        return image_from_glance(dict(self._get(region, image_id).doc), region.full)

    def create_image(self, region: RegionRef, spec: NewImage) -> Image:
        self._check(region)
        doc = self._new_doc(region, spec.name, spec.visibility, PROJECTS[region.target])
        if spec.id is not None:
            if spec.id in self.used_ids.get(region.full, set()):
                raise IdUnavailable(region.full, spec.name, f"HTTP 409: image id {spec.id} exists")
            doc["id"] = spec.id
        doc.update(**spec.bookkeeping)
        doc.update(
            disk_format=spec.disk_format,
            container_format=spec.container_format,
            min_ram=spec.min_ram,
            min_disk=spec.min_disk,
            protected=spec.protected,
            os_hidden=spec.hidden,
            tags=list(spec.tags),
            **spec.properties,
        )
        self._bucket(region)[doc["id"]] = _Stored(doc)
        self.used_ids.setdefault(region.full, set()).add(doc["id"])
        self.writes.append((region.full, "create", spec.name))
        return image_from_glance(dict(doc), region.full)

    def upload(
        self,
        region: RegionRef,
        image_id: str,
        data: Iterable[bytes],
        size: int,
        store: str | None = None,
    ) -> None:
        stored = self._get(region, image_id)
        self._check_stores(region, (store,) if store else ())
        if region.full in self.broken_uploads:
            taken = 0
            for chunk in data:
                taken += len(chunk)
                if taken >= self.broken_uploads[region.full]:
                    break
            raise ImageError(region.full, image_id, "connection reset during the upload")
        payload = b"".join(data)
        if self.flaky_uploads.get(region.full, 0) > 0:
            self.flaky_uploads[region.full] -= 1
            raise ImageError(region.full, image_id, "HTTP 503", transient=True, retry_after=0)
        if region.full in self.corrupt_uploads:
            payload = bytes([payload[0] ^ 1]) + payload[1:] if payload else b"!"
        self._store_data(stored.doc, payload)
        stored.doc["stores"] = store or self._default_store(region)
        stored.data = payload
        self.writes.append((region.full, "upload", stored.doc["name"]))

    def stage(self, region: RegionRef, image_id: str, data: Iterable[bytes], size: int) -> None:
        stored = self._get(region, image_id)
        self.staged[(region.full, image_id)] = b"".join(data)
        stored.doc["status"] = "uploading"
        self.writes.append((region.full, "stage", stored.doc["name"]))

    def region_offer(self, region: RegionRef) -> RegionOffer:
        self._check(region)
        return self.offers.get(region.full, RegionOffer(tuple(self.image_import_methods(region))))

    def import_image(
        self, region: RegionRef, image_id: str, method: str, stores: tuple[str, ...], timeout: float
    ) -> Image:
        stored = self._get(region, image_id)
        self._check_stores(region, stores)
        if method not in self.region_offer(region).import_methods:
            raise ImageError(region.full, image_id, f"HTTP 400: import method {method} not offered")
        self.writes.append((region.full, "import", stored.doc["name"]))
        if region.full in self.failing_imports:
            stored.doc["os_glance_failed_import"] = ",".join(stores) or self._default_store(region)
            raise ImportFailed(region.full, image_id, f"{method} import failed: no space left")
        if method == "copy-image":
            held = [s for s in str(stored.doc.get("stores") or "").split(",") if s]
            stored.doc["stores"] = ",".join(dict.fromkeys([*held, *stores]))
            return self.get_image(region, image_id)
        data = self.staged.pop((region.full, image_id), None)
        if data is None:
            raise ImageError(region.full, image_id, "HTTP 409: nothing staged")
        if region.full in self.converting and stored.doc.get("disk_format") != "raw":
            data, stored.doc["disk_format"] = converted(data), "raw"
        self._store_data(stored.doc, data)
        stored.doc["stores"] = ",".join(stores) or self._default_store(region)
        stored.data = data
        return self.get_image(region, image_id)

    def download(self, region: RegionRef, image_id: str, offset: int = 0) -> Iterator[bytes]:
        stored = self._get(region, image_id)
        self.downloads.append((region.full, stored.doc["name"]))
        data = stored.data
        pieces = [data[i : i + 4] for i in range(offset, len(data), 4)]
        cut = self.cut_downloads.get(region.full, 0)
        if cut > 0:
            self.cut_downloads[region.full] = 0
            return self._cut(region, image_id, pieces, cut)
        return iter(pieces)

    @staticmethod
    def _cut(region: RegionRef, image_id: str, pieces: list[bytes], after: int) -> Iterator[bytes]:
        """A download that breaks after ``after`` bytes, as a dropped connection does."""
        sent = 0
        for piece in pieces:
            if sent >= after:
                raise ImageError(region.full, image_id, "data transfer failed", transient=True)
            sent += len(piece)
            yield piece

    def update_image(self, region: RegionRef, image_id: str, change: MetadataChange) -> Image:
        doc = self._get(region, image_id).doc
        # As the real facade: members go first, while the image is still shared.
        members = self.members.setdefault((region.full, image_id), set())
        if change.remove_members:
            self._shared(region, doc)
        for project in change.remove_members:
            if project not in members:
                raise ImageError(region.full, image_id, f"HTTP 404: {project} is no member")
            members.discard(project)
        doc.update(change.fields())
        for key in change.remove_properties:
            doc.pop(key, None)
        if change.add_members:
            self._shared(region, doc)
        for project in change.add_members:
            if project in members:
                raise ImageError(region.full, image_id, f"HTTP 409: {project} is a member")
            members.add(project)
        self.writes.append((region.full, "update", doc["name"]))
        return image_from_glance(dict(doc), region.full)

    def delete_image(self, region: RegionRef, image_id: str) -> None:
        stored = self._get(region, image_id)
        if self.flaky_deletes.get(region.full, 0) > 0:
            self.flaky_deletes[region.full] -= 1
            raise RegionError(region.full, "HTTP 500 database is locked", transient=True)
        if stored.doc.get("protected"):
            raise ImageError(region.full, image_id, "403 image is protected")
        del self._bucket(region)[image_id]
        self.writes.append((region.full, "delete", stored.doc["name"]))

    def list_members(self, region: RegionRef, image_id: str) -> frozenset[str]:
        self._shared(region, self._get(region, image_id).doc)
        return frozenset(self.members.get((region.full, image_id), ()))

    def deactivate_image(self, region: RegionRef, image_id: str) -> None:
        stored = self._get(region, image_id)
        if stored.doc["status"] == "deactivated":
            return  # Glance answers 204 again
        if stored.doc["status"] != "active":
            raise ImageError(region.full, image_id, "HTTP 403: not active")
        stored.doc["status"] = "deactivated"
        self.writes.append((region.full, "deactivate", stored.doc["name"]))

    def close(self) -> None:
        """Nothing to forget: the in-memory cloud has no connections."""

    def image_import_methods(self, region: RegionRef) -> list[str]:
        self._check(region)
        return ["glance-direct", "web-download", "copy-image", "glance-download"]

    def import_from_region(
        self,
        region: RegionRef,
        image_id: str,
        source: RegionRef,
        source_image_id: str,
        timeout: float,
    ) -> Image:
        if source.target != region.target:
            raise ImageError(region.full, image_id, "glance-download: source not in catalog")
        data = self._get(source, source_image_id).data
        stored = self._get(region, image_id)
        self._store_data(stored.doc, data)
        stored.data = data
        self.writes.append((region.full, "import", stored.doc["name"]))
        return self.get_image(region, image_id)

    # -- internals -------------------------------------------------------

    def _default_store(self, region: RegionRef) -> str:
        known = self.region_offer(region).stores
        return known[0] if known else DEFAULT_STORE

    def _check_stores(self, region: RegionRef, stores: Iterable[str]) -> None:
        known = self.region_offer(region).stores
        unknown = [s for s in stores if known is None or s not in known]
        if unknown:
            raise ImageError(region.full, "?", f"HTTP 400: unknown store {unknown[0]}")

    def _new_doc(self, region: RegionRef, name: str, visibility: str, owner: str) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "name": name,
            "owner": owner,
            "visibility": visibility,
            "status": "queued",
            "size": None,
            "checksum": None,
            "os_hash_algo": None,
            "os_hash_value": None,
            "disk_format": "raw",
            "container_format": "bare",
            "min_ram": 0,
            "min_disk": 0,
            "protected": False,
            "os_hidden": False,
            "tags": [],
            "created_at": f"2026-01-01T00:00:{next(_clock):06d}Z",
        }

    @staticmethod
    def _store_data(doc: dict[str, Any], data: bytes) -> None:
        doc.update(
            status="active",
            size=len(data),
            checksum=hashlib.md5(data).hexdigest(),
            os_hash_algo="sha512",
            os_hash_value=hashlib.sha512(data).hexdigest(),
        )

    def _bucket(self, region: RegionRef) -> dict[str, _Stored]:
        return self.images.setdefault(region.full, {})

    def _check_target(self, target: str) -> None:
        if target in self.failing_regions:
            raise RegionError(f"{target}:", "401 authentication failed")

    def _check(self, region: RegionRef) -> None:
        self._check_target(region.target)
        if region.full in self.failing_regions:
            raise RegionError(region.full, "unreachable")
        if region.name not in self.regions_by_target.get(region.target, ()):
            # as the real facade: the catalog has no image endpoint there
            raise RegionError(region.full, "no image endpoint in the catalog")

    @staticmethod
    def _shared(region: RegionRef, doc: dict[str, Any]) -> None:
        """Glance lists, adds and removes members of shared images only."""
        if doc["visibility"] != "shared":
            raise ImageError(region.full, doc["id"], "HTTP 403: only shared images have members")

    def _get(self, region: RegionRef, image_id: str) -> _Stored:
        self._check(region)
        try:
            return self._bucket(region)[image_id]
        except KeyError:
            raise ImageError(region.full, image_id, "404 no such image") from None
