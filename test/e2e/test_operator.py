"""What an operator reads from ./sync.py on the real cloud: auth failures, region locks."""

from __future__ import annotations

from glancesync.model.region import RegionRef
from glancesync.runner.regionlock import region_locks
from test.e2e.conftest import Env


def test_a_wrong_password_says_authentication_failed_once(env: Env) -> None:
    env.glance.create("RegionOne", env.name("a"), env.data("a"))
    config = env.config(other={"password": "not-the-password"})
    run = env.sync("other:OtherOne", config=config)
    assert run.code == 1
    assert run.stdout.startswith("other:OtherOne: FAILED; region error: authentication failed")
    assert len(run.stdout.splitlines()) == 1
    assert run.stderr.count("authentication failed") == 1
    assert "unreachable" not in run.stderr + run.stdout
    assert "not-the-password" not in run.stderr + run.stdout

    master = env.sync("RegionTwo", config=env.config(master={"password": "not-the-password"}))
    assert master.code == 1 and master.stdout == ""
    assert "cannot read the master: region RegionOne: authentication failed" in master.stderr
    assert master.stderr.count("authentication failed") == 1
    assert env.glance.named("RegionTwo", env.name("a")) == []


def test_syncs_of_disjoint_regions_run_side_by_side_and_overlapping_ones_refuse(
    env: Env,
) -> None:
    source = env.glance.create("RegionOne", env.name("img"), env.data("img"))
    config = env.config()
    lock_file = env.tmp / "sync.lock"
    # A sync that still runs on RegionTwo, held by this test.
    with region_locks(lock_file, [RegionRef("master", "RegionTwo")]):
        # First process: takes RegionThree, then waits for RegionTwo.
        first = env.start("--wait-lock", "300", "RegionThree", "RegionTwo", config=config)
        assert first.stderr is not None
        seen = []
        for line in first.stderr:
            seen.append(line)
            if "waiting up to 300 s" in line:
                break
        assert "(region RegionTwo): waiting up to 300 s" in seen[-1], "".join(seen)

        # While the first holds RegionThree: a disjoint sync goes on...
        other = env.sync("other:OtherOne", config=config)
        assert other.code == 0, other.stderr
        assert other.stdout.startswith("other:OtherOne: ok; 1 image uploaded")
        # ...and an overlapping one refuses with exit 3, naming the region.
        overlapping = env.sync("RegionThree", config=config)
        assert overlapping.code == 3 and overlapping.stdout == ""
        assert f"(pid {first.pid})" in overlapping.stderr
        assert "(region RegionThree)" in overlapping.stderr
        assert first.poll() is None, "the first sync still waits for RegionTwo"
    out, rest = first.communicate(timeout=300)
    assert first.returncode == 0, "".join(seen) + rest
    lines = out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("RegionThree: ok; 1 image uploaded")
    assert lines[1].startswith("RegionTwo: ok; 1 image uploaded")
    for region in ("RegionTwo", "RegionThree", "OtherOne"):
        assert env.glance.one(region, source["name"])["checksum"] == source["checksum"]
