"""The figures of one region's run: what the metrics file and ``--report`` are made of.

Plain frozen values of strings and numbers, so that a ``--parallel`` child
can send them back to the parent inside its
:class:`~glancesync.runner.regions.RegionReport` (they are pickled).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepFigures:
    """One image in one region: what the plan said, and what the run did about it."""

    image: str
    #: The image's status when the run planned it (``ok``, ``pending_upload``...).
    status: str
    #: The plan's action, or the step carried out (``upload``, ``ami_fixup``...).
    action: str
    #: ``ok`` or ``failed`` for a step carried out; ``planned`` for one a
    #: report-only run would do; ``none`` when nothing needs doing.
    result: str
    #: How the step made the copy (see :class:`glancesync.engine.results.Outcome`).
    method: str = ""
    bytes: int = 0
    seconds: float = 0.0
    error: str = ""
    #: Where glancesync read the master's bytes: ``stream``, ``spool``, ``images_dir``.
    read: str = ""

    @property
    def mb_per_second(self) -> float:
        """MB (10**6 bytes) per second of the step; 0 when it sent nothing."""
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 and self.bytes else 0.0


@dataclass(frozen=True)
class RegionFigures:
    """One region's figures for one run."""

    region: str
    #: ``sync``, ``dry-run`` or ``show-status``.
    mode: str
    #: Whether this was a sync that succeeded for the region (exit code 0 for it).
    synced: bool
    #: Selected master images by status, as the run found them before acting.
    statuses: tuple[tuple[str, int], ...] = ()
    images_uploaded: int = 0
    bytes_uploaded: int = 0
    #: Wall time of the region: listing, planning and applying.
    seconds: float = 0.0
    #: Failed steps, plus one when the region itself failed (unreadable, unwritable).
    errors: int = 0
    error: str = ""
    steps: tuple[StepFigures, ...] = ()
