"""What an operator reads: summaries, errors once, locks, hints; stdout and stderr apart."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from glancesync import cli, console
from glancesync.model.region import RegionRef
from glancesync.runner.regionlock import region_lock_path, region_locks
from glancesync.testing.memcloud import MemoryCloud
from glancesync.transfer import progress
from test.unit.conftest import CONFIG


@pytest.fixture
def lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The [main] lock_file of the configuration; the config is in $GLANCESYNC_CONFIG."""
    base = tmp_path / "sync.lock"
    path = tmp_path / "glancesync.conf"
    path.write_text(CONFIG.replace("[main]\n", f"[main]\nlock_file = {base}\n", 1))
    path.chmod(0o600)
    monkeypatch.setenv("GLANCESYNC_CONFIG", str(path))
    monkeypatch.chdir(tmp_path)
    return base


def run(cloud: MemoryCloud, *argv: str) -> int:
    return cli.main(list(argv), facade_factory=lambda settings: cloud)


def master(name: str) -> RegionRef:
    return RegionRef("master", name)


# -- summaries -------------------------------------------------------------


def test_an_image_in_error_checksum_is_the_reason_of_failed(
    cloud: MemoryCloud, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "b", b"new")
    cloud.add("RegionThree", "b", b"old")
    assert run(cloud, "RegionThree") == 1
    out, err = capsys.readouterr()
    assert out == (
        "RegionThree: FAILED; 0 images uploaded, 0.0 MB in 0.0 s (0.0 MB/s), 0 steps, "
        "0 failed; 1 image in error_checksum: b\n"
    )
    assert "FAILED" not in err, "the summary stays on stdout"


def test_counts_have_their_plurals(
    cloud: MemoryCloud, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    cloud.add("RegionOne", "b", b"b")
    assert run(cloud, "RegionTwo") == 0
    out = capsys.readouterr().out
    assert out.startswith("RegionTwo: ok; 2 images uploaded, ")
    assert out.endswith(", 2 steps, 0 failed\n")


def test_a_failed_step_is_named_in_the_summary_and_logged_once(
    cloud: MemoryCloud, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    cloud.corrupt_uploads.add("RegionTwo")
    assert run(cloud, "RegionTwo") == 1
    out, err = capsys.readouterr()
    assert out.startswith("RegionTwo: FAILED; 0 images uploaded, ")
    assert ", 1 step, 1 failed; first failure: upload a: " in out
    reason = out.split("first failure: upload a: ")[1].strip()
    assert err.count(reason) == 1 and "FAILED" not in err


def test_a_region_error_is_once_on_stderr_and_in_the_documented_form_on_stdout(
    cloud: MemoryCloud, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    cloud.failing_regions.add("RegionTwo")
    assert run(cloud, "RegionTwo", "RegionThree") == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "RegionTwo: FAILED; region error: unreachable"
    assert out.splitlines()[1].startswith("RegionThree: ok; 1 image uploaded")
    assert err.count("unreachable") == 1
    assert "ok;" not in err, "the summary stays on stdout"


def test_an_unreadable_target_is_once_on_stderr(
    cloud: MemoryCloud, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    cloud.failing_regions.add("other")
    assert run(cloud, "other:", "RegionTwo") == 1
    out, err = capsys.readouterr()
    assert "other:: FAILED; region error: 401 authentication failed\n" in out
    assert err.count("401 authentication failed") == 1


def test_a_master_that_cannot_be_read_is_not_called_unreachable_when_it_is_not(
    cloud: MemoryCloud, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.failing_regions.add("master")
    assert run(cloud, "RegionTwo") == 1
    out, err = capsys.readouterr()
    assert out == "" and "unreachable" not in err
    assert "cannot read the master: region master:: 401 authentication failed" in err


# -- region locks ----------------------------------------------------------


def test_a_sync_of_other_regions_proceeds_while_one_region_is_locked(
    cloud: MemoryCloud, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    with region_locks(lock, [master("RegionTwo")]):
        assert run(cloud, "RegionThree", "other:OtherOne") == 0
        assert capsys.readouterr().out.count(": ok;") == 2
        assert run(cloud, "RegionThree", "RegionTwo") == 3
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith("glancesync: another glancesync run (pid ")
        assert err.rstrip().endswith("(region RegionTwo)") and len(err.splitlines()) == 1
    assert cloud.named("RegionTwo", "a") == []
    assert cloud.one("RegionThree", "a").status == "active"
    assert run(cloud, "RegionTwo") == 0


def test_a_whole_target_overlaps_its_locked_region(
    cloud: MemoryCloud, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    with region_locks(lock, [RegionRef("other", "OtherOne")]):
        assert run(cloud, "RegionTwo", "other:") == 3
        assert cloud.writes == []
        assert run(cloud) == 0, "the default regions are the master target's: disjoint"
    assert cloud.one("RegionTwo", "a").status == "active"
    assert cloud.named("other:OtherOne", "a") == []


def test_wait_lock_says_it_waits_and_how_long_it_waited(
    cloud: MemoryCloud, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    with region_locks(lock, [master("RegionTwo")]):
        assert run(cloud, "--wait-lock", "0.3", "RegionTwo") == 3
    out, err = capsys.readouterr()
    waiting = [line for line in err.splitlines() if "waiting up to 0.3 s" in line]
    assert len(waiting) == 1 and " INFO " in waiting[0]
    assert "gave up after waiting 0." in err and "(region RegionTwo)" in err
    assert out == "" and cloud.writes == []


def test_region_lock_files_are_safe_names_beside_the_lock_file(tmp_path: Path) -> None:
    base = tmp_path / "sync.lock"
    hostile = RegionRef("other", "../../etc/passwd\nx")
    path = region_lock_path(base, hostile)
    assert path.parent == tmp_path
    assert path.name.startswith("sync.lock.other_..%2F..%2Fetc%2Fpasswd%0Ax-")
    assert region_lock_path(base, RegionRef("other", "a.b")) != region_lock_path(
        base, RegionRef("other", "a_b")
    ), "names that look alike get different files"
    with region_locks(base, [hostile, master("RegionTwo")]):
        assert sorted(p.parent for p in tmp_path.iterdir()) == [tmp_path, tmp_path]


def test_overlapping_region_sets_taken_in_any_order_refuse(tmp_path: Path) -> None:
    from glancesync.runner.lock import LockBusy

    base = tmp_path / "sync.lock"
    with region_locks(base, [master("B"), master("A")]):
        with pytest.raises(LockBusy), region_locks(base, [master("C"), master("B")]):
            pass
        with region_locks(base, [master("C")]):
            pass


# -- small things ----------------------------------------------------------


def test_an_unknown_region_gets_the_known_ones_and_a_case_hint(
    cloud: MemoryCloud, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cloud, "regiontwo") == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "glancesync: error: unknown region 'regiontwo': no image endpoint in target "
        "'master' (did you mean RegionTwo?); known: RegionOne, RegionThree, RegionTwo\n"
    )
    assert run(cloud, "other:Elsewhere") == 2
    assert "known: OtherOne\n" in capsys.readouterr().err


def test_make_backup_never_takes_a_region_name_for_a_directory(
    cloud: MemoryCloud, lock: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionTwo", "a", b"a")
    assert run(cloud, "--make-backup", "RegionTwo") == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert "--make-backup . RegionTwo" in err and "--make-backup ./RegionTwo" in err
    assert not (tmp_path / "RegionTwo").exists()
    assert run(cloud, "--make-backup", ".", "RegionTwo") == 0
    assert capsys.readouterr().out.startswith("RegionTwo: backup_RegionTwo_")
    assert run(cloud, "--make-backup", "./RegionTwo", "RegionTwo") == 0
    assert len(list((tmp_path / "RegionTwo").glob("backup_RegionTwo_*.jsonl"))) == 1


def test_parallel_with_one_child_says_so_once(
    cloud: MemoryCloud, lock: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.add("RegionOne", "a", b"a")
    assert run(cloud, "--parallel", "--quiet", "RegionTwo", "RegionThree") == 0
    out, err = capsys.readouterr()
    assert err.count("WARNING --parallel with [main] max_children = 1: the regions run one") == 1
    assert len(err.splitlines()) == 1 and out.count(": ok;") == 2


# -- logging ----------------------------------------------------------------

_REFUSED = (
    "Failure: Unable to establish connection to http://127.0.0.1:5999/v3/auth/tokens: "
    "HTTPConnectionPool(host='127.0.0.1', port=5999): Max retries exceeded with url: "
    "/v3/auth/tokens (Caused by NewConnectionError(\"HTTPConnection(host='127.0.0.1', "
    'port=5999): Failed to establish a new connection: [Errno 111] Connection refused")). '
    "Retrying in {delay}s. {left} retries left"
)


def _library_retries(series: int) -> None:
    """What keystoneauth logs while a dead endpoint is tried ``series`` times."""
    library = logging.getLogger("keystoneauth.session")
    for _ in range(series):
        for delay, left in (("0.5", 3), ("1.0", 2), ("2.0", 1)):
            library.warning(_REFUSED.format(delay=delay, left=left))
    library.warning("Retriable status code 503. Retrying in 0.5s. 3 retries left")
    library.warning("Retriable status code 503. Retrying in 1.0s. 2 retries left")
    logging.getLogger("glancesync.engine.apply").warning("[RegionTwo] something of ours")


@pytest.fixture
def stderr(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """A stream set as sys.stderr by ``setup`` (pytest resets sys.stderr after fixtures)."""
    screen = io.StringIO()

    def setup(verbose: int, quiet: bool) -> None:
        monkeypatch.setattr("sys.stderr", screen)
        console.setup_logging(verbose, quiet)

    screen.setup = setup  # type: ignore[attr-defined]
    return screen


def test_library_retries_are_one_line_per_endpoint_and_series(stderr: io.StringIO) -> None:
    stderr.setup(0, False)  # type: ignore[attr-defined]
    _library_retries(series=2)
    lines = [line.split(" ", 3)[3] for line in stderr.getvalue().splitlines()]
    refused = (
        "cannot connect to http://127.0.0.1:5999: Connection refused; "
        "retrying up to 3 times (-v shows each attempt)"
    )
    assert lines == [
        refused,
        refused,
        "a server answered HTTP 503; retrying up to 3 times (-v shows each attempt)",
        "[RegionTwo] something of ours",
    ]


def test_verbose_shows_every_library_attempt(stderr: io.StringIO) -> None:
    stderr.setup(1, False)  # type: ignore[attr-defined]
    _library_retries(series=1)
    assert stderr.getvalue().count("Retrying in") == 5


def test_quiet_shows_only_glancesyncs_own_warnings(stderr: io.StringIO) -> None:
    stderr.setup(0, True)  # type: ignore[attr-defined]
    _library_retries(series=2)
    logging.getLogger("glancesync").info("progress of ours")
    (line,) = stderr.getvalue().splitlines()
    assert line.endswith(" WARNING [RegionTwo] something of ours")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_or_a_parallel_child_draws_no_bar(
    quiet: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = _Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    monkeypatch.setattr(progress, "_bars_allowed", True)
    console.setup_logging(verbose=0, quiet=quiet)
    logging.getLogger().handlers[:] = []  # only the bar could write to the screen now
    if not quiet:
        progress.disable_bars()
    assert b"".join(progress.tracked([b"x" * 1000] * 3, 3000, "img")) == b"x" * 3000
    assert screen.getvalue() == ""


def test_a_parallel_child_is_told_to_draw_no_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glancesync.runner.regions import RegionReport, run_parallel

    monkeypatch.setattr(progress, "_bars_allowed", True)

    def work(region: RegionRef) -> RegionReport:
        return RegionReport(region.full, False, text=f"bars allowed: {progress._bars_allowed}")

    reports = run_parallel([master("RegionTwo"), master("RegionThree")], work, 2, tmp_path)
    assert [r.text for r in reports] == ["bars allowed: False"] * 2
    assert progress._bars_allowed, "the parent may still draw"
