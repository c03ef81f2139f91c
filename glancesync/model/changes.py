"""The writes glancesync asks of a region: a new record, or a minimal change.

The planner builds them, apply hands them to the cloud, and both the real
Glance client and the in-memory cloud understand them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from glancesync.model.values import empty


@dataclass(frozen=True)
class NewImage:
    """The record to create in a region before its data is uploaded."""

    name: str
    visibility: str
    disk_format: str | None
    container_format: str | None
    min_ram: int = 0
    min_disk: int = 0
    protected: bool = False
    hidden: bool = False
    tags: tuple[str, ...] = ()
    properties: Mapping[str, Any] = field(default_factory=empty)
    #: glancesync's own properties (provenance), written as they are.
    bookkeeping: Mapping[str, str] = field(default_factory=empty)
    #: Ask for this id (``keep_ids``); None lets Glance choose.
    id: str | None = None
    #: Projects the copy is shared with once verified (``visibility = shared``).
    members: tuple[str, ...] = ()


#: The properties of a change that sets none.
NO_PROPERTIES: Mapping[str, Any] = empty()


class MetadataChange(NamedTuple):
    """A minimal change to an existing image: only what differs.

    ``None`` means "leave as it is". Properties not named here are never
    touched, so a region's local properties survive. A named tuple, as the
    plan's entries are (glancesync/engine/steps.py): the planner makes one
    for every copy whose metadata it compares in full.
    """

    name: str | None = None
    visibility: str | None = None
    #: True protects a new copy once verified; False lifts the protection of
    #: an image about to be deleted.
    protected: bool | None = None
    min_ram: int | None = None
    min_disk: int | None = None
    tags: tuple[str, ...] | None = None
    #: ``os_hidden``: only retirement sets it; otherwise it is the region's own.
    hidden: bool | None = None
    set_properties: Mapping[str, Any] = NO_PROPERTIES
    remove_properties: tuple[str, ...] = ()
    add_members: tuple[str, ...] = ()
    remove_members: tuple[str, ...] = ()

    def fields(self) -> dict[str, Any]:
        """Glance's fields and properties this change sets, as Glance names them."""
        wanted: dict[str, Any] = dict(self.set_properties)
        for key, value in (
            ("name", self.name),
            ("visibility", self.visibility),
            ("protected", self.protected),
            ("min_ram", self.min_ram),
            ("min_disk", self.min_disk),
            ("os_hidden", self.hidden),
        ):
            if value is not None:
                wanted[key] = value
        if self.tags is not None:
            wanted["tags"] = list(self.tags)
        return wanted

    def is_empty(self) -> bool:
        """Whether applying this change would send nothing."""
        return (
            self.name is None
            and self.visibility is None
            and self.protected is None
            and self.min_ram is None
            and self.min_disk is None
            and self.tags is None
            and self.hidden is None
            and not self.set_properties
            and not self.remove_properties
            and not self.add_members
            and not self.remove_members
        )
