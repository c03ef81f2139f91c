"""The local cloud's layout (tools/devcloud/topology.py) and the busy-port report."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from tools.devcloud import ports, topology


def test_classic_ports_without_a_base() -> None:
    assert topology.ports_from(None) == dict(topology.DEFAULT_PORTS)
    assert topology.ports_from(None)["ks1"] == 5000


def test_base_port_numbers_servers_in_order() -> None:
    got = topology.ports_from(20000)
    assert [got[n] for n in topology.SERVER_NAMES] == list(
        range(20000, 20000 + len(topology.SERVER_NAMES))
    )
    with pytest.raises(ValueError, match="out of range"):
        topology.ports_from(65530)


def test_state_json_round_trip(tmp_path: Path) -> None:
    made = topology.make(str(tmp_path), 21000, venv=str(tmp_path / "v"))
    (tmp_path / topology.STATE_FILE).write_text(made.to_json())
    loaded = topology.load(str(tmp_path))
    assert loaded == made
    assert loaded.url("ks2") == "http://127.0.0.1:21001/v3"
    assert loaded.account("user2") == ("http://127.0.0.1:21000/v3", "user2", "user2pass", "demo2")
    assert loaded.catalog_regions("ks1") == [
        "RegionConvert",
        "RegionLimits",
        "RegionOne",
        "RegionThree",
        "RegionTwo",
    ]


def test_a_state_dir_of_an_older_devcloud_is_the_classic_layout(tmp_path: Path) -> None:
    legacy = topology.load(str(tmp_path))
    assert dict(legacy.ports) == dict(topology.DEFAULT_PORTS)
    assert legacy.venv == os.path.join(str(tmp_path), "venv")
    assert "RegionProxy" in legacy.catalog_regions("ks1")


def test_a_state_json_of_a_smaller_layout_grows_in_its_scheme(tmp_path: Path) -> None:
    """A cloud made before RegionConvert and RegionLimits: their servers get ports in
    the scheme of the others, so ``up`` can add them to it."""
    older = {n: 21000 + i for i, n in enumerate(topology.SERVER_NAMES[:8])}
    (tmp_path / topology.STATE_FILE).write_text(json.dumps({"ports": older}))
    grown = topology.load(str(tmp_path)).ports
    assert grown["g6"] == 21008 and grown["g7"] == 21009 and grown["g1"] == 21002
    classic = {n: topology.DEFAULT_PORTS[n] for n in older}
    (tmp_path / topology.STATE_FILE).write_text(json.dumps({"ports": classic}))
    assert dict(topology.load(str(tmp_path)).ports) == dict(topology.DEFAULT_PORTS)


def test_a_bad_state_json_is_one_line(tmp_path: Path) -> None:
    (tmp_path / topology.STATE_FILE).write_text(json.dumps({"ports": {"ks1": 1}}))
    with pytest.raises(ValueError, match=r"state.json: 'ports' must name ks1, ks2"):
        topology.load(str(tmp_path))


def test_regions_and_their_targets() -> None:
    assert dict(topology.TARGET_REGIONS) == {
        "RegionTwo": "master",
        "RegionThree": "master",
        "OtherOne": "other",
    }
    assert topology.sync_name("OtherOne") == "other:OtherOne"
    assert topology.sync_name("RegionTwo") == "RegionTwo"


def test_busy_port_names_the_process_holding_it() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert ports.in_use("127.0.0.1", port)
        found = ports.holder(port)
        assert found is not None and found.startswith(f"pid {os.getpid()} (")
    assert not ports.in_use("127.0.0.1", port)
