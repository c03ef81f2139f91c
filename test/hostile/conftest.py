"""Fixtures for runs against a hostile Keystone and Glance, next to the real local cloud.

The hostile server (:mod:`test.hostile.server`) is its own Keystone: it
becomes a target of its own (``[hostile]``, or ``[master]`` when the test
needs a hostile master), so the shared Keystone of the local cloud is never
changed. The real RegionOne stays the master where the finding allows, and
a real region (RegionTwo) runs in the same invocation to show that the
other regions go on. glancesync runs in-process through ``cli.main`` with
the real facade, keystoneauth and glanceclient.
"""

from __future__ import annotations

import configparser
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from glancesync import cli
from test.hostile.server import Region, Server
from test.integration.conftest import STATE, devcloud  # noqa: F401  (a fixture)
from tools.cloudclients import glance_for, session_for

#: The hostile target's password: it changes under JSON escaping and URL encoding.
SECRET = 'Hx"9/e+Q%z\\wq7!&='


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Env:
    """One test: its tmp dir, a unique image-name prefix, and the hostile server."""

    tmp: Path
    prefix: str
    capsys: pytest.CaptureFixture[str]

    def server(self, *regions: Region) -> Server:
        server = Server(list(regions))
        server.__enter__()
        self._servers.append(server)
        return server

    def config(self, server: Server, hostile_master: bool = False, **more: dict[str, str]) -> Path:
        """A config with the real master and a ``[hostile]`` target, or a hostile master.

        With ``hostile_master`` the master target is the hostile server (its
        first region the master region) and the real cloud is ``[real]``.
        """
        real = configparser.ConfigParser(interpolation=None)
        real.read(Path(STATE) / "glancesync.conf")
        hostile = {
            "user": "evil",
            "password": SECRET,
            "keystone_url": f"{server.url}/v3",
            "tenant": "hostileproject",
            "list_images_timeout": "5",
        }
        master_region = server.regions[0].name if hostile_master else "RegionOne"
        sections = {
            "main": {
                "master_region": master_region,
                "lock_file": str(self.tmp / "sync.lock"),
                "log_dir": str(self.tmp / "logs"),
                "cache_dir": str(self.tmp / "cache"),
            },
            "DEFAULT": {"metadata_condition": f"image.name.startswith('{self.prefix}')"},
            "master": hostile if hostile_master else dict(real["master"]),
            "real" if hostile_master else "hostile": dict(real["master"])
            if hostile_master
            else hostile,
        }
        for name, values in more.items():
            sections.setdefault(name, {}).update(values)
        (self.tmp / "cache").mkdir(exist_ok=True)
        lines = []
        for name, values in sections.items():
            lines.append(f"[{name}]")
            lines += [f"{key} = {value}" for key, value in values.items()]
        path = self.tmp / "glancesync.conf"
        path.write_text("\n".join(lines) + "\n")
        path.chmod(0o600)
        return path

    def sync(self, config: Path, *args: str) -> Run:
        self.capsys.readouterr()
        code = cli.main(["--config-file", str(config), *args])
        out, err = self.capsys.readouterr()
        return Run(code, out, err)

    def __post_init__(self) -> None:
        self._servers: list[Server] = []


@pytest.fixture
def env(devcloud: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Env]:  # noqa: F811
    e = Env(tmp_path, f"gs-hostile-{uuid.uuid4().hex[:8]}-", capsys)
    yield e
    for server in e._servers:
        server.__exit__()


def real_images(region: str, prefix: str) -> list[dict[str, object]]:
    """The real region's images named with ``prefix`` (every status), seen directly."""
    client = glance_for(session_for("master"), region)
    found = {}
    for hidden in (False, True):
        for image in client.images.list(filters={"os_hidden": hidden}):
            if (image.get("name") or "").startswith(prefix):
                found[image["id"]] = dict(image)
    return list(found.values())


def delete_real(region: str, prefix: str) -> None:
    client = glance_for(session_for("master"), region)
    for image in real_images(region, prefix):
        client.images.delete(image["id"])


def assert_one_line_errors(run: Run) -> None:
    """No traceback; every line is a log line or a summary."""
    assert "Traceback" not in run.err + run.out
    assert run.code in (0, 1), run.err


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "devcloud" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cloud)
