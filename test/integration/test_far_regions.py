"""Far regions on real servers: a master download cut mid-way resumes, a region
failing mid-upload in a fan-out, the bandwidth cap, --parallel children sharing
one master read. The links are bench/link.py
proxies in front of the shared cloud's Glances (glancesync's own facade, with
the endpoints of the proxied regions replaced)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from bench.arrange import write_config
from bench.link import LinkProxy, ProxiedFacade
from glancesync import cli
from glancesync.api import GlanceSync
from glancesync.config.condition import compile_condition
from glancesync.config.settings import Settings
from glancesync.model.changes import NewImage
from glancesync.model.image import Image
from glancesync.model.region import RegionRef
from glancesync.runner.regions import run_threads
from glancesync.transfer.resume import resumable
from test.integration.conftest import Cleanup
from tools.devcloud import topology

MIB = 1 << 20
TWO, THREE = RegionRef("master", "RegionTwo"), RegionRef("master", "RegionThree")


def pattern(size: int, seed: str) -> Iterator[bytes]:
    block = hashlib.sha256(seed.encode()).digest() * 2048  # 64 KiB
    for start in range(0, size, len(block)):
        yield block[: min(len(block), size - start)]


def upstream(region: str) -> tuple[str, int]:
    layout = topology.load()
    return layout.host, layout.region_port(region)


def seeded(facade: ProxiedFacade, cleanup: Cleanup, r1: RegionRef, name: str, size: int) -> Image:
    """The master image, deleted at teardown through a facade without proxies."""
    spec = NewImage(name=name, visibility="private", disk_format="raw", container_format="bare")
    record = facade.create_image(r1, spec)
    cleanup.add(ProxiedFacade(facade.settings, {}), r1, record.id)
    facade.upload(r1, record.id, pattern(size, name), size)
    return facade.get_image(r1, record.id)


def sync_of(settings: Settings, facade: ProxiedFacade, name: str, **main: Any) -> GlanceSync:
    master = replace(
        settings.targets["master"], metadata_condition=compile_condition(f"image.name == {name!r}")
    )
    targets = MappingProxyType({**settings.targets, "master": master})
    return GlanceSync(replace(settings, targets=targets, **main), facade=facade)


def copies(facade: ProxiedFacade, region: RegionRef, name: str) -> list[Image]:
    return [i for i in facade.list_images(region) if i.name == name and i.status != "deleted"]


@pytest.fixture
def drop_copies(settings: Settings, uname: str) -> Iterator[None]:
    yield
    facade = ProxiedFacade(settings, {})
    for region in (TWO, THREE):
        for image in copies(facade, region, uname):
            facade.delete_image(region, image.id)
    facade.close()


def test_a_master_download_cut_mid_way_resumes_and_rereads_nothing(
    settings: Settings, cleanup: Cleanup, r1: RegionRef, uname: str
) -> None:
    size = 6 * MIB
    with LinkProxy(upstream("RegionOne")) as link:
        facade = ProxiedFacade(settings, {r1.full: link.url})
        image = seeded(facade, cleanup, r1, uname, size)
        link.received = 0
        link.cut_after(size // 2)
        offsets: list[int] = []
        got = hashlib.md5(usedforsecurity=False)
        for chunk in resumable(facade, r1, image, on_resume=offsets.append):
            got.update(chunk)
        facade.close()
    assert got.hexdigest() == image.checksum
    assert len(offsets) == 1 and 0 < offsets[0] <= size // 2
    # The cut answer and the 206 together: the image once, plus what the failing
    # read had taken off the socket (up to one read of the HTTP stack, about 1 MiB);
    # a restart from byte 0 would have re-read the 3 MiB before the cut.
    assert size <= link.received <= size + 1_300_000


def test_a_region_failing_mid_upload_leaves_the_other_copy_good_and_no_record(
    settings: Settings, cleanup: Cleanup, r1: RegionRef, uname: str, drop_copies: None
) -> None:
    size = 4 * MIB
    with LinkProxy(upstream("RegionOne")) as master, LinkProxy(upstream("RegionTwo")) as two:
        facade = ProxiedFacade(settings, {r1.full: master.url, TWO.full: two.url})
        image = seeded(facade, cleanup, r1, uname, size)
        master.received = 0
        two.cut_after(size // 3, upward=True, times=3)  # every attempt of the upload
        sync = sync_of(settings, facade, uname, fan_out=2)
        sync.prepare([TWO, THREE])
        with sync.spool():
            runs = run_threads([TWO, THREE], sync.run_region, 2)
        assert [run.failed for run in runs] == [True, False]
        assert copies(facade, TWO, uname) == []
        (copy,) = copies(facade, THREE, uname)
        assert (copy.status, copy.checksum) == ("active", image.checksum)
        # the master was read once: the retries read the spool
        assert master.received < size + 16 * 1024
        facade.close()


def test_bwlimit_caps_what_is_read_from_the_master(
    settings: Settings, cleanup: Cleanup, r1: RegionRef, uname: str, drop_copies: None
) -> None:
    size, cap = 24 * MIB, 4.0
    with LinkProxy(upstream("RegionOne")) as link:
        facade = ProxiedFacade(settings, {r1.full: link.url})
        seeded(facade, cleanup, r1, uname, size)
        link.received = 0
        sync = sync_of(settings, facade, uname, bwlimit=cap)
        result: list[object] = []
        worker = threading.Thread(target=lambda: result.append(sync.sync_region(TWO)))
        worker.start()
        # Counted where glancesync takes the bytes (the link's own count runs
        # ahead by what the sockets' buffers hold).
        deadline = time.monotonic() + 60
        while sync.source.bytes_from_master < 2 * MIB and time.monotonic() < deadline:
            time.sleep(0.05)
        t0, b0 = time.monotonic(), sync.source.bytes_from_master
        time.sleep(2.0)
        t1, b1 = time.monotonic(), sync.source.bytes_from_master
        worker.join(timeout=120)
        facade.close()
    rate = (b1 - b0) / (t1 - t0)
    assert 0.5 * cap * 1e6 <= rate <= 1.3 * cap * 1e6, rate
    assert result and not getattr(result[0], "failed", True)
    assert size <= link.received <= size + 1_300_000  # and the link carried no more


def test_parallel_children_share_one_master_read_through_the_spool(
    settings: Settings,
    cleanup: Cleanup,
    r1: RegionRef,
    uname: str,
    drop_copies: None,
    tmp_path: Path,
) -> None:
    size = 6 * MIB
    extra = {
        "main": {"lock_file": str(tmp_path / "lock"), "max_children": "2", "log_dir": str(tmp_path)}
    }
    config = write_config(tmp_path / "glancesync.conf", uname, extra)
    with LinkProxy(upstream("RegionOne")) as master:
        facade = ProxiedFacade(settings, {r1.full: master.url})
        image = seeded(facade, cleanup, r1, uname, size)
        master.received = 0
        code = cli.main(
            ["-q", "--config-file", str(config), "--parallel", TWO.full, THREE.full],
            lambda loaded: ProxiedFacade(loaded, {r1.full: master.url}),
        )
        assert code == 0
        for region in (TWO, THREE):
            (copy,) = copies(facade, region, uname)
            assert (copy.status, copy.checksum) == ("active", image.checksum)
        facade.close()
    assert size <= master.received < size + 16 * 1024  # once, for both children
