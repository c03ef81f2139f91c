"""The run lock: two syncs must never write to the same regions at once.

``flock`` is held on the lock file for the whole run. The kernel drops it
when the process dies, however it dies, so a killed run never blocks the
next one, and there is no stale pid file to clean up.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from glancesync.model.errors import GlanceSyncError

POLL_SECONDS = 0.2
#: What a lock file written by glancesync holds: a pid line, or nothing.
_OUR_CONTENT = re.compile(rb"\d{0,20}\n?")


class LockBusy(GlanceSyncError):
    """Another run holds the lock (exit code 3)."""


def default_lock_path() -> Path:
    """Per user, in a directory only that user can write to.

    ``$XDG_RUNTIME_DIR/glancesync.lock`` in a login session, else
    ``~/.glancesync.lock`` (cron has no runtime directory). Never the shared
    temp directory, where another user could hold the lock or plant a link.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "glancesync.lock"
    return Path.home() / ".glancesync.lock"


@contextmanager
def run_lock(path: str | os.PathLike[str], wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the lock, waiting up to ``wait_seconds`` for it; raise LockBusy otherwise.

    An existing file is never truncated or opened with ``O_TRUNC``: the pid
    is written only to a file that is empty or holds a pid, so a
    ``lock_file`` pointed at a file by mistake keeps its content. Every
    error names the path (``test/unit/test_lock.py``).
    """
    target = Path(path)
    try:
        # O_NOFOLLOW: a link planted where the lock should be is never followed.
        # O_NONBLOCK: a FIFO or a device there cannot hang the run.
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o600)
    except OSError as error:
        raise OSError(
            error.errno, f"cannot open lock file: {error.strerror}", str(target)
        ) from None
    status = os.fstat(fd)
    if status.st_uid != os.getuid():
        os.close(fd)
        raise OSError(0, "lock file belongs to another user", str(target))
    if not stat.S_ISREG(status.st_mode):
        os.close(fd)
        raise OSError(0, "lock file is not a regular file", str(target))
    try:
        deadline = time.monotonic() + max(0.0, wait_seconds)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    content = os.pread(fd, 32, 0)
                    holder = content.decode().strip() if _OUR_CONTENT.fullmatch(content) else ""
                    raise LockBusy(
                        f"another glancesync run (pid {holder or '?'}) holds {target}"
                    ) from None
                time.sleep(POLL_SECONDS)
        _write_pid(fd, target)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def _write_pid(fd: int, target: Path) -> None:
    """Our pid, for the message of a run that finds the lock held; only
    into a file that holds a pid or nothing, never over other content."""
    try:
        if _OUR_CONTENT.fullmatch(os.pread(fd, 32, 0)):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as error:
        raise OSError(
            error.errno, f"cannot write lock file: {error.strerror}", str(target)
        ) from None
