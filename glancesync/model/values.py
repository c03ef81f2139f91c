"""Helpers for the frozen values every room shares."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

V = TypeVar("V")


def frozen(mapping: Mapping[str, V] | None = None) -> Mapping[str, V]:
    """A read-only copy of *mapping*: a value's fields must not change under it."""
    return MappingProxyType(dict(mapping or {}))


def empty() -> Mapping[str, Any]:
    """A read-only empty mapping, for dataclass field defaults."""
    return MappingProxyType({})
