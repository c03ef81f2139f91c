"""The image value every other module works with.

Glance v2 answers with a flat JSON object where system fields and user
properties share one namespace. :func:`image_from_glance` splits them once,
so that planning never has to know which keys Glance owns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from glancesync.model.values import frozen

#: Fields Glance v2 itself defines. They are never user properties.
SYSTEM_FIELDS = frozenset(
    {
        "checksum",
        "container_format",
        "created_at",
        "disk_format",
        "file",
        "id",
        "locations",
        "min_disk",
        "min_ram",
        "name",
        "os_hash_algo",
        "os_hash_value",
        "os_hidden",
        "owner",
        "protected",
        "schema",
        "self",
        "size",
        "status",
        "tags",
        "updated_at",
        "virtual_size",
        "visibility",
        "direct_url",
        "stores",
    }
)

#: Prefixes of properties that Glance or client libraries write for their
#: own bookkeeping. Copying them would make regions lie about themselves.
IGNORED_PREFIXES = ("os_glance_", "owner_specified.", "os_hash_", "glancesync_")

#: AMI references, remapped per region instead of copied.
AMI_KEYS = ("kernel_id", "ramdisk_id")


def is_managed_property(key: str) -> bool:
    """Whether glancesync may compare and copy this property at all."""
    return key not in SYSTEM_FIELDS and not key.startswith(IGNORED_PREFIXES)


@dataclass(frozen=True)
class Image:
    """One image as one region's Glance describes it."""

    id: str
    name: str
    owner: str | None = None
    size: int = 0
    checksum: str | None = None
    os_hash_algo: str | None = None
    os_hash_value: str | None = None
    status: str = "active"
    visibility: str = "private"
    disk_format: str | None = None
    container_format: str | None = None
    min_ram: int = 0
    min_disk: int = 0
    protected: bool = False
    hidden: bool = False
    tags: tuple[str, ...] = ()
    created_at: str = ""
    region: str = ""
    #: User properties only, glance-owned keys already left out.
    properties: Mapping[str, Any] = field(default_factory=lambda: frozen({}))
    #: Everything Glance returned, kept for backups; not compared.
    raw: Mapping[str, Any] = field(default_factory=lambda: frozen({}), compare=False, repr=False)

    @property
    def is_public(self) -> bool:
        """Glance v1's flag, kept for conditions written for the old tool."""
        return self.visibility == "public"

    def same_content(self, other: Image) -> bool:
        """Whether both images hold the same bytes, by the strongest common hash."""
        if (
            self.os_hash_value
            and other.os_hash_value
            and self.os_hash_algo
            and self.os_hash_algo == other.os_hash_algo
        ):
            return self.os_hash_value == other.os_hash_value
        return self.checksum is not None and self.checksum == other.checksum

    def checksums(self) -> frozenset[str]:
        """Every form of checksum a conflict list may name this image by."""
        return frozenset(c for c in (self.checksum, self.os_hash_value) if c)


class MalformedImage(ValueError):
    """A Glance answer that does not describe an image we can work with."""


def _number(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if value is None or value == "":
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MalformedImage(f"image {data.get('id')}: {key} is not a number: {value!r}") from None


def image_from_glance(data: Mapping[str, Any], region: str = "") -> Image:
    """Build an :class:`Image` from a Glance v2 image document.

    Raises :class:`MalformedImage` when the document has no id or carries
    values of the wrong kind. A missing name becomes ``""``, which matches
    no master image.
    """
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str) or not data["id"]:
        raise MalformedImage(f"an image without an id: {str(data)[:80]!r}")
    properties = {k: v for k, v in data.items() if is_managed_property(k)}
    return Image(
        id=str(data["id"]),
        name=str(data.get("name") or ""),
        owner=data.get("owner"),
        size=_number(data, "size"),
        checksum=data.get("checksum"),
        os_hash_algo=data.get("os_hash_algo"),
        os_hash_value=data.get("os_hash_value"),
        status=data.get("status") or "",
        visibility=data.get("visibility") or "private",
        disk_format=data.get("disk_format"),
        container_format=data.get("container_format"),
        min_ram=_number(data, "min_ram"),
        min_disk=_number(data, "min_disk"),
        protected=bool(data.get("protected")),
        hidden=bool(data.get("os_hidden")),
        tags=tuple(data.get("tags") or ()),
        created_at=str(data.get("created_at") or ""),
        region=region,
        properties=frozen(properties),
        raw=frozen(data),
    )
