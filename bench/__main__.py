"""The benchmark's command line: python -m bench [options] (see bench/__init__.py)."""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench import concurrency, conversion, noop, planning, throughput, wan
from bench.arrange import REGIONS, Bench, Cloud, write_config
from bench.measure import LOG, MIB, parse_size, say, wait_cloud
from bench.report import machine, report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark glancesync against the local cloud (see doc/performance.rst).",
    )
    parser.add_argument(
        "--sizes",
        type=lambda s: [parse_size(x) for x in s.split(",") if x],
        default=None,
        help="image sizes of part a (default 64MiB,512MiB,1GiB)",
    )
    parser.add_argument(
        "--rss-sizes",
        type=lambda s: [parse_size(x) for x in s.split(",") if x],
        default=None,
        help="extra sizes synced by glancesync alone, for part b (default 2GiB)",
    )
    parser.add_argument("--parts", default="a,c,d,e", help="parts to run (default a,c,d,e)")
    parser.add_argument("--small-images", type=int, default=None, help="images of part c (1000)")
    parser.add_argument("--plan-images", type=int, default=None, help="part d images (10000)")
    parser.add_argument("--plan-regions", type=int, default=None, help="part d regions (50)")
    parser.add_argument(
        "--concurrent-size", type=parse_size, default=None, help="part e image size (128MiB)"
    )
    parser.add_argument(
        "--conversion-size", type=parse_size, default=None, help="part f virtual size (1GiB)"
    )
    parser.add_argument(
        "--no-spool-variant",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also sync to 3 regions with [main] cache_size_mb = 0 (default: yes)",
    )
    parser.add_argument("--wan-size", type=parse_size, default=None, help="part w (512MiB)")
    parser.add_argument("--wan-mbit", type=float, default=100.0, help="part w link, Mbit/s")
    parser.add_argument("--wan-latency", type=float, default=0.02, help="part w latency, s")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each part c command")
    parser.add_argument("--repeat-e", type=int, default=2, help="rounds of part e")
    parser.add_argument("--threads", type=int, default=8, help="threads creating test images")
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--json", metavar="FILE", help="save the raw figures as JSON")
    parser.add_argument(
        "--cleanup",
        metavar="PREFIX",
        help="only delete the images named PREFIX* left by an interrupted run, then exit",
    )
    parser.add_argument("--internal", nargs="+", help=argparse.SUPPRESS)
    return parser


def defaults(args: argparse.Namespace) -> None:
    quick = args.quick
    if args.sizes is None:
        args.sizes = [8 * MIB] if quick else [64 * MIB, 512 * MIB, 2**30]
    if args.rss_sizes is None:
        args.rss_sizes = [] if quick else [2 * 2**30]
    args.rss_sizes = [s for s in args.rss_sizes if s not in args.sizes]
    if args.small_images is None:
        args.small_images = 40 if quick else 1000
    if args.plan_images is None:
        args.plan_images = 1000 if quick else 10000
    if args.plan_regions is None:
        args.plan_regions = 5 if quick else 50
    if args.wan_size is None:
        args.wan_size = 8 * MIB if quick else 512 * MIB
    if args.concurrent_size is None:
        args.concurrent_size = 8 * MIB if quick else 128 * MIB
    if args.conversion_size is None:
        args.conversion_size = 64 * MIB if quick else 2**30
    if quick:
        args.repeat, args.repeat_e = 1, 1


def run_parts(args: argparse.Namespace, parts: set[str], results: dict[str, Any]) -> None:
    if "d" in parts:
        say("(d) planning in memory")
        results["d"] = planning.run(args.plan_images, args.plan_regions, min(5, args.plan_regions))
    if not parts & {"a", "c", "e", "f", "w"}:
        return
    prefix = f"bench{uuid.uuid4().hex[:8]}_"
    results["prefix"] = prefix
    tmp = Path(tempfile.mkdtemp(prefix="glancesync-bench-"))
    bench = Bench(args, prefix, tmp)
    try:
        for name in ("a", "e", "c", "f", "w"):
            if name not in parts:
                continue
            try:
                if name == "a":
                    part = throughput.Throughput(bench)
                    results["a"] = part.run()
                    results.update(part.notes)
                elif name == "w":
                    results["w"] = wan.run(bench, args.wan_size, args.wan_mbit, args.wan_latency)
                elif name == "e":
                    results["e"] = concurrency.run(bench)
                elif name == "f":
                    results["f"] = conversion.run(bench)
                else:
                    results["c"] = noop.run(bench)
            except Exception as error:  # record it, go on with the other parts
                LOG.exception("part %s failed", name)
                results.setdefault("errors", {})[name] = str(error)
    finally:
        try:
            bench.close()
        finally:
            results["undeletable"] = bench.cloud.undeletable
            shutil.rmtree(tmp, ignore_errors=True)


def cleanup(prefix: str) -> int:
    if not re.fullmatch(r"bench[0-9a-f]{8}_", prefix):
        raise SystemExit("--cleanup takes a benchmark prefix such as bench0123abcd_")
    wait_cloud()
    with tempfile.TemporaryDirectory() as tmp:
        cloud = Cloud(write_config(Path(tmp) / "cleanup.conf", prefix))
        try:
            print(f"deleted {cloud.delete_prefixed(REGIONS, prefix)} images")
        finally:
            cloud.close()
    return 0


def main() -> int:
    args = build_parser().parse_args()
    if args.internal:
        kind, *rest = args.internal
        if kind == "glanceclient-copy":
            throughput.worker_glanceclient_copy(rest[0], rest[1:])
        elif kind == "list":
            noop.worker_list(rest[1:], int(rest[0]))
        return 0
    defaults(args)
    if args.cleanup:
        return cleanup(args.cleanup)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr
    )
    # a kill must still clean up: turn SIGTERM into SystemExit, which runs the finally blocks
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict[str, Any] = {
        "machine": machine(),
        "args": {k: v for k, v in vars(args).items() if k not in ("internal",)},
    }
    say(json.dumps(results["machine"]))
    started = time.perf_counter()
    try:
        run_parts(args, set(args.parts.split(",")), results)
    finally:
        results["seconds"] = time.perf_counter() - started
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
