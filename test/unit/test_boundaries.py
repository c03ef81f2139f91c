"""The house's one boundary: only glancesync.cloud talks to client libraries.

Everything else (config, engine, transfer, runner, report, cli) works on our
own values, so it can be read and tested without a cloud; see doc/design.rst,
"Only ``cloud/`` talks to OpenStack".
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "glancesync"
CLIENT_LIBRARIES = {"keystoneauth1", "glanceclient", "openstack", "requests", "urllib3"}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


OUTSIDE_CLOUD = sorted(
    p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] != "cloud"
)


@pytest.mark.parametrize("path", OUTSIDE_CLOUD, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_cloud_room_imports_client_libraries(path: Path) -> None:
    used = _imported_roots(path) & CLIENT_LIBRARIES
    assert not used, f"{path.relative_to(PACKAGE)} imports {sorted(used)}"


def test_the_cloud_room_does_use_them() -> None:
    # The check above must look at real imports: the cloud room has them.
    found = set().union(*(_imported_roots(p) for p in (PACKAGE / "cloud").glob("*.py")))
    assert {"keystoneauth1", "glanceclient", "openstack", "requests"} <= found
