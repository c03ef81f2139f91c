"""Two local clouds on one host: a second devcloud, on other ports and with its own
state dir, runs beside the first, and a third one on the same ports is refused
with the holder of each port named. The second cloud shares the first one's
installed venv (--venv), so it starts without installing anything.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from glancesync.cloud.glance import ServersFacade
from glancesync.config.settings import TargetSettings
from test.integration.conftest import make_settings, password_credentials
from tools.devcloud import ports, topology

N = len(topology.SERVER_NAMES)


def run_devcloud(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.devcloud", "--state", str(state), *args],
        cwd=topology.REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def free_base_port() -> int:
    """A base port with N free ports above it, found from an ephemeral port."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + N < 65536 and not any(
            ports.in_use("127.0.0.1", p) for p in range(base, base + N)
        ):
            return base
    raise AssertionError("no run of free ports found")


@pytest.fixture(scope="module")
def second(devcloud: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """A second cloud, up; stopped and purged afterwards (only it: the first runs on)."""
    state, base = tmp_path_factory.mktemp("devcloud") / "second", free_base_port()
    venv = topology.load(devcloud).venv
    try:
        up = run_devcloud(state, "--venv", venv, "--base-port", str(base), "up")
        assert up.returncode == 0, up.stdout + up.stderr
        yield state, base
    finally:
        run_devcloud(state, "down", "--purge")


def test_second_cloud_runs_beside_the_first(devcloud: str, second: tuple[Path, int]) -> None:
    state, base = second
    first, other = topology.load(devcloud), topology.load(str(state))
    assert dict(other.ports) == topology.ports_from(base)
    assert not set(first.ports.values()) & set(other.ports.values())
    for cloud in (Path(devcloud), state):
        status = run_devcloud(cloud, "status")
        assert status.returncode == 0, status.stdout
    # the second cloud is a whole one, and its catalog has no fault-test region
    settings = make_settings(
        TargetSettings("master", password_credentials(str(state), "master")),
        TargetSettings("other", password_credentials(str(state), "other")),
    )
    facade = ServersFacade(settings)
    try:
        assert facade.regions("master") == other.catalog_regions("ks1")
        assert "RegionProxy" not in facade.regions("master")
        assert {"RegionOne", "RegionConvert", "RegionLimits"} <= set(facade.regions("master"))
        assert facade.regions("other") == ["OtherOne"]
        auth_url = password_credentials(str(state), "master").auth_url
        assert auth_url is not None and f":{other.ports['ks1']}/" in auth_url
    finally:
        facade.close()


def test_busy_ports_name_their_holder(second: tuple[Path, int], tmp_path: Path) -> None:
    state, base = second
    third = run_devcloud(tmp_path / "third", "--base-port", str(base), "up")
    assert third.returncode == 1
    lines = third.stderr.splitlines()
    assert lines[0] == "devcloud: error: ports in use:"
    ks1_pid = (state / "pids" / "ks1.pid").read_text().strip()
    assert f"  port {base} (ks1): pid {ks1_pid} " in third.stderr
    assert str(state / "ks1") in third.stderr  # the holder's state dir
    assert "--base-port N" in lines[-1]
    assert not (tmp_path / "third" / "ks1").exists(), "nothing prepared for a refused cloud"
    assert os.path.exists(state / "state.json")
