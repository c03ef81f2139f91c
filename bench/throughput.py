"""Parts a and b: copy throughput of ``./sync.py`` against two scripted baselines,
the bytes each method makes the master send, and peak RSS against image size.

The baselines are what an operator would script instead of glancesync, so
they use their own clients on purpose: python-glanceclient (download and
upload per region, streamed) and the ``openstack`` CLI (save to a file,
create from it).
"""

from __future__ import annotations

import io
import re
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from bench.arrange import REGIONS, Bench, sync_args, write_config
from bench.measure import (
    LAYOUT,
    LOG,
    ROOT,
    VENV_BIN,
    check_ok,
    command_env,
    fmt_mb,
    master_bytes,
    mbps,
    run_measured,
    say,
    size_label,
    wait_cloud,
)
from glancesync.model.image import Image
from tools.cloudclients import session_for
from tools.devcloud import topology

OSC_VENV = ROOT / "bench" / ".venv-osc"
ONE_REGION = ["RegionTwo"]
THREE_REGIONS = list(topology.TARGET_REGIONS)
RATE_IN_SUMMARY = re.compile(r"\(([\d.]+) MB/s\)")
Method = Callable[[Image, list[str]], dict[str, Any]]


class ChunkReader(io.RawIOBase):
    """File-like view of an iterator of chunks: the baseline's streaming adapter."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks = iter(chunks)
        self._left = b""

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if not self._left:
            self._left = next(self._chunks, b"")
        if n is None or n < 0:
            n = len(self._left)
        piece, self._left = self._left[:n], self._left[n:]
        return piece


def worker_glanceclient_copy(image_id: str, regions: list[str]) -> None:
    """Baseline 1 (run as a subprocess): per region, download from the master and upload."""
    from glanceclient import Client

    clouds = {"master", *(REGIONS[r] for r in regions)}
    sessions = {cloud: session_for(cloud, LAYOUT) for cloud in clouds}
    source = Client("2", session=sessions["master"], region_name=topology.MASTER_REGION)
    meta = source.images.get(image_id)
    for region in regions:
        target = Client("2", session=sessions[REGIONS[region]], region_name=region)
        body = source.images.data(image_id)
        new = target.images.create(
            name=meta["name"],
            disk_format=meta["disk_format"],
            container_format=meta["container_format"],
            visibility=meta["visibility"],
        )
        target.images.upload(new["id"], ChunkReader(body), image_size=meta["size"])


def find_osc() -> str | None:
    for candidate in (VENV_BIN / "openstack", OSC_VENV / "bin" / "openstack"):
        if candidate.exists():
            return str(candidate)
    return None


class Throughput:
    def __init__(self, bench: Bench) -> None:
        self.bench, self.cloud, self.args = bench, bench.cloud, bench.args
        self.osc = find_osc()
        self.notes: dict[str, str] = {}

    def measure_once_more(
        self, master: Image, regions: list[str], method: Method
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """One measurement; tried a second time if it fails (a server restarted by others)."""
        for attempt in (1, 2):
            wait_cloud()
            try:
                with master_bytes(master.id) as served:
                    run = method(master, regions)
                self.cloud.verify_and_delete_copies(master, regions)
                return run, served
            except Exception as error:
                if attempt == 2:
                    raise
                LOG.warning("measurement failed, once more: %s", str(error)[:300])
                wait_cloud()
                self.cloud.delete_copies(master.name)
        raise AssertionError("unreachable")

    def glancesync(self, master: Image, regions: list[str], spool: bool = True) -> dict[str, Any]:
        extra = {} if spool else {"main": {"cache_size_mb": "0"}}
        config = write_config(self.bench.tmp / "a.conf", master.name, extra)
        run = run_measured(["./sync.py", *sync_args(regions)], command_env(config))
        check_ok(run, "./sync.py")
        return {**run, "summary_rates": [float(r) for r in RATE_IN_SUMMARY.findall(run["stdout"])]}

    def glanceclient(self, master: Image, regions: list[str]) -> dict[str, Any]:
        cmd = [sys.executable, "-m", "bench", "--internal", "glanceclient-copy", master.id]
        run = run_measured([*cmd, *regions], command_env())
        check_ok(run, "glanceclient copy")
        return run

    def osc_env(self, cloud: str) -> dict[str, str]:
        url, user, password, project = LAYOUT.account(cloud)
        env = {k: v for k, v in command_env().items() if not k.startswith("OS_")}
        env.update(
            OS_AUTH_URL=url,
            OS_USERNAME=user,
            OS_PASSWORD=password,
            OS_PROJECT_NAME=project,
            OS_USER_DOMAIN_NAME="Default",
            OS_PROJECT_DOMAIN_NAME="Default",
            OS_IDENTITY_API_VERSION="3",
            OS_INTERFACE="public",
        )
        return env

    def openstack_cli(self, master: Image, regions: list[str]) -> dict[str, Any]:
        assert self.osc is not None
        steps = []
        started = time.perf_counter()
        for region in regions:
            path = self.bench.tmp / f"save-{region}.img"
            try:
                save = [self.osc, "--os-region-name", topology.MASTER_REGION, "image", "save"]
                run = run_measured([*save, "--file", str(path), master.id], self.osc_env("master"))
                check_ok(run, "openstack image save")
                create = [self.osc, "--os-region-name", region, "image", "create", "--private"]
                create += ["--disk-format", str(master.disk_format)]
                create += ["--container-format", str(master.container_format)]
                made = run_measured(
                    [*create, "--file", str(path), master.name], self.osc_env(REGIONS[region])
                )
                check_ok(made, "openstack image create")
                steps += [run, made]
            finally:
                path.unlink(missing_ok=True)
        rss = [s["max_rss_kib"] for s in steps if s["max_rss_kib"]]
        return {
            "rc": 0,
            "seconds": time.perf_counter() - started,
            "max_rss_kib": max(rss) if rss else None,
            "steps": [{"cmd": s["cmd"][1:6], "seconds": s["seconds"]} for s in steps],
        }

    def methods(self) -> list[tuple[str, Method]]:
        found: list[tuple[str, Method]] = [
            ("glancesync", self.glancesync),
            ("glanceclient", self.glanceclient),
        ]
        if self.osc:
            found.append(("openstack CLI", self.openstack_cli))
        else:
            self.notes["osc_note"] = (
                "python-openstackclient not found in .venv or bench/.venv-osc: baseline 2 skipped"
            )
        return found

    def run(self) -> list[dict[str, Any]]:
        methods, rows = self.methods(), []
        no_spool = ("glancesync, spool off", partial(self.glancesync, spool=False))
        for size in self.args.sizes + self.args.rss_sizes:
            rss_only = size not in self.args.sizes
            master = self.bench.make_master(f"{self.bench.prefix}a{size}", size)
            try:
                for regions in [ONE_REGION] if rss_only else [ONE_REGION, THREE_REGIONS]:
                    chosen = methods[:1] if rss_only else methods
                    if len(regions) > 1 and self.args.no_spool_variant:
                        chosen = [*chosen, no_spool]
                    for label, method in chosen:
                        rows.append(self.one(master, regions, label, method, rss_only))
            finally:
                wait_cloud()
                self.cloud.delete(topology.MASTER_REGION, master.id)
                self.cloud.delete_copies(master.name)
        return rows

    def one(
        self, master: Image, regions: list[str], label: str, method: Method, rss_only: bool
    ) -> dict[str, Any]:
        size = master.size
        say(f"(a) {label}: {size_label(size)} -> {', '.join(regions)}")
        base = {"size": size, "regions": len(regions), "method": label, "rss_only": rss_only}
        try:
            run, served = self.measure_once_more(master, regions, method)
        except Exception as error:  # noted in the report; go on
            LOG.exception("(a) %s failed", label)
            wait_cloud()
            self.cloud.delete_copies(master.name)
            return {**base, "error": str(error)[:300]}
        row = {
            **base,
            "seconds": run["seconds"],
            "mb_per_s": mbps(size * len(regions), run["seconds"]),
            "master_served": served["served"],
            "master_read": served["read"],
            "master_file_opens": served.get("file_opens"),
            "master_reads_per_image": (
                served["served"] / size if served["served"] is not None else None
            ),
            "max_rss_kib": run.get("max_rss_kib"),
            "summary_rates": run.get("summary_rates"),
        }
        say(
            f"    {row['seconds']:.2f} s, {row['mb_per_s']:.1f} MB/s, "
            f"master file opened {row['master_file_opens']} times, "
            f"master served {fmt_mb(served['served'])} MB, RSS {row['max_rss_kib']} KiB"
        )
        return row
