"""What a run leaves for an operator to watch: the metrics file and the ``--report`` file.

Both are written once, when the run ends, from the regions' reports
(:class:`~glancesync.runner.regions.RegionReport`, which a ``--parallel``
child sends back with its figures). A region without figures (unreadable
before the pipeline, or its child died) counts as failed.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence

from glancesync.config.settings import Settings
from glancesync.figures import failed_figures, report_document, write_report
from glancesync.model.figures import RegionFigures
from glancesync.runner.regions import RegionReport

LOG = logging.getLogger("glancesync")


def run_mode(args: argparse.Namespace) -> str:
    """``sync``, ``dry-run`` or ``show-status``: the label of a run's figures."""
    if args.show_status:
        return "show-status"
    return "dry-run" if args.dry_run else "sync"


def figures_of(reports: Sequence[RegionReport], mode: str) -> list[RegionFigures]:
    return [
        report.figures or failed_figures(report.region, mode, report.error or "failed")
        for report in reports
    ]


def write_figures(
    settings: Settings,
    args: argparse.Namespace,
    reports: Sequence[RegionReport],
    exit_code: int,
    started: float,
) -> bool:
    """Write the metrics file and the report the run asked for; False when one failed.

    A file that cannot be written is one error line naming it.
    """
    if not settings.metrics_file and not args.report:
        return True
    mode = run_mode(args)
    figures = figures_of(reports, mode)
    ended = time.time()
    ok = True
    if settings.metrics_file:
        # Imported here: prometheus_client costs every other run (--help too) 40 ms.
        from glancesync.metrics import write_metrics

        try:
            write_metrics(settings.metrics_file, figures, mode, exit_code, started, ended)
        except OSError as error:
            LOG.error("cannot write metrics_file %s: %s", settings.metrics_file, _why(error))
            ok = False
    if args.report:
        try:
            write_report(args.report, report_document(figures, mode, exit_code, started, ended))
        except OSError as error:
            LOG.error("cannot write --report %s: %s", args.report, _why(error))
            ok = False
    return ok


def _why(error: OSError) -> str:
    return str(error.strerror or error)
