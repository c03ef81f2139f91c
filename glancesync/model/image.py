"""The image value every other module works with.

Glance v2 answers with a flat JSON object where system fields and user
properties share one namespace. :func:`image_from_glance` splits them once,
so that planning never has to know which keys Glance owns.
"""

from __future__ import annotations

import hashlib
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


@dataclass(frozen=True, slots=True)
class Image:
    """One image as one region's Glance describes it.

    With slots: a region's listing is thousands of these, and the planner
    reads a dozen fields of each; slots make that reading faster and the
    values smaller (bench/planning.py).
    """

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
    #: Answers computed from the fields above by other modules, kept with
    #: the value (a frozen value gives the same answer each time): see
    #: :func:`glancesync.model.provenance.provenance_of`.
    _memo: dict[str, Any] | None = field(default=None, init=False, compare=False, repr=False)

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


#: Hash algorithms an ``os_hash_algo`` may name: fixed-length ones every
#: Python has. Any other (``bogus``, ``shake_128``) is not used; the md5
#: ``checksum`` must then verify the data alone.
USABLE_HASHES = frozenset(
    name for name in hashlib.algorithms_guaranteed if not name.startswith("shake_")
)


def usable_hash(algo: str | None) -> str | None:
    """``algo`` if glancesync can compute it, else None."""
    return algo if algo in USABLE_HASHES else None


class MalformedImage(ValueError):
    """A Glance answer that does not describe an image we can work with."""


#: Largest size or RAM/disk figure accepted (Glance stores them as 64-bit).
MAX_NUMBER = 2**63 - 1
#: Characters an image id may not hold: it becomes a URL path segment.
_ID_FORBIDDEN = frozenset("/\\?#%")
_MAX_ID = 255


def _id(data: Mapping[str, Any]) -> str:
    """The document's id, if it can safely be one segment of a URL path."""
    value = data.get("id") if isinstance(data, Mapping) else None
    if not isinstance(value, str) or not value:
        raise MalformedImage(f"an image without an id: {str(data)[:80]!r}")
    if (
        len(value) > _MAX_ID
        or value in (".", "..")
        or not value.isprintable()
        or any(c in _ID_FORBIDDEN or c.isspace() for c in value)
    ):
        raise MalformedImage(f"an image id that is not a plain name: {value[:80]!r}")
    return value


def _number(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if value is None or value == "":
        return 0
    if isinstance(value, str) and value.isdigit() and len(value) < 20:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_NUMBER:
        raise MalformedImage(f"image {data.get('id')}: {key} is not a number: {str(value)[:40]!r}")
    return value


def _typed(data: Mapping[str, Any], key: str, kind: type, default: Any = None) -> Any:
    """``data[key]`` if it is of ``kind`` (None and absent give ``default``)."""
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise MalformedImage(f"image {data.get('id')}: {key} is a {type(value).__name__}")
    return value


def _tags(data: Mapping[str, Any]) -> tuple[str, ...]:
    tags = _typed(data, "tags", list, [])
    if not all(isinstance(tag, str) for tag in tags):
        raise MalformedImage(f"image {data.get('id')}: a tag is not a string")
    return tuple(tags)


def image_from_glance(data: Mapping[str, Any], region: str = "") -> Image:
    """Build an :class:`Image` from a Glance v2 image document.

    Raises :class:`MalformedImage` when the document has no id, an id that
    could not be a URL path segment, or values of the wrong kind (a server's
    answer is not trusted: doc/reliability.rst, "Hostile servers"). A
    missing name becomes ``""``, which matches no master image.
    """
    image_id = _id(data)
    properties = {k: v for k, v in data.items() if is_managed_property(k)}
    return Image(
        id=image_id,
        name=_typed(data, "name", str, ""),
        owner=_typed(data, "owner", str),
        size=_number(data, "size"),
        checksum=_typed(data, "checksum", str),
        os_hash_algo=_typed(data, "os_hash_algo", str),
        os_hash_value=_typed(data, "os_hash_value", str),
        status=_typed(data, "status", str, ""),
        visibility=_typed(data, "visibility", str, "") or "private",
        disk_format=_typed(data, "disk_format", str),
        container_format=_typed(data, "container_format", str),
        min_ram=_number(data, "min_ram"),
        min_disk=_number(data, "min_disk"),
        protected=_typed(data, "protected", bool, False),
        hidden=_typed(data, "os_hidden", bool, False),
        tags=_tags(data),
        created_at=_typed(data, "created_at", str, ""),
        region=region,
        properties=frozen(properties),
        raw=frozen(data),
    )
