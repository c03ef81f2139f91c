"""The one table of configuration keys: name, section, type, default, doc line.

Every rule about a key lives in its row of :data:`KEYS`: the loader
(:mod:`glancesync.config.loader`) validates and parses each value with the
row's parser, the dataclasses of :mod:`glancesync.config.settings` take their
defaults from it, and ``test/docs/test_config_reference.py`` checks
``doc/configuration.rst`` and ``etc/glancesync.conf.sample`` against it. A
new key is one new row here, one field in the settings, and its paragraph in
the reference.

The parsers of the value types live here too, next to the rows that use
them; :class:`ChecksumList` is the value of a checksum-list key.
"""

from __future__ import annotations

import functools
import math
import os
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from glancesync.config.condition import Condition, compile_condition
from glancesync.config.ini import (
    Entry,
    as_bool,
    as_int,
    as_list,
    as_number,
    as_positive,
    fail,
    one_of,
    quote,
)
from glancesync.config.storage import (
    conversion,
    disk_format,
    region_formats,
    region_stores,
    stores,
)
from glancesync.model.provenance import PROJECT_ID

#: The sections a key may go in: ``[main]``, or ``[DEFAULT]`` and the targets.
MAIN = "main"
TARGET = "target"
#: What a target key feeds: the target's settings, its way to authenticate
#: (read as a whole by :mod:`glancesync.config.credentials`), or a tuning of
#: every way (a field of the target's credentials).
SELECT = "select"
AUTH = "auth"
AUTH_OPTION = "auth option"

#: How image data reaches a region: through glancesync, or pulled by the
#: region's Glance itself (import method glance-download, same Keystone only).
TRANSFER_MODES = ("stream", "glance-download")
#: The most child processes ``--parallel`` starts at once: each holds its own
#: sessions and a share of the spool, and more than this only adds contention.
MAX_CHILDREN_LIMIT = 64
#: What ``retire`` may say (:mod:`glancesync.engine.retire`).
RETIRE_MODES = ("keep", "hide", "deactivate", "delete")
_INTERFACES = ("public", "internal", "admin")
_CHECKSUM = re.compile(r"[0-9a-f]{32}|[0-9a-f]{64}|[0-9a-f]{128}")
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


@dataclass(frozen=True)
class ChecksumList:
    """A conflict list (``replace``, ``rename``, ``dontupdate``).

    It holds checksums of region images (md5 or os_hash_value), and may
    end with the keyword ``any``.
    """

    checksums: frozenset[str] = frozenset()
    any: bool = False

    def names(self, checksums: frozenset[str]) -> bool:
        """Whether one of these checksums is listed explicitly."""
        return bool(self.checksums & checksums)


@dataclass(frozen=True)
class Key:
    """One configuration key: one row of the table."""

    name: str
    #: :data:`MAIN` or :data:`TARGET`.
    section: str
    #: The value type, as the reference's ``:Type:`` field names it.
    kind: str
    #: The built-in value when the key is not set; None when there is none
    #: (the key is required, or the default is worked out at run time).
    default: Any
    #: Entry -> value; None for the ways to authenticate, read together.
    parse: Callable[[Entry], Any] | None
    #: What the key is for: the first sentence of its reference paragraph.
    doc: str
    #: For a target key, :data:`SELECT`, :data:`AUTH` or :data:`AUTH_OPTION`.
    role: str = SELECT
    #: Other names accepted for the key (openstack's names, the seed's typos).
    aliases: tuple[str, ...] = ()
    #: Whether the value is (or holds) a secret.
    secret: bool = False


def text(entry: Entry) -> str:
    """The value as written (continuation lines joined, stripped)."""
    return entry.value.strip()


def path(entry: Entry) -> str:
    """A path; a leading ``~`` is expanded."""
    return os.path.expanduser(entry.value.strip())


def prom_path(entry: Entry) -> str:
    """A path the node exporter's textfile collector reads: it must end in ``.prom``."""
    value = path(entry)
    if not value.endswith(".prom") or value.endswith("/.prom"):
        raise fail(entry, f"{value!r} must be a file name ending in .prom")
    return value


def names(entry: Entry) -> tuple[str, ...]:
    """A list, in its order."""
    return tuple(as_list(entry))


def words(entry: Entry) -> frozenset[str]:
    """A list whose order does not matter."""
    return frozenset(as_list(entry))


def count(minimum: int, maximum: int | None = None) -> Callable[[Entry], int]:
    """A parser of whole numbers from *minimum* to *maximum*."""
    return functools.partial(as_int, minimum=minimum, maximum=maximum)


def interface(entry: Entry) -> str:
    """public, internal or admin (``publicURL`` and the like are accepted)."""
    value = entry.value.strip().lower().removesuffix("url")
    if value not in _INTERFACES:
        raise fail(entry, f"not an interface: {quote(entry.value)} (use public, internal or admin)")
    return value


def rate(entry: Entry) -> float:
    """A bandwidth in MB/s: a finite number >= 0, where 0 means no cap."""
    value = as_number(entry)
    if not (math.isfinite(value) and value >= 0):
        raise fail(entry, f"not a number of MB/s >= 0: {quote(entry.value)}")
    return value


#: Parsers of the keys that take one word of a list.
transfer = one_of(TRANSFER_MODES, "a transfer mode")
retire_mode = one_of(RETIRE_MODES, "a retire mode")


def project_map(entry: Entry) -> Mapping[str, str]:
    """``MASTER_PROJECT:TARGET_PROJECT`` pairs; each master project once."""
    pairs: dict[str, str] = {}
    for item in as_list(entry):
        master, sep, mine = item.partition(":")
        if not sep or not PROJECT_ID.fullmatch(master) or not PROJECT_ID.fullmatch(mine):
            raise fail(entry, f"not a MASTER:TARGET pair of project ids: {quote(item)}")
        if master in pairs:
            raise fail(entry, f"project {quote(master)} is mapped twice")
        pairs[master] = mine
    return MappingProxyType(pairs)


def checksums(entry: Entry) -> ChecksumList:
    """Checksums (md5, sha256 or sha512 in hex), and maybe the keyword ``any``."""
    found: set[str] = set()
    any_ = False
    for item in as_list(entry):
        if item.lower() == "any":
            any_ = True
        elif _CHECKSUM.fullmatch(item.lower()):
            found.add(item.lower())
        else:
            hint = "md5, sha256 or sha512 in hex, or 'any'"
            raise fail(entry, f"not a checksum: {quote(item)} ({hint})")
    return ChecksumList(frozenset(found), any_)


def uuids(entry: Entry) -> frozenset[str]:
    """Image ids, normalised to Glance's lower-case dashed form."""
    ids: set[str] = set()
    for item in as_list(entry):
        if not _UUID.fullmatch(item.lower()):
            raise fail(entry, f"not an image UUID: {quote(item)}")
        ids.add(str(uuid.UUID(item)))
    return frozenset(ids)


def condition(entry: Entry) -> Condition:
    """The compiled condition; its lines are joined with spaces first."""
    try:
        return _compiled(" ".join(entry.value.splitlines()))
    except (ValueError, SyntaxError, RecursionError, MemoryError) as err:
        raise fail(entry, f"invalid condition: {err}") from None


@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> Condition:
    # [DEFAULT]'s condition is inherited by every target: compile it once.
    return compile_condition(source)


_M, _T = MAIN, TARGET

#: Every key, in the order of the reference. Within the ways to authenticate
#: the order matters: the first one set decides which way a target uses.
# fmt: off
KEYS: tuple[Key, ...] = (
    # --- [main] ---
    Key("master_region", _M, "string", None, text,
        "The region of the master target that holds the images to copy."),
    Key("preferable_order", _M, "list", (), names,
        "When no region is named on the command line, these regions of the master target "
        "are worked on first, in this order."),
    Key("max_children", _M, "whole number", 1, count(1, MAX_CHILDREN_LIMIT),
        "How many regions ``--parallel`` works on at once, one child process each."),
    Key("log_dir", _M, "path", ".", path,
        "Where ``--parallel`` creates one ``sync_YYYYmmdd_HHMMSS`` directory per run, "
        "holding one log file per region."),
    Key("lock_file", _M, "path", None, path, "The run lock."),
    Key("cache_dir", _M, "path", None, path,
        "Where a sync of several regions creates its spool: a directory holding the master "
        "images already streamed and verified in this run, so that each image is read from "
        "the master once, not once per region."),
    Key("cache_size_mb", _M, "whole number", 20_000, count(0), "The most the spool may hold."),
    Key("max_uploads_per_region", _M, "whole number", 1, count(1),
        "How many uploads run at once inside one region (in threads)."),
    Key("metrics_file", _M, "path", None, prom_path,
        "Where every run writes its figures in Prometheus text format, for the node "
        "exporter's textfile collector."),
    Key("fan_out", _M, "whole number", 1, count(1, MAX_CHILDREN_LIMIT),
        "How many regions a sync without ``--parallel`` works on at once, in threads of "
        "one process, sharing each read of the master."),
    Key("bwlimit", _M, "number", 0.0, rate,
        "The most MB/s the run reads from the master, and sends to any one region."),
    # --- targets: the ways to authenticate, read by glancesync.config.credentials ---
    Key("credential", _T, "BASE64_PASSWORD", None, None,
        "The FIWARE form of a password credential.", AUTH, secret=True),
    Key("cloud", _T, "string", None, None,
        "The name of a clouds.yaml entry that holds the whole authentication.", AUTH),
    Key("application_credential_id", _T, "string", None, None,
        "With ``application_credential_secret`` and ``keystone_url``.", AUTH),
    Key("application_credential_secret", _T, "secret", None, None,
        "The secret of the application credential.", AUTH, secret=True),
    Key("user", _T, "string", None, None,
        "User name, with ``password``, ``keystone_url`` and ``tenant``.", AUTH,
        aliases=("username",)),
    Key("password", _T, "secret", None, None,
        "The user's password, in clear text.", AUTH, secret=True),
    Key("keystone_url", _T, "URL", None, None,
        "The Keystone of the target.", AUTH, aliases=("auth_url",)),
    Key("tenant", _T, "string", None, None,
        "The project (by name) the credentials are scoped to.", AUTH,
        aliases=("project", "project_name")),
    # --- targets: tuning every way ---
    Key("user_domain_name", _T, "string", "Default", text,
        "Keystone v3 domain of the user, for password credentials.", AUTH_OPTION),
    Key("project_domain_name", _T, "string", "Default", text,
        "Keystone v3 domain of the project, for password credentials.", AUTH_OPTION),
    Key("interface", _T, "public", "public", interface,
        "Which catalog endpoints are used to find and reach the Glance servers.", AUTH_OPTION),
    Key("verify", _T, "boolean", True, as_bool, "Check TLS certificates.", AUTH_OPTION),
    Key("cacert", _T, "path", None, path,
        "A CA bundle to check certificates with, when ``verify`` is true.", AUTH_OPTION),
    # --- targets: selection and conflicts ---
    Key("ignore_regions", _T, "list", (), names,
        "Regions of this target left out when no region is named, when ``target:`` is "
        "expanded, and by ``--show-regions``."),
    Key("forcesyncs", _T, "list of image UUIDs", frozenset(), uuids,
        "Images selected whatever the other rules say, private ones included.",
        aliases=("forcesync",)),
    Key("metadata_condition", _T, "expression", None, condition,
        "Decides whether an image is selected; see :doc:`manual`."),
    Key("metadata_set", _T, "list", frozenset(), words,
        "Public images with at least one of these properties are selected (unless "
        "``metadata_condition`` is set), and only these properties are copied, compared "
        "and removed."),
    Key("replace", _T, "checksum list", ChecksumList(), checksums,
        "Region images with these checksums (or any, with ``any``) are replaced by the "
        "master's image: upload, verify, then delete the old one."),
    Key("rename", _T, "checksum list", ChecksumList(), checksums,
        "Region images with these checksums (or any, with ``any``) are renamed ``NAME.old`` "
        "and made private before the master's image is uploaded."),
    Key("dontupdate", _T, "checksum list", ChecksumList(), checksums,
        "Region images with these checksums are left as they are (``ok_stalled_checksum``)."),
    Key("only_tenant_images", _T, "boolean", True, as_bool,
        "Ignore other projects' images in the regions."),
    Key("support_obsolete_images", _T, "boolean", True, as_bool,
        "Follow the master when it renames an image ``NAME_obsolete``."),
    Key("obsolete_syncprops", _T, "list", frozenset(), words,
        "Properties copied from the master to a region's obsolete image."),
    # --- targets: the others ---
    Key("list_images_timeout", _T, "number", 30.0, as_positive,
        "The longest time listing one region's images may take, all pages included."),
    Key("images_dir", _T, "path", None, path,
        "A directory holding the master's image files, named by image id (the old tool's "
        "deployment on the master Glance host).", aliases=("images_path",)),
    Key("transfer", _T, "stream", "stream", transfer,
        "How image data reaches the master target's regions."),
    Key("upload_bwlimit", _T, "number", None, rate,
        "The most MB/s sent to any one region of this target."),
    Key("replace_protected", _T, "boolean", False, as_bool,
        "Whether ``replace`` may replace a region image that is protected."),
    # --- targets: an image's life ---
    Key("keep_ids", _T, "boolean", False, as_bool,
        "Create each copy with the master image's id, when the region can give it."),
    Key("member_projects", _T, "list of MASTER:TARGET project ids", MappingProxyType({}),
        project_map,
        "Which project of this target stands for each member project of a shared master "
        "image."),
    Key("retire", _T, "keep", "keep", retire_mode,
        "What becomes of a copy whose master image is gone."),
    Key("retire_delete_after", _T, "number of days", None, as_positive,
        "Delete a hidden or deactivated copy this many days after it was retired."),
    Key("max_retire", _T, "whole number", 5, count(0),
        "The most copies one region may retire in one run."),
    Key("retire_protected", _T, "boolean", False, as_bool,
        "Whether retirement may deactivate or delete a protected copy."),
    # --- targets: how regions store their copies ---
    Key("disk_format", _T, "disk format", None, disk_format,
        "The disk format of the copies in this target's regions, converted from the master's "
        "when it differs."),
    Key("disk_format_regions", _T, "list of REGION:FORMAT", MappingProxyType({}),
        region_formats,
        "Regions whose copies take another disk format than ``disk_format`` says."),
    Key("conversion", _T, "auto", "auto", conversion,
        "Where a copy is converted: by the region on import when it can, else here "
        "(``auto``), or always here (``local``)."),
    Key("stores", _T, "list", (), stores,
        "The Glance stores every copy is written into, and must be in to count as synced."),
    Key("stores_regions", _T, "list of REGION:STORE+STORE", MappingProxyType({}),
        region_stores,
        "Regions whose copies go into other stores than ``stores`` says."),
)
# fmt: on

#: Name -> row.
BY_NAME: Mapping[str, Key] = MappingProxyType({key.name: key for key in KEYS})
MAIN_KEYS = tuple(key.name for key in KEYS if key.section == MAIN)
TARGET_KEYS = tuple(key.name for key in KEYS if key.section == TARGET)
#: Alias -> the key it names.
ALIASES: Mapping[str, str] = MappingProxyType(
    {alias: key.name for key in KEYS for alias in key.aliases}
)
#: Keys that choose a way to authenticate, in the order they are tried.
WAY_KEYS = tuple(key.name for key in KEYS if key.role == AUTH)
#: Keys that tune every way (fields of the credentials of the same name).
COMMON_KEYS = tuple(key.name for key in KEYS if key.role == AUTH_OPTION)
#: Keys whose value is (or holds) a secret.
SECRET_KEYS = frozenset(key.name for key in KEYS if key.secret)


def default(name: str) -> Any:
    """The default of key *name*, for the settings' dataclass fields."""
    return BY_NAME[name].default


def parsed(keys: tuple[str, ...], values: Mapping[str, Entry]) -> dict[str, Any]:
    """Key name -> parsed value, for the *keys* that *values* sets (and can parse)."""
    return {
        name: parser(values[name])
        for name in keys
        if name in values and (parser := BY_NAME[name].parse) is not None
    }
