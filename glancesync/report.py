"""Turning plans and results into what people and monitoring read.

Pure formatting: every function returns text, the caller decides where it
goes (reports to stdout, logs to stderr).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from glancesync.engine.results import ApplyResult
from glancesync.engine.retire import Retirement
from glancesync.engine.steps import RETIRE_ACTIONS, PlannedImage, RegionPlan, Status
from glancesync.model.image import Image
from glancesync.model.text import csv_cell, printable_name

#: Properties the old tool's ``print_images`` compared (marker ``#``).
WATCHED_PROPERTIES = ("nid", "type", "sdc_aware")


def status_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """``status,region,image`` lines from report rows, in their order.

    Names are the servers' and may be hostile: a cell that would start a
    formula gets a leading ``'`` (:func:`~glancesync.model.text.csv_cell`),
    and a cell holding a carriage return or a line feed is quoted. The
    writer quotes the characters of its line terminator only, so it is given
    CR LF, and each line then ends with LF, as it always has (doc/design.rst,
    "The CSV report is only rows").
    """
    lines = []
    for row in rows:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow([csv_cell(str(row[key])) for key in ("status", "region", "image")])
        lines.append(buffer.getvalue()[:-2] + "\n")
    return "".join(lines)


def _row(plan: RegionPlan, entry: PlannedImage, with_action: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "status": entry.status.value,
        "region": plan.region.full,
        "image": entry.master.name,
        "master_id": entry.master.id,
        "region_id": entry.region_image.id if entry.region_image else None,
        "size": entry.master.size,
        "checksum": entry.master.checksum,
        # A converted copy: "qcow2→raw" (doc/manual.rst, "Regions that store differently").
        "conversion": str(entry.conversion) if entry.conversion is not None else None,
    }
    if with_action:
        row["action"] = entry.action.value
        row["stores"] = list(entry.stores)
    return row


def plan_rows(plan: RegionPlan, with_action: bool) -> list[dict[str, Any]]:
    """The rows of ``--format json`` (doc/design.rst, "The JSON report").

    Dry-run rows carry the action and include obsolete-image work; status
    rows are the selected images only (doc/design.rst, "Obsolete images").
    """
    entries: Sequence[PlannedImage] = plan.entries
    if with_action:
        entries = (*plan.obsolete, *plan.entries)
    rows = [_row(plan, entry, with_action) for entry in entries]
    return rows + [_retire_row(plan, step) for step in plan.retirements]


def _retire_row(plan: RegionPlan, step: Retirement) -> dict[str, Any]:
    """A ``pending_retire`` row: the copy, and the master image it came from."""
    row: dict[str, Any] = {
        "status": Status.PENDING_RETIRE.value,
        "region": plan.region.full,
        "image": step.image.name,
        "master_id": step.provenance.source_id,
        "region_id": step.image.id,
        "size": step.image.size,
        "checksum": step.image.checksum,
        # status rows too: a retirement is only understood with its action
        "action": RETIRE_ACTIONS[step.how].value,
    }
    return row


def human_size(size: int) -> str:
    """Sizes in MB of 10**6 bytes (doc/design.rst, "Units")."""
    return f"{size / 1e6:.1f} MB"


def dry_run_text(plan: RegionPlan) -> str:
    """What a sync of this region would do, one line per image that needs work.

    For a terminal: names are shown through :func:`printable_name`."""
    lines = [f"Region {printable_name(plan.region.full)}:"]
    steps = [*plan.metadata_steps(), *plan.store_steps(), *plan.upload_steps()]
    steps += [e for e in plan.ami_steps() if e not in steps]
    for entry in steps:
        detail = _describe(entry)
        lines.append(f"  {entry.action_text} {printable_name(entry.master.name)} ({detail})")
    for step in plan.retirements:
        action = RETIRE_ACTIONS[step.how].value
        name = printable_name(step.image.name)
        lines.append(f"  {action} {name} ({step.image.id}; {step.reason})")
    if plan.retire_blocked:
        names = ", ".join(map(printable_name, plan.retire_blocked))
        lines.append(
            f"  retirement blocked: {len(plan.retire_blocked)} copies, more than max_retire "
            f"({names})"
        )
    errors = [e for e in plan.entries if e.status.is_error]
    for entry in errors:
        lines.append(f"  {entry.status.value} {printable_name(entry.master.name)}: nothing done")
    if plan.blocked is not None:
        lines.append(f"  region blocked, nothing written: {plan.blocked}")
    if not steps and not errors and not plan.retirements and not plan.retire_blocked:
        lines.append("  nothing to do")
    return "\n".join(lines) + "\n"


def _describe(entry: PlannedImage) -> str:
    parts = [entry.status.value, human_size(entry.master.size)]
    change = entry.change
    if change.name:
        parts.append(f"rename to {change.name}")
    if change.visibility:
        parts.append(f"visibility {change.visibility}")
    if change.protected is False:
        parts.append("lift the old image's protection")
    elif change.protected:
        parts.append("protect")
    for field in ("min_ram", "min_disk"):
        if getattr(change, field) is not None:
            parts.append(f"{field} {getattr(change, field)}")
    if change.tags is not None:
        parts.append("tags " + (", ".join(change.tags) or "none"))
    if change.add_members:
        parts.append("share with " + ", ".join(change.add_members))
    if change.remove_members:
        parts.append("unshare " + ", ".join(change.remove_members))
    if change.set_properties:
        parts.append("set " + ", ".join(sorted(change.set_properties)))
    if change.remove_properties:
        parts.append("remove " + ", ".join(change.remove_properties))
    if entry.awaits:
        parts.append("then " + ", ".join(f"{k}={v}" for k, v in sorted(entry.awaits.items())))
    return printable_name("; ".join(parts))


def counted(number: int, noun: str) -> str:
    """``1 image``, ``2 images``: a count with its noun, in the right number."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def summary_line(result: ApplyResult) -> str:
    """One line per region for the operator and for cron mails.

    A FAILED line always says why: the region error, the first failed step
    and the images left in an error status (doc/operations.rst, Logs).
    """
    failed = [o for o in result.outcomes if not o.ok]
    rate = result.bytes_uploaded / 1e6 / result.seconds if result.seconds > 0 else 0.0
    state = "FAILED" if result.failed else "ok"
    text = (
        f"{result.region.full}: {state}; {counted(result.images_uploaded, 'image')} uploaded, "
        f"{human_size(result.bytes_uploaded)} in {result.seconds:.1f} s ({rate:.1f} MB/s), "
        f"{counted(len(result.outcomes), 'step')}, {len(failed)} failed"
    )
    if result.region_error:
        text += f"; region error: {result.region_error}"
    if failed:
        first = failed[0]
        text += f"; first failure: {first.step} {first.image}: {first.message}"
    in_error: dict[str, list[str]] = {}
    for entry in result.plan.entries:
        if entry.status.is_error:
            in_error.setdefault(entry.status.value, []).append(entry.master.name)
    for status, names in in_error.items():
        text += f"; {counted(len(names), 'image')} in {status}: {', '.join(names)}"
    if result.plan.retire_blocked:
        blocked = result.plan.retire_blocked
        text += f"; retirement blocked: {counted(len(blocked), 'image')} over max_retire"
    return printable_name(text)


def region_failed_line(region: str, error: str) -> str:
    """The summary of a region that failed before any step (it could not be read)."""
    return printable_name(f"{region}: FAILED; region error: {error}")


def image_markers(image: Image, master_by_name: Mapping[str, Image]) -> str:
    """The old tool's markers for ``print_images``.

    ``+`` not on the master, ``$`` not active, ``-`` not public on the
    master, ``!`` another checksum, ``#`` watched properties differ.
    """
    master = master_by_name.get(image.name)
    if image.status != "active":
        return "$"
    if master is None:
        return "+"
    if not master.is_public:
        return "-"
    if not image.same_content(master):
        return "!"
    watched_differ = any(
        image.properties.get(k) != master.properties.get(k) for k in WATCHED_PROPERTIES
    )
    if watched_differ or (master.is_public and not image.is_public):
        return "#"
    return " "


def images_table(images: Iterable[Image], master_by_name: Mapping[str, Image]) -> str:
    """One line per image: marker, name, id, size, visibility (printable)."""
    lines = [
        f"{image_markers(i, master_by_name)} "
        + "\t".join(printable_name(str(cell)) for cell in (i.name, i.id, i.size, i.visibility))
        for i in sorted(images, key=lambda i: (i.name, i.id))
    ]
    return "".join(line + "\n" for line in lines)
