"""The metrics file and ``--report``: what a run leaves for an operator, on the in-memory cloud.

The metrics file is read back with prometheus_client's own parser, and the
report is checked against what the regions hold after the run.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from glancesync.model.storage import RegionOffer
from glancesync.testing.memcloud import MemoryCloud
from test.unit.conftest import CONFIG, run

LAST = "glancesync_region_last_success_timestamp_seconds"


@pytest.fixture
def prom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A configuration with a metrics file; returns the metrics file's path."""
    metrics = tmp_path / "textfile" / "glancesync.prom"
    metrics.parent.mkdir()
    path = tmp_path / "glancesync.conf"
    path.write_text(CONFIG.replace("[master]", f"metrics_file = {metrics}\n[master]", 1))
    path.chmod(0o600)
    monkeypatch.setenv("GLANCESYNC_CONFIG", str(path))
    monkeypatch.chdir(tmp_path)
    return metrics


def samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the file: (name, sorted labels) -> value."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found[(name, tuple(sorted(labels.items())))]


def test_a_sync_writes_its_figures_for_the_textfile_collector(
    cloud: MemoryCloud, prom: Path
) -> None:
    cloud.add("RegionOne", "a", b"a" * 1000)
    cloud.add("RegionOne", "b", b"b" * 3000)
    cloud.add("RegionOne", "c", b"c" * 10)
    cloud.add("RegionTwo", "c", b"c" * 10)
    before = time.time()
    assert run(cloud, "RegionTwo", "RegionThree") == 0
    found = samples(prom)
    for region, uploaded, sent, ok in (("RegionTwo", 2, 4000, 1), ("RegionThree", 3, 4010, 0)):
        assert value(found, "glancesync_region_images_uploaded", region=region) == uploaded
        assert value(found, "glancesync_region_uploaded_bytes", region=region) == sent
        assert value(found, "glancesync_region_images", region=region, status="pending_upload") == (
            uploaded
        )
        if ok:
            assert value(found, "glancesync_region_images", region=region, status="ok") == ok
        assert value(found, "glancesync_region_errors", region=region) == 0
        assert value(found, "glancesync_region_duration_seconds", region=region) >= 0
        assert before <= value(found, LAST, region=region) <= time.time()
    assert value(found, "glancesync_run_exit_code", mode="sync") == 0
    assert prom.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in prom.parent.iterdir()] == ["glancesync.prom"], "no temp file left"


def test_last_success_survives_failing_runs_and_reports(
    cloud: MemoryCloud, prom: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    assert run(cloud, "RegionTwo", "RegionThree") == 0
    first = samples(prom)
    two, three = (value(first, LAST, region=r) for r in ("RegionTwo", "RegionThree"))

    cloud.add("RegionOne", "b", b"b")
    cloud.failing_regions.add("RegionTwo")
    time.sleep(0.01)
    assert run(cloud, "RegionTwo") == 1
    failed = samples(prom)
    assert value(failed, LAST, region="RegionTwo") == two, "kept from the previous file"
    assert value(failed, LAST, region="RegionThree") == three, "a region not in this run"
    assert value(failed, "glancesync_region_errors", region="RegionTwo") == 1
    assert value(failed, "glancesync_run_exit_code", mode="sync") == 1

    assert run(cloud, "--dry-run", "RegionThree") == 0
    dry = samples(prom)
    assert value(dry, LAST, region="RegionThree") == three, "a dry-run is no sync"
    assert (
        value(dry, "glancesync_region_images", region="RegionThree", status="pending_upload") == 1
    )
    assert value(dry, "glancesync_run_exit_code", mode="dry-run") == 0

    cloud.failing_regions.clear()
    assert run(cloud, "--show-status", "RegionTwo") == 0
    assert value(samples(prom), LAST, region="RegionTwo") == two
    assert run(cloud, "RegionTwo") == 0
    assert value(samples(prom), LAST, region="RegionTwo") > two
    capsys.readouterr()


def test_the_report_says_what_the_regions_now_hold(
    cloud: MemoryCloud, prom: Path, tmp_path: Path
) -> None:
    cloud.add("RegionOne", "small", b"s" * 100)
    cloud.add("RegionOne", "big", b"b" * 5000)
    cloud.add("RegionOne", "kept", b"k")
    cloud.add("RegionOne", "meta", b"m", nid="2")
    cloud.add("RegionOne", "broken", b"x" * 10)
    cloud.add("RegionTwo", "kept", b"k")
    cloud.add("RegionTwo", "meta", b"m", nid="1")
    cloud.corrupt_uploads.add("RegionThree")
    report = tmp_path / "report.json"
    assert run(cloud, "--report", str(report), "RegionTwo", "RegionThree") == 1
    document = json.loads(report.read_text())
    assert document["mode"] == "sync" and document["exit_code"] == 1
    regions = {r["region"]: r for r in document["regions"]}

    two = regions["RegionTwo"]
    assert two["synced"] is True and two["errors"] == 0
    rows: dict[str, Any] = {row["image"]: row for row in two["images"]}
    for name in ("small", "big", "broken"):
        row = rows[name]
        held = cloud.one("RegionTwo", name)
        assert (row["action"], row["result"], row["method"]) == ("upload", "ok", "stream")
        assert row["bytes"] == held.size == cloud.one("RegionOne", name).size
        assert row["status"] == "pending_upload" and row["error"] == ""
        assert row["seconds"] > 0
        assert row["mb_per_s"] == pytest.approx(row["bytes"] / 1e6 / row["seconds"])
    assert rows["meta"]["action"] == "update_metadata" and rows["meta"]["result"] == "ok"
    assert cloud.one("RegionTwo", "meta").properties["nid"] == "2"
    assert "kept" not in rows, "an image in sync is only counted"
    assert two["bytes_uploaded"] == sum(rows[n]["bytes"] for n in ("small", "big", "broken"))
    assert two["statuses"] == {"ok": 1, "pending_metadata": 1, "pending_upload": 3}

    three = regions["RegionThree"]
    assert three["synced"] is False and three["errors"] == 5
    failed = [row for row in three["images"] if row["result"] == "failed"]
    assert {row["image"] for row in failed} == {"small", "big", "broken", "kept", "meta"}
    assert all("verification failed" in row["error"] for row in failed)
    assert cloud.named("RegionThree", "big") == [], "nothing left of a failed upload"


def test_figures_cross_from_parallel_children(
    cloud: MemoryCloud, prom: Path, tmp_path: Path
) -> None:
    cloud.add("RegionOne", "a", b"a" * 700)
    report = tmp_path / "report.json"
    argv = ["--parallel", "--config", "main.max_children=2", f"main.log_dir={tmp_path / 'logs'}"]
    assert run(cloud, *argv, "--report", str(report), "RegionTwo", "RegionThree") == 0
    document = json.loads(report.read_text())
    assert [r["region"] for r in document["regions"]] == ["RegionTwo", "RegionThree"]
    for region in document["regions"]:
        (row,) = region["images"]
        assert (row["image"], row["result"], row["bytes"]) == ("a", "ok", 700)
        assert value(
            samples(prom), "glancesync_region_uploaded_bytes", region=region["region"]
        ) == (700)


def test_metrics_file_must_end_in_prom(
    cloud: MemoryCloud, prom: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cloud, "--config", "main.metrics_file=/tmp/glancesync.txt", "RegionTwo") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metrics_file" in err and ".prom" in err


def test_an_unwritable_metrics_file_is_one_line_and_exit_1(
    cloud: MemoryCloud, prom: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    missing = tmp_path / "no-such-dir" / "g.prom"
    assert run(cloud, "-q", "--config", f"main.metrics_file={missing}", "RegionTwo") == 1
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if "metrics_file" in line]
    assert f"cannot write metrics_file {missing}: No such file or directory" in line
    assert "Traceback" not in err
    assert cloud.one("RegionTwo", "a").status == "active", "the sync itself was done"


def test_the_report_names_how_each_upload_travelled(
    cloud: MemoryCloud, prom: Path, tmp_path: Path
) -> None:
    cloud.add("RegionOne", "a", b"a" * 900)
    report = tmp_path / "report.json"
    assert run(cloud, "--report", str(report), "RegionTwo", "RegionThree") == 0
    rows = {r["region"]: r["images"][0] for r in json.loads(report.read_text())["regions"]}
    assert rows["RegionTwo"]["method"] == "stream", "read from the master"
    assert rows["RegionThree"]["method"] == "spool", "the run's verified copy"
    assert rows["RegionThree"]["bytes"] == 900
    assert cloud.downloads == [("RegionOne", "a")], "the master was read once"

    cloud.add("RegionOne", "b", b"b" * 500)
    argv = ["--config", "master.transfer=glance-download", "--report", str(report), "RegionTwo"]
    assert run(cloud, *argv) == 0
    (region,) = json.loads(report.read_text())["regions"]
    row = next(r for r in region["images"] if r["image"] == "b")
    assert (row["method"], row["bytes"], row["result"]) == ("glance-download", 0, "ok")
    assert cloud.one("RegionTwo", "b").size == 500
    assert value(samples(prom), "glancesync_region_uploaded_bytes", region="RegionTwo") == 0


def test_in_a_fan_out_one_upload_streams_the_master_and_the_others_read_the_spool(
    cloud: MemoryCloud, prom: Path, tmp_path: Path
) -> None:
    cloud.add("RegionOne", "a", b"a" * 5000)
    report = tmp_path / "report.json"
    argv = ["--config", "main.fan_out=2", "--report", str(report), "RegionTwo", "RegionThree"]
    assert run(cloud, *argv) == 0
    rows = [r["images"][0] for r in json.loads(report.read_text())["regions"]]
    assert sorted(r["method"] for r in rows) == ["spool", "stream"]
    assert [r["bytes"] for r in rows] == [5000, 5000]
    assert cloud.downloads == [("RegionOne", "a")], "one read of the master for both"


def _qcow2(tmp: Path) -> bytes:
    """A real (small) qcow2 image, for qemu-img to convert."""
    raw = tmp / "disk.raw"
    with raw.open("wb") as out:
        out.truncate(1 << 20)
        out.write(b"glancesync" * 3000)
    made = tmp / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, made], check=True)
    return made.read_bytes()


def test_the_report_names_conversions_store_uploads_and_store_copies(
    cloud: MemoryCloud, prom: Path, tmp_path: Path
) -> None:
    data = _qcow2(tmp_path)
    cloud.add("RegionOne", "q", data, disk_format="qcow2")
    cloud.converting.add("RegionTwo")
    cloud.offers["RegionThree"] = RegionOffer(("copy-image",))
    report = tmp_path / "report.json"
    formats = "master.disk_format_regions=RegionTwo:raw, RegionThree:raw"
    argv = ["--config", formats, "--report", str(report), "RegionTwo", "RegionThree"]
    assert run(cloud, *argv) == 0
    rows = {r["region"]: r["images"][0] for r in json.loads(report.read_text())["regions"]}
    two, three = rows["RegionTwo"], rows["RegionThree"]
    assert (two["method"], two["read"], two["bytes"]) == ("convert-region", "stream", len(data))
    assert (three["method"], three["read"]) == ("convert-local", "spool")
    assert three["bytes"] == cloud.one("RegionThree", "q").size != len(data), "converted bytes"
    assert cloud.one("RegionThree", "q").disk_format == "raw"

    cloud = MemoryCloud()
    cloud.add("RegionOne", "s", b"s" * 700)
    stores = ("glance-direct", "copy-image")
    cloud.offers["RegionTwo"] = RegionOffer(stores, ("fs", "fs2"), None)
    argv = ["--config", "master.stores=fs", "--report", str(report), "RegionTwo"]
    assert run(cloud, *argv) == 0
    (region,) = json.loads(report.read_text())["regions"]
    (row,) = [r for r in region["images"] if r["image"] == "s"]
    assert (row["method"], row["read"], row["bytes"]) == ("store", "stream", 700)
    argv = ["--config", "master.stores=fs, fs2", "--report", str(report), "RegionTwo"]
    assert run(cloud, *argv) == 0
    (region,) = json.loads(report.read_text())["regions"]
    (row,) = [r for r in region["images"] if r["image"] == "s"]
    assert (row["action"], row["method"], row["read"], row["bytes"]) == (
        "copy_stores (fs2)",
        "copy-image",
        "",
        0,
    )


def test_report_usage_and_an_unwritable_report(
    cloud: MemoryCloud, prom: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cloud, "--show-regions", "--report", str(tmp_path / "r.json")) == 2
    assert "--report goes with a sync, --dry-run or --show-status" in capsys.readouterr().err
    cloud.add("RegionOne", "a", b"a")
    missing = tmp_path / "nowhere" / "r.json"
    assert run(cloud, "--show-status", "--report", str(missing), "RegionTwo") == 1
    (line,) = [x for x in capsys.readouterr().err.splitlines() if "--report" in x]
    assert f"cannot write --report {missing}: No such file or directory" in line
    report = tmp_path / "r.json"
    assert run(cloud, "--show-status", "--report", str(report), "RegionTwo") == 0
    assert report.stat().st_mode & 0o777 == 0o600
    (region,) = json.loads(report.read_text())["regions"]
    assert region["images"] == [
        {
            "image": "a",
            "status": "pending_upload",
            "action": "upload",
            "result": "planned",
            "method": "",
            "bytes": 0,
            "seconds": 0.0,
            "error": "",
            "read": "",
            "mb_per_s": 0.0,
        }
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.json")] == []


def test_a_run_stopped_by_a_lock_keeps_every_last_success(
    cloud: MemoryCloud, prom: Path, tmp_path: Path
) -> None:
    from glancesync.model.region import RegionRef
    from glancesync.runner.regionlock import region_locks

    cloud.add("RegionOne", "a", b"a")
    assert run(cloud, "RegionTwo") == 0
    last = value(samples(prom), LAST, region="RegionTwo")
    lock = tmp_path / "sync.lock"
    with region_locks(str(lock), [RegionRef("master", "RegionTwo")], 0.0):
        assert run(cloud, "--config", f"main.lock_file={lock}", "RegionTwo") == 3
    found = samples(prom)
    assert value(found, "glancesync_run_exit_code", mode="sync") == 3
    assert value(found, LAST, region="RegionTwo") == last
    assert not [k for k in found if k[0] == "glancesync_region_errors"]


def test_a_damaged_previous_file_is_replaced_not_fatal(
    cloud: MemoryCloud, prom: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prom.write_text('glancesync_region_last_success_timestamp_seconds{region="RegionTwo" 1\n')
    cloud.add("RegionOne", "a", b"a")
    assert run(cloud, "--show-status", "RegionTwo") == 0
    assert "previous figures unreadable" in capsys.readouterr().err
    found = samples(prom)
    assert not [k for k in found if k[0] == LAST], "nothing made up from the damaged file"
    assert value(found, "glancesync_run_exit_code", mode="show-status") == 0
