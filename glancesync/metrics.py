"""The metrics file: Prometheus text format for the node exporter's textfile collector.

``[main] metrics_file`` names it; every run (sync, ``--dry-run``,
``--show-status``) rewrites it at its end, atomically
(:func:`prometheus_client.write_to_textfile` writes a temporary file beside
it and renames it). The metric names and an alert on them are in
doc/operations.rst, "Watching runs".

The time of a region's last successful sync survives runs that did not
succeed for it: it is read back from the previous file with
prometheus_client's own parser.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from prometheus_client.parser import text_string_to_metric_families

from glancesync.model.figures import RegionFigures

LOG = logging.getLogger(__name__)

LAST_SUCCESS = "glancesync_region_last_success_timestamp_seconds"
#: The previous file is read up to this size: it is ours, but a file of
#: gigabytes at that path must not stall a run.
MAX_PREVIOUS_BYTES = 16 * 2**20


def previous_successes(path: str) -> dict[str, float]:
    """Region -> time of its last successful sync, from the file an earlier run wrote.

    A missing or unreadable file gives none: the next successful sync of
    each region sets its time again.
    """
    try:
        with open(path, encoding="utf-8") as source:
            text = source.read(MAX_PREVIOUS_BYTES)
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        LOG.warning("metrics_file %s: cannot read the previous figures: %s", path, error)
        return {}
    found: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                region = sample.labels.get("region")
                if sample.name == LAST_SUCCESS and region:
                    found[region] = float(sample.value)
    except ValueError as error:
        LOG.warning("metrics_file %s: previous figures unreadable: %s", path, error)
        return {}
    return found


def build_registry(
    figures: Sequence[RegionFigures],
    mode: str,
    exit_code: int,
    started: float,
    ended: float,
    previous: dict[str, float],
) -> CollectorRegistry:
    """The run's metrics, with each region's last success carried over or renewed."""
    registry = CollectorRegistry()

    def gauge(name: str, doc: str, labels: Sequence[str] = ("region",)) -> Gauge:
        return Gauge(name, doc, list(labels), registry=registry)

    images = gauge(
        "glancesync_region_images",
        "Selected master images by status in the region, as the last run found them before acting.",
        ("region", "status"),
    )
    uploaded = gauge("glancesync_region_images_uploaded", "Images the last run uploaded.")
    sent = gauge("glancesync_region_uploaded_bytes", "Bytes the last run sent to the region.")
    seconds = gauge(
        "glancesync_region_duration_seconds",
        "Wall time of the region in the last run (listing, planning, applying).",
    )
    errors = gauge(
        "glancesync_region_errors",
        "Failed steps in the last run, plus one when the region itself failed.",
    )
    last = gauge(
        LAST_SUCCESS, "Unix time of the end of the last sync that succeeded for the region."
    )
    successes = dict(previous)
    for region in figures:
        name = region.region
        for status, count in region.statuses:
            images.labels(name, status).set(count)
        uploaded.labels(name).set(region.images_uploaded)
        sent.labels(name).set(region.bytes_uploaded)
        seconds.labels(name).set(region.seconds)
        errors.labels(name).set(region.errors)
        if region.synced:
            successes[name] = ended
    for name, moment in sorted(successes.items()):
        last.labels(name).set(moment)
    code = gauge("glancesync_run_exit_code", "Exit code of the last run, by its mode.", ("mode",))
    code.labels(mode).set(exit_code)
    gauge("glancesync_run_timestamp_seconds", "Unix time the last run ended.", ()).set(ended)
    gauge("glancesync_run_duration_seconds", "Wall time of the last run.", ()).set(ended - started)
    return registry


def write_metrics(
    path: str,
    figures: Sequence[RegionFigures],
    mode: str,
    exit_code: int,
    started: float,
    ended: float,
) -> None:
    """Rewrite the metrics file at *path* for this run (raises OSError when it cannot)."""
    registry = build_registry(figures, mode, exit_code, started, ended, previous_successes(path))
    write_to_textfile(path, registry)
