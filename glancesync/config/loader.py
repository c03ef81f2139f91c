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

Which keys exist, where they go, how each value is parsed and what it
defaults to is the table in :mod:`glancesync.config.keys`; the INI reading
itself is in :mod:`glancesync.config.ini`.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Protocol

from glancesync.config.credentials import target_credentials
from glancesync.config.ini import (
    DEFAULT_SECTION,
    OVERRIDE_ORIGIN,
    Entry,
    Sections,
    apply_overrides,
    error,
    fail,
    parse,
    quote,
)
from glancesync.config.keys import (
    ALIASES,
    BY_NAME,
    MAIN_KEYS,
    SECRET_KEYS,
    SELECT,
    TARGET_KEYS,
    WAY_KEYS,
    parsed,
)
from glancesync.config.keys import transfer as transfer_mode
from glancesync.config.settings import Settings, TargetSettings
from glancesync.model.errors import UsageError
from glancesync.model.region import MASTER, RegionRef
from glancesync.model.text import one_line

DEFAULT_CONFIG_PATH = "/etc/glancesync.conf"
#: The variable naming the file when no path is given.
CONFIG_ENV = "GLANCESYNC_CONFIG"
MAIN_SECTION = "main"

LOG = logging.getLogger(__name__)

#: The keys of one target that feed its TargetSettings (credentials aside).
_SELECT_KEYS = tuple(key for key in TARGET_KEYS if BY_NAME[key].role == SELECT)
#: Keys that a clouds.yaml target does not use: its entry decides TLS.
_CLOUD_IGNORES = ("verify", "cacert")
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
    # Warnings only once all is valid: an error is then the only line printed
    # (doc/design.rst, "One-line errors mean one line").
    settings = loader.settings()
    if others_can_read and loader.holds_secrets():
        LOG.warning("%s is readable by group or others and holds passwords: chmod 600 it", origin)
    for message in loader.warnings():
        LOG.warning("%s", message)
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
        # Opened without blocking, so that a FIFO with no writer cannot hang
        # the run: it is refused below, as is anything but a regular file.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise error(f"cannot read: not a regular file ({_file_kind(mode)})", path)
            os.set_blocking(fd, True)
            stream = open(fd, encoding="utf-8")  # noqa: SIM115 - closed by the with below
        except BaseException:
            os.close(fd)
            raise
        with stream:
            return stream.read(), path, bool(mode & 0o044)
    except FileNotFoundError:
        if may_be_missing:
            return None, None, False
        raise error("configuration file not found", path) from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise error(f"cannot read: {_reason(err)}", path) from None


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((name for test, name in kinds if test(mode)), "not a file")


def _reason(err: Exception) -> str:
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text (byte {err.start})"
    return getattr(err, "strerror", None) or type(err).__name__


class _Loader:
    """Turns raw sections into Settings; one instance per load."""

    def __init__(self, sections: Sections, origin: str | None, env: Mapping[str, str]) -> None:
        self.origin = origin
        self.env = env
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
        values = parsed(MAIN_KEYS, main)
        targets = {name: self._target(name) for name in self.targets}
        region = values.pop("master_region", None)
        region = region or (self.env.get("OS_REGION_NAME") or "").strip()
        region = region or targets[MASTER].credentials.region_name
        if not region:
            message = "no master region: set master_region in [main], or OS_REGION_NAME"
            raise error(message, self.origin, MAIN_SECTION, "master_region")
        return Settings(
            master_region=region,
            targets=MappingProxyType(targets),
            source=self.origin,
            **values,
        )

    def warnings(self) -> list[str]:
        """What the file sets that this run will not use, as one-line messages."""
        ignored = []
        for name in self.targets:
            merged = {**self.defaults, **self.targets[name]}
            values = {key: entry for key, entry in merged.items() if entry.value}
            if "cloud" in values or (name == MASTER and self._master_cloud(values)):
                ignored += [f"[{name}] {key}" for key in _CLOUD_IGNORES if key in values]
        if not ignored:
            return []
        where = f"{self.origin}: " if self.origin else ""
        return [
            f"{where}{', '.join(ignored)}: ignored for a target authenticated by clouds.yaml; "
            "set verify or cacert in its clouds.yaml entry"
        ]

    def _master_cloud(self, values: Mapping[str, Entry]) -> bool:
        """Whether the master authenticates with $OS_CLOUD (its file sets no way)."""
        has_way = any(key in values for key in WAY_KEYS)
        return not has_way and bool((self.env.get("OS_CLOUD") or "").strip())

    def _target(self, name: str) -> TargetSettings:
        merged = {**self.defaults, **self.targets[name]}
        values = {key: entry for key, entry in merged.items() if entry.value}
        transfer = values.get("transfer")
        if transfer and transfer_mode(transfer) == "glance-download" and name != MASTER:
            message = "glance-download needs the master's Keystone: only for [master]"
            raise fail(transfer, message)
        credentials = target_credentials(name, values, self.env, self.origin)
        return TargetSettings(name=name, credentials=credentials, **parsed(_SELECT_KEYS, values))


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
