"""The command line: options, outputs and exit codes, on the in-memory cloud."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from glancesync import cli
from glancesync.api import GlanceSync
from glancesync.testing.memcloud import MemoryCloud
from test.unit.conftest import run


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    for option in ("--version", "--help"):
        with pytest.raises(SystemExit) as done:
            cli.main([option])
        assert done.value.code == 0
    assert "exit codes" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["--no-such-option"],
        ["--dry-run", "--show-status"],
        ["--format", "json"],
        ["--show-status", "--parallel"],
        ["--format", "xml", "--show-status"],
        ["-v", "-q"],
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    argv: list[str], cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        code = run(cloud, *argv)
        raise SystemExit(code)
    assert done.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("glancesync: error:")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--config-file", "/nonexistent/glancesync.conf"], "/nonexistent/glancesync.conf"),
        (["--config", "master.no_such_key=1"], "no_such_key"),
        (["--config", "metadata_condition=__import__('os')"], "metadata_condition"),
        (["nowhere:RegionX"], "nowhere"),
        (["Atlantis"], "Atlantis"),
        (["RegionTwo", "RegionOne"], "master region"),
        (["master:RegionOne"], "master region"),
    ],
)
def test_config_and_region_errors_exit_2_and_touch_nothing(
    argv: list[str],
    fragment: str,
    cloud: MemoryCloud,
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cloud.add("RegionOne", "base", b"abc")
    assert run(cloud, *argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and fragment in err
    assert cloud.writes == []


def test_show_status_csv_exit_0_even_with_error_statuses(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "small", b"s")
    cloud.add("RegionOne", "bigger", b"bigger data")
    cloud.add("RegionTwo", "bigger", b"other data!")
    assert run(cloud, "--show-status", "RegionTwo", "other:OtherOne") == 0
    assert capsys.readouterr().out == (
        "pending_upload,RegionTwo,small\n"
        "error_checksum,RegionTwo,bigger\n"
        "pending_upload,other:OtherOne,small\n"
        "pending_upload,other:OtherOne,bigger\n"
    )
    assert cloud.writes == []


def test_default_regions_are_the_master_targets_minus_master(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    assert run(cloud, "--show-status") == 0
    regions = [line.split(",")[1] for line in capsys.readouterr().out.splitlines()]
    assert regions == ["RegionThree", "RegionTwo"]


def test_target_prefix_alone_means_all_its_regions(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    cloud.regions_by_target["other"].append("OtherTwo")
    assert run(cloud, "--show-status", "other:") == 0
    assert (
        capsys.readouterr().out
        == "pending_upload,other:OtherOne,a\npending_upload,other:OtherTwo,a\n"
    )


def test_show_status_exit_1_when_a_region_cannot_be_read(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    cloud.failing_regions.add("RegionTwo")
    assert run(cloud, "--show-status", "RegionTwo", "RegionThree") == 1
    assert capsys.readouterr().out == "pending_upload,RegionThree,a\n"


def test_sync_exit_codes(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    assert run(cloud, "RegionTwo") == 0
    assert "RegionTwo: ok; 1 image uploaded" in capsys.readouterr().out
    cloud.add("RegionOne", "b", b"new")
    cloud.add("RegionThree", "b", b"old")
    assert run(cloud, "RegionThree") == 1, "error_checksum left behind"
    assert run(cloud, "--config", "rename=any", "RegionThree") == 0
    assert cloud.one("RegionThree", "b.old").visibility == "private"


def test_config_overrides_and_regions_in_any_order(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a", nid="1")
    cloud.add("RegionOne", "b", b"b")
    condition = "metadata_condition=image.user_properties.get('nid')=='1'"
    assert (
        run(cloud, "--show-status", "--config", "RegionTwo", condition, "master.ignore_regions=X")
        == 0
    )
    assert capsys.readouterr().out == "pending_upload,RegionTwo,a\n"


def test_failing_region_does_not_stop_the_others(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    cloud.failing_regions.add("RegionTwo")
    assert run(cloud, "RegionTwo", "RegionThree") == 1
    assert cloud.one("RegionThree", "a").status == "active"
    out = capsys.readouterr().out
    assert "RegionTwo: FAILED" in out and "RegionThree: ok" in out


def test_master_unreachable_touches_no_region(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.failing_regions.add("RegionOne")
    assert run(cloud, "RegionTwo") == 1
    assert cloud.writes == []
    err = capsys.readouterr().err
    assert "cannot read the master: region RegionOne: unreachable; no region touched" in err


def test_dry_run_json_rows_and_no_writes(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = cloud.add("RegionOne", "a", b"abc", nid="2")
    present = cloud.add("RegionTwo", "a", b"abc", nid="1")
    assert run(cloud, "--dry-run", "--format", "json", "RegionTwo") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row == {
        "status": "pending_metadata",
        "region": "RegionTwo",
        "image": "a",
        "master_id": source.id,
        "region_id": present.id,
        "size": 3,
        "checksum": source.checksum,
        "conversion": None,
        "action": "update_metadata",
        "stores": [],
    }
    assert cloud.writes == []


def test_show_status_json_has_no_action(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"abc")
    assert run(cloud, "--show-status", "--format", "json", "RegionTwo") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert "action" not in row and row["region_id"] is None


def test_show_regions_lists_every_target(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cloud, "--show-regions") == 0
    assert capsys.readouterr().out == "RegionThree RegionTwo other:OtherOne\n"


def test_make_backup_writes_one_file_per_region(
    cloud: MemoryCloud, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionTwo", "a", b"a")
    assert run(cloud, "--make-backup", str(tmp_path / "b"), "RegionTwo", "other:OtherOne") == 0
    names = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert len(names) == 2 and names[0].startswith("backup_RegionTwo_")
    assert names[1].startswith("backup_other_OtherOne_")


def test_interrupt_exits_130(
    cloud: MemoryCloud, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(GlanceSync, "apply", interrupted)
    cloud.add("RegionOne", "a", b"a")
    assert run(cloud, "RegionTwo") == 130


def test_run_lock_held_by_another_run_exits_3(
    cloud: MemoryCloud, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from glancesync.model.region import RegionRef
    from glancesync.runner.regionlock import region_locks

    lock = tmp_path / "sync.lock"
    cloud.add("RegionOne", "a", b"a")
    with region_locks(lock, [RegionRef("master", "RegionTwo")]):
        assert run(cloud, "--config", f"main.lock_file={lock}", "RegionTwo") == 3
        assert run(cloud, "--wait-lock", "0.3", "--config", f"main.lock_file={lock}") == 3
        assert "holds" in capsys.readouterr().err
        assert cloud.writes == []
        # Reports never need the lock: monitoring works during a sync.
        assert run(cloud, "--show-status", "--config", f"main.lock_file={lock}") == 0
    assert run(cloud, "--config", f"main.lock_file={lock}", "RegionTwo") == 0
    assert cloud.one("RegionTwo", "a").status == "active"


def test_unreadable_other_target_does_not_stop_master_regions(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    cloud.failing_regions.add("other")
    assert run(cloud, "RegionTwo", "other:OtherOne", "other:") == 1
    assert cloud.one("RegionTwo", "a").status == "active"
    out = capsys.readouterr().out
    assert "RegionTwo: ok" in out and "other:OtherOne: FAILED" in out


def test_dry_run_has_no_csv_format(cloud: MemoryCloud, config: Path) -> None:
    assert run(cloud, "--dry-run", "--format", "csv") == 2


@pytest.mark.parametrize(
    "override",
    ["main.lock_file=/nonexistent/dir/x.lock", "main.cache_dir=/nonexistent/dir"],
)
def test_unusable_local_paths_are_one_line_errors(
    override: str, cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    assert run(cloud, "--config", override, "RegionTwo", "RegionThree") == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "/nonexistent/dir" in err
    assert cloud.writes == []


def test_lock_file_of_another_user_or_a_link_is_refused(tmp_path: Path) -> None:
    from glancesync.runner.lock import run_lock

    target = tmp_path / "elsewhere"
    link = tmp_path / "sync.lock"
    link.symlink_to(target)
    with pytest.raises(OSError), run_lock(link):
        pass
    assert not target.exists()


def test_config_error_is_the_only_line_even_for_a_readable_file(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config.chmod(0o644)
    assert run(cloud, "--config", "main.max_children=lots") == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_parallel_run_selects_once_and_warns_once(
    config: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cloud = MemoryCloud()
    cloud.add("RegionOne", "odd", b"x")
    logs = tmp_path / "logs"
    argv = [
        "--dry-run",
        "--parallel",
        "--config",
        "main.max_children=2",
        f"main.log_dir={logs}",
        "master.metadata_condition=image.user_properties['nid'] == '1'",
        "RegionTwo",
        "RegionThree",
    ]
    assert run(cloud, *argv) == 0
    seen = capfd.readouterr().err + "".join(p.read_text() for p in logs.rglob("*.log"))
    assert len(list(logs.rglob("*.log"))) == 2
    assert seen.count("metadata_condition failed for image 'odd'") == 1


def test_the_command_line_loads_prometheus_client_only_for_a_metrics_file() -> None:
    import subprocess
    import sys

    code = "import sys, glancesync.cli; print('prometheus_client' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
