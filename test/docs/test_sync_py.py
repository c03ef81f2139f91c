"""``./sync.py`` of a checkout runs without activating the checkout's ``.venv``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from glancesync import __version__

ROOT = Path(__file__).resolve().parents[2]


def _checkout(tmp_path: Path, with_venv: bool) -> Path:
    """sync.py and the package, with ``.venv`` standing for the environment of this test run."""
    shutil.copy(ROOT / "sync.py", tmp_path / "sync.py")
    (tmp_path / "glancesync").symlink_to(ROOT / "glancesync")
    if with_venv:
        (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    return tmp_path / "sync.py"


def _run_without_site_packages(script: Path) -> subprocess.CompletedProcess[str]:
    # -S: no site-packages, as for a system Python that lacks the dependencies.
    return subprocess.run(
        [sys.executable, "-S", str(script), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sync_py_runs_itself_again_with_the_checkouts_venv(tmp_path: Path) -> None:
    done = _run_without_site_packages(_checkout(tmp_path, with_venv=True))
    assert (done.returncode, done.stdout, done.stderr) == (0, f"glancesync {__version__}\n", "")


def test_without_a_venv_sync_py_says_what_to_run(tmp_path: Path) -> None:
    done = _run_without_site_packages(_checkout(tmp_path, with_venv=False))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("glancesync: error: No module named ")
    assert "run `make venv`" in done.stderr and len(done.stderr.splitlines()) == 1
