"""Provenance: what a copy records about the master image it was made from.

glancesync's own bookkeeping lives in properties whose keys begin with
``glancesync_`` (doc/manual.rst, "An image's life"). They are never copied
from the master, never compared as user properties, never removed by
``metadata_set`` rules, and survive every later metadata update. A region
image without them is the region's own: it is never renamed, retired or
deleted by glancesync.

They are read from the image's raw document, because
:func:`~glancesync.model.image.is_managed_property` keeps them out of
``Image.properties``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import cast

from glancesync.model.image import Image

PREFIX = "glancesync_"
#: The master image's id.
SOURCE_ID = PREFIX + "source_id"
#: The master region's name.
SOURCE_REGION = PREFIX + "source_region"
#: The master's hash the copy was made from, ``ALGO:VALUE``.
SOURCE_HASH = PREFIX + "source_hash"
#: When the copy was retired (ISO 8601, UTC); set by ``retire = hide|deactivate``.
RETIRED_AT = PREFIX + "retired_at"
#: The member projects glancesync added to the copy, comma-separated.
MEMBERS = PREFIX + "members"
#: On a converted copy: the master's disk format it was converted from. Its own
#: checksum is then not the master's; SOURCE_HASH says which bytes it was made from.
CONVERTED_FROM = PREFIX + "converted_from"

#: Where :func:`provenance_of` keeps its answer on an image.
_MEMO = "_provenance"
#: The longest id, region name or hash glancesync writes (Glance's own names
#: stop at 255 characters). A longer value is not ours.
_MAX_VALUE = 255
#: The longest member record read. Glance stores a property value as TEXT
#: (65,535 bytes in MySQL; SQLite and PostgreSQL have no limit), and keeps at
#: most ``image_member_quota`` members per image (128 by default): 128 project
#: ids of Keystone's 64 characters at most make 8,320 (doc/manual.rst, "Sharing").
MAX_MEMBERS_VALUE = 65_535
_HASH = re.compile(r"[a-z0-9_]{1,32}:[0-9a-f]{1,255}")
#: What a Keystone project id looks like (hex for SQL-backed Keystones).
PROJECT_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")


@dataclass(frozen=True)
class Provenance:
    """The provenance properties of one region image, validated."""

    source_id: str
    source_region: str
    source_hash: str
    retired_at: datetime | None = None
    members: frozenset[str] = frozenset()


def master_hash(image: Image) -> str:
    """``ALGO:VALUE`` of the strongest hash Glance gave for *image*."""
    if image.os_hash_algo and image.os_hash_value:
        return f"{image.os_hash_algo}:{image.os_hash_value}"
    return f"md5:{image.checksum}" if image.checksum else ""


def stamp(master: Image, master_region: str) -> dict[str, str]:
    """The provenance a new copy of *master* carries."""
    return {
        SOURCE_ID: master.id,
        SOURCE_REGION: master_region,
        SOURCE_HASH: master_hash(master),
    }


def provenance_of(image: Image) -> Provenance | None:
    """The image's provenance, or None when it has none (or a malformed one).

    A region's users can edit properties: anything that does not look like
    what glancesync writes counts as no provenance, so a forged or damaged
    stamp can only make glancesync leave an image alone.

    The answer is kept on the image: the planner asks it of one copy up to
    three times (sharing, metadata, retirement), and both are frozen values.
    """
    memo = image._memo
    if memo is None:
        memo = {}
        object.__setattr__(image, "_memo", memo)
    elif _MEMO in memo:
        return cast("Provenance | None", memo[_MEMO])
    found = _parse(image)
    memo[_MEMO] = found
    return found


def _parse(image: Image) -> Provenance | None:
    raw = image.raw
    values = [raw.get(key) for key in (SOURCE_ID, SOURCE_REGION, SOURCE_HASH)]
    if not all(isinstance(v, str) and 0 < len(v) <= _MAX_VALUE for v in values):
        return None
    source_id, source_region, source_hash = (str(v) for v in values)
    if not _HASH.fullmatch(source_hash):
        return None
    return Provenance(
        source_id=source_id,
        source_region=source_region,
        source_hash=source_hash,
        retired_at=_moment(raw.get(RETIRED_AT)),
        members=_projects(raw.get(MEMBERS)),
    )


def converted_from(image: Image) -> str | None:
    """The master's disk format a converted copy was made from, or None."""
    value = image.raw.get(CONVERTED_FROM)
    return value if isinstance(value, str) and 0 < len(value) <= 16 else None


def made_from(copy: Provenance, master: Image) -> bool:
    """Whether the copy was made from the master's current bytes."""
    return copy.source_hash == master_hash(master) != ""


def moment(when: datetime) -> str:
    """The stamp of a retirement moment (UTC, to the second)."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def members_value(projects: frozenset[str]) -> str:
    """The value of :data:`MEMBERS` for *projects*."""
    return ",".join(sorted(projects))


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _projects(value: object) -> frozenset[str]:
    if not isinstance(value, str) or len(value) > MAX_MEMBERS_VALUE:
        return frozenset()
    return frozenset(p for p in value.split(",") if PROJECT_ID.fullmatch(p))
