"""Fault fixtures: the e2e harness, plus servers stopped or killed, the fault proxy,
and snapshots of every region that include ``updated_at`` (any write changes it).

Servers that a test stops are always started again in a ``finally``, because
other test sessions may share the cloud; stops are kept short.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from test.e2e.conftest import REGIONS, ROOT, STATE, Glance, _cloud_is_up
from test.e2e.conftest import env as env
from test.fault.proxy import FaultProxy
from tools.devcloud import topology

#: Every region holding real data; RegionProxy is RegionThree seen through the proxy.
ALL_REGIONS = (*REGIONS, "RegionQuota")


class FaultGlance(Glance):
    """The e2e Glance helper, also knowing the fault-test regions of cloud "master"."""

    def client(self, region: str, as_user: str | None = None) -> Any:
        if region not in REGIONS:
            as_user = as_user or "master"
        return super().client(region, as_user)

    def create_streamed(self, region: str, name: str, size: int, seed: int = 7) -> dict[str, Any]:
        """A big image whose data is generated as it is uploaded (never held in memory)."""
        client = self.client(region)
        image = client.images.create(
            name=name, visibility="public", disk_format="raw", container_format="bare"
        )
        client.images.upload(image.id, GeneratedData(size, seed), image_size=size)
        return dict(client.images.get(image.id))

    def full_snapshot(self, prefix: str) -> dict[str, list[tuple[Any, ...]]]:
        """Every field of every test image in every region, updated_at included."""
        return {
            region: [
                tuple(sorted((k, str(v)) for k, v in i.items()))
                for i in self.images(region, prefix)
            ]
            for region in ALL_REGIONS
        }

    def delete_prefixed(self, prefix: str) -> None:
        super().delete_prefixed(prefix)
        for image in self.images("RegionQuota", prefix):
            self.client("RegionQuota").images.delete(image["id"])


class GeneratedData(io.RawIOBase):
    """`size` deterministic pseudo-random bytes, produced on demand."""

    def __init__(self, size: int, seed: int) -> None:
        super().__init__()
        block = bytes((seed * 31 + i * 7 + (i >> 8)) & 0xFF for i in range(65536))
        self._block, self._left, self._pos = block, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left, len(self._block) - self._pos)
        buffer[:n] = self._block[self._pos : self._pos + n]
        self._pos = (self._pos + n) % len(self._block)
        self._left -= n
        return n


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a fault test of many seconds (big uploads)")


@pytest.fixture(scope="package")
def fault_regions() -> Iterator[None]:
    """The fault-test regions in the master Keystone's catalog while this tier runs, and
    out of it once the tier is done (package scope: the tiers after it, in the
    same pytest run, must not see them)."""
    if not _cloud_is_up():
        pytest.fail(f"the local cloud is not up: run `make cloud-up` (state {STATE})")
    if topology.load(str(STATE)).faults_in_catalog:
        yield  # registered for good (a cloud made by an older devcloud): leave it so
        return
    devcloud("fault-regions", "on")
    try:
        yield
    finally:
        devcloud("fault-regions", "off")


@pytest.fixture(scope="package")
def glance(fault_regions: None) -> FaultGlance:
    return FaultGlance()


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    """The fault proxy on RegionProxy's endpoint, in pass-through mode."""
    with FaultProxy() as running:
        yield running


def devcloud(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "tools.devcloud", "--state", str(STATE), *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=180,
    )


@contextlib.contextmanager
def server_stopped(name: str) -> Iterator[None]:
    """Server `name` is down inside the block, and up again after it, whatever happens."""
    devcloud("stop-server", name)
    try:
        yield
    finally:
        devcloud("start-server", name)


def kill9_server(name: str) -> None:
    """SIGKILL a server's uWSGI master and its workers at once (a crash, not a stop)."""
    master = int((STATE / "pids" / f"{name}.pid").read_text())
    victims = [master]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    victims.append(int(proc.name))
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
