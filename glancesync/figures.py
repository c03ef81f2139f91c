"""From a region's run to its figures, and the run's JSON report (``--report FILE``).

The numbers come from what apply recorded (:class:`~glancesync.engine.results.ApplyResult`
and its outcomes), never from a second look at the regions, so the report
says what this run did. doc/operations.rst, "Watching runs", shows the
report's fields.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from glancesync.api import RegionRun
from glancesync.engine.steps import Action, RegionPlan
from glancesync.model.figures import RegionFigures, StepFigures

#: Version of the report's layout; bumped when a field changes meaning.
REPORT_VERSION = 1


def region_figures(run: RegionRun, mode: str, seconds: float) -> RegionFigures:
    """The figures of one region's pass through the pipeline (``GlanceSync.run_region``)."""
    name = run.region.full
    if run.error is not None or run.plan is None:
        detail = run.error.detail if run.error is not None else "no plan"
        return RegionFigures(name, mode, False, seconds=seconds, errors=1, error=detail)
    plan, result = run.plan, run.result
    statuses = tuple(sorted(Counter(e.status.value for e in plan.entries).items()))
    if result is None:
        return RegionFigures(
            name, mode, False, statuses, seconds=seconds, steps=tuple(_planned_steps(plan))
        )
    done = {o.image for o in result.outcomes}
    status_of = _statuses_by_image(plan)
    steps = [
        StepFigures(
            image=o.image,
            status=status_of.get(o.image, ""),
            action=o.step,
            result="ok" if o.ok else "failed",
            method=o.method,
            bytes=o.bytes,
            seconds=o.seconds,
            error=o.message,
            read=o.read,
        )
        for o in result.outcomes
    ]
    steps += [s for s in _planned_steps(plan) if s.image not in done and s.result == "none"]
    failed_steps = sum(1 for o in result.outcomes if not o.ok)
    return RegionFigures(
        name,
        mode,
        synced=not result.failed,
        statuses=statuses,
        images_uploaded=result.images_uploaded,
        bytes_uploaded=result.bytes_uploaded,
        seconds=seconds,
        errors=failed_steps + (1 if result.region_error else 0),
        error=result.region_error or "",
        steps=tuple(steps),
    )


def failed_figures(region: str, mode: str, error: str) -> RegionFigures:
    """The figures of a region that never reached the pipeline, or whose child died."""
    return RegionFigures(region, mode, False, errors=1, error=error)


def _statuses_by_image(plan: RegionPlan) -> dict[str, str]:
    statuses = {r.image.name: "pending_retire" for r in plan.retirements}
    statuses.update((e.master.name, e.status.value) for e in plan.entries)
    return statuses


def _planned_steps(plan: RegionPlan) -> list[StepFigures]:
    """The plan's work and its images not in a final status, as a report-only run sees them.

    An image in sync (``ok``, ``ok_stalled_checksum``) with nothing to do
    has no row: it is counted in the statuses, and a large federation's
    report stays the size of its work.
    """
    rows = [
        StepFigures(
            image=e.master.name,
            status=e.status.value,
            action=e.action.value,
            result="none" if e.action is Action.NONE and not e.awaits else "planned",
        )
        for e in plan.entries
        if not (e.status.is_final and e.action is Action.NONE and not e.awaits)
    ]
    rows += [
        StepFigures(
            image=r.image.name,
            status="pending_retire",
            action=f"retire_{r.how.value}",
            result="planned",
        )
        for r in plan.retirements
    ]
    return rows


def report_document(
    figures: Sequence[RegionFigures], mode: str, exit_code: int, started: float, ended: float
) -> dict[str, Any]:
    """The JSON document of ``--report``."""

    def when(moment: float) -> str:
        return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    regions = []
    for region in figures:
        steps = []
        for step in region.steps:
            row = asdict(step)
            row["mb_per_s"] = step.mb_per_second
            steps.append(row)
        regions.append(
            {
                "region": region.region,
                "synced": region.synced,
                "statuses": dict(region.statuses),
                "images_uploaded": region.images_uploaded,
                "bytes_uploaded": region.bytes_uploaded,
                "seconds": region.seconds,
                "errors": region.errors,
                "error": region.error,
                "images": steps,
            }
        )
    return {
        "version": REPORT_VERSION,
        "mode": mode,
        "exit_code": exit_code,
        "started": when(started),
        "finished": when(ended),
        "seconds": ended - started,
        "regions": regions,
    }


def write_atomically(path: str | os.PathLike[str], text: str) -> None:
    """Write *text* to a temporary file beside *path*, then rename it into place.

    A reader (a monitoring agent, a script) sees the old file or the new
    one, never half of one. The file is 0600, as the logs are: it names
    images and repeats error texts.
    """
    target = Path(path)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def write_report(path: str, document: dict[str, Any]) -> None:
    """Write the ``--report`` document."""
    write_atomically(path, json.dumps(document, indent=1, sort_keys=False) + "\n")
