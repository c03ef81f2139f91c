"""Load the configuration file, overrides and environment into :class:`Settings`.

The file is the FIWARE GlanceSync INI file: ``[main]`` holds global options,
``[DEFAULT]`` per-target defaults, and every other section (``[master]``
included) is a target. A target's values are ``[DEFAULT]``'s updated by its
own section; ``key =`` with nothing after it undefines the key, so that the
built-in default applies. ``section.key=value`` overrides go on top of the
file before anything is checked.

Everything is validated here, so that a mistake is one :class:`ConfigError`
line at start-up, before any client library is imported: unknown keys (with
a "did you mean" hint), booleans, numbers, checksums, image UUIDs, metadata
conditions, and credentials (see :mod:`glancesync.config.credentials`). The master
target takes its credentials from ``OS_*`` variables when the file gives it
none, and its region from ``[main] master_region``, ``OS_REGION_NAME`` or its
cloud, in that order.

The INI reading itself is in :mod:`glancesync.config.ini`.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Protocol

from glancesync.config.condition import Condition, compile_condition
from glancesync.config.credentials import COMMON_KEYS, SECRET_KEYS, WAY_KEYS, target_credentials
from glancesync.config.ini import (
    DEFAULT_SECTION,
    OVERRIDE_ORIGIN,
    Entry,
    Sections,
    apply_overrides,
    as_bool,
    as_int,
    as_list,
    as_positive,
    error,
    fail,
    parse,
    quote,
)
from glancesync.config.settings import (
    DEFAULT_CACHE_SIZE_MB,
    TRANSFER_MODES,
    ChecksumList,
    Settings,
    TargetSettings,
)
from glancesync.model.errors import UsageError
from glancesync.model.region import MASTER, RegionRef
from glancesync.model.text import one_line

DEFAULT_CONFIG_PATH = "/etc/glancesync.conf"
#: The variable naming the file when no path is given.
CONFIG_ENV = "GLANCESYNC_CONFIG"
MAIN_SECTION = "main"

LOG = logging.getLogger(__name__)

MAIN_KEYS = (
    "master_region", "preferable_order", "max_children", "log_dir", "lock_file",
    "cache_dir", "cache_size_mb", "max_uploads_per_region",
)  # fmt: skip
TARGET_KEYS = WAY_KEYS + COMMON_KEYS + (
    "ignore_regions", "forcesyncs", "metadata_condition", "metadata_set",
    "replace", "rename", "dontupdate", "only_tenant_images", "support_obsolete_images",
    "obsolete_syncprops", "list_images_timeout", "images_dir", "transfer",
    "replace_protected",
)  # fmt: skip
#: Other names accepted for target keys (openstack's names, the seed's typos).
ALIASES = {
    "username": "user",
    "auth_url": "keystone_url",
    "project": "tenant",
    "project_name": "tenant",
    "forcesync": "forcesyncs",
    "images_path": "images_dir",
}
_CHECKSUM = re.compile(r"[0-9a-f]{32}|[0-9a-f]{64}|[0-9a-f]{128}")
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
_BAD_TARGET_NAME = re.compile(r"[\s:]|^$")


class Readable(Protocol):
    """A text stream, as far as :func:`load_settings` needs one."""

    def read(self) -> str | bytes: ...  # pragma: no cover - a protocol


def load_settings(
    source: str | os.PathLike[str] | Readable | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read, override and validate the configuration; raise ConfigError if wrong.

    *source* is a path, a text stream, or None for ``$GLANCESYNC_CONFIG``,
    else :data:`DEFAULT_CONFIG_PATH` (the only file that may be missing; the
    master then comes from the environment). *overrides* are
    ``section.key=value`` or ``key=value`` (for ``[DEFAULT]``) strings.
    *environ* defaults to :data:`os.environ`.
    """
    env = os.environ if environ is None else environ
    text, origin, others_can_read = _read_source(source, env)
    sections = parse(text, origin) if text is not None else {}
    apply_overrides(sections, overrides)
    loader = _Loader(sections, origin, env)
    settings = loader.settings()  # an error is then the only line printed (decision 16)
    if others_can_read and loader.holds_secrets():
        LOG.warning("%s is readable by group or others and holds passwords: chmod 600 it", origin)
    return settings


def check_targets(settings: Settings, names: Iterable[str]) -> None:
    """Raise UsageError unless every target in *names* is configured.

    A name may also be a region argument: ``target:Region`` or ``Region``.
    """
    configured = list(settings.targets)
    wanted = dict.fromkeys(RegionRef.parse(name).target for name in names)
    unknown = [name for name in wanted if name not in configured]
    if not unknown:
        return
    plural = "s" if len(unknown) > 1 else ""
    close = difflib.get_close_matches(unknown[0], configured, n=1)
    hint = f"; did you mean {quote(close[0])}?" if close and not plural else ""
    listed = ", ".join(map(quote, unknown))
    message = f"unknown target{plural} {listed} (configured: {', '.join(configured)}){hint}"
    raise UsageError(one_line(message, 300))


def _read_source(
    source: str | os.PathLike[str] | Readable | None, env: Mapping[str, str]
) -> tuple[str | None, str | None, bool]:
    """The text (None: no file), its name for messages, and whether others may read it."""
    if source is not None and not isinstance(source, (str, bytes, os.PathLike)):
        name = getattr(source, "name", None)
        origin = name if isinstance(name, str) else "<stream>"
        try:
            data = source.read()
            return (data.decode() if isinstance(data, bytes) else str(data)), origin, False
        except (OSError, UnicodeDecodeError) as err:
            raise error(f"cannot read: {_reason(err)}", origin) from None
    may_be_missing = source is None and not env.get(CONFIG_ENV)
    path = os.fsdecode(source) if source is not None else env.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH
    try:
        with open(path, encoding="utf-8") as stream:
            others_can_read = bool(os.fstat(stream.fileno()).st_mode & 0o044)
            return stream.read(), path, others_can_read
    except FileNotFoundError:
        if may_be_missing:
            return None, None, False
        raise error("configuration file not found", path) from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise error(f"cannot read: {_reason(err)}", path) from None


def _reason(err: Exception) -> str:
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text (byte {err.start})"
    return getattr(err, "strerror", None) or type(err).__name__


class _Loader:
    """Turns raw sections into Settings; one instance per load."""

    def __init__(self, sections: Sections, origin: str | None, env: Mapping[str, str]) -> None:
        self.origin = origin
        self.env = env
        self.conditions: dict[str, Condition] = {}
        self.main = _canonical(MAIN_SECTION, sections.pop(MAIN_SECTION, {}))
        self.defaults = _canonical(DEFAULT_SECTION, sections.pop(DEFAULT_SECTION, {}))
        self.targets = {MASTER: _canonical(MASTER, sections.pop(MASTER, {}))}
        for name, entries in sections.items():
            if _BAD_TARGET_NAME.search(name):
                message = "a target name may not be empty or hold spaces or ':'"
                where = next((entry.origin for entry in entries.values()), origin)
                raise error(message, where, name)
            self.targets[name] = _canonical(name, entries)

    def holds_secrets(self) -> bool:
        """Whether a section of the file sets a password or secret."""
        sections = (self.defaults, *self.targets.values())
        return any(
            key in SECRET_KEYS and entry.origin == self.origin and entry.value
            for entries in sections
            for key, entry in entries.items()
        )

    def settings(self) -> Settings:
        main = {key: entry for key, entry in self.main.items() if entry.value}
        order, log_dir, lock_file, cache_dir = (
            main.get(k) for k in ("preferable_order", "log_dir", "lock_file", "cache_dir")
        )
        max_children = as_int(main["max_children"], 1) if "max_children" in main else 1
        cache_size_mb = as_int(main["cache_size_mb"], 0) if "cache_size_mb" in main else None
        uploads = main.get("max_uploads_per_region")
        targets = {name: self._target(name) for name in self.targets}
        region = main["master_region"].value if "master_region" in main else None
        region = region or (self.env.get("OS_REGION_NAME") or "").strip()
        region = region or targets[MASTER].credentials.region_name
        if not region:
            message = "no master region: set master_region in [main], or OS_REGION_NAME"
            raise error(message, self.origin, MAIN_SECTION, "master_region")
        return Settings(
            master_region=region,
            targets=MappingProxyType(targets),
            preferable_order=tuple(as_list(order)) if order else (),
            max_children=max_children,
            log_dir=os.path.expanduser(log_dir.value) if log_dir else ".",
            lock_file=os.path.expanduser(lock_file.value) if lock_file else None,
            cache_dir=os.path.expanduser(cache_dir.value) if cache_dir else None,
            cache_size_mb=DEFAULT_CACHE_SIZE_MB if cache_size_mb is None else cache_size_mb,
            max_uploads_per_region=as_int(uploads, 1) if uploads else 1,
            source=self.origin,
        )

    def _target(self, name: str) -> TargetSettings:
        merged = {**self.defaults, **self.targets[name]}
        values = {key: entry for key, entry in merged.items() if entry.value}

        def checksums(key: str) -> ChecksumList:
            return _checksums(values[key]) if key in values else ChecksumList()

        def flag(key: str, default: bool = True) -> bool:
            return as_bool(values[key]) if key in values else default

        def words(key: str) -> frozenset[str]:
            return frozenset(as_list(values[key])) if key in values else frozenset()

        get = values.get
        condition, timeout, images_dir = (
            get("metadata_condition"),
            get("list_images_timeout"),
            get("images_dir"),
        )
        ignored = get("ignore_regions")
        forced = get("forcesyncs")
        transfer = get("transfer")
        if transfer and transfer.value.strip() not in TRANSFER_MODES:
            modes = " or ".join(TRANSFER_MODES)
            raise fail(transfer, f"not a transfer mode: {quote(transfer.value)} (use {modes})")
        if transfer and transfer.value.strip() == "glance-download" and name != MASTER:
            message = "glance-download needs the master's Keystone: only for [master]"
            raise fail(transfer, message)
        return TargetSettings(
            name=name,
            credentials=target_credentials(name, values, self.env, self.origin),
            ignore_regions=tuple(as_list(ignored)) if ignored else (),
            forcesyncs=_uuids(forced) if forced else frozenset(),
            metadata_condition=self._condition(condition) if condition else None,
            metadata_set=words("metadata_set"),
            replace=checksums("replace"),
            rename=checksums("rename"),
            dontupdate=checksums("dontupdate"),
            only_tenant_images=flag("only_tenant_images"),
            support_obsolete_images=flag("support_obsolete_images"),
            obsolete_syncprops=words("obsolete_syncprops"),
            list_images_timeout=as_positive(timeout) if timeout else 30.0,
            images_dir=os.path.expanduser(images_dir.value) if images_dir else None,
            transfer=transfer.value.strip() if transfer else "stream",
            replace_protected=flag("replace_protected", default=False),
        )

    def _condition(self, entry: Entry) -> Condition:
        """The compiled condition; its lines are joined with spaces first."""
        text = " ".join(entry.value.splitlines())
        if text not in self.conditions:
            try:
                self.conditions[text] = compile_condition(text)
            except (ValueError, SyntaxError, RecursionError, MemoryError) as err:
                raise fail(entry, f"invalid condition: {err}") from None
        return self.conditions[text]


def _canonical(section: str, entries: Mapping[str, Entry]) -> dict[str, Entry]:
    """Check the keys of one section and resolve aliases; keep empty values."""
    is_main = section == MAIN_SECTION
    known = MAIN_KEYS if is_main else TARGET_KEYS
    out: dict[str, Entry] = {}
    for key, entry in entries.items():
        name = key if is_main else ALIASES.get(key, key)
        if name not in known:
            raise fail(entry, _unknown_key(key, is_main))
        previous = out.get(name)
        if previous is not None and entry.origin != OVERRIDE_ORIGIN:
            if previous.origin == OVERRIDE_ORIGIN:
                continue  # an override wins over the file, whatever the alias
            raise fail(entry, f"{quote(previous.key)} is set too; keep one of them")
        out[name] = entry
    return out


def _unknown_key(key: str, is_main: bool) -> str:
    if is_main and (key in TARGET_KEYS or key in ALIASES):
        return "unknown key in [main]: it belongs in a target section or [DEFAULT]"
    if not is_main and key in MAIN_KEYS:
        return "unknown key here: it belongs in [main]"
    known = MAIN_KEYS if is_main else (*TARGET_KEYS, *ALIASES)
    close = difflib.get_close_matches(key, known, n=1)
    return f"unknown key; did you mean {quote(close[0])}?" if close else "unknown key"


def _checksums(entry: Entry) -> ChecksumList:
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


def _uuids(entry: Entry) -> frozenset[str]:
    """Image ids, normalised to Glance's lower-case dashed form."""
    ids: set[str] = set()
    for item in as_list(entry):
        if not _UUID.fullmatch(item.lower()):
            raise fail(entry, f"not an image UUID: {quote(item)}")
        ids.add(str(uuid.UUID(item)))
    return frozenset(ids)
