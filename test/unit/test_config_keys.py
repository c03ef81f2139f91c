"""The table of keys (glancesync.config.keys) and the bounds the loader puts on input."""

from __future__ import annotations

import dataclasses
import io
import os
import threading
from pathlib import Path

import pytest

from glancesync import cli
from glancesync.config.keys import (
    ALIASES,
    AUTH,
    AUTH_OPTION,
    KEYS,
    MAIN,
    MAX_CHILDREN_LIMIT,
    SELECT,
    TARGET,
    Key,
)
from glancesync.config.loader import load_settings
from glancesync.config.settings import Credentials, Settings, TargetSettings
from glancesync.model.errors import ConfigError
from glancesync.testing.memcloud import MemoryCloud

CRED = "credential = u,c2VjcmV0,https://k.example.org/v3,t\n"
BASE = f"[main]\nmaster_region = R\n[master]\n{CRED}"

#: The dataclass each kind of key fills.
_FILLS = {(MAIN, SELECT): Settings, (TARGET, SELECT): TargetSettings}
_FILLS[(TARGET, AUTH_OPTION)] = Credentials


def _defaults(cls: type) -> dict[str, object]:
    found: dict[str, object] = {}
    for field in dataclasses.fields(cls):
        if field.default is not dataclasses.MISSING:
            found[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            found[field.name] = field.default_factory()
    return found


@pytest.mark.parametrize("key", [key for key in KEYS if key.role != AUTH], ids=lambda k: k.name)
def test_each_parsed_key_fills_a_field_whose_default_is_the_tables(key: Key) -> None:
    cls = _FILLS[(key.section, key.role)]
    fields = {field.name for field in dataclasses.fields(cls)}
    assert key.name in fields, f"{cls.__name__} has no field {key.name}"
    assert key.parse is not None
    if key.default is None and key.name not in _defaults(cls):
        return  # master_region: required, worked out by the loader
    assert _defaults(cls)[key.name] == key.default


def test_every_way_to_authenticate_is_read_by_the_credentials_not_parsed_alone() -> None:
    ways = [key for key in KEYS if key.role == AUTH]
    assert [key.name for key in ways][:2] == ["credential", "cloud"]  # tried in this order
    assert all(key.parse is None and key.default is None for key in ways)


def test_names_and_aliases_are_unique() -> None:
    names = [key.name for key in KEYS]
    assert len(set(names)) == len(names)
    assert not set(ALIASES) & set(names)
    assert all(key.section == TARGET for key in KEYS if key.aliases)


def test_a_file_that_sets_nothing_gives_the_tables_defaults() -> None:
    settings = load_settings(io.StringIO(BASE), environ={})
    for key in KEYS:
        if key.role == AUTH or key.name == "master_region":  # no default: required
            continue
        holder: object = settings
        if key.section == TARGET:
            holder = settings.master
            if key.role == AUTH_OPTION:
                holder = settings.master.credentials
        assert getattr(holder, key.name) == key.default, key.name


# --- max_children ------------------------------------------------------------------------


def test_max_children_has_an_upper_bound() -> None:
    at_limit = BASE.replace("[master]", f"max_children = {MAX_CHILDREN_LIMIT}\n[master]")
    assert load_settings(io.StringIO(at_limit), environ={}).max_children == MAX_CHILDREN_LIMIT
    over = at_limit.replace(str(MAX_CHILDREN_LIMIT), str(MAX_CHILDREN_LIMIT + 1))
    with pytest.raises(ConfigError) as caught:
        load_settings(io.StringIO(over), environ={})
    assert (caught.value.section, caught.value.key) == ("main", "max_children")
    assert f"not a whole number <= {MAX_CHILDREN_LIMIT}: '65'" in str(caught.value)


# --- keystone_url ------------------------------------------------------------------------

_BAD_URLS = [
    ("http://[::1/v3", "bad IPv6 address"),
    ("http://::1]:5000/v3", "bad IPv6 address"),
    ("https://[not-an-address]/v3", "bad IPv6 address"),
    ("https://keystone:50x0/v3", "the port is not a number"),
    ("https://keystone:99999/v3", "the port is not a number"),
    ("https://:5000/v3", "no host name"),
]


@pytest.mark.parametrize(("url", "fragment"), _BAD_URLS)
def test_a_malformed_keystone_url_is_refused_at_load(url: str, fragment: str) -> None:
    text = f"{BASE}[other]\nuser = u\npassword = p\nkeystone_url = {url}\ntenant = t\n"
    with pytest.raises(ConfigError) as caught:
        load_settings(io.StringIO(text), environ={})
    err = caught.value
    assert (err.path, err.section, err.key) == ("<stream>", "other", "keystone_url")
    assert fragment in str(err) and "\n" not in str(err)
    assert url not in str(err)  # a URL may hold a password: never quoted


def test_the_url_of_a_fiware_credential_and_of_the_environment_are_checked_too() -> None:
    text = "[main]\nmaster_region = R\n[master]\ncredential = u,c2VjcmV0,http://[::1/v3,t\n"
    with pytest.raises(ConfigError, match="bad IPv6 address") as caught:
        load_settings(io.StringIO(text), environ={})
    assert (caught.value.section, caught.value.key) == ("master", "credential")
    env = {"OS_AUTH_URL": "http://[::1/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p"}
    env["OS_PROJECT_NAME"] = "t"
    with pytest.raises(ConfigError, match="bad IPv6 address") as caught:
        load_settings(io.StringIO("[main]\nmaster_region = R\n"), environ=env)
    assert caught.value.key == "OS_AUTH_URL"


def test_a_well_formed_ipv6_keystone_url_loads() -> None:
    text = BASE.replace("https://k.example.org/v3", "http://[fd00::1]:5000/v2.0")
    creds = load_settings(io.StringIO(text), environ={}).master.credentials
    assert creds.auth_url == "http://[fd00::1]:5000/v3"


def test_the_command_line_reports_a_bad_keystone_url_in_one_line_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "glancesync.conf"
    path.write_text(BASE.replace("https://k.example.org/v3", "http://[::1/v3"))
    path.chmod(0o600)
    monkeypatch.chdir(tmp_path)
    cloud = MemoryCloud()
    code = cli.main(["--config-file", str(path), "--dry-run"], facade_factory=lambda _: cloud)
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and f"{path} [master] credential" in err
    assert "Traceback" not in err and cloud.writes == []


# --- the file itself ---------------------------------------------------------------------


def test_a_fifo_is_refused_and_never_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "glancesync.conf"
    os.mkfifo(fifo)
    # Should the loader ever block on the FIFO again, this writer lets it go
    # on (reading an empty file), so that the test fails instead of hanging.
    writer = threading.Thread(target=lambda: os.close(os.open(fifo, os.O_WRONLY)), daemon=True)
    writer.start()
    try:
        with pytest.raises(ConfigError) as caught:
            load_settings(fifo, environ={})
        assert str(caught.value) == f"{fifo}: cannot read: not a regular file (a FIFO)"
    finally:
        while writer.is_alive():  # release the writer's open with a reader
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
            writer.join(0.01)


@pytest.mark.parametrize(
    ("name", "kind"), [("/dev/null", "a character device"), (".", "a directory")]
)
def test_anything_but_a_regular_file_is_refused(name: str, kind: str, tmp_path: Path) -> None:
    path = tmp_path if name == "." else Path(name)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(caught.value) == f"{path}: cannot read: not a regular file ({kind})"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("transfer", "sideways", "not a transfer mode: 'sideways' (use stream or glance-download)"),
        ("retire", "burn", "not a retire mode: 'burn' (use keep, hide, deactivate or delete)"),
        ("conversion", "maybe", "not a conversion mode: 'maybe' (use auto or local)"),
    ],
)
def test_a_word_outside_its_list_names_the_choices(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(io.StringIO(f"{BASE}{key} = {value}\n"))
    assert str(caught.value).endswith(f"[master] {key}: {message}")
