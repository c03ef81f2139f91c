"""Running one mode over many regions, one after another or in child processes.

Each region's work returns a :class:`RegionReport`, a plain picklable value,
so a child process can hand it back to the parent, which prints reports in
region order: output never interleaves, whatever finished first.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue as queue_module
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from glancesync.model.figures import RegionFigures
from glancesync.model.region import RegionRef
from glancesync.model.text import PrintableFormatter
from glancesync.transfer.progress import disable_bars

LOG = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RegionReport:
    """What one region's run produced."""

    region: str
    failed: bool
    #: Report rows (status or dry-run), as plain dicts.
    rows: tuple[dict[str, Any], ...] = ()
    #: Text for stdout (dry-run plan, summary line).
    text: str = ""
    error: str | None = None
    #: The region's figures, for the metrics file and ``--report``.
    figures: RegionFigures | None = None


RegionWork = Callable[[RegionRef], RegionReport]


def run_sequential(regions: Sequence[RegionRef], work: RegionWork) -> list[RegionReport]:
    """One region after the other; a failing region never stops the next."""
    return [work(region) for region in regions]


def run_threads(
    regions: Sequence[RegionRef], work: Callable[[RegionRef], T], at_once: int
) -> list[T]:
    """Up to ``at_once`` regions at a time in threads of this process (``[main] fan_out``).

    The regions' uploads of one image then share one read of the master
    through the spool (:mod:`glancesync.transfer.fanout`). No progress bar
    is drawn: several on one line would overwrite each other. Reports come
    back in region order, as from :func:`run_sequential`.
    """
    disable_bars()
    with ThreadPoolExecutor(max(1, at_once), thread_name_prefix="region") as pool:
        return list(pool.map(work, regions))


def new_run_dir(log_dir: str | os.PathLike[str]) -> Path:
    """A fresh ``sync_YYYYmmdd_HHMMSS[_N]`` directory (doc/design.rst, "Where parallel runs log").

    ``mkdir`` without ``exist_ok`` is the collision check: two runs in the
    same second get different directories.
    """
    base = Path(log_dir)
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d_%H%M%S")
    for attempt in range(1000):
        candidate = base / (f"sync_{stamp}" if attempt == 0 else f"sync_{stamp}_{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise OSError(f"cannot create a run directory in {base}")


def _child(
    work: RegionWork,
    region: RegionRef,
    log_path: Path,
    queue: Any,
    after_fork: Callable[[], None],
) -> None:
    """Body of a child process: log to its own file, report through the queue.

    The child draws no progress bar: several children on one terminal
    would overwrite each other's line; the parent says which region
    started and finished.
    """
    try:
        after_fork()
        disable_bars()
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        # Created 0600 before logging opens it: a log may name images and hosts.
        os.close(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
        handler = logging.FileHandler(log_path, encoding="utf-8")
        handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
        report = work(region)
    except BaseException as error:  # the parent must always get an answer
        report = RegionReport(region.full, True, error=f"{type(error).__name__}: {error}")
    if report.text:
        LOG.info("%s", report.text.rstrip("\n"))
    queue.put(report)


def _log_paths(regions: Sequence[RegionRef], run_dir: Path) -> dict[str, Path]:
    """One log file per region in ``run_dir``, named after it, never twice the same.

    Region names come from the catalog: :attr:`RegionRef.file_stem` makes
    them safe, two regions that still meet get ``-2``, ``-3``..., and each
    path is checked to resolve inside ``run_dir``.
    """
    paths: dict[str, Path] = {}
    taken: set[str] = set()
    for region in regions:
        stem, number = region.file_stem, 1
        while f"{stem}.log" in taken:
            number += 1
            stem = f"{region.file_stem}-{number}"
        taken.add(f"{stem}.log")
        path = run_dir / f"{stem}.log"
        if path.resolve().parent != run_dir.resolve():
            raise OSError(f"log file of region {region.full!r} would leave {run_dir}")
        paths[region.full] = path
    return paths


def run_parallel(
    regions: Sequence[RegionRef],
    work: RegionWork,
    max_children: int,
    run_dir: Path,
    after_fork: Callable[[], None] = lambda: None,
) -> list[RegionReport]:
    """One child process per region, at most ``max_children`` at once.

    Children are forked so they inherit the loaded settings and the master's
    listing. ``after_fork`` runs first in each child: it must drop the HTTP
    connections inherited from the parent, which two processes must never
    share.
    """
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    pending = list(regions)
    running: dict[str, Any] = {}
    reports: dict[str, RegionReport] = {}
    log_paths = _log_paths(regions, run_dir)
    while pending or running:
        while pending and len(running) < max(1, max_children):
            region = pending.pop(0)
            log_path = log_paths[region.full]
            process = context.Process(
                target=_child, args=(work, region, log_path, queue, after_fork)
            )
            process.start()
            LOG.info("[%s] started in process %d, log %s", region.full, process.pid, log_path)
            running[region.full] = process
        try:
            report: RegionReport = queue.get(timeout=1.0)
        except queue_module.Empty:
            for name, process in list(running.items()):
                if process.exitcode not in (None, 0):  # died without reporting
                    reports[name] = RegionReport(
                        name, True, error=f"child process exited with code {process.exitcode}"
                    )
                    running.pop(name)
                    _finished(reports[name], len(reports), len(regions))
            continue
        reports[report.region] = report
        running.pop(report.region).join()
        _finished(report, len(reports), len(regions))
    return [reports[region.full] for region in regions]


def _finished(report: RegionReport, done: int, total: int) -> None:
    """The parent's one line per finished child; its error, if any, once on stderr."""
    if report.error:
        LOG.error("[%s] region error: %s", report.region, report.error)
    state = "FAILED" if report.failed else "done"
    LOG.info("[%s] %s (%d of %d regions finished)", report.region, state, done, total)
