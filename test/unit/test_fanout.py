"""Far regions: the bandwidth cap's pacing, resumed master reads, one master read fanned out."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from glancesync.cloud.data import _range_problem
from glancesync.model.errors import ImageError
from glancesync.model.region import RegionRef
from glancesync.runner.regions import run_threads
from glancesync.testing.memcloud import MemoryCloud
from glancesync.transfer import fanout
from glancesync.transfer.ratelimit import CREDIT_SECONDS, RateLimiter
from glancesync.transfer.resume import resumable
from test.unit.conftest import run
from test.unit.test_apply import make_sync

MASTER = RegionRef("master", "RegionOne")
REGIONS = [RegionRef("master", "RegionTwo"), RegionRef("master", "RegionThree")]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def test_the_cap_lets_through_rate_times_seconds_within_its_credit() -> None:
    clock = FakeClock()
    cap = RateLimiter(2_000_000, clock=clock, sleep=clock.sleep)
    chunk, sent = 65_536, 0
    start = clock.now
    while clock.now - start < 30:
        cap.take(chunk)
        sent += chunk
    elapsed = clock.now - start
    assert 0 <= sent - 2_000_000 * elapsed <= chunk + 2_000_000 * CREDIT_SECONDS


def test_the_cap_gives_little_credit_for_idle_time() -> None:
    clock = FakeClock()
    cap = RateLimiter(1_000_000, clock=clock, sleep=clock.sleep)
    cap.take(1_000_000)
    clock.now += 60  # a minute with nothing to send
    cap.take(1_000_000)
    cap.take(1_000_000)
    assert clock.now == pytest.approx(161.0 - CREDIT_SECONDS)


def test_the_cap_makes_up_for_oversleeping() -> None:
    """Each sleep lasts 0.5 ms too long; the pacing holds the rate anyway."""
    clock = FakeClock()
    cap = RateLimiter(50_000_000, clock=clock, sleep=lambda s: clock.sleep(s + 0.0005))
    chunk, sent = 65_536, 0
    start = clock.now
    while clock.now - start < 20:
        cap.take(chunk)
        sent += chunk
    assert sent >= 0.99 * 50_000_000 * (clock.now - start)


@pytest.mark.parametrize(
    ("status", "header", "problem"),
    [
        (206, "bytes 40-99/100", None),
        (206, "bytes 40-99/*", None),
        (200, None, "not 206"),
        (206, None, "no valid Content-Range"),
        (206, "bytes 0-99/100", "starts at byte 0"),
        (206, "bytes 40-120/100", "past the image's size"),
        (206, "bytes 40-30/100", "starts at byte 40"),
        (206, "items 40-99/100", "no valid Content-Range"),
    ],
)
def test_a_range_answer_is_checked_before_any_byte_is_used(
    status: int, header: str | None, problem: str | None
) -> None:
    found = _range_problem(status, header, 40)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_a_cut_download_resumes_at_the_byte_it_reached(cloud: MemoryCloud) -> None:
    data = bytes(range(256)) * 4
    image = cloud.add("RegionOne", "a", data)
    cloud.cut_downloads["RegionOne"] = 512
    offsets: list[int] = []
    got = b"".join(resumable(cloud, MASTER, image, on_resume=offsets.append))
    assert got == data
    assert offsets == [512]  # nothing before byte 512 was asked for again


def test_a_resumed_read_still_checks_the_whole_image(cloud: MemoryCloud) -> None:
    image = cloud.add("RegionOne", "a", b"0123456789" * 10)
    cloud._bucket(MASTER)[image.id].data = b"0123456789" * 9 + b"012345678X"
    cloud.cut_downloads["RegionOne"] = 40
    with pytest.raises(ImageError, match="md5"):
        b"".join(resumable(cloud, MASTER, image))


def test_a_sync_through_a_cut_reads_each_master_byte_once(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "a", b"z" * 1000)
    cloud.cut_downloads["RegionOne"] = 600
    sync = make_sync(cloud)
    with sync.spool():
        result = sync.sync_region("RegionTwo")
    assert result is not None and not result.failed
    assert (sync.source.bytes_from_master, sync.source.resumes) == (1000, 1)


def test_regions_in_threads_share_one_master_read(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "a", os.urandom(300_000))
    cloud.add("RegionOne", "b", os.urandom(200_000))
    sync = make_sync(cloud)
    with sync.spool():
        runs = run_threads(REGIONS, sync.run_region, 2)
    assert not any(run.failed for run in runs)
    assert sorted(cloud.downloads) == [("RegionOne", "a"), ("RegionOne", "b")]
    assert sync.source.bytes_from_master == 500_000
    for region in REGIONS:
        for name in "ab":
            assert cloud.one(region.full, name).checksum == cloud.one("RegionOne", name).checksum


def test_a_region_failing_mid_upload_leaves_the_others_good_and_no_record(
    cloud: MemoryCloud,
) -> None:
    cloud.add("RegionOne", "a", os.urandom(400_000))
    cloud.broken_uploads["RegionTwo"] = 100_000
    sync = make_sync(cloud)
    with sync.spool():
        two, three = run_threads(REGIONS, sync.run_region, 2)
    assert two.failed and not three.failed
    assert cloud.named("RegionTwo", "a") == []
    assert cloud.one("RegionThree", "a").checksum == cloud.one("RegionOne", "a").checksum
    assert len(cloud.downloads) == 1


def test_a_reader_goes_on_from_the_master_where_a_dead_producer_stopped(
    cloud: MemoryCloud, tmp_path: Path
) -> None:
    data = os.urandom(3 * fanout.CHUNK + 5)
    image = cloud.add("RegionOne", "a", data)
    final = tmp_path / "a-copy"
    fd = fanout.claim(final)
    assert fd is not None and fanout.claim(final) is None  # one producer per image
    os.write(fd, data[: fanout.CHUNK + 7])
    os.close(fd)  # killed: the lock goes, the file stays short
    asked: list[int] = []

    def rest(offset: int) -> Iterator[bytes]:
        asked.append(offset)
        return iter([data[offset:]])

    assert b"".join(fanout.follow(final, image, rest)) == data
    assert asked == [fanout.CHUNK + 7]


def test_the_command_line_runs_regions_in_threads_with_fan_out(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", os.urandom(100_000))
    lock = config.parent / "lock"
    argv = ["--config", "main.fan_out=3", f"main.lock_file={lock}", "--bwlimit", "1000"]
    assert run(cloud, *argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == ["RegionThree", "RegionTwo"]  # in order
    assert cloud.downloads == [("RegionOne", "a")]  # one read for both regions


def test_a_bad_bwlimit_is_one_usage_line(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cloud, "--bwlimit", "fast") == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "bwlimit" in err[0] and "not a number of MB/s" in err[0]


def test_a_copy_finished_just_before_a_claim_is_read_from_the_spool(
    cloud: MemoryCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other upload renames its fill into place between this one's looks and its claim."""
    data = os.urandom(50_000)
    image = cloud.add("RegionOne", "a", data)
    sync = make_sync(cloud)
    claim = fanout.claim

    def late_claim(final: Path) -> int | None:
        final.write_bytes(data)  # the other upload's copy, settled meanwhile
        return claim(final)

    monkeypatch.setattr(fanout, "claim", late_claim)
    with sync.spool() as directory:
        assert directory is not None
        assert b"".join(sync.source.chunks(image)) == data
        assert sync.source.origin(image) == "spool"
        assert cloud.downloads == [], "no second read of the master"
        spooled = sync.source.spool.path_for(image) if sync.source.spool else None
        assert spooled is not None and not fanout.fill_path(spooled).exists()


def test_a_reader_ends_only_once_the_producer_let_go(cloud: MemoryCloud, tmp_path: Path) -> None:
    """All bytes read is not the end: the spool copy must be settled first."""
    data = b"x" * 10
    image = cloud.add("RegionOne", "a", data)
    final = tmp_path / "a-copy"
    fd = fanout.claim(final)
    assert fd is not None
    os.write(fd, data)  # every byte written, the producer still at work
    waits: list[float] = []

    def producer_finishes(seconds: float) -> None:
        waits.append(seconds)
        os.replace(fanout.fill_path(final), final)
        os.close(fd)

    def no_master(offset: int) -> Iterator[bytes]:
        raise AssertionError("the master is not read again")

    assert b"".join(fanout.follow(final, image, no_master, sleep=producer_finishes)) == data
    assert waits == [fanout.POLL_SECONDS], "it waited for the producer once, after the last byte"
    assert final.read_bytes() == data
