"""The benchmark's report: the machine it ran on, and one table per part."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.measure import HAVE_GNU_TIME, LAYOUT, MIB, ROOT, fmt_mb, size_label, table
from bench.throughput import OSC_VENV


def machine() -> dict[str, Any]:
    mem = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version_of(python: Path, package: str) -> str:
        if not python.exists():
            return "?"
        code = f"import importlib.metadata as m; print(m.version({package!r}))"
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
        return done.stdout.strip() or "?"

    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "glance": version_of(Path(LAYOUT.venv) / "bin" / "python", "glance"),
        "glanceclient": version_of(Path(sys.executable), "python-glanceclient"),
        "openstackclient": version_of(OSC_VENV / "bin" / "python", "python-openstackclient"),
        "glancesync_commit": commit,
        "gnu_time": HAVE_GNU_TIME,
    }


def report(results: dict[str, Any]) -> str:
    m = results["machine"]
    out = [
        "glancesync benchmark",
        "====================",
        f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB RAM, Linux {m['kernel']}",
        f"Python {m['python']}; Glance {m['glance']} (uWSGI, file store, loopback); "
        f"glanceclient {m['glanceclient']}; openstackclient {m['openstackclient']}",
        f"glancesync at {m['glancesync_commit']}; MB = 10^6 bytes, MiB = 2^20 bytes",
        "",
    ]
    if results.get("undeletable"):
        out.append(
            "NOTE: records left in status 'deleted' by Glance (SQLite lock), not removable "
            f"through the API: {', '.join(results['undeletable'])}\n"
        )
    for part, error in results.get("errors", {}).items():
        out.append(f"PART {part} FAILED: {error}\n")
    if "osc_note" in results:
        out.append(f"NOTE: {results['osc_note']}\n")
    rows = results.get("a")
    if rows:
        ref = {
            (r["size"], r["regions"]): r
            for r in rows
            if r["method"] == "glancesync" and "error" not in r
        }
        lines = []
        for r in rows:
            if r["rss_only"]:
                continue
            if "error" in r:
                out.append(
                    f"(a) FAILED {size_label(r['size'])} x {r['regions']} {r['method']}: "
                    f"{r['error']}"
                )
                continue
            mine = ref.get((r["size"], r["regions"]))
            lines.append(
                [
                    size_label(r["size"]),
                    r["regions"],
                    r["method"],
                    f"{r['seconds']:.2f}",
                    f"{r['mb_per_s']:.1f}",
                    f"{mine['mb_per_s'] / r['mb_per_s']:.2f}" if mine else "?",
                    "?" if r.get("master_file_opens") is None else r["master_file_opens"],
                    fmt_mb(r["master_served"]),
                    "?"
                    if r["master_reads_per_image"] is None
                    else f"{r['master_reads_per_image']:.2f}",
                ]
            )
        out.append(
            table(
                "(a) throughput: one image to 1 region (RegionTwo) and to 3 regions "
                "(RegionTwo, RegionThree, other:OtherOne), wall time of the whole command",
                [
                    "image",
                    "regions",
                    "method",
                    "seconds",
                    "MB/s",
                    "glancesync÷this",
                    "master file reads",
                    "MB sent by master",
                    "sent÷size",
                ],
                lines,
            )
        )
        rss_rows = []
        for r in rows:
            if r.get("max_rss_kib") is None:
                continue
            rss_rows.append(
                [
                    size_label(r["size"]),
                    r["regions"],
                    r["method"],
                    f"{r['max_rss_kib'] / 1024:.1f}",
                ]
            )
        out.append(
            table(
                "(b) peak RSS (MiB, GNU time %M: the largest process of the command)",
                ["image", "regions", "method", "peak RSS MiB"],
                rss_rows,
            )
        )
    c = results.get("c")
    if c:
        gs, base = c["glancesync_http"], c["baseline_http"]
        out.append(
            table(
                f"(c) no-op rerun, {c['images']} images of 1 KiB already in "
                f"{len(c['regions'])} regions (median of {len(c['glancesync_seconds'])} runs)",
                ["command", "wall s", "HTTP requests", "by server"],
                [
                    [
                        "./sync.py RegionTwo RegionThree other:OtherOne",
                        f"{c['glancesync_seconds_median']:.2f}",
                        gs["total"],
                        " ".join(f"{k}={v}" for k, v in gs["by_host"].items()),
                    ],
                    [
                        "glanceclient listing of 4 regions, page 200 (process)",
                        f"{c['baseline_seconds_median']:.2f}",
                        base["total"],
                        " ".join(f"{k}={v}" for k, v in base["by_host"].items()),
                    ],
                    [
                        "  the same, listing only (inside the process)",
                        f"{c['baseline_in_process_seconds_median']:.2f}",
                        "",
                        "",
                    ],
                ],
            )
        )
    d = results.get("d")
    if d:
        out.append(
            table(
                f"(d) planning in memory: {d['master_images']} master images x "
                f"{d['regions']} regions, TargetSettings defaults",
                ["figure", "value"],
                [
                    ["master_catalog (once)", f"{d['catalog_seconds'] * 1000:.0f} ms"],
                    ["plan_region, all regions", f"{d['plan_seconds_total']:.2f} s"],
                    [
                        "reference planner, all regions (same listings)",
                        f"{d['reference_seconds_total']:.2f} s",
                    ],
                    ["speed-up over the reference", f"{d['speedup']:.1f}x"],
                    [
                        "reading every plan's entries (a status report), all regions",
                        f"{d['entries_seconds_total']:.2f} s",
                    ],
                    [
                        "images kept as in-sync pairs, all regions",
                        f"{d['in_sync_pairs_all_regions']}",
                    ],
                    [
                        "plan_region, per region (median)",
                        f"{d['plan_ms_per_region_median']:.0f} ms",
                    ],
                    [
                        "reference planner, per region (median)",
                        f"{d['reference_ms_per_region_median']:.0f} ms",
                    ],
                    ["plan_region, per region (max)", f"{d['plan_ms_per_region_max']:.0f} ms"],
                    [
                        "master Image values, traced memory",
                        f"{d['master_images_traced_bytes'] / MIB:.1f} MiB",
                    ],
                    ["catalog on top of them", f"{d['catalog_traced_bytes'] / MIB:.1f} MiB"],
                    ["one plan's peak allocation", f"{d['plan_peak_bytes_max'] / MIB:.1f} MiB"],
                    [
                        f"peak traced (catalog + 1 region listing + plan, {d['traced_regions']} "
                        "regions)",
                        f"{d['overall_traced_peak_bytes'] / MIB:.1f} MiB",
                    ],
                ],
            )
            + "statuses over all regions: "
            + ", ".join(f"{k} {v}" for k, v in sorted(d["statuses_all_regions"].items()))
            + "\n"
        )
    e = results.get("e")
    if e:
        out.append(
            table(
                "(e) uploads at once into RegionTwo through ServersFacade "
                "(streamed from RegionOne)",
                [
                    "uploads at once",
                    "images",
                    "seconds",
                    "aggregate MB/s",
                    "MB sent by master",
                    "failed attempts",
                ],
                [
                    [
                        r["uploads_at_once"],
                        f"{r['images']} x {size_label(r['size'])}",
                        f"{r['seconds']:.2f}",
                        f"{r['aggregate_mb_per_s']:.1f}",
                        fmt_mb(r["master_served"]),
                        len(r.get("failed_attempts", ())),
                    ]
                    for r in e
                ],
            )
        )
    f = results.get("f")
    if f:
        out.append(
            table(
                f"(f) one qcow2 image ({fmt_mb(f['qcow2_bytes'])} MB, virtual "
                f"{fmt_mb(f['virtual_bytes'])} MB) made raw",
                ["conversion", "region", "MB sent", "seconds", "MB stored"],
                [
                    [
                        r["path"],
                        r["region"],
                        fmt_mb(r["bytes_sent"]),
                        f"{r['seconds']:.2f}",
                        fmt_mb(r["stored_bytes"]),
                    ]
                    for r in f["rows"]
                ],
            )
        )
    return "\n".join(out)
