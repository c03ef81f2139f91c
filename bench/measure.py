"""Measurement helpers shared by the benchmark's parts: sizes, tables, timed
commands with their peak RSS, HTTP request counts, and what the master Glance
served (its /proc counters and an inotify count of its image file's opens).

The cloud's addresses and its master Glance's pid come from the running
cloud's state (tools/devcloud/topology.py), never from constants.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools.devcloud import topology

ROOT = Path(topology.REPO)
LAYOUT = topology.load()
STATE = Path(LAYOUT.state)
VENV_BIN = Path(sys.executable).parent
GNU_TIME = "/usr/bin/time"
HAVE_GNU_TIME = os.access(GNU_TIME, os.X_OK)

MIB = 2**20
MB = 10**6
BLOCK = MIB

#: urllib3 logs one line per request actually sent:  http://host:port "GET /path HTTP/1.1" 200 123
HTTP_LINE = re.compile(r'(https?://[\w.\-:\[\]]+) "([A-Z]+) (\S+) HTTP/[\d.]+" (\d{3})')
NUMERIC = re.compile(r"[\d.,x ]*(?:[KMG]iB|MB/s|ms|s|MB)?")

LOG = logging.getLogger("bench")
#: The servers the benchmark uses (the fault-test ones aside).
SERVERS = ("ks1", "ks2", *(g.name for g in topology.GLANCES if g.region in topology.DATA_REGIONS))
MASTER_GLANCE = next(g.name for g in topology.GLANCES if g.region == topology.MASTER_REGION)


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


def wait_cloud(timeout: float = 300.0) -> float:
    """Wait until every server of the local cloud accepts connections; seconds waited.

    Other sessions may stop and start servers (fault tests): a measurement
    must not start while one is down.
    """
    started = time.monotonic()
    while True:
        down = []
        for server in SERVERS:
            port = LAYOUT.ports[server]
            try:
                socket.create_connection((LAYOUT.host, port), timeout=2).close()
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
    root = int((STATE / "pids" / f"{MASTER_GLANCE}.pid").read_text().strip())
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
    watch = OpenCounter(STATE / MASTER_GLANCE / "images" / image_id) if image_id else None
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
