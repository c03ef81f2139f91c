"""Typed, validated settings: what :mod:`glancesync.config.loader` produces.

Everything here is a frozen value, so a loaded configuration can be shared
by the planner, the facade and child processes without anyone changing it.
A field filled by a configuration key is named after the key (or, for the
ways to authenticate, after Keystone's name for it) and takes its default
from the key's row in :mod:`glancesync.config.keys`, the one table of keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from glancesync.config.condition import Condition
from glancesync.config.keys import ChecksumList, default

__all__ = ["ChecksumList", "Credentials", "Settings", "TargetSettings"]


@dataclass(frozen=True)
class Credentials:
    """How to authenticate against one target's Keystone.

    Exactly one way is set: ``cloud`` (a clouds.yaml entry), an application
    credential, or user and password. The secret never shows in ``repr``.
    """

    auth_url: str | None = default("keystone_url")
    username: str | None = default("user")
    password: str | None = field(default=default("password"), repr=False)
    project_name: str | None = default("tenant")
    user_domain_name: str = default("user_domain_name")
    project_domain_name: str = default("project_domain_name")
    application_credential_id: str | None = default("application_credential_id")
    application_credential_secret: str | None = field(
        default=default("application_credential_secret"), repr=False
    )
    cloud: str | None = default("cloud")
    #: The master's region, from its clouds.yaml entry (no key sets it).
    region_name: str | None = None
    interface: str = default("interface")
    verify: bool = default("verify")
    cacert: str | None = default("cacert")


@dataclass(frozen=True)
class TargetSettings:
    """Everything that is set per target (one section of the file)."""

    name: str
    credentials: Credentials
    ignore_regions: tuple[str, ...] = default("ignore_regions")
    forcesyncs: frozenset[str] = default("forcesyncs")
    metadata_condition: Condition | None = default("metadata_condition")
    metadata_set: frozenset[str] = default("metadata_set")
    replace: ChecksumList = default("replace")
    rename: ChecksumList = default("rename")
    dontupdate: ChecksumList = default("dontupdate")
    only_tenant_images: bool = default("only_tenant_images")
    support_obsolete_images: bool = default("support_obsolete_images")
    obsolete_syncprops: frozenset[str] = default("obsolete_syncprops")
    list_images_timeout: float = default("list_images_timeout")
    images_dir: str | None = default("images_dir")
    transfer: str = default("transfer")
    #: MB/s sent to each region of the target (None: ``[main] bwlimit``; 0: no cap).
    upload_bwlimit: float | None = default("upload_bwlimit")
    #: Whether ``replace`` may lift the protection of the image it replaces.
    replace_protected: bool = default("replace_protected")
    #: What becomes of a copy whose master is gone: keep, hide, deactivate, delete.
    retire: str = default("retire")
    #: Days after which a hidden or deactivated copy is deleted (None: never).
    retire_delete_after: float | None = default("retire_delete_after")
    #: Most copies one region may retire in one run; more retires none.
    max_retire: int = default("max_retire")
    #: Whether retirement may deactivate or delete a protected copy.
    retire_protected: bool = default("retire_protected")
    #: Create copies with the master's id when the region allows it.
    keep_ids: bool = default("keep_ids")
    #: Master project id -> this target's project id, for image members.
    member_projects: Mapping[str, str] = field(default_factory=lambda: default("member_projects"))
    #: The disk format of the copies (None: the master's), and per-region exceptions.
    disk_format: str | None = default("disk_format")
    disk_format_regions: Mapping[str, str] = field(
        default_factory=lambda: default("disk_format_regions")
    )
    #: ``auto``: a region's own conversion on import first; ``local``: always here.
    conversion: str = default("conversion")
    #: The stores the copies go into (empty: the region's default), and exceptions.
    stores: tuple[str, ...] = default("stores")
    stores_regions: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: default("stores_regions")
    )

    def format_in(self, region: str) -> str | None:
        """The disk format copies take in *region*; None: the master's own."""
        wanted = self.disk_format_regions.get(region, self.disk_format)
        return None if wanted == "master" else wanted

    def stores_in(self, region: str) -> tuple[str, ...]:
        """The stores copies go into in *region*; empty: the region's default."""
        return self.stores_regions.get(region, self.stores)


@dataclass(frozen=True)
class Settings:
    """The whole configuration of one run."""

    master_region: str
    targets: Mapping[str, TargetSettings] = field(default_factory=lambda: MappingProxyType({}))
    preferable_order: tuple[str, ...] = default("preferable_order")
    max_children: int = default("max_children")
    log_dir: str = default("log_dir")
    #: The run lock (None: the runner's default path).
    lock_file: str | None = default("lock_file")
    #: Where the run's spool of master images lives (None: the temp directory).
    cache_dir: str | None = default("cache_dir")
    #: Spool cap in MB; 0 turns the spool off.
    cache_size_mb: int = default("cache_size_mb")
    #: Uploads run at once inside one region.
    max_uploads_per_region: int = default("max_uploads_per_region")
    #: The Prometheus textfile every run rewrites (None: none).
    metrics_file: str | None = default("metrics_file")
    #: Regions synced at once in threads of one process (no ``--parallel``).
    fan_out: int = default("fan_out")
    #: MB/s read from the master and sent to each region; 0: no cap.
    bwlimit: float = default("bwlimit")
    #: The file the settings came from, for error messages; None when none.
    source: str | None = None

    @property
    def master(self) -> TargetSettings:
        """The target that holds the master region."""
        return self.targets["master"]
