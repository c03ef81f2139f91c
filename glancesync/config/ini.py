"""The INI layer of :mod:`glancesync.config.loader`: text and overrides to raw sections.

Nothing here knows what a key means. The file is read with
:mod:`configparser`, without interpolation and with ``[DEFAULT]`` kept as an
ordinary section (so ``[main]`` inherits nothing from it); command-line
overrides are laid on top. Each value remembers where it came from, so that
errors can name the file, or ``override`` for the command line.

Messages never quote a line of the file (it could hold a password), and
are one line whatever the file holds.

A few typed getters (lists, booleans, numbers) live here too, as every
config module needs them.
"""

from __future__ import annotations

import configparser
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from glancesync.model.errors import ConfigError
from glancesync.model.text import one_line

#: The name configparser would give its default section; no file can use it.
NO_DEFAULT_SECTION = "\x00glancesync: no default section\x00"
#: The origin of values given with ``section.key=value`` on the command line.
OVERRIDE_ORIGIN = "override"
DEFAULT_SECTION = "DEFAULT"

_LINE_JOIN = re.compile(r"\\[ \t]*\n")
_KEY_LIKE = re.compile(r"[\w.-]{1,60}")
_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True}
_BOOLEANS |= {"false": False, "no": False, "off": False, "0": False}


@dataclass(frozen=True)
class Entry:
    """One ``key = value`` as written (continuation lines joined), and where."""

    value: str
    section: str
    #: As written, in lower case: an alias stays an alias in messages.
    key: str
    #: The file path, ``<stream>``, ``override``, ``environment`` or None.
    origin: str | None = None


#: Section name -> key (lower case) -> entry, in file order.
Sections = dict[str, dict[str, Entry]]


def quote(text: str) -> str:
    """*text* quoted for a one-line message."""
    return f"'{one_line(text, 80)}'"


def error(
    message: str, origin: str | None, section: str | None = None, key: str | None = None
) -> ConfigError:
    """A one-line ConfigError, whatever characters its parts hold."""
    return ConfigError(
        one_line(message, 300),
        path=one_line(origin, 200) if origin else None,
        section=one_line(section, 80) if section is not None else None,
        key=one_line(key, 80) if key is not None else None,
    )


def fail(entry: Entry, message: str) -> ConfigError:
    """A ConfigError about *entry*: its file, section and key."""
    return error(message, entry.origin, entry.section, entry.key)


def one_of(choices: tuple[str, ...], what: str) -> Callable[[Entry], str]:
    """A parser of one of *choices* (case aside); the error names *what* and the choices."""

    def parse(entry: Entry) -> str:
        value = entry.value.strip().lower()
        if value not in choices:
            listed = (
                ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
            )
            raise fail(entry, f"not {what}: {quote(entry.value)} (use {listed})")
        return value

    return parse


def as_list(entry: Entry) -> list[str]:
    """A comma (or line) separated list, stripped, without empty items."""
    return [item.strip() for item in re.split(r"[,\n]", entry.value) if item.strip()]


def as_bool(entry: Entry) -> bool:
    """true/false, yes/no, on/off or 1/0, in any case."""
    try:
        return _BOOLEANS[entry.value.strip().lower()]
    except KeyError:
        raise fail(entry, f"not a boolean: {quote(entry.value)} (use true or false)") from None


def as_int(entry: Entry, minimum: int, maximum: int | None = None) -> int:
    """A whole number no smaller than *minimum* (and no larger than *maximum*)."""
    try:
        value = int(entry.value.strip())
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise fail(entry, f"not a whole number >= {minimum}: {quote(entry.value)}")
    if maximum is not None and value > maximum:
        raise fail(entry, f"not a whole number <= {maximum}: {quote(entry.value)}")
    return value


def as_number(entry: Entry) -> float:
    """The entry as a float; NaN when it is not a number (callers check the range)."""
    try:
        return float(entry.value.strip())
    except ValueError:
        return math.nan


def as_positive(entry: Entry) -> float:
    """A finite number greater than 0."""
    value = as_number(entry)
    if not (math.isfinite(value) and value > 0):
        raise fail(entry, f"not a positive number: {quote(entry.value)}")
    return value


def clean(text: str) -> str:
    """Join ``\\``-continued lines with a space, and strip."""
    return _LINE_JOIN.sub(" ", text).strip()


def parse(text: str, origin: str | None) -> Sections:
    """Read INI *text*; a syntax error is a :class:`ConfigError` with its line."""
    parser = configparser.ConfigParser(
        interpolation=None,
        default_section=NO_DEFAULT_SECTION,
        empty_lines_in_values=False,
        strict=True,
    )
    try:
        parser.read_string(text, source=origin or "<string>")
    except configparser.MissingSectionHeaderError as err:
        raise error(f"line {err.lineno}: a setting before any [section] header", origin) from None
    except configparser.DuplicateSectionError as err:
        where = f"line {err.lineno}: " if err.lineno else ""
        raise error(f"{where}the section appears twice", origin, str(err.section)) from None
    except configparser.DuplicateOptionError as err:
        where = f"line {err.lineno}: " if err.lineno else ""
        message = f"{where}the key is set twice in this section"
        raise error(message, origin, str(err.section), str(err.option)) from None
    except configparser.ParsingError as err:
        lines = ", ".join(str(entry[0]) for entry in getattr(err, "errors", ())[:5])
        message = "not a 'key = value' line, a comment or a [section] header"
        raise error(f"line {lines or '?'}: {message}", origin) from None
    except configparser.Error:
        raise error("not a valid INI file", origin) from None
    sections: Sections = {}
    for name in parser.sections():
        items = parser.items(name, raw=True)
        sections[name] = {key: Entry(clean(value or ""), name, key, origin) for key, value in items}
    return sections


def apply_overrides(sections: Sections, overrides: Iterable[str]) -> None:
    """Lay ``section.key=value`` (or ``key=value``, for ``[DEFAULT]``) on *sections*.

    The text is split at its first ``=`` (the value may hold more), and the
    section is what comes before the first ``.`` of the key. A section that
    the file lacks is created. An empty value undefines the key, as in a file.
    """
    for text in overrides:
        name, sep, value = text.partition("=")
        name = name.strip()
        if not sep:
            shown = name if _KEY_LIKE.fullmatch(name) else None
            message = "an override must look like [section.]key=value"
            raise error(message, OVERRIDE_ORIGIN, key=shown)
        section, dot, key = name.partition(".")
        if not dot:
            section, key = DEFAULT_SECTION, section
        section, key = section.strip(), key.strip().lower()
        if not section or not key:
            message = "an override must look like [section.]key=value: empty name"
            raise error(message, OVERRIDE_ORIGIN)
        entry = Entry(clean(value), section, key, OVERRIDE_ORIGIN)
        sections.setdefault(section, {})[key] = entry
