#!/usr/bin/env python3
"""glancesync benchmark against the local cloud (``tools/devcloud.py``).

Run from the repository root with the project's virtualenv::

    .venv/bin/python bench/run.py                  # full run, 10-20 minutes
    .venv/bin/python bench/run.py --quick          # smoke run, about a minute
    .venv/bin/python bench/run.py --parts a,d --sizes 64MiB --json /tmp/b.json

Parts (see doc/performance.rst for the method and the figures):

a  throughput of ``./sync.py`` against two scripted baselines, and the bytes
   each method reads from the master;
b  peak RSS of ``./sync.py`` against image size (measured during part a,
   plus the ``--rss-sizes`` points);
c  a no-op rerun over many small images: wall time and HTTP requests, against
   a bare paginated listing of the same regions;
d  plan time for many images x many regions, in memory (no servers);
e  several uploads at once into one region through the facade.

Every image the benchmark creates carries a per-run name prefix and is
deleted at the end, whatever happens. Servers are never stopped.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import hashlib
import io
import json
import logging
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools.cloudclients import AUTH, session_for  # noqa: E402

STATE = Path(os.environ.get("DEVCLOUD_STATE", ROOT / ".devcloud"))
VENV_BIN = Path(sys.executable).parent
OSC_VENV = ROOT / "bench" / ".venv-osc"
GNU_TIME = "/usr/bin/time"
LOCK_FILE = "/tmp/bench.lock"

MIB = 2**20
MB = 10**6
BLOCK = MIB

#: region -> cloud (a glancesync target)
REGION_CLOUD = {
    "RegionOne": "master",
    "RegionTwo": "master",
    "RegionThree": "master",
    "OtherOne": "other",
}
MASTER_REGION = "RegionOne"
ONE_REGION = ["RegionTwo"]
THREE_REGIONS = ["RegionTwo", "RegionThree", "OtherOne"]
TARGET_REGIONS = ["RegionTwo", "RegionThree", "OtherOne"]

#: urllib3 logs one line per request actually sent:  http://host:port "GET /path HTTP/1.1" 200 123
HTTP_LINE = re.compile(r'(https?://[\w.\-:\[\]]+) "([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3})')
NUMERIC = re.compile(r"[\d.,x ]*(?:[KMG]iB|MB/s|ms|s|MB)?")
RATE_IN_SUMMARY = re.compile(r"\(([\d.]+) MB/s\)")

LOG = logging.getLogger("bench")


# -- small helpers ------------------------------------------------------------


def parse_size(text: str) -> int:
    units = {
        "": 1,
        "b": 1,
        "k": 1024,
        "kib": 1024,
        "kb": 1000,
        "m": MIB,
        "mib": MIB,
        "mb": MB,
        "g": 2**30,
        "gib": 2**30,
        "gb": 10**9,
    }
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in units:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 64MiB, 1GiB)")
    return int(float(match.group(1)) * units[match.group(2).lower()])


def size_label(size: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", MIB), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"


def mbps(nbytes: float, seconds: float) -> float:
    return nbytes / MB / seconds if seconds > 0 else 0.0


def fmt_mb(nbytes: int | None) -> str:
    return "?" if nbytes is None else f"{nbytes / MB:.1f}"


def table(title: str, headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [title, "-" * len(title)]
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.rjust(w) if i and NUMERIC.fullmatch(c) else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def say(message: str) -> None:
    LOG.info("%s", message)


# -- data ---------------------------------------------------------------------


class PatternReader(io.RawIOBase):
    """``size`` deterministic bytes: one pseudo-random block, repeated, never all in memory."""

    def __init__(self, size: int, seed: str, piece: int = 64 * 1024) -> None:
        super().__init__()
        self.size = size
        self.pos = 0
        self.piece = piece
        self.block = random.Random(seed).randbytes(BLOCK)
        self._view = memoryview(self.block)

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0 or n > self.piece:
            n = self.piece
        n = min(n, self.size - self.pos)
        if n <= 0:
            return b""
        start = self.pos % BLOCK
        n = min(n, BLOCK - start)
        self.pos += n
        return bytes(self._view[start : start + n])


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


# -- the cloud, seen directly with glanceclient ---------------------------------------


class Cloud:
    """glanceclient clients for each region, shared by threads.

    Glance on the local cloud keeps its records in SQLite: many writes at once
    into one server end in "database is locked" (HTTP 500), and a delete cut
    short that way leaves a record in status ``deleted`` that nothing can
    remove. So writes into one region are made one at a time (regions work in
    parallel), and retried on 5xx and connection failures.
    """

    ATTEMPTS = 8

    def __init__(self) -> None:
        from glanceclient import Client

        self._sessions = {cloud: session_for(cloud) for cloud in AUTH}
        self._clients = {
            region: Client("2", session=self._sessions[cloud], region_name=region)
            for region, cloud in REGION_CLOUD.items()
        }
        self._create_slots = {region: threading.Lock() for region in REGION_CLOUD}
        self._delete_slots = {region: threading.Lock() for region in REGION_CLOUD}
        self.undeletable: list[str] = []

    def client(self, region: str) -> Any:
        return self._clients[region]

    def _retry(self, what: str, work: Callable[[], Any]) -> Any:
        from glanceclient import exc

        for attempt in range(1, self.ATTEMPTS + 1):
            try:
                return work()
            except (
                exc.HTTPInternalServerError,
                exc.HTTPServiceUnavailable,
                exc.CommunicationError,
            ):
                if attempt == self.ATTEMPTS:
                    raise
                LOG.warning("%s failed (attempt %d), retrying", what, attempt)
                time.sleep(min(0.5 * 2**attempt, 8.0))
        raise AssertionError("unreachable")

    def create(
        self, region: str, name: str, data: Callable[[], io.RawIOBase] | bytes, size: int
    ) -> dict[str, Any]:
        """A private raw image filled with ``data`` (bytes, or a factory of readers)."""
        client = self.client(region)

        def once() -> dict[str, Any]:
            with self._create_slots[region]:
                image = client.images.create(
                    name=name, disk_format="raw", container_format="bare", visibility="private"
                )
                reader = io.BytesIO(data) if isinstance(data, bytes) else data()
                try:
                    client.images.upload(image["id"], reader, image_size=size)
                except BaseException:
                    with contextlib.suppress(Exception):
                        self.delete(region, image["id"])
                    raise
                return dict(client.images.get(image["id"]))

        return self._retry(f"creating {name} in {region}", once)

    def named(self, region: str, name: str) -> list[dict[str, Any]]:
        client = self.client(region)
        found = {}
        for hidden in (False, True):
            for image in client.images.list(filters={"name": name, "os_hidden": hidden}):
                found[image["id"]] = dict(image)
        return [i for i in found.values() if i["status"] != "deleted"]

    def prefixed(self, region: str, prefix: str) -> list[dict[str, Any]]:
        client = self.client(region)
        found = {}
        for hidden in (False, True):
            for image in client.images.list(page_size=500, filters={"os_hidden": hidden}):
                if (image.get("name") or "").startswith(prefix):
                    found[image["id"]] = dict(image)
        return list(found.values())

    def delete(self, region: str, image_id: str) -> None:
        from glanceclient import exc

        def once() -> None:
            with self._delete_slots[region]:
                self.client(region).images.delete(image_id)

        try:
            self._retry(f"deleting {image_id} in {region}", once)
        except exc.HTTPNotFound:
            pass
        except exc.HTTPBadRequest as error:  # a record left in status "deleted"
            self.undeletable.append(f"{region}/{image_id}")
            LOG.warning("cannot delete %s in %s: %s", image_id, region, error)

    def delete_prefixed(self, regions: Iterable[str], prefix: str, threads: int = 8) -> int:
        jobs = [
            (r, i["id"])
            for r in regions
            for i in self.prefixed(r, prefix)
            if i["status"] != "deleted"
        ]
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda job: self.delete(*job), jobs))
        return len(jobs)


SERVER_PORTS = (5000, 5001, 9292, 9293, 9294, 9295)


def wait_cloud(timeout: float = 300.0) -> float:
    """Wait until every server of the local cloud accepts connections; seconds waited.

    Other sessions may stop and start servers (fault tests): a measurement
    must not start while one is down.
    """
    import socket

    started = time.monotonic()
    while True:
        down = []
        for port in SERVER_PORTS:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            except OSError:
                down.append(port)
        waited = time.monotonic() - started
        if not down:
            if waited > 1:
                say(f"waited {waited:.0f} s for the cloud")
            return waited
        if waited > timeout:
            raise RuntimeError(f"servers on ports {down} down for {timeout:.0f} s")
        time.sleep(2)


def master_io() -> dict[str, int]:
    """rchar/wchar summed over the master Glance's uWSGI processes (master and workers)."""
    root = int((STATE / "pids" / "g1.pid").read_text().strip())
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        for task in Path(f"/proc/{pid}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo.extend(int(p) for p in (task / "children").read_text().split())
    total = {"rchar": 0, "wchar": 0, "pid": root}
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/io").read_text().splitlines():
                key, _, value = line.partition(":")
                if key in total:
                    total[key] += int(value)
    return total


class OpenCounter:
    """How many times a file is opened, by inotify (IN_OPEN), attributable to that file alone."""

    IN_OPEN = 0x20
    IN_CLOSE_NOWRITE = 0x10
    IN_NONBLOCK = 0o4000

    def __init__(self, path: Path) -> None:
        import ctypes
        import ctypes.util

        self.fd = -1
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fd = libc.inotify_init1(self.IN_NONBLOCK)
        if fd < 0:
            return
        # Closes are watched too: inotify merges an event with an identical one
        # still unread, so opens alone would count two downloads as one.
        if libc.inotify_add_watch(fd, os.fsencode(path), self.IN_OPEN | self.IN_CLOSE_NOWRITE) < 0:
            os.close(fd)
            return
        self.fd = fd

    def count(self) -> int | None:
        """Opens since the last call (None when the file could not be watched)."""
        if self.fd < 0:
            return None
        events = 0
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return events
            offset = 0
            while offset + 16 <= len(data):  # struct inotify_event: wd, mask, cookie, len, name
                mask = int.from_bytes(data[offset + 4 : offset + 8], sys.byteorder)
                name_len = int.from_bytes(data[offset + 12 : offset + 16], sys.byteorder)
                events += bool(mask & self.IN_OPEN)
                offset += 16 + name_len

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@contextlib.contextmanager
def master_bytes(image_id: str | None = None) -> Iterator[dict[str, Any]]:
    """What the master's Glance sent meanwhile: bytes written to its sockets (wchar),
    bytes it read (rchar), and how often it opened the image's file in its store."""
    result: dict[str, Any] = {}
    watch = OpenCounter(STATE / "g1" / "images" / image_id) if image_id else None
    if watch:
        watch.count()
    before = master_io()
    try:
        yield result
    finally:
        if watch:
            result["file_opens"] = watch.count()
            watch.close()
        after = master_io()
        if after["pid"] != before["pid"]:  # restarted meanwhile: the counters started again
            result.update(served=None, read=None)
        else:
            result.update(
                served=after["wchar"] - before["wchar"], read=after["rchar"] - before["rchar"]
            )


# -- running commands -------------------------------------------------------------


def command_env(config: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    if config is not None:
        env["GLANCESYNC_CONFIG"] = str(config)
    return env


def run_measured(cmd: list[str], env: dict[str, str], timeout: float = 3600) -> dict[str, Any]:
    """Run ``cmd``; wall time, exit code, output and peak RSS (KiB) of the biggest process."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        wrapped = [GNU_TIME, "-f", "%M", "-o", tf.name, *cmd] if HAVE_GNU_TIME else cmd
        started = time.perf_counter()
        done = subprocess.run(
            wrapped, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
        wall = time.perf_counter() - started
        rss = None
        if HAVE_GNU_TIME:
            text = tf.read().strip().splitlines()
            with contextlib.suppress(ValueError, IndexError):
                rss = int(text[-1])
    return {
        "cmd": cmd,
        "rc": done.returncode,
        "seconds": wall,
        "max_rss_kib": rss,
        "stdout": done.stdout,
        "stderr": done.stderr,
    }


def check_ok(run: dict[str, Any], what: str) -> None:
    if run["rc"] != 0:
        tail = "\n".join((run["stderr"] or "").splitlines()[-15:])
        raise RuntimeError(f"{what} failed with exit code {run['rc']}:\n{tail}")


HAVE_GNU_TIME = os.access(GNU_TIME, os.X_OK)


def count_http(text: str) -> dict[str, Any]:
    """Requests sent, from urllib3's debug lines, by host and by method."""
    hosts: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    for match in HTTP_LINE.finditer(text):
        hosts[match.group(1).split("//", 1)[1]] += 1
        methods[match.group(2)] += 1
    return {
        "total": sum(hosts.values()),
        "by_host": dict(sorted(hosts.items())),
        "by_method": dict(methods),
    }


def write_config(path: Path, prefix: str, extra: dict[str, dict[str, str]] | None = None) -> Path:
    """The cloud's glancesync.conf, selecting only images named ``prefix*``."""
    parser = configparser.ConfigParser(interpolation=None, default_section="\0")
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((STATE / "glancesync.conf").read_text())
    sections: dict[str, dict[str, str]] = {
        "DEFAULT": {"metadata_condition": f"image.name.startswith('{prefix}')"},
        "main": {"lock_file": LOCK_FILE},
    }
    for name, values in (extra or {}).items():
        sections.setdefault(name, {}).update(values)
    for name, values in sections.items():
        if not parser.has_section(name):
            parser.add_section(name)
        for key, value in values.items():
            parser.set(name, key, value)
    with path.open("w") as fh:
        parser.write(fh)
    path.chmod(0o600)
    return path


def sync_args(regions: list[str]) -> list[str]:
    return [r if REGION_CLOUD[r] == "master" else f"{REGION_CLOUD[r]}:{r}" for r in regions]


# -- internal workers (run as subprocesses, so they pay the same start-up as ./sync.py) --


def worker_glanceclient_copy(image_id: str, regions: list[str]) -> None:
    """Baseline 1: per region, download from the master and upload, streamed."""
    from glanceclient import Client

    sessions = {cloud: session_for(cloud) for cloud in {REGION_CLOUD[r] for r in regions}}
    sessions.setdefault("master", session_for("master"))
    source = Client("2", session=sessions["master"], region_name=MASTER_REGION)
    meta = source.images.get(image_id)
    for region in regions:
        target = Client("2", session=sessions[REGION_CLOUD[region]], region_name=region)
        body = source.images.data(image_id)
        new = target.images.create(
            name=meta["name"],
            disk_format=meta["disk_format"],
            container_format=meta["container_format"],
            visibility=meta["visibility"],
        )
        target.images.upload(new["id"], ChunkReader(body), image_size=meta["size"])


def worker_list(regions: list[str], page_size: int) -> None:
    """Baseline of part c: list every region (visible, then hidden images); print a JSON line."""
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
    sessions = {cloud: session_for(cloud) for cloud in {REGION_CLOUD[r] for r in regions}}
    counts = {}
    for region in regions:
        client = Client("2", session=sessions[REGION_CLOUD[region]], region_name=region)
        ids = set()
        for hidden in (False, True):
            for image in client.images.list(page_size=page_size, filters={"os_hidden": hidden}):
                ids.add(image["id"])
        counts[region] = len(ids)
    seconds = time.perf_counter() - started
    http = count_http("\n".join(f"{line}" for line in lines))
    print(json.dumps({"seconds_in_process": seconds, "images": counts, "http": http}))


# -- part a and b: throughput, master reads, RSS ------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.prefix = f"bench{uuid.uuid4().hex[:8]}_"
        self.tmp = Path(tempfile.mkdtemp(prefix="glancesync-bench-"))
        self.cloud = Cloud()
        self.results: dict[str, Any] = {"prefix": self.prefix}
        self.osc = self._find_osc()

    def _find_osc(self) -> str | None:
        for candidate in (VENV_BIN / "openstack", OSC_VENV / "bin" / "openstack"):
            if candidate.exists():
                return str(candidate)
        return None

    def close(self) -> None:
        say(f"cleaning up images named {self.prefix}*")
        wait_cloud()
        try:
            n = self.cloud.delete_prefixed(REGION_CLOUD, self.prefix)
            say(f"deleted {n} images")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- master images and region copies --

    def make_master(self, name: str, size: int) -> dict[str, Any]:
        started = time.perf_counter()
        image = self.cloud.create(MASTER_REGION, name, lambda: PatternReader(size, name), size)
        say(f"master image {name} ({size_label(size)}) in {time.perf_counter() - started:.1f} s")
        return image

    def verify_and_delete_copies(self, master: dict[str, Any], regions: list[str]) -> None:
        """Each region holds exactly one active copy with the master's checksum; delete them."""
        problems = []
        for region in regions:
            copies = self.cloud.named(region, master["name"])
            good = [
                c
                for c in copies
                if c["status"] == "active"
                and c.get("checksum") == master["checksum"]
                and c.get("size") == master["size"]
            ]
            if len(copies) != 1 or len(good) != 1:
                states = [(c["status"], c.get("checksum")) for c in copies]
                problems.append(f"{region}: {states}")
            for copy in copies:
                self.cloud.delete(region, copy["id"])
        if problems:
            raise RuntimeError(f"bad copies of {master['name']}: {'; '.join(problems)}")

    def measure_once_more(
        self,
        master: dict[str, Any],
        regions: list[str],
        method: Callable[[dict[str, Any], list[str]], dict[str, Any]],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """One measurement; tried a second time if it fails (a server restarted by others)."""
        for attempt in (1, 2):
            wait_cloud()
            try:
                with master_bytes(master["id"]) as served:
                    run = method(master, regions)
                self.verify_and_delete_copies(master, regions)
                return run, served
            except Exception as error:
                if attempt == 2:
                    raise
                LOG.warning("measurement failed, once more: %s", str(error)[:300])
                wait_cloud()
                self.delete_copies(master)
        raise AssertionError("unreachable")

    def delete_copies(self, master: dict[str, Any]) -> None:
        for region in TARGET_REGIONS:
            for copy in self.cloud.named(region, master["name"]):
                self.cloud.delete(region, copy["id"])

    # -- the three methods --

    def method_glancesync(
        self, master: dict[str, Any], regions: list[str], spool: bool = True
    ) -> dict[str, Any]:
        extra = {} if spool else {"main": {"cache_size_mb": "0"}}
        config = write_config(self.tmp / "a.conf", master["name"], extra)
        run = run_measured(["./sync.py", *sync_args(regions)], command_env(config))
        check_ok(run, "./sync.py")
        rates = [float(r) for r in RATE_IN_SUMMARY.findall(run["stdout"])]
        return {**run, "summary_rates": rates}

    def method_glanceclient(self, master: dict[str, Any], regions: list[str]) -> dict[str, Any]:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--internal",
            "glanceclient-copy",
            master["id"],
            *regions,
        ]
        run = run_measured(cmd, command_env())
        check_ok(run, "glanceclient copy")
        return run

    def osc_env(self, cloud: str) -> dict[str, str]:
        url, user, password, project = AUTH[cloud]
        env = command_env()
        for key in list(env):
            if key.startswith("OS_"):
                del env[key]
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

    def method_osc(self, master: dict[str, Any], regions: list[str]) -> dict[str, Any]:
        assert self.osc is not None
        steps = []
        started = time.perf_counter()
        for region in regions:
            path = self.tmp / f"save-{region}.img"
            try:
                save = run_measured(
                    [
                        self.osc,
                        "--os-region-name",
                        MASTER_REGION,
                        "image",
                        "save",
                        "--file",
                        str(path),
                        master["id"],
                    ],
                    self.osc_env("master"),
                )
                check_ok(save, "openstack image save")
                create = run_measured(
                    [
                        self.osc,
                        "--os-region-name",
                        region,
                        "image",
                        "create",
                        "--disk-format",
                        master["disk_format"],
                        "--container-format",
                        master["container_format"],
                        "--private",
                        "--file",
                        str(path),
                        master["name"],
                    ],
                    self.osc_env(REGION_CLOUD[region]),
                )
                check_ok(create, "openstack image create")
                steps += [save, create]
            finally:
                path.unlink(missing_ok=True)
        rss = [s["max_rss_kib"] for s in steps if s["max_rss_kib"]]
        return {
            "rc": 0,
            "seconds": time.perf_counter() - started,
            "max_rss_kib": max(rss) if rss else None,
            "steps": [{"cmd": s["cmd"][1:6], "seconds": s["seconds"]} for s in steps],
        }

    def part_a(self) -> None:
        sizes: list[int] = self.args.sizes
        methods: list[tuple[str, Callable[[dict[str, Any], list[str]], dict[str, Any]]]] = [
            ("glancesync", self.method_glancesync),
            ("glanceclient", self.method_glanceclient),
        ]
        if self.osc:
            methods.append(("openstack CLI", self.method_osc))
        else:
            self.results["osc_note"] = (
                "python-openstackclient not found in .venv or bench/.venv-osc: baseline 2 skipped"
            )
        no_spool = ("glancesync, spool off", partial(self.method_glancesync, spool=False))
        rows = []
        for size in sizes + self.args.rss_sizes:
            rss_only = size not in sizes
            master = self.make_master(f"{self.prefix}a{size}", size)
            try:
                for regions in [ONE_REGION] if rss_only else [ONE_REGION, THREE_REGIONS]:
                    chosen = methods[:1] if rss_only else methods
                    if len(regions) > 1 and self.args.no_spool_variant:
                        chosen = [*chosen, no_spool]
                    for label, method in chosen:
                        say(f"(a) {label}: {size_label(size)} -> {', '.join(regions)}")
                        try:
                            run, served = self.measure_once_more(master, regions, method)
                        except Exception as error:  # noted in the report; go on
                            LOG.exception("(a) %s failed", label)
                            rows.append(
                                {
                                    "size": size,
                                    "regions": len(regions),
                                    "method": label,
                                    "error": str(error)[:300],
                                    "rss_only": rss_only,
                                }
                            )
                            wait_cloud()
                            self.delete_copies(master)
                            continue
                        total = size * len(regions)
                        row = {
                            "size": size,
                            "regions": len(regions),
                            "method": label,
                            "seconds": run["seconds"],
                            "mb_per_s": mbps(total, run["seconds"]),
                            "master_served": served["served"],
                            "master_read": served["read"],
                            "master_file_opens": served.get("file_opens"),
                            "master_reads_per_image": (
                                served["served"] / size if served["served"] is not None else None
                            ),
                            "max_rss_kib": run.get("max_rss_kib"),
                            "summary_rates": run.get("summary_rates"),
                            "rss_only": rss_only,
                        }
                        say(
                            f"    {row['seconds']:.2f} s, {row['mb_per_s']:.1f} MB/s, "
                            f"master file opened {row['master_file_opens']} times, "
                            f"master served {fmt_mb(served['served'])} MB, "
                            f"RSS {row['max_rss_kib']} KiB"
                        )
                        rows.append(row)
            finally:
                wait_cloud()
                self.cloud.delete(MASTER_REGION, master["id"])
                self.delete_copies(master)
        self.results["a"] = rows

    # -- part c: the no-op rerun --

    def part_c(self) -> None:
        count, size = self.args.small_images, 1024
        prefix = f"{self.prefix}c"
        names = [f"{prefix}{i:05d}" for i in range(count)]

        def data(name: str) -> bytes:
            return hashlib.sha256(name.encode()).digest() * (size // 32)

        started = time.perf_counter()
        with ThreadPoolExecutor(self.args.threads) as pool:
            list(pool.map(lambda n: self.cloud.create(MASTER_REGION, n, data(n), size), names))
            jobs = [(r, n) for n in names for r in TARGET_REGIONS]
            list(pool.map(lambda j: self.cloud.create(j[0], j[1], data(j[1]), size), jobs))
        say(
            f"(c) created {count} images in the master and {len(jobs)} copies "
            f"in {time.perf_counter() - started:.0f} s"
        )
        try:
            self._part_c_measure(prefix, count)
        finally:
            say("(c) deleting the small images")
            self.cloud.delete_prefixed(REGION_CLOUD, prefix, self.args.threads)

    def _part_c_measure(self, prefix: str, count: int) -> None:
        config = write_config(self.tmp / "c.conf", prefix)
        env = command_env(config)
        regions = sync_args(TARGET_REGIONS)
        wait_cloud()
        before = {r: {i["id"] for i in self.cloud.prefixed(r, prefix)} for r in REGION_CLOUD}
        warm = run_measured(["./sync.py", *regions], env)
        check_ok(warm, "./sync.py (first no-op run)")
        after = {r: {i["id"] for i in self.cloud.prefixed(r, prefix)} for r in REGION_CLOUD}
        if before != after or any(len(v) != count for v in after.values()):
            raise RuntimeError("(c) the first rerun was not a no-op: region images changed")
        runs = []
        for n in range(self.args.repeat):
            wait_cloud()
            run = run_measured(["./sync.py", *regions], env)
            check_ok(run, "./sync.py (no-op)")
            runs.append(run["seconds"])
            say(f"(c) glancesync no-op run {n + 1}: {run['seconds']:.2f} s")
        wait_cloud()
        verbose = run_measured(["./sync.py", "-vv", *regions], env)
        check_ok(verbose, "./sync.py -vv (no-op)")
        http = count_http(verbose["stderr"])
        req_lines = verbose["stderr"].count("REQ: curl")
        say(f"(c) glancesync -vv: {http['total']} HTTP requests ({req_lines} REQ: lines)")

        base_runs, base_http, base_inproc = [], None, []
        for n in range(self.args.repeat):
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--internal",
                "list",
                "200",
                *REGION_CLOUD,
            ]
            wait_cloud()
            run = run_measured(cmd, command_env())
            check_ok(run, "baseline listing")
            out = json.loads(run["stdout"].strip().splitlines()[-1])
            base_runs.append(run["seconds"])
            base_inproc.append(out["seconds_in_process"])
            base_http = out["http"]
            say(f"(c) baseline listing run {n + 1}: {run['seconds']:.2f} s")
        self.results["c"] = {
            "images": count,
            "regions": TARGET_REGIONS,
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
            "baseline_page_size": 200,
        }

    # -- part e: uploads at once in one region --

    def part_e(self) -> None:
        from glancesync.cloud.glance import ServersFacade
        from glancesync.config.loader import load_settings
        from glancesync.model.changes import NewImage
        from glancesync.model.region import RegionRef

        count, size = 4, self.args.concurrent_size
        prefix = f"{self.prefix}e"
        settings = load_settings(write_config(self.tmp / "e.conf", prefix))
        facade = ServersFacade(settings)
        source, region = RegionRef("master", MASTER_REGION), RegionRef("master", "RegionTwo")
        masters = [self.make_master(f"{prefix}{i}", size) for i in range(count)]
        rows = []

        failures: list[str] = []

        def copy(master: dict[str, Any]) -> float:
            """One verified copy; a failed attempt is deleted, counted and tried again."""
            t0 = time.perf_counter()
            for attempt in range(3):
                try:
                    copy_once(master)
                    break
                except Exception as error:
                    failures.append(str(error)[:200])
                    LOG.warning("(e) copy of %s failed: %s", master["name"], error)
                    for image in self.cloud.named("RegionTwo", master["name"]):
                        self.cloud.delete("RegionTwo", image["id"])
                    if attempt == 2:
                        raise
            return time.perf_counter() - t0

        def copy_once(master: dict[str, Any]) -> None:
            spec = NewImage(
                name=master["name"],
                visibility=master["visibility"],
                disk_format=master["disk_format"],
                container_format=master["container_format"],
            )
            record = facade.create_image(region, spec)
            facade.upload(region, record.id, facade.download(source, master["id"]), size)
            got = facade.get_image(region, record.id)
            if got.status != "active" or got.checksum != master["checksum"]:
                raise RuntimeError(f"(e) bad copy of {master['name']}: {got.status}")

        try:
            facade.list_images(source)  # authenticate before timing
            for _round in range(self.args.repeat_e):
                for width in (1, 2, 4):
                    wait_cloud()
                    failures.clear()
                    started = time.perf_counter()
                    with master_bytes() as served, ThreadPoolExecutor(width) as pool:
                        each = list(pool.map(copy, masters))
                    wall = time.perf_counter() - started
                    for master in masters:
                        for image in self.cloud.named("RegionTwo", master["name"]):
                            self.cloud.delete("RegionTwo", image["id"])
                    row = {
                        "uploads_at_once": width,
                        "images": count,
                        "size": size,
                        "seconds": wall,
                        "aggregate_mb_per_s": mbps(count * size, wall),
                        "per_upload_seconds": each,
                        "master_served": served["served"],
                        "failed_attempts": list(failures),
                    }
                    say(f"(e) {width} at once: {wall:.2f} s, {row['aggregate_mb_per_s']:.1f} MB/s")
                    rows.append(row)
        finally:
            facade.close()
            for master in masters:
                self.cloud.delete(MASTER_REGION, master["id"])
            self.cloud.delete_prefixed(["RegionTwo"], prefix)
        self.results["e"] = rows


# -- part d: planning in memory ---------------------------------------------------------


def synthetic_master(n_images: int, project: str) -> list[Any]:
    from glancesync.model.image import Image

    rnd = random.Random(1)
    images = []
    kernel, ramdisk = f"{0:032x}", f"{1:032x}"
    for i in range(n_images):
        props: dict[str, Any] = {"nid": str(i), "type": "base", "sdc_aware": "true"}
        if i >= 2 and i % 50 == 0:
            props.update(kernel_id=kernel, ramdisk_id=ramdisk)
        if i % 500 == 250:
            props["kernel_id"] = "deadbeef" * 4  # not an image of the master: error_ami
        images.append(
            Image(
                id=f"{i:032x}",
                name=f"image-{i:05d}",
                owner=project,
                size=rnd.randrange(10**6, 10**10),
                checksum=hashlib.md5(str(i).encode()).hexdigest(),
                os_hash_algo="sha512",
                os_hash_value=hashlib.sha512(str(i).encode()).hexdigest(),
                visibility="public",
                disk_format="aki" if i == 0 else "ari" if i == 1 else "qcow2",
                container_format="aki" if i == 0 else "ari" if i == 1 else "bare",
                created_at="2024-01-01T00:00:00Z",
                region="RegionOne",
                properties=props,
            )
        )
    return images


def synthetic_region(masters: list[Any], index: int, project: str) -> list[Any]:
    """A region's listing: ~85% ok, 6% pending_metadata, 5% missing, 4% conflicts, 100 extras."""
    from dataclasses import replace

    rnd = random.Random(1000 + index)
    region = f"Region{index:02d}"
    out = []
    ids = {}
    for i, master in enumerate(masters):
        roll = rnd.random() if i > 1 else 0.0
        if 0.91 <= roll < 0.96 or (i == 1 and index % 5 == 0):
            continue  # missing (in every fifth region, the ramdisk too: pending_ami)
        new_id = f"r{index:02d}{i:030x}"
        ids[master.id] = new_id
        props = dict(master.properties)
        checksum, os_hash = master.checksum, master.os_hash_value
        if 0.85 <= roll < 0.91:
            props["type"] = "old"  # pending_metadata
        elif roll >= 0.96:
            checksum = hashlib.md5(f"{i}-{index}".encode()).hexdigest()  # conflict
            os_hash = hashlib.sha512(f"{i}-{index}".encode()).hexdigest()
        out.append(
            replace(
                master,
                id=new_id,
                checksum=checksum,
                os_hash_value=os_hash,
                region=region,
                properties=props,
            )
        )
    fixed = []
    for image in out:
        props = image.properties
        if "kernel_id" in props and rnd.random() < 0.7:
            props = {
                **props,
                "kernel_id": ids.get(props["kernel_id"], ""),
                "ramdisk_id": ids.get(props["ramdisk_id"], ""),
            }
            image = replace(image, properties=props)
        fixed.append(image)
    for j in range(100):
        fixed.append(
            replace(masters[2], id=f"x{index:02d}{j:030x}", name=f"local-{j}", region=region)
        )
    return fixed


def part_d(n_images: int, n_regions: int, traced_regions: int) -> dict[str, Any]:
    from glancesync.config.settings import Credentials, TargetSettings
    from glancesync.engine.plan import plan_region
    from glancesync.engine.selection import master_catalog, selected_images
    from glancesync.model.region import RegionRef

    project = "f" * 32
    target = TargetSettings(name="master", credentials=Credentials())
    masters = synthetic_master(n_images, project)

    t0 = time.perf_counter()
    catalog = master_catalog(masters, project)
    catalog_seconds = time.perf_counter() - t0
    selected = selected_images(catalog, target)
    plan_seconds = []
    statuses: Counter[str] = Counter()
    for index in range(n_regions):
        images = synthetic_region(masters, index, project)
        t0 = time.perf_counter()
        plan = plan_region(
            RegionRef("master", f"Region{index:02d}"), catalog, selected, images, target, project
        )
        plan_seconds.append(time.perf_counter() - t0)
        statuses.update(str(e.status) for e in plan.entries)
        del plan, images

    # memory, on a few regions (tracemalloc slows everything down several times)
    del catalog, masters
    tracemalloc.start()
    masters = synthetic_master(n_images, project)
    after_masters = tracemalloc.get_traced_memory()[0]
    catalog = master_catalog(masters, project)
    selected = selected_images(catalog, target)
    after_catalog = tracemalloc.get_traced_memory()[0]
    plan_peaks = []
    for index in range(traced_regions):
        images = synthetic_region(masters, index, project)
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        plan = plan_region(
            RegionRef("master", f"Region{index:02d}"), catalog, selected, images, target, project
        )
        plan_peaks.append(tracemalloc.get_traced_memory()[1] - base)
        del plan, images
    _, overall_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "master_images": n_images,
        "regions": n_regions,
        "catalog_seconds": catalog_seconds,
        "plan_seconds_total": sum(plan_seconds),
        "plan_ms_per_region_median": statistics.median(plan_seconds) * 1000,
        "plan_ms_per_region_max": max(plan_seconds) * 1000,
        "statuses_all_regions": dict(statuses),
        "traced_regions": traced_regions,
        "master_images_traced_bytes": after_masters,
        "catalog_traced_bytes": after_catalog - after_masters,
        "plan_peak_bytes_max": max(plan_peaks),
        "overall_traced_peak_bytes": overall_peak,
    }


# -- the report ---------------------------------------------------------------------


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
        "glance": version_of(STATE / "venv" / "bin" / "python", "glance"),
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
                        "plan_region, per region (median)",
                        f"{d['plan_ms_per_region_median']:.0f} ms",
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
    return "\n".join(out)


# -- main ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Benchmark glancesync against the local cloud (see doc/performance.rst)."
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
        "--no-spool-variant",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also sync to 3 regions with [main] cache_size_mb = 0 (default: yes)",
    )
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
    if args.concurrent_size is None:
        args.concurrent_size = 8 * MIB if quick else 128 * MIB
    if quick:
        args.repeat, args.repeat_e = 1, 1


def main() -> int:
    args = build_parser().parse_args()
    if args.internal:
        kind, *rest = args.internal
        if kind == "glanceclient-copy":
            worker_glanceclient_copy(rest[0], rest[1:])
        elif kind == "list":
            worker_list(rest[1:], int(rest[0]))
        return 0
    defaults(args)
    if args.cleanup:
        if not re.fullmatch(r"bench[0-9a-f]{8}_", args.cleanup):
            raise SystemExit("--cleanup takes a benchmark prefix such as bench0123abcd_")
        wait_cloud()
        print(f"deleted {Cloud().delete_prefixed(REGION_CLOUD, args.cleanup)} images")
        return 0
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr
    )
    # a kill must still clean up: turn SIGTERM into SystemExit, which runs the finally blocks
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parts = set(args.parts.split(","))
    results: dict[str, Any] = {
        "machine": machine(),
        "args": {k: v for k, v in vars(args).items() if k not in ("internal",)},
    }
    say(json.dumps(results["machine"]))
    started = time.perf_counter()
    try:
        if "d" in parts:
            say("(d) planning in memory")
            results["d"] = part_d(args.plan_images, args.plan_regions, min(5, args.plan_regions))
        if parts & {"a", "c", "e"}:
            bench = Bench(args)
            results["prefix"] = bench.prefix
            try:
                for name, work in (("a", bench.part_a), ("e", bench.part_e), ("c", bench.part_c)):
                    if name in parts:
                        try:
                            work()
                        except Exception as error:  # record it, go on with the other parts
                            LOG.exception("part %s failed", name)
                            results.setdefault("errors", {})[name] = str(error)
            finally:
                try:
                    bench.close()
                finally:
                    results.update({k: v for k, v in bench.results.items() if k != "prefix"})
                    results["undeletable"] = bench.cloud.undeletable
    finally:
        results["seconds"] = time.perf_counter() - started
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
