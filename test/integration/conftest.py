"""Fixtures for tests against the REAL local cloud of ``tools/devcloud``.

The cloud must be up (``python3 -m tools.devcloud up``); the tests fail,
rather than skip, when it is not, so a broken cloud can't pass for green.
The state directory is ``$DEVCLOUD_STATE`` or ``<repo>/.devcloud``; its
layout (ports, regions) is read from there (tools/devcloud/topology.py).
"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import MappingProxyType

import pytest

from glancesync.cloud.glance import ServersFacade
from glancesync.config.settings import Credentials, Settings, TargetSettings
from glancesync.model.errors import ImageError, RegionError
from glancesync.model.region import RegionRef
from tools.devcloud import topology

REPO = topology.REPO
STATE = topology.default_state()
LAYOUT = topology.load(STATE)
#: The image regions each Keystone's catalog lists (the fault-test ones only while
#: test/fault runs, or always on a cloud made by an older devcloud).
MASTER_REGIONS = LAYOUT.catalog_regions("ks1")
OTHER_REGIONS = LAYOUT.catalog_regions("ks2")
USER2 = (topology.USER2, topology.USER2_PASSWORD, topology.USER2_PROJECT)


@pytest.fixture(scope="session")
def devcloud() -> str:
    """The state directory of a cloud that is up; fails the test otherwise."""
    missing = [
        f for f in ("clouds.yaml", "glancesync.conf") if not os.path.exists(os.path.join(STATE, f))
    ]
    if missing:
        pytest.fail(
            f"the devcloud is not up: {', '.join(missing)} missing in {STATE}. "
            f"Start it with: python3 -m tools.devcloud up",
            pytrace=False,
        )
    proc = subprocess.run(
        [sys.executable, "-m", "tools.devcloud", "--state", STATE, "status"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"the devcloud in {STATE} is not answering (devcloud status exit {proc.returncode}):\n"
            f"{proc.stdout}{proc.stderr}Start it with: python3 -m tools.devcloud up",
            pytrace=False,
        )
    return STATE


def _conf(state: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(os.path.join(state, "glancesync.conf"))
    return parser


def password_credentials(state: str, section: str) -> Credentials:
    """The admin credentials devcloud wrote for a target ([master], [other])."""
    sec = _conf(state)[section]
    return Credentials(
        auth_url=sec["keystone_url"],
        username=sec["user"],
        password=sec["password"],
        project_name=sec["tenant"],
    )


def make_settings(*targets: TargetSettings) -> Settings:
    return Settings(
        master_region=topology.MASTER_REGION,
        targets=MappingProxyType({t.name: t for t in targets}),
    )


@pytest.fixture(scope="session")
def settings(devcloud: str) -> Settings:
    return make_settings(
        TargetSettings("master", password_credentials(devcloud, "master")),
        TargetSettings("other", password_credentials(devcloud, "other")),
    )


@pytest.fixture(scope="session")
def facade(settings: Settings) -> ServersFacade:
    """One facade for the session: tokens and clients are reused, as in a run."""
    return ServersFacade(settings)


@pytest.fixture
def r1() -> RegionRef:
    return RegionRef("master", "RegionOne")


@dataclass
class Cleanup:
    """Images a test created; deleted at teardown, whatever happened."""

    created: list[tuple[ServersFacade, RegionRef, str]] = field(default_factory=list)

    def add(self, facade: ServersFacade, region: RegionRef, image_id: str) -> str:
        self.created.append((facade, region, image_id))
        return image_id


@pytest.fixture
def cleanup() -> Iterator[Cleanup]:
    c = Cleanup()
    yield c
    for facade, region, image_id in reversed(c.created):
        for attempt in range(5):
            try:
                facade.delete_image(region, image_id)
            except ImageError:
                break  # the test deleted it already
            except RegionError:
                # e.g. a 500 "database is locked": Glance's sqlite is still busy
                # cleaning up after an upload the test aborted on purpose
                if attempt == 4:
                    raise
                time.sleep(0.5)
            else:
                break


@pytest.fixture
def uname() -> str:
    """A unique image name prefix for this test."""
    return f"gs-it-{uuid.uuid4().hex[:12]}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the cloud (directly or through a fixture) ``cloud``."""
    for item in items:
        if "devcloud" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.cloud)
