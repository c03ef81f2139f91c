"""Every test is hermetic: the run lock, spool, caches and logs are the test's own.

glancesync's defaults put the run lock in ``$XDG_RUNTIME_DIR`` or the home
directory, and ``--parallel`` logs in the current directory. Each test gets a
home, a runtime directory and a working directory of its own under its tmp
dir, so two test runs on one host (or a test run and a real sync) never
meet, and nothing is left in the user's home.
"""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture(autouse=True)
def _own_logging() -> Iterator[None]:
    """The command sets up logging for the whole process (root handler, the
    client libraries' levels); each test gets back what it found, so no test
    depends on which ran before it."""
    import logging

    from glancesync.console import LIBRARY_LOGGERS

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    levels = {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    yield
    root.handlers[:], root.level = saved
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
