"""Every test is hermetic: the run lock, spool, caches and logs are the test's own.

glancesync's defaults put the run lock in ``$XDG_RUNTIME_DIR`` or the home
directory, and ``--parallel`` logs in the current directory. Each test gets a
home, a runtime directory and a working directory of its own under its tmp
dir, so two test runs on one host (or a test run and a real sync) never
meet, and nothing is left in the user's home.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.chdir(home)
    return home
