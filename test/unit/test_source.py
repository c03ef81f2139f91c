"""Reading the master as few times as possible: the spool and images_dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glancesync.config.settings import Settings
from glancesync.model.region import RegionRef
from glancesync.testing.memcloud import MemoryCloud
from test.unit.test_apply import make_sync

REGIONS = ("RegionTwo", "RegionThree", "other:OtherOne")


def sync_all(cloud: MemoryCloud, spool: bool, **master: Any) -> None:
    sync = make_sync(cloud, **master)
    if spool:
        with sync.spool() as directory:
            assert directory is not None and directory.is_dir()
            for region in REGIONS:
                result = sync.sync_region(region)
                assert result is not None and not result.failed
        assert not directory.exists(), "the spool is removed after the run"
    else:
        for region in REGIONS:
            sync.sync_region(region)


def test_spool_reads_each_master_image_once_for_several_regions(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "a", b"a" * 100)
    cloud.add("RegionOne", "b", b"b" * 50)
    sync_all(cloud, spool=True)
    assert sorted(cloud.downloads) == [("RegionOne", "a"), ("RegionOne", "b")]
    for region in REGIONS:
        assert cloud.one(region, "a").checksum == cloud.one("RegionOne", "a").checksum


def test_without_spool_every_region_reads_the_master(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "a", b"a" * 100)
    sync_all(cloud, spool=False)
    assert cloud.downloads == [("RegionOne", "a")] * 3


def test_spool_cap_leaves_big_images_to_the_api(cloud: MemoryCloud) -> None:
    cloud.add("RegionOne", "a", b"a" * 100)
    sync = make_sync(cloud)
    sync.settings = Settings(
        master_region="RegionOne", targets=sync.settings.targets, cache_size_mb=0
    )
    with sync.spool() as directory:
        assert directory is None
        for region in REGIONS:
            sync.sync_region(region)
    assert len(cloud.downloads) == 3


def test_a_region_that_spoils_its_copy_costs_no_second_master_read(cloud: MemoryCloud) -> None:
    """The spool copy was checked against the master's hashes, not the region's upload."""
    cloud.add("RegionOne", "a", b"payload")
    cloud.corrupt_uploads.add("RegionTwo")
    sync = make_sync(cloud)
    with sync.spool() as directory:
        assert directory is not None
        first = sync.sync_region("RegionTwo")
        assert first is not None and first.failed
        assert cloud.named("RegionTwo", "a") == []
        second = sync.sync_region("RegionThree")
        assert second is not None and not second.failed
    assert len(cloud.downloads) == 1


def test_master_bytes_unlike_its_checksum_are_never_spooled(cloud: MemoryCloud) -> None:
    image = cloud.add("RegionOne", "a", b"payload")
    cloud._bucket(RegionRef.parse("RegionOne"))[image.id].data = b"paylo4d"
    sync = make_sync(cloud)
    with sync.spool() as directory:
        assert directory is not None
        first = sync.sync_region("RegionTwo")
        assert first is not None and first.failed
        assert list(directory.iterdir()) == []
        assert cloud.named("RegionTwo", "a") == []


def test_images_dir_file_is_used_when_its_checksum_matches(
    cloud: MemoryCloud, tmp_path: Path
) -> None:
    image = cloud.add("RegionOne", "a", b"bytes on disk")
    (tmp_path / image.id).write_bytes(b"bytes on disk")
    result = make_sync(cloud, images_dir=str(tmp_path)).sync_region("RegionTwo")
    assert result is not None and not result.failed
    assert cloud.downloads == []


def test_images_dir_file_with_other_bytes_is_ignored(cloud: MemoryCloud, tmp_path: Path) -> None:
    image = cloud.add("RegionOne", "a", b"bytes on disk")
    (tmp_path / image.id).write_bytes(b"bytes on d1sk")
    result = make_sync(cloud, images_dir=str(tmp_path)).sync_region("RegionTwo")
    assert result is not None and not result.failed
    assert cloud.downloads == [("RegionOne", "a")]
    assert cloud.one("RegionTwo", "a").checksum == image.checksum
