"""Typed, validated settings: what :mod:`glancesync.config.loader` produces.

Everything here is a frozen value, so a loaded configuration can be shared
by the planner, the facade and child processes without anyone changing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from glancesync.config.condition import Condition

#: How image data reaches a region: through glancesync, or pulled by the
#: region's Glance itself (import method glance-download, same Keystone only).
TRANSFER_MODES = ("stream", "glance-download")
#: Spool cap when [main] cache_size_mb is not set (MB = 10**6 bytes).
DEFAULT_CACHE_SIZE_MB = 20_000


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
class Credentials:
    """How to authenticate against one target's Keystone.

    Exactly one way is set: ``cloud`` (a clouds.yaml entry), an application
    credential, or user and password. The secret never shows in ``repr``.
    """

    auth_url: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    project_name: str | None = None
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    application_credential_id: str | None = None
    application_credential_secret: str | None = field(default=None, repr=False)
    cloud: str | None = None
    region_name: str | None = None
    interface: str = "public"
    verify: bool = True
    cacert: str | None = None


@dataclass(frozen=True)
class TargetSettings:
    """Everything that is set per target (one section of the file)."""

    name: str
    credentials: Credentials
    ignore_regions: tuple[str, ...] = ()
    forcesyncs: frozenset[str] = frozenset()
    metadata_condition: Condition | None = None
    metadata_set: frozenset[str] = frozenset()
    replace: ChecksumList = ChecksumList()
    rename: ChecksumList = ChecksumList()
    dontupdate: ChecksumList = ChecksumList()
    only_tenant_images: bool = True
    support_obsolete_images: bool = True
    obsolete_syncprops: frozenset[str] = frozenset()
    list_images_timeout: float = 30.0
    images_dir: str | None = None
    transfer: str = "stream"
    #: Whether ``replace`` may lift the protection of the image it replaces.
    replace_protected: bool = False
    #: What becomes of a copy whose master is gone: keep, hide, deactivate, delete.
    retire: str = "keep"
    #: Days after which a hidden or deactivated copy is deleted (None: never).
    retire_delete_after: float | None = None
    #: Most copies one region may retire in one run; more retires none.
    max_retire: int = 5
    #: Whether retirement may deactivate or delete a protected copy.
    retire_protected: bool = False
    #: Create copies with the master's id when the region allows it.
    keep_ids: bool = False
    #: Master project id -> this target's project id, for image members.
    member_projects: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Settings:
    """The whole configuration of one run."""

    master_region: str
    targets: Mapping[str, TargetSettings] = field(default_factory=lambda: MappingProxyType({}))
    preferable_order: tuple[str, ...] = ()
    max_children: int = 1
    log_dir: str = "."
    lock_file: str | None = None
    #: Where the run's spool of master images lives (None: the temp directory).
    cache_dir: str | None = None
    #: Spool cap in MB; 0 turns the spool off.
    cache_size_mb: int = DEFAULT_CACHE_SIZE_MB
    #: Uploads run at once inside one region.
    max_uploads_per_region: int = 1
    #: The file the settings came from, for error messages; None when none.
    source: str | None = None

    @property
    def master(self) -> TargetSettings:
        """The target that holds the master region."""
        return self.targets["master"]
