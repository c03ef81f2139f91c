"""Which local ports are taken, and by whom (stdlib only, Linux /proc).

A cloud that cannot bind its ports would fail deep inside uWSGI's log; the
check before starting names the process that holds each busy port instead.
"""

import contextlib
import os
import shutil
import socket
import subprocess


def in_use(host: str, port: int) -> bool:
    """True if something listens on host:port (a bind with SO_REUSEADDR fails only then)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _listening_inodes(port):
    """Socket inodes listening on `port`, from /proc/net/tcp and tcp6 (state 0A = LISTEN)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                listening = len(fields) > 9 and fields[3] == "0A"
                if listening and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            words = f.read().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(w.decode(errors="replace") for w in words[:2] if w)
    with contextlib.suppress(OSError):
        text += f", in {os.readlink(f'/proc/{pid}/cwd')}"  # a devcloud server: its state dir
    return text


def holder(port: int) -> str | None:
    """A short description of the process listening on `port`, for an error message."""
    inodes = _listening_inodes(port)
    targets = {f"socket:[{i}]" for i in inodes}
    pids = []
    for entry in os.listdir("/proc") if targets else ():
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{entry}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{entry}/fd/{fd}") in targets:
                        pids.append(int(entry))
                        break
    if pids:
        pid = min(pids)  # uWSGI's master is older than its workers
        return f"pid {pid} ({_cmdline(pid)})"
    if shutil.which("ss"):
        done = subprocess.run(
            ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False
        )
        if done.stdout.strip():
            return " ".join(done.stdout.split())
    return "a process this user cannot see" if inodes else "unknown (not listening any more?)"
