"""Secrets never leave glancesync: not in logs (debug included), reports, backups."""

from __future__ import annotations

import re
from pathlib import Path

from test.e2e.conftest import Env

PASSWORDS = ("adminpass", "otherpass")
#: Keystone's fernet tokens all start like this once base64-encoded.
TOKEN = re.compile(r"gAAAAA[A-Za-z0-9_\-]{20,}")


def assert_no_secret(text: str, where: str) -> None:
    for password in PASSWORDS:
        assert password not in text, f"password found in {where}"
    assert not TOKEN.search(text), f"token found in {where}"


def test_nothing_a_run_writes_holds_a_secret(env: Env, tmp_path: Path) -> None:
    env.glance.create("RegionOne", env.name("s"), env.data("s"), nid="1")
    logs = tmp_path / "logs"
    backups = tmp_path / "backups"
    config = env.config(main={"max_children": "2", "log_dir": str(logs)})
    runs = [
        env.sync("-vv", "--parallel", "RegionTwo", "other:OtherOne", config=config),
        env.sync("-vv", "--show-status", "RegionTwo", "other:OtherOne", config=config),
        env.sync("-vv", "--dry-run", "--format", "json", "RegionThree", config=config),
        env.sync("-vv", "--show-regions", config=config),
        env.sync("-vv", "--make-backup", str(backups), "RegionTwo", config=config),
        env.sync("-vv", "--config", "other.password=wrong", "other:OtherOne", config=config),
    ]
    assert [run.code for run in runs] == [0, 0, 0, 0, 0, 1]
    assert "REQ:" in runs[0].stderr + "".join(p.read_text() for p in logs.rglob("*.log")), (
        "-vv logs the HTTP requests, so this test looks at real debug output"
    )
    for number, run in enumerate(runs):
        assert_no_secret(run.stdout, f"stdout of run {number}")
        assert_no_secret(run.stderr, f"stderr of run {number}")
    written = [*logs.rglob("*"), *backups.rglob("*")]
    assert any(p.suffix == ".jsonl" for p in written) and any(p.suffix == ".log" for p in written)
    for path in written:
        if path.is_file():
            assert_no_secret(path.read_text(errors="replace"), str(path))
    assert "wrong" not in runs[-1].stderr
