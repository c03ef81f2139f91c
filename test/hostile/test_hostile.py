"""A hostile or broken server never escapes, leaks, hangs or leaves an unverified image.

One test per finding (doc/reliability.rst, "Hostile servers"); each runs the
real CLI, facade, keystoneauth and glanceclient against the hostile server
of :mod:`test.hostile.server`, next to the real regions of the local cloud.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from glancesync.cloud import answers, connections, glance
from test.hostile.conftest import SECRET, Env, assert_one_line_errors, delete_real, real_images
from test.hostile.server import TOKEN, Answer, Region

ROOT = Path(__file__).resolve().parents[2]


def listing(hook_answer: Any) -> Any:
    """A hook answering every image listing with ``hook_answer(region, path)``."""

    def hook(region: Region, method: str, path: str, body: bytes) -> Answer | None:
        if method == "GET" and path.startswith("/v2/images?"):
            answer: Answer | None = hook_answer(region, path)
            return answer
        return None

    return hook


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def lock_files(directory: Path) -> set[Path]:
    """The run's lock files: ``sync.lock`` and one ``sync.lock.REGION-HASH`` per region."""
    return {p for p in directory.iterdir() if p.name.startswith("sync.lock")}


# -- 1. no local path from server data (the spool) -----------------------------


@pytest.mark.parametrize("evil_id", ["../../escaped", "{tmp}/victim", "..", "a/../../b"])
def test_master_image_ids_never_become_local_paths(env: Env, evil_id: str) -> None:
    victim = env.tmp / "victim"
    victim.write_bytes(b"a file of the sync host")
    master = Region("Evil")
    master.add(b"x" * 1000, id=evil_id.format(tmp=env.tmp), name=env.prefix + "a")
    master.add(b"y" * 1000, name=env.prefix + "b")
    good1, good2 = Region("Good1"), Region("Good2")
    server = env.server(master, good1, good2)
    config = env.config(server, hostile_master=True)
    before = files_under(env.tmp)

    run = env.sync(config, "Good1", "Good2")

    assert_one_line_errors(run)
    assert run.code == 1
    assert "region Evil: unexpected answer from Glance: an image id that is not a plain name" in (
        run.err
    )
    assert files_under(env.tmp) - before <= lock_files(env.tmp)
    assert victim.read_bytes() == b"a file of the sync host"
    # nothing read from the host was sent anywhere: no region was touched
    assert not [r for r in server.requests if r.path.startswith(("/r/1/", "/r/2/"))]
    assert good1.images == {} and good2.images == {}


# -- 2. pagination stays on the region's own endpoint, bounded -------------------


def test_next_links_and_redirects_never_reach_another_host(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(glance, "MAX_PAGES", 12)
    monkeypatch.setattr(answers, "MAX_ANSWER_BYTES", 1 << 20)
    foreign = env.server(Region("Foreign"))
    f = f"127.0.0.1:{foreign.port}"
    cases = {
        "Absolute": lambda r, p: Answer.json(
            200, {"images": [{"id": "i1"}], "next": f"http://{f}/v2/images"}
        ),
        "SchemeRelative": lambda r, p: Answer.json(
            200, {"images": [{"id": "i1"}], "next": f"//{f}/v2/images?marker=i1"}
        ),
        "Redirect": lambda r, p: Answer(302, b"", {"Location": f"http://{f}/v2/images"}),
        "OtherPath": lambda r, p: Answer.json(
            200, {"images": [{"id": "i1"}], "next": "/v3/auth/tokens"}
        ),
        "Endless": lambda r, p: Answer.json(
            200, {"images": [{"id": "i1"}], "next": "/v2/images?marker=i1"}
        ),
        "Huge": lambda r, p: Answer(200, _endless_json(), {"Content-Type": "application/json"}),
    }
    server = env.server(*(Region(name, hook=listing(answer)) for name, answer in cases.items()))
    names = [f"hostile:{name}" for name in cases]

    run = env.sync(env.config(server), *names, "RegionTwo")

    assert_one_line_errors(run)
    assert run.code == 1
    assert foreign.requests == [], "no request, with or without the token, to a foreign host"
    expected = {
        "Absolute": "image listing: 'next' leads to another server",
        "SchemeRelative": "image listing: 'next' leads to another server",
        "Redirect": "unexpected redirect (HTTP 302)",
        "OtherPath": "image listing: 'next' is not an image listing",
        "Endless": "image listing: more than 12 pages",
        "Huge": "is larger than 1 MiB",
    }
    for name, message in expected.items():
        line = _line(run.out, f"hostile:{name}: FAILED")
        assert message in line, line
    assert re.search(r"^RegionTwo: ok", run.out, re.M)
    endless = [r for r in server.requests if r.path.startswith("/r/4/v2/images")]
    assert len(endless) == 12
    assert server.bytes_sent < 8 * (1 << 20), "the huge answer was not read to its end"


def _endless_json() -> Iterator[bytes]:
    yield b'{"images": ['
    while True:
        yield b'{"id": "padding-padding-padding"},' * 1000


def _line(text: str, start: str) -> str:
    found = [line for line in text.splitlines() if line.startswith(start)]
    assert len(found) == 1, text
    return found[0]


def test_a_next_link_on_the_endpoint_itself_is_followed(env: Env) -> None:
    """The safe form of both links is still accepted (not every link is refused)."""
    pages = {"first": 0}

    def paged(region: Region, path: str) -> Answer:
        if "marker" not in path:
            pages["first"] += 1
            link = f"http://127.0.0.1:{server.port}/r/0/v2/images?marker=a"
            return Answer.json(200, {"images": [{"id": "a", "name": "x"}], "next": link})
        return Answer.json(200, {"images": [{"id": "b", "name": "y"}]})

    server = env.server(Region("Paged", hook=listing(paged)))
    run = env.sync(env.config(server), "--show-status", "hostile:Paged")
    assert run.code == 0, run.err
    assert len([r for r in server.requests if "marker=a" in r.path]) == 2  # both listings


# -- 3. region names from the catalog never leave the log or backup directory ---------


HOSTILE_NAMES = ["../../../escaped", "a/b", "..", ".hidden", "bell\x07\x1b[31m", "a%2Fb"]


def test_hostile_region_names_stay_inside_the_log_and_backup_dirs(env: Env) -> None:
    server = env.server(*(Region(name) for name in HOSTILE_NAMES))
    config = env.config(server, main={"max_children": "3"})
    (env.tmp / "logs").mkdir()
    before = files_under(env.tmp.parent)
    cmd = [sys.executable, str(ROOT / "sync.py"), "--config-file", str(config)]
    parallel = subprocess.run(
        [*cmd, "--parallel", "hostile:"], capture_output=True, text=True, timeout=300, check=False
    )
    backup = env.sync(config, "--make-backup", str(env.tmp / "backups"), "hostile:")

    assert parallel.returncode == 0, parallel.stderr
    assert "Traceback" not in parallel.stderr + parallel.stdout
    assert parallel.stdout.count(": ok;") == len(HOSTILE_NAMES)
    assert backup.code == 0, backup.err
    created = files_under(env.tmp.parent) - before
    logs = {p for p in created if p.suffix == ".log"}
    backups = {p for p in created if p.suffix == ".jsonl"}
    assert len(logs) == len(backups) == len(HOSTILE_NAMES)
    (run_dir,) = {p.parent for p in logs}
    assert run_dir.parent == env.tmp / "logs"
    assert {p.parent for p in backups} == {env.tmp / "backups"}
    assert created == logs | backups | lock_files(env.tmp)
    for path in created:
        assert path.name.isprintable() and not path.name.startswith(".")


# -- 5. every server-suggested wait is bounded ----------------------------------------


class FakeClock:
    """time for glancesync.cloud.glance only: sleeps are recorded and pass at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.parametrize("value", ["100000000", "-5", "nan", "1e400", "soon", "0x10"])
def test_retry_after_is_capped_and_malformed_values_ignored(
    env: Env, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    clock = FakeClock()
    # the listing's deadline (glance) and the waits (connections) on one clock
    monkeypatch.setattr(glance, "time", clock)
    monkeypatch.setattr(connections, "time", clock)
    busy = listing(lambda r, p: Answer.json(503, {"message": "busy"}, **{"Retry-After": value}))
    server = env.server(Region("Busy", hook=busy))

    run = env.sync(env.config(server), "hostile:Busy", "RegionTwo")

    assert_one_line_errors(run)
    assert run.code == 1
    assert "hostile:Busy: FAILED" in run.out and re.search(r"^RegionTwo: ok", run.out, re.M)
    assert clock.sleeps and max(clock.sleeps) <= 60
    assert sum(clock.sleeps) <= 5, "never past list_images_timeout (5 s here)"
    listings = [r for r in server.requests if r.path.startswith("/r/0/v2/images")]
    assert len(listings) <= connections.DEFAULT_RETRIES + 1


# -- 6. malformed answers: a one-line region or image error, never a traceback ---------


MALFORMED = {
    "deep": b'{"images": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "infinite_size": b'{"images": [{"id": "i1", "name": "n", "size": Infinity}]}',
    "huge_min_ram": b'{"images": [{"id": "i1", "name": "n", "min_ram": 1e400}]}',
    "big_int": b'{"images": [{"id": "i1", "name": "n", "size": 1' + b"0" * 40 + b"}]}",
    "images_5": b'{"images": 5}',
    "next_123": b'{"images": [{"id": "i1"}], "next": 123}',
    "next_dict": b'{"images": [{"id": "i1"}], "next": {"href": "/v2/images"}}',
    "tags_5": b'{"images": [{"id": "i1", "name": "n", "tags": 5}]}',
    "not_json": b"<html>hello</html>",
    "list": b"[1, 2, 3]",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_listing_is_a_one_line_region_error(env: Env, case: str) -> None:
    body = MALFORMED[case]
    odd = listing(lambda r, p: Answer(200, body, {"Content-Type": "application/json"}))
    server = env.server(Region("Odd", hook=odd))

    run = env.sync(env.config(server), "hostile:Odd", "RegionTwo")

    assert_one_line_errors(run)
    assert run.code == 1
    assert "hostile:Odd: FAILED; " in _line(run.out, "hostile:Odd: FAILED")
    assert re.search(r"^RegionTwo: ok", run.out, re.M)


def test_unknown_hash_algorithms_never_leave_an_unverified_image(env: Env) -> None:
    """md5 verifies alone when os_hash_algo is unknown; with nothing usable, no copy stays."""
    master = Region("Evil")
    names = {"bogus": env.prefix + "bogus", "shake": env.prefix + "shake"}
    master.add(b"b" * 3000, name=names["bogus"], os_hash_algo="bogus", os_hash_value="00")
    master.add(b"s" * 3000, name=names["shake"], os_hash_algo="shake_128", checksum=None)
    good = Region("Good")
    server = env.server(master, good)
    try:
        run = env.sync(env.config(server, hostile_master=True), "Good", "real:RegionTwo")

        assert_one_line_errors(run)
        assert run.code == 1
        assert "cannot verify a copy: the master gives no usable checksum" in run.err
        real = real_images("RegionTwo", env.prefix)
        assert [(i["name"], i["status"]) for i in real] == [(names["bogus"], "active")]
        assert real[0]["checksum"] == hashlib.md5(b"b" * 3000).hexdigest()
        assert [d["name"] for d in good.images.values()] == [names["bogus"]]
        assert good.active()[0]["checksum"] == real[0]["checksum"]
    finally:
        delete_real("RegionTwo", env.prefix)


# -- 7. secrets never appear, whatever form the server echoes them in ---------------


def _forms() -> dict[str, str]:
    basic = base64.b64encode(f"evil:{SECRET}".encode()).decode()
    return {
        "plain": SECRET,
        "json": json.dumps(SECRET)[1:-1],
        "url": quote(SECRET, safe=""),
        "url_path": quote(SECRET),
        "form": quote_plus(SECRET),
        "basic": basic,
        "token": TOKEN,
    }


def _decodes_to_secret(text: str) -> bool:
    """Whether some base64 run in ``text`` hides the secret, at any alignment."""
    for run in re.findall(r"[A-Za-z0-9+/]{8,}", text):
        for start in range(4):
            piece = run[start:]
            piece = piece[: len(piece) // 4 * 4]
            try:
                if SECRET.encode() in base64.b64decode(piece):
                    return True
            except (binascii.Error, ValueError):
                continue
    return False


def test_secrets_are_masked_in_every_form_at_every_verbosity(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    forms = _forms()
    echo = " ".join(f"{name}={value}" for name, value in forms.items())

    def echoing(region: Region, path: str) -> Answer:
        return Answer.json(
            400, {"error": {"message": f"bad: {echo} X-Auth-Token: {TOKEN}"}}, **{"X-Echo": echo}
        )

    server = env.server(Region("Echo", hook=listing(echoing)))
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()  # nothing listens there: keystoneauth warns about the URL
    url_password = "urlpass-" + "k" * 12
    leaky = {
        "user": "evil",
        "password": "x",
        "keystone_url": f"http://evil:{url_password}@127.0.0.1:{dead_port}/v3",
        "tenant": "p",
    }
    monkeypatch.setattr("time.sleep", lambda s: None)  # keystoneauth's connect retries
    config = env.config(server, leaky=leaky)
    runs = [env.sync(config, *verbosity, "hostile:Echo", "leaky:") for verbosity in ([], ["-vv"])]

    for run in runs:
        assert_one_line_errors(run)
        assert run.code == 1
        text = run.out + run.err
        for name, value in forms.items():
            assert value not in text, f"{name} form of a secret in the output"
        assert url_password not in text
        assert not _decodes_to_secret(text)
    assert "hostile:Echo: FAILED; region error: HTTP 400: bad: plain=***" in runs[0].out
    assert "RESP BODY" in runs[1].err or "RESP:" in runs[1].err, "-vv shows the HTTP traffic"
    log_dir = env.tmp / "logs"
    for path in log_dir.rglob("*") if log_dir.exists() else ():
        assert SECRET not in path.read_text(errors="replace")
