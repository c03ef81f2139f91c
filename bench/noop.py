"""Part c: a rerun with nothing to do, over many small images: wall time and HTTP
requests of ``./sync.py``, against a bare paginated listing of the same regions.

glancesync itself makes the copies (its first run); the second run must then
change nothing, which the benchmark checks (same image ids everywhere) before
it times the reruns.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import time
from typing import Any

from bench.arrange import REGIONS, TARGETS, Bench, sync_args, write_config
from bench.measure import (
    LAYOUT,
    check_ok,
    command_env,
    count_http,
    run_measured,
    say,
    wait_cloud,
)
from tools.cloudclients import session_for
from tools.devcloud import topology

PAGE_SIZE = 200
SIZE = 1024


def worker_list(regions: list[str], page_size: int) -> None:
    """The baseline (run as a subprocess): list every region (visible, then hidden images)
    with python-glanceclient; print one JSON line."""
    lines: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    http_log = logging.getLogger("urllib3.connectionpool")
    http_log.setLevel(logging.DEBUG)
    http_log.addHandler(Grab())
    http_log.propagate = False
    from glanceclient import Client

    started = time.perf_counter()
    sessions = {cloud: session_for(cloud, LAYOUT) for cloud in {REGIONS[r] for r in regions}}
    counts = {}
    for region in regions:
        client = Client("2", session=sessions[REGIONS[region]], region_name=region)
        ids = set()
        for hidden in (False, True):
            for image in client.images.list(page_size=page_size, filters={"os_hidden": hidden}):
                ids.add(image["id"])
        counts[region] = len(ids)
    seconds = time.perf_counter() - started
    http = count_http("\n".join(lines))
    print(json.dumps({"seconds_in_process": seconds, "images": counts, "http": http}))


def run(bench: Bench) -> dict[str, Any]:
    count, prefix, cloud = bench.args.small_images, f"{bench.prefix}c", bench.cloud
    started = time.perf_counter()
    for i in range(count):
        cloud.create(topology.MASTER_REGION, f"{prefix}{i:05d}", SIZE)
    say(f"(c) created {count} images in the master in {time.perf_counter() - started:.0f} s")
    try:
        return measure(bench, prefix, count)
    finally:
        say("(c) deleting the small images")
        cloud.delete_prefixed(REGIONS, prefix)


def ids(bench: Bench, prefix: str) -> dict[str, set[str]]:
    return {r: {i.id for i in bench.cloud.prefixed(r, prefix)} for r in REGIONS}


def measure(bench: Bench, prefix: str, count: int) -> dict[str, Any]:
    env = command_env(write_config(bench.tmp / "c.conf", prefix))
    regions = sync_args(TARGETS)
    wait_cloud()
    copy = run_measured(["./sync.py", *regions], env)
    check_ok(copy, "./sync.py (the copy)")
    say(
        f"(c) glancesync copied {count} images to {len(TARGETS)} regions in {copy['seconds']:.0f} s"
    )
    before = ids(bench, prefix)
    if any(len(v) != count for v in before.values()):
        raise RuntimeError(f"(c) the copy left { ({r: len(v) for r, v in before.items()}) }")
    warm = run_measured(["./sync.py", *regions], env)
    check_ok(warm, "./sync.py (first no-op run)")
    if ids(bench, prefix) != before:
        raise RuntimeError("(c) the first rerun was not a no-op: region images changed")
    runs = []
    for n in range(bench.args.repeat):
        wait_cloud()
        timed = run_measured(["./sync.py", *regions], env)
        check_ok(timed, "./sync.py (no-op)")
        runs.append(timed["seconds"])
        say(f"(c) glancesync no-op run {n + 1}: {timed['seconds']:.2f} s")
    wait_cloud()
    verbose = run_measured(["./sync.py", "-vv", *regions], env)
    check_ok(verbose, "./sync.py -vv (no-op)")
    http = count_http(verbose["stderr"])
    req_lines = verbose["stderr"].count("REQ: curl")
    say(f"(c) glancesync -vv: {http['total']} HTTP requests ({req_lines} REQ: lines)")

    base_runs, base_http, base_inproc = [], None, []
    cmd = [sys.executable, "-m", "bench", "--internal", "list", str(PAGE_SIZE), *REGIONS]
    for n in range(bench.args.repeat):
        wait_cloud()
        listing = run_measured(cmd, command_env())
        check_ok(listing, "baseline listing")
        out = json.loads(listing["stdout"].strip().splitlines()[-1])
        base_runs.append(listing["seconds"])
        base_inproc.append(out["seconds_in_process"])
        base_http = out["http"]
        say(f"(c) baseline listing run {n + 1}: {listing['seconds']:.2f} s")
    return {
        "images": count,
        "regions": TARGETS,
        "copy_seconds": copy["seconds"],
        "glancesync_seconds": runs,
        "glancesync_seconds_median": statistics.median(runs),
        "glancesync_vv_seconds": verbose["seconds"],
        "glancesync_http": http,
        "glancesync_req_lines": req_lines,
        "glancesync_max_rss_kib": verbose["max_rss_kib"],
        "baseline_seconds": base_runs,
        "baseline_seconds_median": statistics.median(base_runs),
        "baseline_in_process_seconds_median": statistics.median(base_inproc),
        "baseline_http": base_http,
        "baseline_page_size": PAGE_SIZE,
    }
