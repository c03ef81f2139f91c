"""Parsers and look-ups of the keys that say how a region stores its copies.

``disk_format`` and ``stores`` hold for every region of a target;
``disk_format_regions`` and ``stores_regions`` name the exceptions, region by
region (doc/manual.rst, "Regions that store differently").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from glancesync.config.ini import Entry, as_list, fail, one_of, quote

#: The disk formats glancesync converts between (with ``qemu-img``).
DISK_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx")
#: A per-region format that means "the master's own, no conversion".
MASTER_FORMAT = "master"
#: Whether a region's own conversion on import is tried first, or never.
CONVERSION_MODES = ("auto", "local")
_STORE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_REGION = re.compile(r"[^\s:,]{1,255}")


disk_format = one_of(DISK_FORMATS, "a disk format")


def region_formats(entry: Entry) -> Mapping[str, str]:
    """``REGION:FORMAT`` pairs; FORMAT may be ``master`` (no conversion there)."""
    pairs: dict[str, str] = {}
    for item in as_list(entry):
        region, sep, fmt = item.partition(":")
        fmt = fmt.strip().lower()
        if not sep or not _REGION.fullmatch(region.strip()):
            raise fail(entry, f"not a REGION:FORMAT pair: {quote(item)}")
        if fmt not in (*DISK_FORMATS, MASTER_FORMAT):
            allowed = ", ".join((*DISK_FORMATS, MASTER_FORMAT))
            raise fail(entry, f"not a disk format: {quote(fmt)} in {quote(item)} (use {allowed})")
        if region.strip() in pairs:
            raise fail(entry, f"region {quote(region.strip())} is named twice")
        pairs[region.strip()] = fmt
    return MappingProxyType(pairs)


def stores(entry: Entry) -> tuple[str, ...]:
    """Store names, each once, in their order."""
    found = tuple(dict.fromkeys(as_list(entry)))
    for name in found:
        if not _STORE.fullmatch(name):
            raise fail(entry, f"not a store name: {quote(name)}")
    return found


def region_stores(entry: Entry) -> Mapping[str, tuple[str, ...]]:
    """``REGION:STORE+STORE`` items: the stores of each region named."""
    pairs: dict[str, tuple[str, ...]] = {}
    for item in as_list(entry):
        region, sep, names = item.partition(":")
        wanted = tuple(dict.fromkeys(n.strip() for n in names.split("+") if n.strip()))
        if not sep or not _REGION.fullmatch(region.strip()) or not wanted:
            raise fail(entry, f"not a REGION:STORE+STORE item: {quote(item)}")
        bad = [n for n in wanted if not _STORE.fullmatch(n)]
        if bad:
            raise fail(entry, f"not a store name: {quote(bad[0])} in {quote(item)}")
        if region.strip() in pairs:
            raise fail(entry, f"region {quote(region.strip())} is named twice")
        pairs[region.strip()] = wanted
    return MappingProxyType(pairs)


conversion = one_of(CONVERSION_MODES, "a conversion mode")
