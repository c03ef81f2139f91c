"""The devcloud command line (see the package docstring): python3 -m tools.devcloud ..."""

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time

from tools.devcloud import clientfiles, topology
from tools.devcloud.servers import (
    RUNNING,
    DevcloudError,
    check_ports_free,
    ensure_venv,
    health_url,
    http_ok,
    prepare_all,
    quiet,
    read_pid,
    read_text,
    running_pid,
    sdir,
    start_server,
    stop_servers,
    tail,
    venv_bin,
    wait_ready,
    write,
)
from tools.devcloud.topology import KEYSTONES, REPO, STATE_FILE

KS = [k.name for k in KEYSTONES]


def registration_mark(lay, ks):
    """Content of ksN/.registered: changes whenever the endpoints to register change, so
    an `up` on a cloud registered by an older devcloud adds what is new."""
    wanted = lay.image_endpoints(ks, lay.faults_in_catalog)
    return hashlib.sha256(repr(wanted).encode()).hexdigest()[:16] + "\n"


def is_registered(lay, ks):
    return read_text(os.path.join(sdir(lay, ks), ".registered")) == registration_mark(lay, ks)


def venv_python(lay, *args, log=None):
    """Run tools/devcloud/register.py under the cloud's venv (it needs openstacksdk)."""
    cmd = [venv_bin(lay, "python"), "-m", "tools.devcloud.register", lay.state, *args]
    if log is None:
        return subprocess.Popen(cmd, cwd=REPO)
    with open(log, "a") as out:  # the child keeps its own copy of the fd
        return subprocess.Popen(cmd, cwd=REPO, **quiet(out))


def register_all(lay):
    """Register in each Keystone in parallel; once per Keystone."""
    procs = []
    for name in KS:
        if not is_registered(lay, name):
            log = os.path.join(sdir(lay, name), "register.log")
            procs.append((name, log, venv_python(lay, "register", name, log=log)))
    return procs


def finish_register(lay, procs):
    for name, log, proc in procs:
        if proc.wait() != 0:
            raise DevcloudError(f"registration in {name} failed; see {log}\n{tail(log)}")
        write(os.path.join(sdir(lay, name), ".registered"), registration_mark(lay, name))


def layout_for_up(state, base_port, venv):
    """The layout `up` uses: the one saved in the state dir, or a new one. Ports of a
    prepared state dir cannot change (they are in its configs and Keystone's catalog)."""
    lay = topology.load(state)
    saved = os.path.exists(os.path.join(state, STATE_FILE))
    if saved or os.path.exists(os.path.join(state, "ks1", ".prepared")):
        wanted = topology.ports_from(base_port) if base_port is not None else dict(lay.ports)
        if wanted != dict(lay.ports):
            raise DevcloudError(
                f"{state} was made with ks1 on port {lay.ports['ks1']}; use another --state "
                f"for other ports (or `down --purge` it first)"
            )
        if venv and os.path.abspath(venv) != lay.venv:
            raise DevcloudError(f"{state} uses the venv {lay.venv}; --venv cannot change it")
        return lay
    return topology.make(state, base_port, venv)


def all_up(lay):
    return all(running_pid(lay, n) and http_ok(health_url(lay, n)) for n in RUNNING)


def cmd_up(lay):
    t0 = time.time()
    clientfiles.write_state(lay)
    if all_up(lay) and all(is_registered(lay, n) for n in KS):
        clientfiles.write_client_files(lay)
        print(f"devcloud already up (state {lay.state})")
        return 0
    fresh = not any(running_pid(lay, n) for n in RUNNING)
    check_ports_free(lay, [*RUNNING, "proxy"] if fresh else RUNNING)  # the proxy: a test's
    times = {"venv": ensure_venv(lay)}
    t1 = time.time()
    prepare_all(lay)
    times["prepare"], t1 = time.time() - t1, time.time()
    for name in RUNNING:  # Glance needs Keystone only per request
        start_server(lay, name)
    wait_ready(lay, KS)
    procs = register_all(lay)
    wait_ready(lay, [n for n in RUNNING if n not in KS])
    times["start"], t1 = time.time() - t1, time.time()
    finish_register(lay, procs)
    times["register(rest)"] = time.time() - t1
    clientfiles.write_client_files(lay)
    took = ", ".join(f"{k} {v:.1f}s" for k, v in times.items())
    print(f"devcloud up in {time.time() - t0:.1f}s ({took}), state {lay.state}")
    for n in RUNNING:
        print(f"  {n:4} {lay.url(n):28} pid {read_pid(lay, n)}")
    s = lay.state
    print(f"  files: {s}/clouds.yaml  {s}/glancesync.conf  . {s}/env.sh")
    return 0


def cmd_down(lay, purge):
    for name, pid in stop_servers(lay, list(RUNNING)).items():
        print(f"stopped {name} (pid {pid})")
    if purge:
        files = ["pids", "clouds.yaml", "glancesync.conf", "env.sh", STATE_FILE]
        for entry in [*RUNNING, *files]:
            path = os.path.join(lay.state, entry)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
        print(f"purged data in {lay.state} (venv kept)")
    return 0


def cmd_status(lay):
    ok = True
    for n in RUNNING:
        pid, alive = read_pid(lay, n), running_pid(lay, n) is not None
        answers = http_ok(health_url(lay, n))
        ok = ok and alive and answers
        print(
            f"{n:4} {lay.url(n):28} pid {pid!s:8} "
            f"{'alive' if alive else 'DEAD':5} {'answers' if answers else 'NO ANSWER'}"
        )
    return 0 if ok else 1


def cmd_fault_regions(lay, on):
    if venv_python(lay, "fault-regions", "on" if on else "off").wait() != 0:
        raise DevcloudError("changing the fault-test regions failed (see above)")
    lay = topology.Layout(lay.state, lay.ports, lay.venv, on, lay.host)
    clientfiles.write_state(lay)
    clientfiles.write_client_files(lay)
    return 0


def cmd_add_image(lay, a):
    regions = [r for k in KS for r in lay.catalog_regions(k)]
    if a.region not in regions:
        raise DevcloudError(f"unknown region {a.region!r}; the cloud has {', '.join(regions)}")
    if not os.path.isfile(a.file):
        raise DevcloudError(f"{a.file}: no such file")
    args = [os.path.abspath(a.file), a.name, a.region, a.visibility]
    proc = venv_python(lay, "add-image", *args, a.disk_format, a.container_format)
    return 0 if proc.wait() == 0 else 1


def parser():
    env = os.environ
    p = argparse.ArgumentParser(
        prog="python3 -m tools.devcloud",
        description="Local Keystone+Glance cloud for glancesync tests.",
    )
    p.add_argument("--state", default=topology.default_state(), help="default <repo>/.devcloud")
    p.add_argument(
        "--base-port",
        type=int,
        default=int(env["DEVCLOUD_BASE_PORT"]) if env.get("DEVCLOUD_BASE_PORT") else None,
        help="ports N, N+1, ... instead of 5000, 5001, 9292-9297 (up of a new state dir)",
    )
    p.add_argument("--venv", default=env.get("DEVCLOUD_VENV"), help="an installed venv to share")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="install (once), prepare (once), start all servers")
    sub.add_parser("down", help="stop our servers, keep data").add_argument(
        "--purge", action="store_true", help="also delete data (keeps the venv)"
    )
    sub.add_parser("status", help="show servers; exit 0 only if all are up")
    for c in ("stop-server", "start-server"):
        sub.add_parser(c, help=f"{c.split('-')[0]} one server").add_argument(
            "name", choices=list(RUNNING)
        )
    sub.add_parser("fault-regions", help="fault tests: their regions in the catalog").add_argument(
        "switch", choices=("on", "off")
    )
    add = sub.add_parser("add-image", help="upload a file as an image")
    add.add_argument("file")
    add.add_argument("--name", required=True)
    add.add_argument("--region", default=topology.MASTER_REGION)
    add.add_argument("--visibility", default="public", choices=("public", "private", "shared"))
    add.add_argument("--disk-format", default="raw")
    add.add_argument("--container-format", default="bare")
    return p


def main(argv=None):
    a = parser().parse_args(argv)
    state = os.path.abspath(a.state)
    try:
        if a.cmd == "up":
            return cmd_up(layout_for_up(state, a.base_port, a.venv))
        lay = topology.load(state)
        if a.cmd == "down":
            return cmd_down(lay, a.purge)
        if a.cmd == "status":
            return cmd_status(lay)
        if a.cmd == "fault-regions":
            return cmd_fault_regions(lay, a.switch == "on")
        if a.cmd == "add-image":
            return cmd_add_image(lay, a)
        if a.cmd == "stop-server":
            pid = stop_servers(lay, [a.name]).get(a.name)
            print(f"stopped {a.name} (pid {pid})" if pid else f"{a.name} was not running")
            return 0
        pid = start_server(lay, a.name)
        wait_ready(lay, [a.name])
        print(f"{a.name} up (pid {pid})")
        return 0
    except (DevcloudError, ValueError) as e:
        print(f"devcloud: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
