"""Faults on real servers: each test says what must hold afterwards, in every region
(snapshot), the exit code, the report, and that the next run converges (the table
in doc/reliability.rst, "What survives what").

RegionProxy is RegionThree's Glance behind test/fault/proxy.py; RegionQuota is a
Glance with a 1 MB storage quota. The generated config ignores both, so a run
reaches them only when a test names them.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from glancesync.model.region import RegionRef
from glancesync.runner.regionlock import region_lock_path
from test.e2e.conftest import Env, Run
from test.fault.conftest import (
    FaultGlance,
    devcloud,
    kill9_server,
    server_stopped,
    wait_for,
)
from test.fault.proxy import FaultProxy

pytestmark = pytest.mark.cloud
EXIT_OK, EXIT_FAILED, EXIT_LOCKED = 0, 1, 3
TARGETS = ("RegionTwo", "RegionThree", "other:OtherOne")


def output(run: Run) -> str:
    return run.stdout + run.stderr


def assert_in_sync(
    env: Env, names: list[str], regions: tuple[str, ...], run: Run | None = None
) -> None:
    """Each image exactly once in each region, active, with the master's content."""
    log = f"\n--- the run's log:\n{run.stderr[-3000:]}" if run else ""
    for name in names:
        master = env.glance.one("RegionOne", name)
        for region in regions:
            copies = env.glance.named(region.split(":")[-1], name)
            found = [(c["id"], c["status"]) for c in copies]
            assert len(copies) == 1, f"{name} in {region}: {found}{log}"
            assert copies[0]["status"] == "active"
            assert copies[0]["checksum"] == master["checksum"]
            assert copies[0]["os_hash_value"] == master["os_hash_value"]


def rerun_converges(env: Env, names: list[str], *regions: str) -> None:
    run = env.sync(*regions)
    assert run.code == EXIT_OK, output(run)
    assert_in_sync(env, names, regions, run)
    status = env.sync("--show-status", *regions)
    assert status.code == EXIT_OK and {r.split(",")[0] for r in status.stdout.split()} == {"ok"}


def no_active_partial(glance: FaultGlance, region: str, name: str, size: int) -> None:
    for image in glance.named(region, name):
        assert image["status"] != "active" or image["size"] == size, image


# ------------------------------------------------------------ servers down or killed
def test_region_down_fails_alone_and_rerun_converges(env: Env) -> None:
    name = env.name("img")
    env.glance.create("RegionOne", name, env.data("d", 20_000))
    with server_stopped("g3"):
        run = env.sync(*TARGETS)
        assert run.code == EXIT_FAILED, output(run)
        assert "RegionThree: FAILED" in run.stdout, run.stdout
        assert_in_sync(env, [name], ("RegionTwo", "other:OtherOne"))
    assert env.glance.named("RegionThree", name) == []
    rerun_converges(env, [name], *TARGETS)


@pytest.mark.slow
def test_glance_killed_mid_upload_leaves_no_partial_image(env: Env, proxy: FaultProxy) -> None:
    name, size = env.name("big"), 48 * 2**20
    env.glance.create_streamed("RegionOne", name, size)  # type: ignore[attr-defined]
    proxy.throttle(6e6)  # about 8 s for the upload: time to kill the server in the middle
    child = env.start("RegionProxy")
    try:
        wait_for(
            "a saving image in RegionThree",
            lambda: [i for i in env.glance.named("RegionThree", name) if i["status"] == "saving"],
        )
        time.sleep(1)
        try:
            kill9_server("g3")
            out, err = child.communicate(timeout=300)
        finally:
            devcloud("start-server", "g3")
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == EXIT_FAILED, out + err
    assert "RegionProxy: FAILED" in out, out + err
    no_active_partial(env.glance, "RegionThree", name, size)  # type: ignore[arg-type]
    proxy.pass_through()
    rerun_converges(env, [name], "RegionProxy")


def test_master_unreachable_touches_no_region(env: Env) -> None:
    env.glance.create("RegionOne", env.name("new"), env.data("n"))
    env.glance.create("RegionOne", env.name("meta"), env.data("m"), nid="2")
    env.glance.create("RegionTwo", env.name("meta"), env.data("m"), nid="1")
    before = env.glance.full_snapshot(env.prefix)  # type: ignore[attr-defined]
    with server_stopped("g1"):
        started = time.monotonic()
        run = env.sync(*TARGETS)
        took = time.monotonic() - started
    assert run.code == EXIT_FAILED, output(run)
    assert "master" in run.stderr.lower() and "RegionOne" in run.stderr, run.stderr
    assert took < 120, f"giving up on the master took {took:.0f}s"
    assert env.glance.full_snapshot(env.prefix) == before  # type: ignore[attr-defined]


# ------------------------------------------------------------ the fault proxy
@pytest.mark.parametrize("match", ["GET /v2/images", "PUT /v2/images/"])
def test_a_few_resets_are_retried(env: Env, proxy: FaultProxy, match: str) -> None:
    name = env.name("r")
    env.glance.create("RegionOne", name, env.data("r", 100_000))
    proxy.reset_next(2, match)
    run = env.sync("RegionProxy")
    assert proxy.counts["reset"] == 2, proxy.requests
    assert run.code == EXIT_OK, output(run)
    assert_in_sync(env, [name], ("RegionThree",), run)
    rerun_converges(env, [name], "RegionProxy")


@pytest.mark.parametrize("match", ["GET /v2/images", "PUT /v2/images/"])
def test_resets_that_go_on_fail_cleanly(env: Env, proxy: FaultProxy, match: str) -> None:
    name = env.name("r")
    env.glance.create("RegionOne", name, env.data("r", 100_000))
    proxy.reset_next(10_000, match)
    started = time.monotonic()
    run = env.sync("RegionProxy")
    assert time.monotonic() - started < 120
    assert run.code == EXIT_FAILED, output(run)
    assert "RegionProxy: FAILED" in run.stdout, output(run)
    assert "Traceback" not in run.stderr, run.stderr
    assert 2 <= proxy.counts["reset"] <= 10, f"{proxy.counts}: retried, but not forever"
    assert [i["status"] for i in env.glance.named("RegionThree", name)] == []
    proxy.pass_through()
    rerun_converges(env, [name], "RegionProxy")


@pytest.mark.parametrize("match", ["GET /v2/images", "PUT /v2/images/"])
def test_a_few_503_are_retried(env: Env, proxy: FaultProxy, match: str) -> None:
    name = env.name("u")
    env.glance.create("RegionOne", name, env.data("u", 100_000))
    proxy.fail_next(2, match)
    run = env.sync("RegionProxy")
    assert proxy.counts["fail"] == 2, proxy.requests
    assert run.code == EXIT_OK, output(run)
    assert_in_sync(env, [name], ("RegionThree",), run)
    rerun_converges(env, [name], "RegionProxy")


def test_corrupted_upload_is_detected_and_removed(env: Env, proxy: FaultProxy) -> None:
    name = env.name("c")
    env.glance.create("RegionOne", name, env.data("c", 300_000))
    proxy.corrupt_uploads()
    run = env.sync("RegionProxy")
    assert proxy.counts["corrupted"] >= 1, proxy.requests
    assert run.code == EXIT_FAILED, output(run)
    assert "RegionProxy: FAILED" in run.stdout and name in run.stderr, output(run)
    assert env.glance.named("RegionThree", name) == [], "the corrupt copy must be deleted"
    proxy.pass_through()
    rerun_converges(env, [name], "RegionProxy")


# ------------------------------------------------------------ glancesync killed, and the lock
@pytest.mark.slow
def test_sync_killed_mid_upload_then_rerun(env: Env, proxy: FaultProxy, tmp_path: Path) -> None:
    name, size = env.name("k"), 24 * 2**20
    small = env.name("a")
    env.glance.create("RegionOne", small, env.data("a", 1000))
    env.glance.create_streamed("RegionOne", name, size)  # type: ignore[attr-defined]
    lock = f"main.lock_file={tmp_path / 'sync.lock'}"
    proxy.throttle(4e6)
    child = env.start("--config", lock, "RegionProxy")
    try:
        wait_for(
            "a saving image in RegionThree",
            lambda: [i for i in env.glance.named("RegionThree", name) if i["status"] == "saving"],
        )
        time.sleep(0.5)
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    no_active_partial(env.glance, "RegionThree", name, size)  # type: ignore[arg-type]
    proxy.pass_through()
    run = env.sync("--config", lock, "RegionProxy")
    assert run.code == EXIT_OK, f"a lock left by a killed run must not block: {output(run)}"
    assert_in_sync(env, [small, name], ("RegionThree",))
    rerun_converges(env, [small, name], "RegionProxy")


def test_quota_exceeded_names_the_region(env: Env) -> None:
    small, big = env.name("small"), env.name("big")
    env.glance.create("RegionOne", small, env.data("s", 100_000))
    env.glance.create("RegionOne", big, env.data("b", 2_000_000))
    run = env.sync("RegionQuota")
    assert run.code == EXIT_FAILED, output(run)
    failed = [line for line in run.stderr.splitlines() if big in line and "RegionQuota" in line]
    assert failed, run.stderr
    assert any(word in " ".join(failed).lower() for word in ("quota", "413", "storage")), failed
    assert "Traceback" not in run.stderr
    assert env.glance.one("RegionQuota", small)["status"] == "active"
    assert env.glance.named("RegionQuota", big) == [], "no record of the refused upload stays"


# ------------------------------------------------------------ read-only modes write nothing
@pytest.mark.parametrize(
    "args",
    [
        ("--dry-run", *TARGETS, "RegionQuota"),
        ("--show-status", *TARGETS, "RegionQuota"),
        ("--show-regions",),
        ("--dry-run", "--parallel", *TARGETS, "RegionQuota"),
    ],
    ids=["dry-run", "show-status", "show-regions", "dry-run-parallel"],
)
def test_read_only_modes_write_nothing(env: Env, args: tuple[str, ...], tmp_path: Path) -> None:
    g = env.glance
    g.create("RegionOne", env.name("new"), env.data("n"))
    g.create("RegionOne", env.name("meta"), env.data("m"), nid="2")
    g.create("RegionTwo", env.name("meta"), env.data("m"), nid="1")
    g.create("RegionOne", env.name("conf"), env.data("c1"))
    g.create("RegionTwo", env.name("conf"), env.data("c2"))
    g.create("OtherOne", env.name("obs"), env.data("o"))  # not on the master
    # an unfinished record of an earlier run: a real run would delete it
    g.client("RegionThree").images.create(name=env.name("new"), visibility="public")
    before = g.full_snapshot(env.prefix)  # type: ignore[attr-defined]
    config = env.config(DEFAULT={"replace": "any"}, main={"log_dir": str(tmp_path)})
    run = env.sync(*args, config=config)
    assert run.code == EXIT_OK, output(run)
    assert g.full_snapshot(env.prefix) == before  # type: ignore[attr-defined]


@pytest.fixture
def held_lock(tmp_path: Path) -> Any:
    """RegionTwo's lock held, as another run would: yields ``lock_file`` and the handle."""
    path = tmp_path / "sync.lock"
    with open(region_lock_path(path, RegionRef("master", "RegionTwo")), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield path, handle


def test_second_run_exits_3_while_the_lock_is_held(env: Env, held_lock: Any) -> None:
    path, _ = held_lock
    env.glance.create("RegionOne", env.name("l"), env.data("l"))
    started = time.monotonic()
    run = env.sync("--config", f"main.lock_file={path}", "RegionTwo")
    assert run.code == EXIT_LOCKED, output(run)
    assert time.monotonic() - started < 15
    held = region_lock_path(path, RegionRef("master", "RegionTwo"))
    assert "lock" in run.stderr.lower() and str(held) in run.stderr, run.stderr
    assert run.stdout == ""
    assert env.glance.named("RegionTwo", env.name("l")) == []


def test_wait_lock_waits_for_the_holder(env: Env, held_lock: Any) -> None:
    path, handle = held_lock
    name = env.name("w")
    env.glance.create("RegionOne", name, env.data("w"))
    child = env.start("--wait-lock", "60", "--config", f"main.lock_file={path}", "RegionTwo")
    try:
        time.sleep(3)
        assert child.poll() is None, child.communicate()
        assert env.glance.named("RegionTwo", name) == []
        fcntl.flock(handle, fcntl.LOCK_UN)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == EXIT_OK, out + err
    assert_in_sync(env, [name], ("RegionTwo",))


def test_wait_lock_gives_up_with_3(env: Env, held_lock: Any) -> None:
    path, _ = held_lock
    started = time.monotonic()
    run = env.sync("--wait-lock", "2", "--config", f"main.lock_file={path}", "RegionTwo")
    took = time.monotonic() - started
    assert run.code == EXIT_LOCKED, output(run)
    assert 2 <= took < 20, took


def test_lock_of_a_killed_holder_does_not_block(env: Env, tmp_path: Path) -> None:
    path = tmp_path / "sync.lock"
    held = region_lock_path(path, RegionRef("master", "RegionTwo"))
    holder = subprocess.Popen(
        [
            "python3",
            "-c",
            f"import fcntl,time; f=open({str(held)!r},'w'); "
            "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert held.exists()
    name = env.name("z")
    env.glance.create("RegionOne", name, env.data("z"))
    run = env.sync("--config", f"main.lock_file={path}", "RegionTwo")
    assert run.code == EXIT_OK, output(run)
    assert_in_sync(env, [name], ("RegionTwo",))
