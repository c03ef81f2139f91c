"""What applying a plan did: one outcome per step, one account per region."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from glancesync.engine.steps import RegionPlan
from glancesync.model.region import RegionRef


@dataclass(frozen=True)
class Outcome:
    """What happened to one step of the plan."""

    image: str
    step: str
    ok: bool
    message: str = ""
    #: How the step made the region's copy: an upload's bytes went
    #: ``stream``, ``spool`` or ``images_dir`` (where glancesync read them,
    #: sent as they are), ``glance-download`` (the region pulled them),
    #: ``convert-region`` (staged, the region converted on import),
    #: ``convert-local`` (converted here, the converted bytes sent) or
    #: ``store`` (into named stores); ``copy-image`` for a ``copy_stores``
    #: step (the region copies, nothing is sent); empty for other steps.
    method: str = ""
    #: Bytes this step sent to the region.
    bytes: int = 0
    #: Wall time of the step.
    seconds: float = 0.0
    #: Where glancesync read the master's bytes (``stream``, ``spool`` or
    #: ``images_dir``); empty when none passed through it.
    read: str = ""


#: The region pulled the master's bytes itself (:func:`_server_side_copy`).
GLANCE_DOWNLOAD = "glance-download"
#: The region copied an image it holds into more stores.
COPY_IMAGE = "copy-image"


@dataclass(frozen=True)
class Transfer:
    """What a step that makes a copy reports about it (see :class:`Outcome`)."""

    method: str
    bytes: int
    read: str = ""


#: One step of the plan; a step that makes a copy says how.
Step = Callable[[], "Transfer | None"]


@dataclass(frozen=True)
class ApplyResult:
    """The account of one region's sync."""

    region: RegionRef
    plan: RegionPlan
    outcomes: tuple[Outcome, ...] = ()
    region_error: str | None = None
    bytes_uploaded: int = 0
    images_uploaded: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """A region error, a failed step, or an image left in an error status."""
        return (
            self.region_error is not None
            or any(not o.ok for o in self.outcomes)
            or self.plan.has_errors
        )
