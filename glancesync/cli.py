"""The ``glancesync`` command (``./sync.py``).

Reports (CSV, JSON, plans, summaries) go to stdout and logs to stderr, so
either can be piped. A usage or configuration error is one line on stderr
and exit code 2, found before any client library is imported.
"""

from __future__ import annotations

import argparse
import enum
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import NoReturn

from glancesync import __version__
from glancesync.api import GlanceSync
from glancesync.cloud.protocol import Facade
from glancesync.config.loader import load_settings
from glancesync.config.settings import Settings
from glancesync.console import setup_logging
from glancesync.figures import region_figures
from glancesync.model.errors import ConfigError, GlanceSyncError, RegionError, UsageError
from glancesync.model.region import RegionRef
from glancesync.model.text import printable_name
from glancesync.report import dry_run_text, plan_rows, region_failed_line, status_csv, summary_line
from glancesync.runner.lock import LockBusy, default_lock_path
from glancesync.runner.regionlock import region_locks
from glancesync.runner.regions import (
    RegionReport,
    new_run_dir,
    run_parallel,
    run_sequential,
    run_threads,
)
from glancesync.watch import run_mode, write_figures

LOG = logging.getLogger("glancesync")


class Exit(enum.IntEnum):
    """The exit codes of the command, as the README and ``--help`` list them."""

    OK = 0
    #: A region failed, or an image is left in an error status.
    FAILED = 1
    #: A usage or configuration error (one line on stderr).
    USAGE = 2
    #: Another sync holds the lock of a region this one would write.
    LOCKED = 3
    INTERRUPTED = 130


EPILOG = """\
regions:
  Region          a region of the master target
  target:Region   a region of another target (a section of the config file)
  target:         every region of that target, minus its ignore_regions

examples:
  glancesync                              sync every region of the master target
  glancesync RegionTwo other:OtherOne     sync two regions
  glancesync --dry-run --parallel         show what a sync would do, nothing is written
  glancesync --show-status other:         CSV status,region,image for monitoring
  glancesync --show-status --format json  the same rows with ids, size and checksum
  glancesync --config rename=any RegionTwo    override a key of [DEFAULT]
  glancesync --config other.forcesyncs=UUID other:

exit codes: 0 all good; 1 a region failed or an image is in an error status
(for --show-status and --dry-run: a region could not be read);
2 usage or configuration error; 3 another sync holds the lock of a region to write;
130 interrupted.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line.

    See doc/design.rst, "One-line errors mean one line".
    """

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"glancesync: error: {message}\n")
        raise SystemExit(Exit.USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="glancesync",
        description="Keep the Glance images of many regions in step with a master region.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "regions",
        nargs="*",
        metavar="REGION",
        help="regions to work on (default: all of the master target)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run", action="store_true", help="print what a sync would do; write nothing"
    )
    mode.add_argument(
        "--show-status",
        action="store_true",
        help="print status,region,image for every selected image",
    )
    mode.add_argument(
        "--show-regions", action="store_true", help="print every region of every target on one line"
    )
    mode.add_argument(
        "--make-backup",
        nargs="?",
        const=".",
        metavar="DIR",
        help="save each region's image metadata as JSON Lines in DIR (default: .); "
        "DIR must be an existing directory or a path with a '/' (./new), so that a "
        "region name is never taken for it",
    )
    parser.add_argument(
        "--adopt",
        action="store_true",
        help="stamp provenance on the regions' same-content copies of selected master "
        "images and write nothing else (with --dry-run: show what would be stamped)",
    )
    parser.add_argument(
        "--wait-lock",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="if another sync holds the lock of a region to write, wait up to SECONDS "
        "for it (default: exit 3)",
    )
    parser.add_argument(
        "--parallel",
        action="store_true",
        help="sync regions in child processes, at most [main] max_children at once "
        "(default 1: one after another)",
    )
    parser.add_argument(
        "--bwlimit",
        metavar="MB",
        help="for this run, read from the master and send to each region at most MB "
        "MB/s (10**6 bytes); sets [main] bwlimit",
    )
    parser.add_argument(
        "--format",
        choices=("csv", "json"),
        default=None,
        help="json: rows with ids, size and checksum (default: CSV for --show-status, "
        "text for --dry-run)",
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="write a JSON report of what the run did, per region and image, to FILE "
        "(a sync, --dry-run or --show-status)",
    )
    parser.add_argument(
        "--config",
        nargs="*",
        default=None,
        metavar="KEY=VALUE",
        help="override settings: section.key=value, or key=value for [DEFAULT]",
    )
    parser.add_argument(
        "--config-file",
        metavar="PATH",
        help="configuration file (default: $GLANCESYNC_CONFIG, else /etc/glancesync.conf)",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log detail on stderr (-vv: HTTP requests too)",
    )
    verbosity.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="only glancesync's own warnings and errors on stderr; no progress bars",
    )
    parser.add_argument("--version", action="version", version=f"glancesync {__version__}")
    return parser


def _split_arguments(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Regions and overrides may come in any order after --config.

    See doc/design.rst, "Overrides and regions on the command line".
    """
    if args.config is None:
        return list(args.regions), []
    words = [*args.config, *args.regions]
    return [w for w in words if "=" not in w], [w for w in words if "=" in w]


FacadeFactory = Callable[[Settings], Facade]


def main(argv: Sequence[str] | None = None, facade_factory: FacadeFactory | None = None) -> int:
    """Run the command; return its exit code."""
    args = build_parser().parse_args(argv)
    regions, overrides = _split_arguments(args)
    if args.report is not None and (args.show_regions or args.make_backup is not None):
        return _usage("--report goes with a sync, --dry-run or --show-status")
    if args.bwlimit is not None:
        overrides.append(f"main.bwlimit={args.bwlimit}")
    if args.format and not (args.show_status or args.dry_run):
        return _usage("--format goes with --show-status or --dry-run")
    if args.format == "csv" and args.dry_run:
        return _usage("--dry-run prints text or --format json")
    if args.wait_lock < 0:
        return _usage("--wait-lock needs a number of seconds >= 0")
    if args.adopt and (args.show_status or args.show_regions or args.make_backup is not None):
        return _usage("--adopt goes with a sync or --dry-run")
    if args.parallel and (args.show_status or args.show_regions or args.make_backup is not None):
        return _usage("--parallel goes with a sync or --dry-run")
    if args.make_backup is not None and not _looks_like_directory(args.make_backup):
        return _usage(
            f"--make-backup {args.make_backup}: not a directory; to back up region "
            f"{args.make_backup} here write --make-backup . {args.make_backup}, "
            f"to create the directory write --make-backup ./{args.make_backup}"
        )
    setup_logging(args.verbose, args.quiet)
    try:
        settings = load_settings(args.config_file, overrides)
    except ConfigError as error:
        return _usage(str(error))
    try:
        return _run(args, settings, regions, facade_factory)
    except KeyboardInterrupt:
        sys.stderr.write("glancesync: interrupted\n")
        return Exit.INTERRUPTED
    except UsageError as error:
        return _usage(str(error))
    except OSError as error:
        # A local path of the configuration (lock_file, log_dir, cache_dir,
        # a backup directory) that cannot be used.
        if error.filename is None:  # its text alone; it names its path itself
            return _usage(str(error.strerror or error))
        return _usage(f"{error.filename}: {error.strerror or error}")


def _looks_like_directory(text: str) -> bool:
    """An existing directory, or a path with a ``/``: never a bare region name."""
    return os.path.isdir(text) or "/" in text


def _usage(message: str) -> int:
    sys.stderr.write(f"glancesync: error: {message}\n")
    return Exit.USAGE


def _run(
    args: argparse.Namespace,
    settings: Settings,
    names: list[str],
    facade_factory: FacadeFactory | None,
) -> int:
    facade = facade_factory(settings) if facade_factory else None
    sync = GlanceSync(settings, facade=facade)
    if args.show_regions:
        return _show_regions(sync)
    regions, unreadable = sync.resolve_regions(names, allow_master=args.make_backup is not None)
    for error in unreadable:
        LOG.error("%s", error)
    failures = [RegionReport(e.region, True, error=e.detail) for e in unreadable]
    if args.make_backup is not None:
        return _make_backups(sync, regions, args.make_backup) or (
            Exit.FAILED if failures else Exit.OK
        )
    started = time.time()
    code, reports = _run_regions_locked(sync, settings, regions, args)
    reports = failures + reports
    if code is None:
        _print_reports(reports, args)
        code = Exit.FAILED if any(r.failed for r in reports) else Exit.OK
    if not write_figures(settings, args, reports, code, started):
        code = code or Exit.FAILED
    return code


def _run_regions_locked(
    sync: GlanceSync, settings: Settings, regions: list[RegionRef], args: argparse.Namespace
) -> tuple[int | None, list[RegionReport]]:
    """The regions' reports; an exit code too when the run stopped before them."""
    report_only = args.show_status or args.dry_run
    lock_path = settings.lock_file or default_lock_path()
    try:
        with nullcontext() if report_only else region_locks(lock_path, regions, args.wait_lock):
            try:
                sync.prepare(regions)  # once, before any child process forks
            except RegionError as error:
                LOG.error("cannot read the master: %s; no region touched", error)
                why = f"cannot read the master: {error.detail}"
                return Exit.FAILED, [RegionReport(r.full, True, error=why) for r in regions]
            with sync.spool() if len(regions) > 1 and not report_only else nullcontext():
                return None, _run_regions(sync, settings, regions, args)
    except LockBusy as error:
        sys.stderr.write(f"glancesync: {error}\n")
        return Exit.LOCKED, []


def _run_regions(
    sync: GlanceSync, settings: Settings, regions: list[RegionRef], args: argparse.Namespace
) -> list[RegionReport]:
    work = _region_work(sync, args)
    if args.parallel and settings.max_children <= 1 and len(regions) > 1:
        LOG.warning(
            "--parallel with [main] max_children = %d: the regions run one after another",
            settings.max_children,
        )
    if args.parallel and settings.max_children > 1:
        run_dir = new_run_dir(settings.log_dir)
        LOG.info("logs of this run: %s", run_dir)
        return run_parallel(
            regions, work, settings.max_children, run_dir, after_fork=sync.facade.close
        )
    if settings.fan_out > 1 and len(regions) > 1:
        return run_threads(regions, work, settings.fan_out)
    return run_sequential(regions, work)


def _region_work(sync: GlanceSync, args: argparse.Namespace) -> Callable[[RegionRef], RegionReport]:
    """The region pipeline of :class:`GlanceSync`, turned into a picklable report."""
    report_only = bool(args.show_status or args.dry_run)
    mode = run_mode(args)

    def work(region: RegionRef) -> RegionReport:
        started = time.monotonic()
        run = sync.run_region(region, write=not report_only, adopt=args.adopt)
        figures = region_figures(run, mode, time.monotonic() - started)
        if run.error is not None:
            LOG.error("%s", run.error)
            return RegionReport(region.full, True, error=run.error.detail, figures=figures)
        assert run.plan is not None
        if run.result is None:
            rows = tuple(plan_rows(run.plan, with_action=bool(args.dry_run)))
            text = dry_run_text(run.plan) if args.dry_run else ""
            return RegionReport(region.full, False, rows=rows, text=text, figures=figures)
        line = summary_line(run.result)
        return RegionReport(region.full, run.result.failed, text=line + "\n", figures=figures)

    return work


def _print_reports(reports: list[RegionReport], args: argparse.Namespace) -> None:
    if args.format == "json":
        rows = [row for report in reports for row in report.rows]
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
    elif args.show_status:
        sys.stdout.write(status_csv(row for report in reports for row in report.rows))
    else:
        for report in reports:
            sys.stdout.write(
                report.text
                if not report.error
                else region_failed_line(report.region, report.error) + "\n"
            )
    sys.stdout.flush()


def _show_regions(sync: GlanceSync) -> int:
    names: list[str] = []
    failed = False
    for target in sync.settings.targets:
        try:
            names.extend(sync.get_regions(target=target))
        except RegionError as error:
            LOG.error("%s", error)
            failed = True
    sys.stdout.write(" ".join(map(printable_name, names)) + "\n")
    return Exit.FAILED if failed else Exit.OK


def _make_backups(sync: GlanceSync, regions: list[RegionRef], directory: str) -> int:
    failed = False
    for region in regions:
        try:
            path = sync.backup_glancemetadata_region(region, directory)
        except GlanceSyncError as error:
            LOG.error("%s", error)
            failed = True
        else:
            sys.stdout.write(printable_name(f"{region.full}: {path}") + "\n")
    return Exit.FAILED if failed else Exit.OK


def main_exit() -> None:
    """Console-script entry point: exit with :func:`main`'s code."""
    sys.exit(main())
