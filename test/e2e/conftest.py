"""End-to-end fixtures: the local cloud of real servers, and ./sync.py as a subprocess.

The tests look at the regions with their own Glance clients (not through
glancesync), so a defect in the facade cannot hide itself. Every test works
on images whose names start with its own prefix, selects only those, and
deletes them afterwards: tests do not depend on each other or their order.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tools.cloudclients import glance_for, session_for
from tools.devcloud import topology

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(topology.default_state())
#: region -> the cloud whose admin sees it: every region holding data, master first.
REGIONS = topology.DATA_REGIONS


class Glance:
    """Direct Glance access for arranging and checking region state."""

    def __init__(self) -> None:
        layout = topology.load(str(STATE))
        self._sessions = {name: session_for(name, layout) for name in topology.ACCOUNTS}
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, region: str, as_user: str | None = None) -> Any:
        cloud = as_user or REGIONS[region]
        key = (cloud, region)
        if key not in self._clients:
            self._clients[key] = glance_for(self._sessions[cloud], region)
        return self._clients[key]

    def project_id(self, cloud: str) -> str:
        return str(self._sessions[cloud].get_project_id())

    def create(
        self,
        region: str,
        name: str,
        data: bytes,
        *,
        as_user: str | None = None,
        visibility: str = "public",
        **props: Any,
    ) -> dict[str, Any]:
        client = self.client(region, as_user)
        props.setdefault("disk_format", "raw")
        props.setdefault("container_format", "bare")
        image = client.images.create(name=name, visibility=visibility, **props)
        client.images.upload(image.id, io.BytesIO(data), image_size=len(data))
        return dict(client.images.get(image.id))

    def images(self, region: str, prefix: str = "") -> list[dict[str, Any]]:
        client = self.client(region)
        found: dict[str, dict[str, Any]] = {}
        for hidden in (False, True):
            for image in client.images.list(filters={"os_hidden": hidden}):
                if image["name"] and image["name"].startswith(prefix):
                    found[image["id"]] = dict(image)
        return sorted(found.values(), key=lambda i: (i["name"], i["id"]))

    def named(self, region: str, name: str) -> list[dict[str, Any]]:
        return [i for i in self.images(region, name) if i["name"] == name]

    def one(self, region: str, name: str) -> dict[str, Any]:
        found = self.named(region, name)
        assert len(found) == 1, f"{len(found)} images named {name!r} in {region}"
        return found[0]

    def snapshot(self, prefix: str) -> dict[str, list[tuple[Any, ...]]]:
        """Every field that matters of every test image, in every region."""
        return {
            region: [
                tuple(sorted((k, str(v)) for k, v in image.items() if k != "updated_at"))
                for image in self.images(region, prefix)
            ]
            for region in REGIONS
        }

    def delete_prefixed(self, prefix: str) -> None:
        for region in REGIONS:
            for image in self.images(region, prefix):
                owner_cloud = "user2" if image["owner"] == self.project_id("user2") else None
                client = self.client(region, owner_cloud)
                if image.get("protected"):
                    client.images.update(image["id"], protected=False)
                client.images.delete(image["id"])


@dataclass
class Run:
    """The outcome of one ./sync.py run."""

    code: int
    stdout: str
    stderr: str


@dataclass
class Env:
    """One test's slice of the cloud: a name prefix and a config file."""

    glance: Glance
    prefix: str
    tmp: Path
    settings: dict[str, dict[str, str]] = field(default_factory=dict)

    def name(self, short: str) -> str:
        return f"{self.prefix}{short}"

    def data(self, label: str, size: int = 4096) -> bytes:
        seed = hashlib.sha256(f"{self.prefix}{label}".encode()).digest()
        return (seed * (size // len(seed) + 1))[:size]

    def config(self, **sections: dict[str, str]) -> Path:
        """A config file from the cloud's, selecting only this test's images."""
        base = (STATE / "glancesync.conf").read_text()
        condition = f"image.is_public and image.name.startswith('{self.prefix}')"
        lines = [base, "[main]", f"lock_file = {self.tmp / 'sync.lock'}"]
        lines += ["[DEFAULT]", f"metadata_condition = {condition}"]
        for section, values in sections.items():
            lines.append(f"[{section}]" if section != "DEFAULT" else "[DEFAULT]")
            lines.extend(f"{key} = {value}" for key, value in values.items())
        path = self.tmp / "glancesync.conf"
        path.write_text(_merge_sections("\n".join(lines)))
        path.chmod(0o600)
        return path

    def sync(self, *args: str, config: Path | None = None) -> Run:
        """./sync.py with these arguments, to its end."""
        done = subprocess.run(
            ["./sync.py", *args],
            cwd=ROOT,
            env=self._child_env(config),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def start(self, *args: str, config: Path | None = None) -> subprocess.Popen[str]:
        """./sync.py started in the background, as :meth:`sync` runs it."""
        return subprocess.Popen(
            ["./sync.py", *args],
            cwd=ROOT,
            env=self._child_env(config),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def _child_env(self, config: Path | None) -> dict[str, str]:
        """This environment, with the venv's python first and the test's config."""
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["GLANCESYNC_CONFIG"] = str(config or self.config())
        return env


def _merge_sections(text: str) -> str:
    """Fold repeated sections together (later keys win), as one INI file must."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None, strict=False, default_section="\0")
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    out = []
    for section in parser.sections():
        out.append(f"[{section}]")
        out.extend(f"{k} = {v}" for k, v in parser.items(section, raw=True))
    return "\n".join(out) + "\n"


def _cloud_is_up() -> bool:
    done = subprocess.run(
        [sys.executable, "-m", "tools.devcloud", "--state", str(STATE), "status"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.fixture(scope="session")
def glance() -> Glance:
    if not _cloud_is_up():
        pytest.fail(f"the local cloud is not up: run `make cloud-up` (state {STATE})")
    return Glance()


@pytest.fixture
def env(glance: Glance, tmp_path: Path) -> Iterator[Env]:
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    yield Env(glance, prefix, tmp_path)
    glance.delete_prefixed(prefix)
