"""glancesync: keep the Glance images of many OpenStack regions in step with a master region."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from glancesync.api import GlanceSync

__all__ = ["GlanceSync", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so that ``glancesync --help`` and config errors stay fast.
    if name == "GlanceSync":
        from glancesync.api import GlanceSync

        return GlanceSync
    raise AttributeError(name)
