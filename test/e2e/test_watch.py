"""On the real servers: a sync's metrics file and ``--report`` agree with Glance's own answers.

Glance is asked with its own client (not through glancesync) what each
region holds after the run; the metrics file is read with
prometheus_client's parser.
"""

from __future__ import annotations

import json
import time

from prometheus_client.parser import text_string_to_metric_families

from test.e2e.conftest import Env

REGIONS = ("RegionTwo", "RegionThree")


def test_sync_metrics_and_report_match_what_glance_holds(env: Env) -> None:
    small = env.glance.create("RegionOne", env.name("small"), env.data("s", 2000))
    big = env.glance.create("RegionOne", env.name("big"), env.data("b", 700_000))
    env.glance.create("RegionTwo", env.name("small"), env.data("s", 2000))
    metrics = env.tmp / "textfile" / "glancesync.prom"
    metrics.parent.mkdir()
    report = env.tmp / "report.json"
    before = time.time()
    run = env.sync(
        "--report",
        str(report),
        *REGIONS,
        config=env.config(main={"metrics_file": str(metrics)}),
    )
    assert run.code == 0, run.stderr

    document = json.loads(report.read_text())
    assert document["mode"] == "sync" and document["exit_code"] == 0
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.read_text())
        for s in family.samples
    }
    expected_uploads = {"RegionTwo": [big], "RegionThree": [small, big]}
    for region in document["regions"]:
        name = region["region"]
        uploads = [row for row in region["images"] if row["action"] == "upload"]
        assert sorted(row["image"] for row in uploads) == sorted(
            i["name"] for i in expected_uploads[name]
        )
        for row in uploads:
            held = env.glance.one(name, row["image"])
            source = env.glance.one("RegionOne", row["image"])
            assert row["result"] == "ok" and row["error"] == ""
            assert row["method"] in ("stream", "spool")
            assert row["bytes"] == held["size"] == source["size"]
            assert held["os_hash_value"] == source["os_hash_value"]
            assert held["status"] == "active"
        assert region["bytes_uploaded"] == sum(row["bytes"] for row in uploads)
        labels = (("region", name),)
        assert samples[("glancesync_region_uploaded_bytes", labels)] == region["bytes_uploaded"]
        assert samples[("glancesync_region_images_uploaded", labels)] == len(uploads)
        assert samples[("glancesync_region_errors", labels)] == 0
        assert before <= samples[("glancesync_region_last_success_timestamp_seconds", labels)]
    assert samples[("glancesync_run_exit_code", (("mode", "sync"),))] == 0
    # the spool served the second region: the master was read once per image
    methods = [row["method"] for r in document["regions"] for row in r["images"] if row["bytes"]]
    assert methods.count("stream") == 2 and methods.count("spool") == 1

    status = env.sync(
        "--show-status", *REGIONS, config=env.config(main={"metrics_file": str(metrics)})
    )
    assert status.code == 0
    after = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.read_text())
        for s in family.samples
    }
    for name in REGIONS:
        assert after[("glancesync_region_images", (("region", name), ("status", "ok")))] == 2
        key = ("glancesync_region_last_success_timestamp_seconds", (("region", name),))
        assert after[key] == samples[key], "a --show-status keeps the last sync's time"
