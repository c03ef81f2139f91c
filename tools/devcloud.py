#!/usr/bin/env python3
"""devcloud: a local cloud of REAL Keystone and Glance servers for integration tests.

Why: glancesync talks to real OpenStack APIs, whose quirks (visibility, read-only
checksums, import methods, chunked uploads...) fakes do not reproduce. This script
starts, from nothing, two independent Keystones and four Glance APIs on 127.0.0.1,
all installed from PyPI into a private virtualenv, with sqlite and file stores.

    python3 tools/devcloud.py up            # create venv if needed, prepare, start, register
    python3 tools/devcloud.py status        # exit 0 only if every server is alive and answers
    python3 tools/devcloud.py down [--purge]   # stop servers; --purge: drop data, keep venv
    python3 tools/devcloud.py stop-server g2   # fault tests: one server only (ks1 ks2 g1..g4)
    python3 tools/devcloud.py start-server g2

Topology (see SERVERS below):
    ks1 keystone :5000 (cloud "master", admin/adminpass) -> g1 RegionOne :9292 (master),
        g2 RegionTwo :9293 (extra store fs2, for copy-image), g3 RegionThree :9294
    ks2 keystone :5001 (cloud "other", admin/otherpass)  -> g4 OtherOne :9295
    Fault-test regions of ks1, in ignore_regions of the generated glancesync.conf:
        g5 RegionQuota :9297 (user_storage_quota = 1MB), and RegionProxy :9296, an
        endpoint where no server listens except test/fault/proxy.py while a test runs
        (it forwards to g3, so RegionProxy shows RegionThree's images).
    In each Keystone: project service, user glance/glancepass (roles admin+service),
    service glance/image with public+internal endpoints per region, and project demo2
    with user user2/user2pass (role member) for images owned by another project.

State dir: <repo>/.devcloud, or --state DIR, or $DEVCLOUD_STATE. Everything lives there:
venv/, ksN/ and gN/ (configs, sqlite db, stores, logs), pids/NAME.pid (uWSGI master pids),
and the generated clouds.yaml (clouds master, other, user2, other-user2; each lists its
Keystone's regions under `regions:`, first = default, because openstacksdk refuses a
region_name that clouds.yaml does not list),
glancesync.conf and env.sh (`. <state>/env.sh` sets OS_CLIENT_CONFIG_FILE and
GLANCESYNC_CONFIG). On failure, read <state>/NAME/uwsgi.log and the service log there.

Design notes (each works around a behaviour of the real servers that was hit):
* Glance 33 no longer runs standalone (`glance-api` exits 1): both services run under
  uWSGI. Every server adds `Connection: close`, because uWSGI's --http-socket neither keeps
  connections alive nor says so, and python-requests' next request on the reused socket
  gets ECONNRESET. A large --chunked-input-limit, because Glance reads chunked uploads
  with uwsgi.chunked_read(), which fails on chunks of 1 MiB and more by default (HTTP 500,
  the image stays queued).
* Servers are spawned directly (no shell): a shell that backgrounds `cd DIR && cmd` would
  make the recorded pid its own, not the uWSGI master's;
  `down` only signals pids whose /proc/PID/cwd is the server's own state directory.
* Prepare steps (db_sync, fernet keys, bootstrap) run in parallel: they need no server.
* `up` is incremental and re-runnable: venv/.devcloud-installed (hash of the pins),
  NAME/.prepared and ksN/.registered markers skip work already done (.registered holds a
  hash of the endpoint list, so new endpoints get registered); running servers are
  left alone. So `down` + `up` takes seconds, and `up` on a running cloud is a no-op.
* Registration uses openstacksdk, so it runs this same file under the venv python
  (hidden subcommand `_register`); the script itself stays stdlib-only.
* The stdlib script only needs Python 3.10+; the venv is pinned by
  tools/devcloud-constraints.txt (a `pip freeze` of a working venv).
"""

import argparse
import concurrent.futures
import hashlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CONSTRAINTS = os.path.join(HERE, "devcloud-constraints.txt")
PACKAGES = ["glance==33.0.0", "keystone==30.0.0", "uWSGI==2.0.31", "openstacksdk"]
HOST = "127.0.0.1"

KEYSTONES = {
    "ks1": {"port": 5000, "admin_password": "adminpass", "region": "RegionOne", "cloud": "master"},
    "ks2": {"port": 5001, "admin_password": "otherpass", "region": "OtherOne", "cloud": "other"},
}
GLANCES = {
    "g1": {"port": 9292, "region": "RegionOne", "keystone": "ks1", "extra_store": False},
    "g2": {"port": 9293, "region": "RegionTwo", "keystone": "ks1", "extra_store": True},
    "g3": {"port": 9294, "region": "RegionThree", "keystone": "ks1", "extra_store": False},
    "g4": {"port": 9295, "region": "OtherOne", "keystone": "ks2", "extra_store": False},
    # fault tests: a Glance with a tiny storage quota (user_storage_quota, in Glance's units)
    "g5": {
        "port": 9297,
        "region": "RegionQuota",
        "keystone": "ks1",
        "extra_store": False,
        "quota": "1MB",
    },
}
# Regions whose image endpoint is NOT a Glance but a port where a fault-injecting test proxy
# (test/fault/proxy.py) listens while a test runs; it forwards to the `upstream` Glance.
PROXIED = {
    "RegionProxy": {"port": 9296, "keystone": "ks1", "upstream": "g3"},
}
# Regions only for fault tests: the generated glancesync.conf ignores them, so default runs
# (and every test that does not name them) never touch them.
FAULT_REGIONS = ("RegionProxy", "RegionQuota")
# One flat view for tests and for status: name -> kind, port, region, keystone, url.
SERVERS = {
    n: dict(kind="keystone", keystone=n, url=f"http://{HOST}:{c['port']}/v3", **c)
    for n, c in KEYSTONES.items()
}
SERVERS.update(
    {n: dict(kind="glance", url=f"http://{HOST}:{c['port']}", **c) for n, c in GLANCES.items()}
)
SERVICE_USER, SERVICE_PASSWORD = "glance", "glancepass"
USER2, USER2_PASSWORD, USER2_PROJECT = "user2", "user2pass", "demo2"
READY_TIMEOUT = 120  # seconds; generous because a 2-core machine may be busy

UWSGI_FLAGS = shlex.split(
    "--master --processes 1 --threads 4 --lazy-apps --die-on-term --need-app --no-orphans"
    " --buffer-size 65535 --chunked-input-limit 67108864 --disable-logging"
    " --add-header 'Connection: close'"
)


class DevcloudError(Exception):
    """A failure with a message meant for the user (printed without a traceback)."""


# ---------------------------------------------------------------- paths and helpers
def sdir(state, name):
    return os.path.join(state, name)


def pidfile(state, name):
    return os.path.join(state, "pids", name + ".pid")


def venv_bin(state, prog):
    return os.path.join(state, "venv", "bin", prog)


def ks_url(name):
    return SERVERS[name]["url"]


def write(path, text):
    """Write a file only its owner can read: several of them hold passwords."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


def read_text(path):
    """File content, or "" if it does not exist."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def tail(path, n=15):
    """Last lines of a log, so an error message shows the likely cause right away."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)\n"


def quiet(out):
    """Popen kwargs: no stdin, stdout and stderr into the open log file `out`."""
    return dict(stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)


def run_logged(cmd, log, cwd=None, env=None):
    """Run a noisy manage command, appending its output to `log`; raise on failure."""
    with open(log, "a") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        rc = subprocess.call(cmd, cwd=cwd, env=env, **quiet(out))
    if rc != 0:
        raise DevcloudError(
            f"command failed (rc={rc}): {' '.join(cmd[:3])} ...\n  see {log}\n{tail(log)}"
        )


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def http_ok(url, timeout=3.0):
    """True if GET url answers 200 (timeout so a hung server cannot block us)."""
    try:
        with _OPENER.open(url, timeout=timeout) as r:
            return r.status == 200
    except Exception:
        return False


def health_url(name):
    return SERVERS[name]["url"] + ("/healthcheck" if SERVERS[name]["kind"] == "glance" else "")


# ---------------------------------------------------------------- venv
def ensure_venv(state):
    """Create <state>/venv with pinned packages; a marker makes it a no-op next time."""
    venv = os.path.join(state, "venv")
    marker = os.path.join(venv, ".devcloud-installed")
    cons = read_text(CONSTRAINTS)
    want = hashlib.sha256((" ".join(PACKAGES) + "\n" + cons).encode()).hexdigest()
    if read_text(marker).strip() == want:
        return 0.0
    t0 = time.time()
    log = os.path.join(state, "pip.log")
    print(f"installing pinned packages into {venv} (first time ~1 min: compiles uWSGI; log {log})")
    os.makedirs(state, exist_ok=True)
    if not os.path.exists(venv_bin(state, "python")):
        run_logged([sys.executable, "-m", "venv", venv], log)
    cmd = [venv_bin(state, "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    if cons:
        cmd += ["-c", CONSTRAINTS]
    run_logged(cmd + PACKAGES, log)
    write(marker, want + "\n")
    return time.time() - t0


# ---------------------------------------------------------------- config files
def keystone_conf(state, name):
    d = sdir(state, name)
    return f"""[DEFAULT]
log_file = {d}/keystone.log
[database]
connection = sqlite:///{d}/keystone.db
[token]
provider = fernet
expiration = 86400
[fernet_tokens]
key_repository = {d}/fernet-keys
[fernet_receipts]
key_repository = {d}/fernet-keys
[credential]
key_repository = {d}/credential-keys
"""


def glance_conf(state, name):
    c, d = GLANCES[name], sdir(state, name)
    ks = ks_url(c["keystone"])
    backends, fs2 = "fs:file", ""
    quota = f"user_storage_quota = {c['quota']}\n" if c.get("quota") else ""
    if c["extra_store"]:  # second store so copy-image can be tested (notes section 5)
        backends, fs2 = "fs:file, fs2:file", f"[fs2]\nfilesystem_store_datadir = {d}/images2/\n"
    return f"""[DEFAULT]
log_file = {d}/glance-api.log
bind_host = {HOST}
bind_port = {c["port"]}
enabled_backends = {backends}
worker_self_reference_url = http://{HOST}:{c["port"]}
enabled_import_methods = [glance-direct,web-download,copy-image,glance-download]
python_interpreter = {venv_bin(state, "python")}
{quota}[database]
connection = sqlite:///{d}/glance.db
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = {d}/images/
{fs2}[os_glance_staging_store]
filesystem_store_datadir = {d}/staging/
[os_glance_tasks_store]
filesystem_store_datadir = {d}/tasks/
[paste_deploy]
flavor = keystone
config_file = {d}/glance-api-paste.ini
[keystone_authtoken]
interface = public
www_authenticate_uri = {ks}
auth_url = {ks}
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = {SERVICE_USER}
password = {SERVICE_PASSWORD}
[image_format]
require_image_format_match = false
[import_filtering_opts]
allowed_schemes = [http,https]
allowed_hosts = [{HOST},localhost]
allowed_ports = []
[oslo_concurrency]
lock_path = {d}/locks
"""


# ---------------------------------------------------------------- prepare (no server needed)
def prepare_keystone(state, name):
    """db_sync, fernet/credential keys and bootstrap of one Keystone (once: marker)."""
    d, c = sdir(state, name), KEYSTONES[name]
    if os.path.exists(os.path.join(d, ".prepared")):
        return
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "keystone.conf")
    write(conf, keystone_conf(state, name))
    km = [venv_bin(state, "keystone-manage"), "--config-file", conf]
    log = os.path.join(d, "manage.log")
    ids = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
    boot = (
        f"bootstrap --bootstrap-password {c['admin_password']} --bootstrap-username admin"
        " --bootstrap-project-name admin --bootstrap-role-name admin"
        f" --bootstrap-service-name keystone --bootstrap-region-id {c['region']}"
        f" --bootstrap-public-url {ks_url(name)} --bootstrap-internal-url {ks_url(name)}"
    )
    for step in ("db_sync", "fernet_setup", "credential_setup", boot):
        extra = ids if step.endswith("_setup") else []
        run_logged([*km, *step.split(), *extra], log, cwd=d)
    write(os.path.join(d, ".prepared"), "ok\n")


def prepare_glance(state, name):
    """Config, paste ini, store dirs and db_sync of one Glance (once: marker)."""
    d = sdir(state, name)
    if os.path.exists(os.path.join(d, ".prepared")):
        return
    for sub in ("images", "images2", "staging", "tasks", "locks"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    conf = os.path.join(d, "glance-api.conf")
    write(conf, glance_conf(state, name))
    shutil.copy(os.path.join(state, "venv", "etc", "glance", "glance-api-paste.ini"), d)
    gm = [venv_bin(state, "glance-manage"), "--config-file", conf, "db_sync"]
    run_logged(gm, os.path.join(d, "db_sync.log"), cwd=d)
    write(os.path.join(d, ".prepared"), "ok\n")


def prepare_all(state):
    """Run every prepare step at once: they are independent and mostly wait on CPU/IO."""
    jobs = [(prepare_keystone, n) for n in KEYSTONES] + [(prepare_glance, n) for n in GLANCES]
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as ex:
        futures = [ex.submit(f, state, n) for f, n in jobs]
        errors = [str(f.exception()) for f in futures if f.exception()]
    if errors:
        raise DevcloudError("prepare failed:\n" + "\n".join(errors))


# ---------------------------------------------------------------- processes
def read_pid(state, name):
    try:
        with open(pidfile(state, name)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def is_ours(state, name, pid):
    """Alive, not a zombie, and running in the server's state dir (guards against pid reuse)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        cwd = os.readlink(f"/proc/{pid}/cwd")
        return os.path.realpath(cwd) == os.path.realpath(sdir(state, name))
    except FileNotFoundError:
        return False
    except OSError:  # no /proc or no permission: fall back to a plain liveness check
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


def running_pid(state, name):
    pid = read_pid(state, name)
    return pid if pid and is_ours(state, name, pid) else None


def start_server(state, name):
    """Spawn uWSGI directly (no shell, own session) so the pid we record is the master."""
    pid = running_pid(state, name)
    if pid:
        return pid
    srv, d = SERVERS[name], sdir(state, name)
    if not os.path.exists(os.path.join(d, ".prepared")):
        raise DevcloudError(f"{name} is not prepared; run `up` first")
    if http_ok(health_url(name), timeout=1):
        raise DevcloudError(
            f"port {srv['port']} already answers but not from our {name}; "
            "another devcloud (other --state?) is running"
        )
    venv = os.path.join(state, "venv")
    env = dict(os.environ, PATH=os.path.join(venv, "bin") + os.pathsep + os.environ["PATH"])
    if srv["kind"] == "keystone":
        env["OS_KEYSTONE_CONFIG_DIR"], module = d, "keystone.wsgi.api:application"
    else:
        env["OS_GLANCE_CONFIG_DIR"], module = d, "glance.wsgi.api:application"
    cmd = [venv_bin(state, "uwsgi"), *UWSGI_FLAGS, "--virtualenv", venv]
    cmd += ["--http-socket", f"{HOST}:{srv['port']}", "--module", module]
    with open(os.path.join(d, "uwsgi.log"), "a") as log:
        proc = subprocess.Popen(cmd, cwd=d, env=env, start_new_session=True, **quiet(log))
    write(pidfile(state, name), f"{proc.pid}\n")
    return proc.pid


def wait_ready(state, names, timeout=READY_TIMEOUT):
    """Poll each server's URL until 200; fail fast if its process died, naming the logs."""
    deadline, pending = time.time() + timeout, list(names)
    while pending:
        for name in list(pending):
            if http_ok(health_url(name), timeout=2):
                pending.remove(name)
            elif not running_pid(state, name):
                raise DevcloudError(server_failure(state, name, "exited during start"))
        if pending and time.time() > deadline:
            raise DevcloudError(
                "\n".join(server_failure(state, n, f"not ready after {timeout}s") for n in pending)
            )
        if pending:
            time.sleep(0.3)


def server_failure(state, name, why):
    d = sdir(state, name)
    is_ks = SERVERS[name]["kind"] == "keystone"
    svc_log = os.path.join(d, "keystone.log" if is_ks else "glance-api.log")
    return (
        f"{name} ({health_url(name)}) {why}; see {d}/uwsgi.log and {svc_log}\n"
        f"--- tail of uwsgi.log ---\n{tail(os.path.join(d, 'uwsgi.log'))}"
    )


def stop_servers(state, names, grace=15.0):
    """SIGTERM the recorded uWSGI masters (--die-on-term) all at once, SIGKILL after `grace`.

    Returns {name: pid} of the servers that were running. Pid files are removed."""
    pids = {n: running_pid(state, n) for n in names}
    pids = {n: p for n, p in pids.items() if p}
    for pid in pids.values():
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + grace
    while any(is_ours(state, n, p) for n, p in pids.items()):
        if time.time() > deadline:
            for n, p in pids.items():
                if is_ours(state, n, p):
                    os.kill(p, signal.SIGKILL)  # --no-orphans makes the worker follow
        time.sleep(0.1)
    for n in names:
        if os.path.exists(pidfile(state, n)):
            os.remove(pidfile(state, n))
    return pids


# ---------------------------------------------------------------- registration (venv python)
def register(state, name):
    """Runs under the venv python: service user, regions, endpoints, demo2/user2. Idempotent."""
    import openstack  # only available in the venv

    c = KEYSTONES[name]
    auth = dict(username="admin", password=c["admin_password"], project_name="admin")
    auth.update(user_domain_name="Default", project_domain_name="Default")
    conn = openstack.connect(auth_url=ks_url(name), region_name=c["region"], **auth)
    idn = conn.identity

    def ensure(find, create, key, **attrs):
        return find(key) or create(**attrs)

    def ensure_user(uname, password, project):
        attrs = dict(name=uname, password=password, default_project_id=project.id)
        return ensure(idn.find_user, idn.create_user, uname, domain_id="default", **attrs)

    def ensure_project(pname):
        return ensure(idn.find_project, idn.create_project, pname, name=pname, domain_id="default")

    service_project, demo2 = ensure_project("service"), ensure_project(USER2_PROJECT)
    roles = {r: ensure(idn.find_role, idn.create_role, r, name=r) for r in ("admin", "service")}
    roles["member"] = ensure(idn.find_role, idn.create_role, "member", name="member")
    glance_user = ensure_user(SERVICE_USER, SERVICE_PASSWORD, service_project)
    idn.assign_project_role_to_user(service_project, glance_user, roles["admin"])
    idn.assign_project_role_to_user(service_project, glance_user, roles["service"])
    user2 = ensure_user(USER2, USER2_PASSWORD, demo2)
    idn.assign_project_role_to_user(demo2, user2, roles["member"])
    service = ensure(idn.find_service, idn.create_service, "glance", name="glance", type="image")
    existing = {(e.region_id, e.interface): e for e in idn.endpoints(service_id=service.id)}
    for region, port in image_endpoints(name):
        if not idn.find_region(region):
            idn.create_region(id=region)
        url = f"http://{HOST}:{port}"
        for iface in ("public", "internal"):
            old = existing.get((region, iface))
            if old is None:
                idn.create_endpoint(
                    service_id=service.id, interface=iface, region_id=region, url=url
                )
            elif old.url != url:
                idn.update_endpoint(old, url=url)
    print(f"{name}: registration done")


def image_endpoints(ks):
    """(region, port) of every image endpoint Keystone `ks` must list: Glances, then proxies."""
    found = [(g["region"], g["port"]) for g in GLANCES.values() if g["keystone"] == ks]
    return found + [(r, p["port"]) for r, p in PROXIED.items() if p["keystone"] == ks]


def registration_mark(ks):
    """Content of ksN/.registered: changes whenever the endpoints to register change, so an
    `up` on a cloud registered by an older devcloud adds what is new (registration is
    idempotent)."""
    return hashlib.sha256(repr(image_endpoints(ks)).encode()).hexdigest()[:16] + "\n"


def is_registered(state, ks):
    return read_text(os.path.join(sdir(state, ks), ".registered")) == registration_mark(ks)


def register_all(state):
    """Register in each Keystone in parallel, using the venv python; once per Keystone."""
    procs = []
    for name in KEYSTONES:
        d = sdir(state, name)
        if is_registered(state, name):
            continue
        log = os.path.join(d, "register.log")
        cmd = [venv_bin(state, "python"), os.path.abspath(__file__), "--state", state]
        with open(log, "a") as out:  # the child keeps its own copy of the fd
            procs.append((name, log, subprocess.Popen([*cmd, "_register", name], **quiet(out))))
    return procs


def finish_register(state, procs):
    for name, log, proc in procs:
        if proc.wait() != 0:
            raise DevcloudError(f"registration in {name} failed; see {log}\n{tail(log)}")
        write(os.path.join(sdir(state, name), ".registered"), registration_mark(name))


# ---------------------------------------------------------------- generated client files
def write_client_files(state):
    """clouds.yaml, glancesync.conf and env.sh: what tests and developers point clients at."""

    def regions(ks):  # a list, not region_name: openstacksdk rejects regions not listed here
        return [region for region, _ in image_endpoints(ks)]

    def cloud(cname, ks, user, password, project):
        return (
            f"  {cname}:\n    auth:\n      auth_url: {ks_url(ks)}\n"
            f"      username: {user}\n      password: {password}\n"
            f"      project_name: {project}\n      user_domain_name: Default\n"
            f"      project_domain_name: Default\n    regions: [{', '.join(regions(ks))}]\n"
            f"    interface: public\n    identity_api_version: 3\n"
        )

    clouds = "clouds:\n" + "".join(
        cloud(c["cloud"], n, "admin", c["admin_password"], "admin") for n, c in KEYSTONES.items()
    )
    clouds += cloud("user2", "ks1", USER2, USER2_PASSWORD, USER2_PROJECT)
    clouds += cloud("other-user2", "ks2", USER2, USER2_PASSWORD, USER2_PROJECT)
    write(os.path.join(state, "clouds.yaml"), clouds)
    conf = f"[main]\nmaster_region = {GLANCES['g1']['region']}\n"
    for n, c in KEYSTONES.items():
        conf += (
            f"[{c['cloud']}]\nuser = admin\npassword = {c['admin_password']}\n"
            f"keystone_url = {ks_url(n)}\ntenant = admin\n"
        )
        ignored = [r for r in FAULT_REGIONS if r in regions(n)]
        if ignored:  # fault-test regions: only tests that name them reach them
            conf += f"ignore_regions = {', '.join(ignored)}\n"
    write(os.path.join(state, "glancesync.conf"), conf)
    write(
        os.path.join(state, "env.sh"),
        f"export OS_CLIENT_CONFIG_FILE={state}/clouds.yaml\n"
        f"export GLANCESYNC_CONFIG={state}/glancesync.conf\n",
    )


# ---------------------------------------------------------------- commands
def all_up(state):
    return all(running_pid(state, n) and http_ok(health_url(n)) for n in SERVERS)


def cmd_up(state):
    t0 = time.time()
    if all_up(state) and all(is_registered(state, n) for n in KEYSTONES):
        write_client_files(state)
        print(f"devcloud already up (state {state})")
        return 0
    times = {"venv": ensure_venv(state)}
    t1 = time.time()
    prepare_all(state)
    times["prepare"], t1 = time.time() - t1, time.time()
    for name in list(KEYSTONES) + list(GLANCES):  # Glance needs Keystone only per request
        start_server(state, name)
    wait_ready(state, KEYSTONES)
    procs = register_all(state)
    wait_ready(state, GLANCES)
    times["start"], t1 = time.time() - t1, time.time()
    finish_register(state, procs)
    times["register(rest)"] = time.time() - t1
    write_client_files(state)
    took = ", ".join(f"{k} {v:.1f}s" for k, v in times.items())
    print(f"devcloud up in {time.time() - t0:.1f}s ({took}), state {state}")
    for n, s in SERVERS.items():
        print(f"  {n:4} {s['kind']:8} {s['url']:28} {s['region']:12} pid {read_pid(state, n)}")
    print(f"  files: {state}/clouds.yaml  {state}/glancesync.conf  . {state}/env.sh")
    return 0


def cmd_down(state, purge):
    for name, pid in stop_servers(state, list(SERVERS)).items():
        print(f"stopped {name} (pid {pid})")
    if purge:
        for entry in [*SERVERS, "pids", "clouds.yaml", "glancesync.conf", "env.sh"]:
            path = os.path.join(state, entry)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
        print(f"purged data in {state} (venv kept)")
    return 0


def cmd_status(state):
    ok = True
    for n, s in SERVERS.items():
        pid, alive = read_pid(state, n), running_pid(state, n) is not None
        answers = http_ok(health_url(n))
        ok = ok and alive and answers
        print(
            f"{n:4} {s['kind']:8} {s['region']:12} {s['url']:28} pid {pid!s:8} "
            f"{'alive' if alive else 'DEAD':5} {'answers' if answers else 'NO ANSWER'}"
        )
    return 0 if ok else 1


def main(argv=None):
    p = argparse.ArgumentParser(description="Local Keystone+Glance cloud for glancesync tests.")
    default_state = os.environ.get("DEVCLOUD_STATE", os.path.join(REPO, ".devcloud"))
    p.add_argument("--state", default=default_state, help="default <repo>/.devcloud")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="install (once), prepare (once), start all servers")
    sub.add_parser("down", help="stop our servers, keep data").add_argument(
        "--purge", action="store_true", help="also delete data (keeps the venv)"
    )
    sub.add_parser("status", help="show servers; exit 0 only if all are up")
    for c in ("stop-server", "start-server"):
        sub.add_parser(c, help=f"{c.split('-')[0]} one server").add_argument(
            "name", choices=list(SERVERS)
        )
    sub.add_parser("_register").add_argument("name", choices=list(KEYSTONES))  # internal
    a = p.parse_args(argv)
    state = os.path.abspath(a.state)
    try:
        if a.cmd == "up":
            return cmd_up(state)
        if a.cmd == "down":
            return cmd_down(state, a.purge)
        if a.cmd == "status":
            return cmd_status(state)
        if a.cmd == "stop-server":
            pid = stop_servers(state, [a.name]).get(a.name)
            print(f"stopped {a.name} (pid {pid})" if pid else f"{a.name} was not running")
            return 0
        if a.cmd == "start-server":
            pid = start_server(state, a.name)
            wait_ready(state, [a.name])
            print(f"{a.name} up (pid {pid})")
            return 0
        register(state, a.name)
        return 0
    except DevcloudError as e:
        print(f"devcloud: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
