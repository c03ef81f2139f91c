"""devcloud: a local cloud of REAL Keystone and Glance servers for tests, bench and demo.

Why: glancesync talks to real OpenStack APIs, whose quirks (visibility, read-only
checksums, import methods, chunked uploads...) fakes do not reproduce. devcloud
starts, from nothing, two independent Keystones and seven Glance APIs on 127.0.0.1,
all installed from PyPI into a private virtualenv, with sqlite and file stores.
Run it from the repository root:

    python3 -m tools.devcloud up            # create venv if needed, prepare, start, register
    python3 -m tools.devcloud status        # exit 0 only if every server is alive and answers
    python3 -m tools.devcloud down [--purge]   # stop servers; --purge: drop data, keep venv
    python3 -m tools.devcloud add-image FILE --name N [--region R] [--visibility public]
    python3 -m tools.devcloud stop-server g2   # fault tests: one server only (ks1 ks2 g1..g7)
    python3 -m tools.devcloud start-server g2
    python3 -m tools.devcloud fault-regions on|off   # fault tests: their regions in the catalog

Layout (tools/devcloud/topology.py, the one description every client imports):
    ks1 Keystone (cloud "master", admin/adminpass) -> g1 RegionOne (master),
        g2 RegionTwo (extra store fs2, for copy-image), g3 RegionThree
    ks2 Keystone (cloud "other", admin/otherpass)  -> g4 OtherOne
    Fault-test regions of ks1, in its catalog only while test/fault runs: g5 RegionQuota
        (user_storage_quota = 1MB), and RegionProxy, an endpoint where no server listens
        except test/fault/proxy.py (it forwards to g3, so RegionProxy shows RegionThree).
    Regions that store differently, of ks1, in its catalog but in ignore_regions of the
        generated glancesync.conf: g6 RegionConvert (image_conversion import plugin,
        output raw; the host needs qemu-img) and g7 RegionLimits (Keystone unified limits,
        topology.LIMITS; the glance user has reader on the system to read them).
    In each Keystone: project service, user glance/glancepass (roles admin+service),
    service glance/image with public+internal endpoints per region, and project demo2
    with user user2/user2pass (role member) for images owned by another project.

Ports: 5000, 5001 (Keystones), 9292-9299 (Glances, proxy), or --base-port N
($DEVCLOUD_BASE_PORT): N, N+1, ... for ks1 ks2 g1 g2 g3 g4 g5 proxy g6 g7. They are chosen
at the first `up` of a state dir and written into <state>/state.json, from which
tests, bench and demo read them. A busy port is reported with the process holding it.

State dir: <repo>/.devcloud, or --state DIR, or $DEVCLOUD_STATE. Everything lives there:
state.json, venv/ (or --venv DIR / $DEVCLOUD_VENV: an installed venv shared by a second
cloud, which then starts in seconds), ksN/ and gN/ (configs, sqlite db, stores, logs),
pids/NAME.pid (uWSGI master pids), clouds.yaml, glancesync.conf and env.sh (see
clientfiles.py). On failure, read <state>/NAME/uwsgi.log and the service log there.

`up` is incremental and re-runnable: venv/.devcloud-installed (hash of the pins),
NAME/.prepared and ksN/.registered markers skip work already done; running servers
are left alone, so `down` + `up` takes seconds and `up` on a running cloud is a no-op.
A state made before the layout grew (no g6/g7 in state.json) gets the new servers on
ports of its own scheme, prepared, started and registered, the others untouched.
Prepare steps (db_sync, fernet keys, bootstrap) run in parallel: they need no server.
The script part is stdlib-only (Python 3.10+); the steps that need openstacksdk
(register.py) run under the venv's python. The venv is pinned by constraints.txt
(a `pip freeze` of a working venv).
"""
