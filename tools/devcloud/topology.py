"""The one description of the local cloud: servers, regions, users, clouds, and its ports.

Everything that needs to know the cloud's layout -- devcloud itself, the test
tiers, the benchmark and the demo -- imports it from here. The *shape* of the
cloud (which Keystone holds which region, which users exist) is fixed in this
module; the *ports* and the venv belong to one running cloud: ``up`` writes
them into ``<state>/state.json`` and every client reads them back with
:func:`load`, so two clouds on other ports can share a host.

Stdlib only: the devcloud script runs under any Python 3.10+.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

HOST = "127.0.0.1"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STATE_FILE = "state.json"


@dataclass(frozen=True)
class Keystone:
    name: str
    region: str  # the region Keystone's own endpoint is bootstrapped in
    cloud: str  # the glancesync target / clouds.yaml entry of its admin
    admin_password: str


@dataclass(frozen=True)
class Glance:
    name: str
    region: str
    keystone: str
    extra_store: bool = False  # a second file store, so copy-image can be tested
    quota: str = ""  # user_storage_quota, in Glance's units ("1MB")
    #: The image_conversion import plugin: imports come out raw (needs qemu-img on the host).
    converts: bool = False
    #: Image quotas through Keystone unified limits (registered limits of LIMITS).
    limits: bool = False


@dataclass(frozen=True)
class Proxied:
    """An image endpoint where no server listens, except a test's fault proxy
    (test/fault/proxy.py) forwarding to the ``upstream`` Glance."""

    name: str
    region: str
    keystone: str
    upstream: str


KEYSTONES = (
    Keystone("ks1", "RegionOne", "master", "adminpass"),
    Keystone("ks2", "OtherOne", "other", "otherpass"),
)
GLANCES = (
    Glance("g1", "RegionOne", "ks1"),
    Glance("g2", "RegionTwo", "ks1", extra_store=True),
    Glance("g3", "RegionThree", "ks1"),
    Glance("g4", "OtherOne", "ks2"),
    Glance("g5", "RegionQuota", "ks1", quota="1MB"),  # fault tests: a tiny storage quota
    Glance("g6", "RegionConvert", "ks1", converts=True),  # imports converted to raw
    Glance("g7", "RegionLimits", "ks1", limits=True),  # unified limits (LIMITS)
)
PROXIED = (Proxied("proxy", "RegionProxy", "ks1", "g3"),)
#: Regions only the fault tests use: in no catalog unless test/fault registers them
#: (``devcloud fault-regions on``), and in ignore_regions of the generated config.
FAULT_REGIONS = ("RegionProxy", "RegionQuota")
#: Regions that store differently (doc/manual.rst, "Regions that store differently"):
#: in the catalog, but in ignore_regions of the generated config, so only the tests
#: that name them sync there.
STORAGE_REGIONS = ("RegionConvert", "RegionLimits")
#: The registered limits of a ``limits`` Glance, per resource (sizes in MiB, Glance's unit).
LIMITS = MappingProxyType(
    {"image_size_total": 4, "image_stage_total": 4, "image_count_total": 20}
    | {"image_count_uploading": 5}
)
MASTER_REGION = "RegionOne"

SERVICE_USER, SERVICE_PASSWORD = "glance", "glancepass"
USER2, USER2_PASSWORD, USER2_PROJECT = "user2", "user2pass", "demo2"


@dataclass(frozen=True)
class Account:
    keystone: str
    user: str
    password: str
    project: str


#: clouds.yaml entries (and the accounts tests use): name -> Keystone, user, password, project.
ACCOUNTS = MappingProxyType(
    {
        **{k.cloud: Account(k.name, "admin", k.admin_password, "admin") for k in KEYSTONES},
        "user2": Account("ks1", USER2, USER2_PASSWORD, USER2_PROJECT),
        "other-user2": Account("ks2", USER2, USER2_PASSWORD, USER2_PROJECT),
    }
)

#: The servers of the first layouts, in the order of ``--base-port`` offsets...
_FIRST = ("ks1", "ks2", "g1", "g2", "g3", "g4", "g5", "proxy")
#: ...and every server name: later ones come after them, so an older cloud's ports stay.
SERVER_NAMES = (*_FIRST, *(g.name for g in GLANCES if g.name not in _FIRST))
#: The classic ports, used when neither --base-port nor a state.json says otherwise.
DEFAULT_PORTS = MappingProxyType(
    {"ks1": 5000, "ks2": 5001, "g1": 9292, "g2": 9293, "g3": 9294, "g4": 9295}
    | {"proxy": 9296, "g5": 9297, "g6": 9298, "g7": 9299}
)


def ports_from(base: int | None) -> dict[str, int]:
    """The port of each server: the classic ones, or base, base+1, ... in SERVER_NAMES order."""
    if base is None:
        return dict(DEFAULT_PORTS)
    if not 1024 <= base <= 65535 - len(SERVER_NAMES):
        raise ValueError(f"base port {base} out of range 1024..{65535 - len(SERVER_NAMES)}")
    return {name: base + i for i, name in enumerate(SERVER_NAMES)}


def _grown(ports: dict[str, int]) -> dict[str, int]:
    """The ports of a cloud made before its layout grew: the new servers follow the
    old ones' scheme (the classic ports, or base, base+1, ...)."""
    if set(ports) == set(SERVER_NAMES):
        return ports
    classic = all(DEFAULT_PORTS[n] == p for n, p in ports.items())
    scheme = dict(DEFAULT_PORTS) if classic else ports_from(ports["ks1"])
    return {n: ports.get(n, scheme[n]) for n in SERVER_NAMES}


def keystone(name: str) -> Keystone:
    return next(k for k in KEYSTONES if k.name == name)


def glance(name: str) -> Glance:
    return next(g for g in GLANCES if g.name == name)


def cloud_of(region: str) -> str:
    """The admin cloud (glancesync target) whose Keystone lists ``region``."""
    ks = next(s.keystone for s in (*GLANCES, *PROXIED) if s.region == region)
    return keystone(ks).cloud


def sync_name(region: str) -> str:
    """How glancesync's command line names a region: ``Region`` or ``target:Region``."""
    cloud = cloud_of(region)
    return region if cloud == "master" else f"{cloud}:{region}"


#: The regions a sync writes to, region -> target: every Glance but the master and
#: the fault-test ones.
TARGET_REGIONS = MappingProxyType(
    {
        g.region: keystone(g.keystone).cloud
        for g in GLANCES
        if g.region != MASTER_REGION and g.region not in (*FAULT_REGIONS, *STORAGE_REGIONS)
    }
)
#: Every region that holds data and that default runs see, master first.
DATA_REGIONS = MappingProxyType({MASTER_REGION: "master", **TARGET_REGIONS})


@dataclass(frozen=True)
class Layout:
    """One cloud's concrete layout: where its servers listen, where its venv is."""

    state: str
    ports: MappingProxyType[str, int]
    venv: str
    #: Whether the fault-test regions are in the master Keystone's catalog right now
    #: (``devcloud fault-regions on|off``); a cloud made by an older devcloud, without
    #: state.json, has them there for good.
    faults_in_catalog: bool = False
    host: str = field(default=HOST)

    def url(self, server: str) -> str:
        """The base URL of a server: Keystone's /v3, or a Glance's (proxy) root."""
        base = f"http://{self.host}:{self.ports[server]}"
        return base + "/v3" if server.startswith("ks") else base

    def region_port(self, region: str) -> int:
        server = next(s.name for s in (*GLANCES, *PROXIED) if s.region == region)
        return self.ports[server]

    def image_endpoints(self, ks: str, faults: bool) -> list[tuple[str, int]]:
        """(region, port) of the image endpoints Keystone ``ks`` lists; ``faults``: with the
        fault-test regions."""
        found = [
            (s.region, self.ports[s.name])
            for s in (*GLANCES, *PROXIED)
            if s.keystone == ks and (faults or s.region not in FAULT_REGIONS)
        ]
        return sorted(found)

    def catalog_regions(self, ks: str) -> list[str]:
        """The image regions a client of Keystone ``ks`` sees outside the fault tests."""
        return [r for r, _ in self.image_endpoints(ks, self.faults_in_catalog)]

    def account(self, cloud: str) -> tuple[str, str, str, str]:
        """auth_url, user, password, project of a clouds.yaml entry (``master``, ``user2``...)."""
        a = ACCOUNTS[cloud]
        return self.url(a.keystone), a.user, a.password, a.project

    def to_json(self) -> str:
        doc: dict[str, Any] = {"ports": dict(self.ports), "venv": self.venv, "host": self.host}
        doc["faults_in_catalog"] = self.faults_in_catalog
        return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def default_state() -> str:
    return os.path.abspath(os.environ.get("DEVCLOUD_STATE") or os.path.join(REPO, ".devcloud"))


def make(state: str, base_port: int | None = None, venv: str | None = None) -> Layout:
    """A new cloud's layout (before ``up`` writes it into the state dir)."""
    venv = os.path.abspath(venv) if venv else os.path.join(state, "venv")
    return Layout(state, MappingProxyType(ports_from(base_port)), venv)


def load(state: str | None = None) -> Layout:
    """The layout of the cloud in ``state`` (default: $DEVCLOUD_STATE or <repo>/.devcloud).

    A state dir without state.json was made by an older devcloud: classic ports, its
    venv inside, fault-test regions registered for good."""
    state = os.path.abspath(state) if state else default_state()
    try:
        with open(os.path.join(state, STATE_FILE)) as f:
            doc: dict[str, Any] = json.load(f)
    except FileNotFoundError:
        return Layout(
            state,
            MappingProxyType(dict(DEFAULT_PORTS)),
            os.path.join(state, "venv"),
            faults_in_catalog=True,
        )
    except (OSError, ValueError) as e:
        raise ValueError(f"{state}/{STATE_FILE}: unreadable ({e})") from e
    ports = doc.get("ports")
    if not isinstance(ports, dict) or not set(_FIRST) <= set(ports) <= set(SERVER_NAMES):
        raise ValueError(f"{state}/{STATE_FILE}: 'ports' must name {', '.join(SERVER_NAMES)}")
    if not all(isinstance(p, int) and 0 < p < 65536 for p in ports.values()):
        raise ValueError(f"{state}/{STATE_FILE}: every port must be an integer 1..65535")
    ports = _grown(ports)
    return Layout(
        state,
        MappingProxyType(dict(ports)),
        str(doc.get("venv") or os.path.join(state, "venv")),
        faults_in_catalog=doc.get("faults_in_catalog") is True,
        host=str(doc.get("host") or HOST),
    )
