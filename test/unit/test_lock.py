"""Local files of a run: the lock file, ``--parallel`` logs, backups of the
master, and errors that name their path (in-memory cloud)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from glancesync.model.region import RegionRef
from glancesync.runner.lock import LockBusy, run_lock
from glancesync.runner.regionlock import region_lock_path
from glancesync.runner.regions import RegionReport, new_run_dir, run_parallel
from glancesync.testing.memcloud import MemoryCloud
from test.unit.conftest import run


def test_existing_file_at_lock_file_keeps_its_content(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("an operator's notes, not a lock\n")
    with run_lock(precious), pytest.raises(LockBusy, match=r"\(pid \?\)"), run_lock(precious):
        pass
    assert precious.read_text() == "an operator's notes, not a lock\n"


@pytest.mark.parametrize("before", ["", "12345\n", "7"])
def test_lock_file_of_a_run_gets_our_pid(tmp_path: Path, before: str) -> None:
    lock = tmp_path / "sync.lock"
    lock.write_text(before)
    with run_lock(lock):
        assert lock.read_text() == f"{os.getpid()}\n"
        with pytest.raises(LockBusy, match=rf"\(pid {os.getpid()}\) holds {lock}"), run_lock(lock):
            pass


def test_new_lock_file_is_private(tmp_path: Path) -> None:
    lock = tmp_path / "sync.lock"
    with run_lock(lock):
        assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_fifo_at_lock_file_is_a_one_line_error_naming_it(
    cloud: MemoryCloud, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = tmp_path / "sync.lock"
    fifo = region_lock_path(base, RegionRef("master", "RegionTwo"))
    os.mkfifo(fifo)
    cloud.add("RegionOne", "a", b"a")
    assert run(cloud, "--config", f"main.lock_file={base}", "RegionTwo") == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"glancesync: error: {fifo}: lock file is not a regular file\n"
    assert cloud.writes == []


def test_os_error_without_a_path_is_printed_whole(
    cloud: MemoryCloud,
    config: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An OSError that carries no file name is shown as its own text, never
    as a bare ``: Invalid argument``."""

    def failing(*args: object, **kwargs: object) -> None:
        raise OSError("cannot create a run directory in /x/logs")

    monkeypatch.setattr("glancesync.cli.region_locks", failing)
    cloud.add("RegionOne", "a", b"a")
    assert run(cloud, "RegionTwo") == 2
    err = capsys.readouterr().err
    assert err == "glancesync: error: cannot create a run directory in /x/logs\n"


def _work(region: RegionRef) -> RegionReport:
    return RegionReport(region.full, False, text="done\n")


def test_parallel_logs_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        run_dir = new_run_dir(tmp_path / "logs")
        regions = [RegionRef.parse("RegionTwo"), RegionRef.parse("other:OtherOne")]
        reports = run_parallel(regions, _work, 2, run_dir, after_fork=lambda: None)
    finally:
        os.umask(old)
    assert [r.failed for r in reports] == [False, False]
    logs = sorted(run_dir.iterdir())
    assert len(logs) == 2
    assert {stat.S_IMODE(log.stat().st_mode) for log in logs} == {0o600}


def test_backup_of_the_master_region(
    cloud: MemoryCloud, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A backup only reads, so the master region may be backed up; a sync of
    it is still refused."""
    cloud.add("RegionOne", "base", b"abc")
    assert run(cloud, "--make-backup", str(tmp_path / "b"), "RegionOne") == 0
    (backup,) = (tmp_path / "b").iterdir()
    assert backup.name.startswith("backup_RegionOne_")
    assert '"name": "base"' in backup.read_text()
    assert capsys.readouterr().out == f"RegionOne: {backup}\n"
    assert cloud.writes == []
    assert run(cloud, "RegionOne") == 2
    assert "is the master region: it is never written to" in capsys.readouterr().err
