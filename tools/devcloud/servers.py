"""Install, prepare, start and stop the servers of one local cloud (stdlib only).

Both services run under uWSGI (Glance 33 cannot run standalone) with
``Connection: close`` and a large chunked-input limit, so uploads of any size
stream through. Servers are spawned directly, without a shell, so the pid
recorded is the uWSGI master's; a pid is only ever signalled while
/proc/PID/cwd is that server's own state directory (pid reuse).
"""

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

from tools.devcloud import ports
from tools.devcloud.topology import (
    GLANCES,
    KEYSTONES,
    SERVICE_PASSWORD,
    SERVICE_USER,
    Layout,
    glance,
    keystone,
)

HERE = os.path.dirname(os.path.abspath(__file__))
CONSTRAINTS = os.path.join(HERE, "constraints.txt")
PACKAGES = ["glance==33.0.0", "keystone==30.0.0", "uWSGI==2.0.31", "openstacksdk"]
READY_TIMEOUT = 120  # seconds; generous because a 2-core machine may be busy
#: The servers devcloud runs (the fault proxy's port has no server of ours).
RUNNING = (*(k.name for k in KEYSTONES), *(g.name for g in GLANCES))

UWSGI_FLAGS = shlex.split(
    "--master --processes 1 --threads 4 --lazy-apps --die-on-term --need-app --no-orphans"
    " --buffer-size 65535 --chunked-input-limit 67108864 --disable-logging"
    " --add-header 'Connection: close'"
)


class DevcloudError(Exception):
    """A failure with a message meant for the user (printed without a traceback)."""


# ---------------------------------------------------------------- paths and helpers
def sdir(lay, name):
    return os.path.join(lay.state, name)


def pidfile(lay, name):
    return os.path.join(lay.state, "pids", name + ".pid")


def venv_bin(lay, prog):
    return os.path.join(lay.venv, "bin", prog)


def kind(name):
    return "keystone" if name.startswith("ks") else "glance"


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


def health_url(lay, name):
    return lay.url(name) + ("/healthcheck" if kind(name) == "glance" else "")


# ---------------------------------------------------------------- venv
def venv_mark():
    cons = read_text(CONSTRAINTS)
    return hashlib.sha256((" ".join(PACKAGES) + "\n" + cons).encode()).hexdigest()


def ensure_venv(lay: Layout):
    """Create the venv with pinned packages; a marker makes it a no-op next time, so a
    second cloud given an installed venv (--venv) starts in seconds."""
    marker = os.path.join(lay.venv, ".devcloud-installed")
    want = venv_mark()
    if read_text(marker).strip() == want:
        return 0.0
    t0 = time.time()
    log = os.path.join(lay.state, "pip.log")
    print(
        f"installing pinned packages into {lay.venv} (first time ~1 min: compiles uWSGI; log {log})"
    )
    os.makedirs(lay.state, exist_ok=True)
    if not os.path.exists(venv_bin(lay, "python")):
        run_logged([sys.executable, "-m", "venv", lay.venv], log)
    cmd = [venv_bin(lay, "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    if os.path.exists(CONSTRAINTS):
        cmd += ["-c", CONSTRAINTS]
    run_logged(cmd + PACKAGES, log)
    write(marker, want + "\n")
    return time.time() - t0


# ---------------------------------------------------------------- config files
def keystone_conf(lay, name):
    d = sdir(lay, name)
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


def glance_conf(lay, name):
    g, d, port, host = glance(name), sdir(lay, name), lay.ports[name], lay.host
    ks = lay.url(g.keystone)
    backends, fs2 = "fs:file", ""
    quota = f"user_storage_quota = {g.quota}\n" if g.quota else ""
    if g.extra_store:
        backends, fs2 = "fs:file, fs2:file", f"[fs2]\nfilesystem_store_datadir = {d}/images2/\n"
    extra = conversion_conf(lay) if g.converts else ""
    if g.limits:
        quota += "use_keystone_limits = True\n"
        extra += limits_conf(ks, g.region)
    return f"""[DEFAULT]
log_file = {d}/glance-api.log
bind_host = {host}
bind_port = {port}
enabled_backends = {backends}
worker_self_reference_url = http://{host}:{port}
enabled_import_methods = [glance-direct,web-download,copy-image,glance-download]
python_interpreter = {venv_bin(lay, "python")}
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
allowed_hosts = [{host},localhost]
allowed_ports = []
[oslo_concurrency]
lock_path = {d}/locks
{extra}"""


def conversion_conf(lay):
    """Glance's image_conversion import plugin: every import comes out raw (qemu-img). The
    plugin runs qemu-img under ``[wsgi] python_interpreter`` (by default the uWSGI binary)."""
    return (
        "[image_import_opts]\nimage_import_plugins = ['image_conversion']\n"
        "[image_conversion]\noutput_format = raw\n"
        f"[wsgi]\npython_interpreter = {venv_bin(lay, 'python')}\n"
    )


def limits_conf(ks, region):
    """Unified limits: Glance reads the registered limits of its own endpoint in Keystone
    (found by service type and region; register.py registers them)."""
    return f"""[oslo_limit]
auth_url = {ks}
auth_type = password
user_domain_name = Default
username = {SERVICE_USER}
password = {SERVICE_PASSWORD}
system_scope = all
endpoint_service_type = image
endpoint_region_name = {region}
endpoint_interface = public
"""


# ---------------------------------------------------------------- prepare (no server needed)
def prepare_keystone(lay, name):
    """db_sync, fernet/credential keys and bootstrap of one Keystone (once: marker)."""
    d, k = sdir(lay, name), keystone(name)
    if os.path.exists(os.path.join(d, ".prepared")):
        return
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "keystone.conf")
    write(conf, keystone_conf(lay, name))
    km = [venv_bin(lay, "keystone-manage"), "--config-file", conf]
    log = os.path.join(d, "manage.log")
    ids = ["--keystone-user", str(os.getuid()), "--keystone-group", str(os.getgid())]
    url = lay.url(name)
    boot = (
        f"bootstrap --bootstrap-password {k.admin_password} --bootstrap-username admin"
        " --bootstrap-project-name admin --bootstrap-role-name admin"
        f" --bootstrap-service-name keystone --bootstrap-region-id {k.region}"
        f" --bootstrap-public-url {url} --bootstrap-internal-url {url}"
    )
    for step in ("db_sync", "fernet_setup", "credential_setup", boot):
        extra = ids if step.endswith("_setup") else []
        run_logged([*km, *step.split(), *extra], log, cwd=d)
    write(os.path.join(d, ".prepared"), "ok\n")


def prepare_glance(lay, name):
    """Config, paste ini, store dirs and db_sync of one Glance (once: marker)."""
    d = sdir(lay, name)
    if os.path.exists(os.path.join(d, ".prepared")):
        return
    for sub in ("images", "images2", "staging", "tasks", "locks"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    conf = os.path.join(d, "glance-api.conf")
    write(conf, glance_conf(lay, name))
    shutil.copy(os.path.join(lay.venv, "etc", "glance", "glance-api-paste.ini"), d)
    gm = [venv_bin(lay, "glance-manage"), "--config-file", conf, "db_sync"]
    run_logged(gm, os.path.join(d, "db_sync.log"), cwd=d)
    write(os.path.join(d, ".prepared"), "ok\n")


def prepare_all(lay):
    """Run every prepare step at once: they are independent and mostly wait on CPU/IO."""
    jobs = [(prepare_keystone, k.name) for k in KEYSTONES]
    jobs += [(prepare_glance, g.name) for g in GLANCES]
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as ex:
        futures = [ex.submit(f, lay, n) for f, n in jobs]
        errors = [str(f.exception()) for f in futures if f.exception()]
    if errors:
        raise DevcloudError("prepare failed:\n" + "\n".join(errors))


# ---------------------------------------------------------------- processes
def read_pid(lay, name):
    try:
        with open(pidfile(lay, name)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def is_ours(lay, name, pid):
    """Alive, not a zombie, and running in the server's state dir (guards against pid reuse)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        cwd = os.readlink(f"/proc/{pid}/cwd")
        return os.path.realpath(cwd) == os.path.realpath(sdir(lay, name))
    except FileNotFoundError:
        return False
    except OSError:  # no /proc or no permission: fall back to a plain liveness check
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


def running_pid(lay, name):
    pid = read_pid(lay, name)
    return pid if pid and is_ours(lay, name, pid) else None


def check_ports_free(lay, names):
    """Before starting: every port of a server not running yet must be free; else one
    message naming the holder of each busy port and the option that moves ports."""
    busy = [
        f"  port {lay.ports[n]} ({n}): {ports.holder(lay.ports[n])}"
        for n in names
        if not running_pid(lay, n) and ports.in_use(lay.host, lay.ports[n])
    ]
    if busy:
        raise DevcloudError(
            "ports in use:\n" + "\n".join(busy) + "\n  start this cloud on other ports with "
            "--base-port N (or DEVCLOUD_BASE_PORT=N) and its own --state DIR"
        )


def start_server(lay, name):
    """Spawn uWSGI directly (no shell, own session) so the pid we record is the master."""
    pid = running_pid(lay, name)
    if pid:
        return pid
    d = sdir(lay, name)
    if not os.path.exists(os.path.join(d, ".prepared")):
        raise DevcloudError(f"{name} is not prepared; run `up` first")
    check_ports_free(lay, [name])
    env = dict(os.environ, PATH=os.path.join(lay.venv, "bin") + os.pathsep + os.environ["PATH"])
    if kind(name) == "keystone":
        env["OS_KEYSTONE_CONFIG_DIR"], module = d, "keystone.wsgi.api:application"
    else:
        env["OS_GLANCE_CONFIG_DIR"], module = d, "glance.wsgi.api:application"
    cmd = [venv_bin(lay, "uwsgi"), *UWSGI_FLAGS, "--virtualenv", lay.venv]
    cmd += ["--http-socket", f"{lay.host}:{lay.ports[name]}", "--module", module]
    with open(os.path.join(d, "uwsgi.log"), "a") as log:
        proc = subprocess.Popen(cmd, cwd=d, env=env, start_new_session=True, **quiet(log))
    write(pidfile(lay, name), f"{proc.pid}\n")
    return proc.pid


def wait_ready(lay, names, timeout=READY_TIMEOUT):
    """Poll each server's URL until 200; fail fast if its process died, naming the logs."""
    deadline, pending = time.time() + timeout, list(names)
    while pending:
        for name in list(pending):
            if http_ok(health_url(lay, name), timeout=2):
                pending.remove(name)
            elif not running_pid(lay, name):
                raise DevcloudError(server_failure(lay, name, "exited during start"))
        if pending and time.time() > deadline:
            raise DevcloudError(
                "\n".join(server_failure(lay, n, f"not ready after {timeout}s") for n in pending)
            )
        if pending:
            time.sleep(0.3)


def server_failure(lay, name, why):
    d = sdir(lay, name)
    svc_log = os.path.join(d, "keystone.log" if kind(name) == "keystone" else "glance-api.log")
    return (
        f"{name} ({health_url(lay, name)}) {why}; see {d}/uwsgi.log and {svc_log}\n"
        f"--- tail of uwsgi.log ---\n{tail(os.path.join(d, 'uwsgi.log'))}"
    )


def stop_servers(lay, names, grace=15.0):
    """SIGTERM the recorded uWSGI masters (--die-on-term) all at once, SIGKILL after `grace`.

    Returns {name: pid} of the servers that were running. Pid files are removed."""
    pids = {n: running_pid(lay, n) for n in names}
    pids = {n: p for n, p in pids.items() if p}
    for pid in pids.values():
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + grace
    while any(is_ours(lay, n, p) for n, p in pids.items()):
        if time.time() > deadline:
            for n, p in pids.items():
                if is_ours(lay, n, p):
                    os.kill(p, signal.SIGKILL)  # --no-orphans makes the worker follow
        time.sleep(0.1)
    for n in names:
        if os.path.exists(pidfile(lay, n)):
            os.remove(pidfile(lay, n))
    return pids
