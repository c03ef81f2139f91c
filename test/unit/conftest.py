"""Fixtures shared by the unit tests: the in-memory cloud, and the command on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from glancesync import cli
from glancesync.testing.memcloud import MemoryCloud


@pytest.fixture
def cloud() -> MemoryCloud:
    """A fresh in-memory cloud: master RegionOne, RegionTwo, RegionThree, other:OtherOne."""
    return MemoryCloud()


CONFIG = """\
[main]
master_region = RegionOne
[master]
user = admin
password = adminpass
keystone_url = http://127.0.0.1:5000/v3
tenant = admin
[other]
user = admin
password = otherpass
keystone_url = http://127.0.0.1:5001/v3
tenant = admin
"""


def run(cloud: MemoryCloud, *argv: str) -> int:
    """The command, on *cloud*, with the configuration of the ``config`` fixture."""
    return cli.main(list(argv), facade_factory=lambda settings: cloud)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "glancesync.conf"
    path.write_text(CONFIG)
    path.chmod(0o600)
    monkeypatch.setenv("GLANCESYNC_CONFIG", str(path))
    monkeypatch.chdir(tmp_path)
    return path
