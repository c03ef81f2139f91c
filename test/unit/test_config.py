"""Tests of glancesync.config.loader, with its ini and credentials helpers."""

from __future__ import annotations

import base64
import io
import logging
import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glancesync.config import loader as config
from glancesync.config.keys import ALIASES, MAIN_KEYS, TARGET_KEYS
from glancesync.config.loader import check_targets, load_settings
from glancesync.config.settings import ChecksumList, Credentials, Settings
from glancesync.model.errors import ConfigError, UsageError

PASSWORD = "Yously_did_you_think_this_was_the_real_password?"
B64 = base64.b64encode(PASSWORD.encode()).decode()
MD5 = "9046fd22131a96502cb0d85b4a406a5a"
SHA256 = "a" * 64
SHA512 = "0123456789abcdef" * 8
UUID = "6e240dd4-e304-4599-b7d8-e38e13cef058"
CRED = f"user,{B64},http://server:4730/v2.0,tenantid1"
#: The seed manual's example password, as printed: not valid base64 (63
#: characters, a '?', and the first 'W' of B64 lost).
SEED_B64 = "W91c2x5X2RpZF95b3VfdGhpbmtfdGhpc193YXNfdGhlX3JlYWxfcGFzc3dvcmQ/"

SEED_EXAMPLE = f"""\
[main]

# Region where are the images in the "master" target that are synchronized to
# the other regions of "master" regions and/or to regions in other targets.
master_region = Spain

preferable_order = Trento, Lannion, Waterford, Berlin, Prague

# The default value, max_children = 1, implies that synchronisation is fully
# sequential.
#
max_children = 1

[DEFAULT]

# Values in this section are default values for the other sections.
# To undefine "parameter1" put "parameter1="

# replace = 9046fd22131a96502cb0d85b4a406a5a

# rename = any

# dontupdate =

forcesyncs = 6e240dd4-e304-4599-b7d8-e38e13cef058

# Default condition is:
#  image.is_public and (not metadata_set or metadata_set.intersection(image.user_properties))
metadata_condition = image.is_public and\\
 ('nid' in image.user_properties or 'type' in image.user_properties)

# the list of userproperties to synchronise.
metadata_set = nid , type, sdc_aware, nid_version

only_tenant_images = True

[master]
credential = user,{B64},http://server:4730/v2.0,tenantid1
ignore_regions = Spain

[experimental]
credential = user2,{B64},http://server2:4730/v2.0,tenantid2
"""

ENV = {
    "OS_AUTH_URL": "https://keystone.example:5000/v3",
    "OS_USERNAME": "admin",
    "OS_PASSWORD": "s3cr3t-env-pw",
    "OS_PROJECT_NAME": "admin-project",
    "OS_REGION_NAME": "Spain2",
}


def load(
    text: str, overrides: tuple[str, ...] = (), environ: dict[str, str] | None = None
) -> Settings:
    return load_settings(io.StringIO(textwrap.dedent(text)), overrides, environ or {})


def load_error(
    text: str, overrides: tuple[str, ...] = (), environ: dict[str, str] | None = None
) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(text, overrides, environ)
    assert "\n" not in str(caught.value)
    return caught.value


@pytest.fixture
def no_default_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    missing = tmp_path / "absent" / "glancesync.conf"
    monkeypatch.setattr(config, "DEFAULT_CONFIG_PATH", str(missing))
    return missing


@pytest.fixture
def clouds_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A clouds.yaml with two clouds; returns the environment that names it."""
    path = tmp_path / "clouds.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            clouds:
              gs-test-cloud:
                region_name: CloudRegion
                auth:
                  auth_url: https://keystone.example/v3
                  username: u
                  password: cloud-secret
                  project_name: p
              gs-test-noregion:
                auth:
                  auth_url: https://keystone.example/v3
            """
        )
    )
    # openstacksdk's other users read os.environ; load_settings reads environ.
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    return {"OS_CLIENT_CONFIG_FILE": str(path)}


# --- the seed manual's file ------------------------------------------------------------


def test_seed_manual_example_loads() -> None:
    settings = load(SEED_EXAMPLE)
    assert settings.master_region == "Spain"
    assert settings.preferable_order == ("Trento", "Lannion", "Waterford", "Berlin", "Prague")
    assert settings.max_children == 1
    assert list(settings.targets) == ["master", "experimental"]
    master, experimental = settings.targets["master"], settings.targets["experimental"]
    assert master.credentials == Credentials(
        auth_url="http://server:4730/v3",
        username="user",
        password=PASSWORD,
        project_name="tenantid1",
    )
    assert experimental.credentials.username == "user2"
    assert experimental.credentials.auth_url == "http://server2:4730/v3"
    assert master.ignore_regions == ("Spain",)
    assert experimental.ignore_regions == ()
    for target in (master, experimental):
        assert target.forcesyncs == frozenset({UUID})
        assert target.metadata_set == frozenset({"nid", "type", "sdc_aware", "nid_version"})
        assert target.only_tenant_images is True
        assert target.replace == target.rename == target.dontupdate == ChecksumList()
        assert target.metadata_condition is not None
        assert target.metadata_condition.source == (
            "image.is_public and "
            "('nid' in image.user_properties or 'type' in image.user_properties)"
        )
    assert settings.source == "<stream>"


def test_seed_password_as_printed_in_the_manual_is_rejected() -> None:
    err = load_error(SEED_EXAMPLE.replace(B64, SEED_B64, 1))
    assert (err.section, err.key, err.detail) == (
        "master",
        "credential",
        "password is not valid base64",
    )


def test_seed_example_indented_as_in_the_manual_loads() -> None:
    indented = "".join(
        f" {line}" if line.strip() else line for line in SEED_EXAMPLE.splitlines(True)
    )
    settings = load_settings(io.StringIO(indented), environ={})
    assert settings.master.metadata_condition == load(SEED_EXAMPLE).master.metadata_condition


# --- DEFAULT, undefinition, multi-line values ------------------------------------------


def test_default_values_are_inherited_and_key_equals_nothing_undefines() -> None:
    settings = load(
        f"""\
        [main]
        master_region = R
        [DEFAULT]
        metadata_set = nid, type
        only_tenant_images = false
        rename = any
        credential = {CRED}
        [master]
        metadata_set =
        [other]
        only_tenant_images = yes
        rename =
        """
    )
    master, other = settings.targets["master"], settings.targets["other"]
    assert master.metadata_set == frozenset()
    assert other.metadata_set == frozenset({"nid", "type"})
    assert (master.only_tenant_images, other.only_tenant_images) == (False, True)
    assert (master.rename, other.rename) == (ChecksumList(any=True), ChecksumList())
    assert other.credentials.username == "user"


def test_main_does_not_inherit_default() -> None:
    settings = load(f"[main]\nmaster_region = R\n[DEFAULT]\nimages_dir = /x\ncredential = {CRED}\n")
    assert settings.master.images_dir == "/x"
    assert settings.log_dir == "."


def test_multi_line_lists_and_backslash_continuations() -> None:
    settings = load(
        f"""\
        [main]
        master_region = R
        preferable_order = A, B,
            C
        [master]
        credential = {CRED}
        metadata_set = nid,
          type,, sdc_aware
        metadata_condition = image.is_public and
            image.size > 0
        obsolete_syncprops = a\\
          ,b
        """
    )
    assert settings.preferable_order == ("A", "B", "C")
    assert settings.master.metadata_set == frozenset({"nid", "type", "sdc_aware"})
    assert settings.master.obsolete_syncprops == frozenset({"a", "b"})
    condition = settings.master.metadata_condition
    assert condition is not None and condition.source == "image.is_public and image.size > 0"


def test_all_keys_and_aliases() -> None:
    settings = load(
        f"""\
        [main]
        master_region = R
        max_children = 4
        log_dir = /var/log/gs
        lock_file = /run/gs.lock
        [master]
        username = u
        password = p w
        auth_url = https://k/v3
        project_name = pr
        user_domain_name = D1
        project_domain_name = D2
        interface = internalURL
        verify = off
        cacert = /etc/ca.pem
        forcesync = {UUID.upper()}
        replace = {MD5.upper()}, {SHA512}
        dontupdate = {SHA256}
        support_obsolete_images = 0
        obsolete_syncprops = nid
        list_images_timeout = 2.5
        images_path = /var/lib/glance/images
        [app]
        application_credential_id = id1
        application_credential_secret = sec
        keystone_url = http://k2:5000/v2.0/
        """
    )
    assert (settings.max_children, settings.log_dir, settings.lock_file) == (
        4,
        "/var/log/gs",
        "/run/gs.lock",
    )
    master = settings.master
    assert master.credentials == Credentials(
        auth_url="https://k/v3",
        username="u",
        password="p w",
        project_name="pr",
        user_domain_name="D1",
        project_domain_name="D2",
        interface="internal",
        verify=False,
        cacert="/etc/ca.pem",
    )
    assert master.forcesyncs == frozenset({UUID})
    assert master.replace == ChecksumList(frozenset({MD5, SHA512}))
    assert master.dontupdate == ChecksumList(frozenset({SHA256}))
    assert master.support_obsolete_images is False
    assert master.obsolete_syncprops == frozenset({"nid"})
    assert master.list_images_timeout == 2.5
    assert master.images_dir == "/var/lib/glance/images"
    assert settings.targets["app"].credentials == Credentials(
        auth_url="http://k2:5000/v3",
        application_credential_id="id1",
        application_credential_secret="sec",
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("any", ChecksumList(any=True)),
        (f"{MD5}, any", ChecksumList(frozenset({MD5}), any=True)),
        (f"ANY,{MD5}", ChecksumList(frozenset({MD5}), any=True)),
        (f"{MD5},,{SHA512}", ChecksumList(frozenset({MD5, SHA512}))),
        (f"{MD5.upper()}", ChecksumList(frozenset({MD5}))),
        (",", ChecksumList()),
    ],
)
def test_checksum_lists(value: str, expected: ChecksumList) -> None:
    settings = load(f"[main]\nmaster_region=R\n[master]\ncredential={CRED}\ndontupdate = {value}\n")
    assert settings.master.dontupdate == expected


def test_targets_mapping_is_read_only() -> None:
    settings = load(SEED_EXAMPLE)
    with pytest.raises(TypeError):
        settings.targets["x"] = settings.master  # type: ignore[index]


# --- overrides -------------------------------------------------------------------------

BASE = f"[main]\nmaster_region = R\n[master]\ncredential = {CRED}\n"


@pytest.mark.parametrize(
    ("override", "check"),
    [
        ("master.ignore_regions=A, B", lambda s: s.master.ignore_regions == ("A", "B")),
        ("rename=any", lambda s: s.master.rename.any),
        ("DEFAULT.rename=any", lambda s: s.master.rename.any),
        (
            "metadata_condition=image.name=='x'",
            lambda s: s.master.metadata_condition.source == "image.name=='x'",
        ),
        ("main.max_children=4", lambda s: s.max_children == 4),
        ("main.master_region = Other ", lambda s: s.master_region == "Other"),
        (f"new.credential={CRED}", lambda s: list(s.targets) == ["master", "new"]),
        ("master.CREDENTIAL=", lambda s: s.master.credentials.username == "admin"),
    ],
)
def test_overrides(override: str, check: object) -> None:
    settings = load(BASE, (override,), dict(ENV))
    assert callable(check) and check(settings)


def test_override_wins_over_the_file_whatever_the_alias() -> None:
    text = (
        "[main]\nmaster_region=R\n[master]\nusername=a\npassword=p\nauth_url=http://k\ntenant=t\n"
    )
    assert load(text, ("master.user=b",)).master.credentials.username == "b"


def test_override_fixes_a_bad_value_before_validation() -> None:
    assert load(BASE + "verify = maybe\n", ("master.verify=no",)).master.credentials.verify is False


@pytest.mark.parametrize("override", ["novalue", "=x", ".key=v", "master.=v"])
def test_bad_overrides(override: str) -> None:
    err = load_error(BASE, (override,))
    assert err.path == "override"
    assert "section.]key=value" in err.detail


# --- the master from the environment ---------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            ENV,
            Credentials(
                auth_url="https://keystone.example:5000/v3",
                username="admin",
                password="s3cr3t-env-pw",
                project_name="admin-project",
            ),
        ),
        (
            {**ENV, "OS_PROJECT_NAME": "", "OS_TENANT_NAME": "t1", "OS_AUTH_URL": "http://k/v2.0"},
            Credentials(
                auth_url="http://k/v3",
                username="admin",
                password="s3cr3t-env-pw",
                project_name="t1",
            ),
        ),
        (
            {
                **ENV,
                "OS_USER_DOMAIN_NAME": "ud",
                "OS_PROJECT_DOMAIN_NAME": "pd",
                "OS_INTERFACE": "admin",
                "OS_CACERT": "/ca.pem",
            },
            Credentials(
                auth_url="https://keystone.example:5000/v3",
                username="admin",
                password="s3cr3t-env-pw",
                project_name="admin-project",
                user_domain_name="ud",
                project_domain_name="pd",
                interface="admin",
                cacert="/ca.pem",
            ),
        ),
        (
            {
                "OS_APPLICATION_CREDENTIAL_ID": "aid",
                "OS_APPLICATION_CREDENTIAL_SECRET": "asecret",
                "OS_AUTH_URL": "http://k/v3",
                "OS_REGION_NAME": "R",
            },
            Credentials(
                auth_url="http://k/v3",
                application_credential_id="aid",
                application_credential_secret="asecret",
            ),
        ),
    ],
)
def test_master_from_environment(environ: dict[str, str], expected: Credentials) -> None:
    settings = load("[DEFAULT]\nmetadata_set = nid\n", environ=environ)
    assert settings.master.credentials == expected
    assert settings.master.metadata_set == frozenset({"nid"})
    assert settings.master_region == environ["OS_REGION_NAME"]


def test_file_settings_win_over_environment_for_the_master() -> None:
    text = "[main]\nmaster_region = Main\n[master]\ninterface = internal\n"
    settings = load(text, environ={**ENV, "OS_INTERFACE": "admin"})
    assert settings.master_region == "Main"
    assert settings.master.credentials.interface == "internal"
    assert settings.master.credentials.username == "admin"


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({}, "no credentials for the master target: set 'credential'"),
        ({"OS_USERNAME": "u"}, "lacks OS_AUTH_URL, OS_PASSWORD, OS_PROJECT_NAME"),
        ({"OS_APPLICATION_CREDENTIAL_ID": "a"}, "lacks OS_APPLICATION_CREDENTIAL_SECRET, OS_AUTH"),
        ({**ENV, "OS_INTERFACE": "sideways"}, "not an interface: 'sideways'"),
    ],
)
def test_master_environment_errors(environ: dict[str, str], fragment: str) -> None:
    err = load_error("[main]\nmaster_region = R\n", environ=environ)
    assert err.section == "master"
    assert fragment in err.detail


def test_no_file_at_the_default_path_uses_the_environment(no_default_file: Path) -> None:
    settings = load_settings(environ=ENV)
    assert settings.source is None
    assert settings.master_region == "Spain2"
    assert list(settings.targets) == ["master"]


def test_glancesync_config_names_the_file(tmp_path: Path, no_default_file: Path) -> None:
    path = tmp_path / "gs.conf"
    path.write_text(SEED_EXAMPLE)
    settings = load_settings(environ={"GLANCESYNC_CONFIG": str(path)})
    assert settings.source == str(path)
    assert "experimental" in settings.targets


@pytest.mark.parametrize("how", ["argument", "pathlike", "environment"])
def test_a_named_file_must_exist(how: str, tmp_path: Path, no_default_file: Path) -> None:
    path = tmp_path / "missing.conf"
    with pytest.raises(ConfigError) as caught:
        if how == "environment":
            load_settings(environ={**ENV, "GLANCESYNC_CONFIG": str(path)})
        else:
            load_settings(path if how == "pathlike" else str(path), environ=ENV)
    assert str(caught.value) == f"{path}: configuration file not found"


def test_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.conf"
    bad.write_bytes(b"[main]\nmaster_region = Espa\xf1a\n")
    for path in (tmp_path, bad):
        with pytest.raises(ConfigError, match="cannot read") as caught:
            load_settings(path, environ=ENV)
        assert caught.value.path == str(path)


def test_a_named_stream_reports_its_name(tmp_path: Path) -> None:
    path = tmp_path / "gs.conf"
    path.write_text("[main]\nmaster_region = R\n[master]\nverify = perhaps\n")
    with path.open() as stream, pytest.raises(ConfigError) as caught:
        load_settings(stream, environ=ENV)
    assert (
        str(caught.value) == f"{path} [master] verify: not a boolean: 'perhaps' (use true or false)"
    )


# --- clouds.yaml -----------------------------------------------------------------------


def test_os_cloud_gives_master_and_region(
    clouds_yaml: dict[str, str], capfd: pytest.CaptureFixture[str]
) -> None:
    settings = load("[DEFAULT]\n", environ={**clouds_yaml, "OS_CLOUD": "gs-test-cloud"})
    assert settings.master.credentials == Credentials(
        cloud="gs-test-cloud", region_name="CloudRegion"
    )
    assert settings.master_region == "CloudRegion"
    assert capfd.readouterr() == ("", "")


def test_cloud_key_in_a_target(clouds_yaml: dict[str, str]) -> None:
    text = (
        f"[main]\nmaster_region = R\n[master]\ncredential = {CRED}\n[c]\ncloud = gs-test-noregion\n"
    )
    settings = load(text, environ=clouds_yaml)
    assert settings.targets["c"].credentials == Credentials(cloud="gs-test-noregion")


def test_unknown_cloud(clouds_yaml: dict[str, str], capfd: pytest.CaptureFixture[str]) -> None:
    err = load_error(f"{BASE}[c]\ncloud = nosuch\n", environ=clouds_yaml)
    assert (err.section, err.key) == ("c", "cloud")
    assert "unknown cloud 'nosuch'" in err.detail and "gs-test-cloud" in err.detail
    assert capfd.readouterr() == ("", "")
    err = load_error("[main]\nmaster_region = R\n", environ={**clouds_yaml, "OS_CLOUD": "nosuch"})
    assert (err.section, err.key, err.path) == ("master", "OS_CLOUD", "environment")


def test_tls_keys_of_a_cloud_target_are_reported_once_as_ignored(
    clouds_yaml: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    text = f"{BASE}[DEFAULT]\nverify = false\n[c]\ncloud = gs-test-noregion\ncacert = /ca.pem\n"
    text += "[d]\ncloud = gs-test-noregion\n"
    with caplog.at_level(logging.WARNING):
        settings = load(text, environ=clouds_yaml)
    assert settings.targets["c"].credentials.cloud == "gs-test-noregion"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "<stream>: [c] verify, [c] cacert, [d] verify: ignored for a target authenticated by "
        "clouds.yaml; set verify or cacert in its clouds.yaml entry"
    ]


def test_tls_keys_of_the_master_on_os_cloud_are_reported_as_ignored(
    clouds_yaml: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    environ = {**clouds_yaml, "OS_CLOUD": "gs-test-cloud"}
    with caplog.at_level(logging.WARNING):
        load("[master]\nverify = false\n", environ=environ)
        load("[master]\ninterface = internal\n", environ=environ)
        load(f"{BASE}verify = false\n", environ=environ)  # a password target: used
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("<stream>: [master] verify: ignored")


# --- errors ----------------------------------------------------------------------------


#: The master with valid credentials, to put after [main].
M = f"[master]\ncredential = {CRED}\n"
U = "[master]\ncredential = u,"
ERRORS = [
    # (text after "[main]\nmaster_region = R\n", "section key", message fragment)
    (M + "pasword = x\n", "master pasword", "did you mean 'password'?"),
    (M + "zzz = x\n", "master zzz", "unknown key"),
    ("max_childs = 2\n", "main max_childs", "did you mean 'max_children'?"),
    ("ignore_regions = A\n", "main ignore_regions", "belongs in a target section"),
    ("[DEFAULT]\nmax_children = 2\n", "DEFAULT max_children", "belongs in [main]"),
    ("max_children = two\n", "main max_children", "not a whole number >= 1: 'two'"),
    ("max_children = 0\n", "main max_children", "not a whole number >= 1"),
    (M + "verify = maybe\n", "master verify", "not a boolean"),
    (M + "list_images_timeout = -1\n", "master list_images_timeout", "not a positive number"),
    (M + "list_images_timeout = nan\n", "master list_images_timeout", "not a positive number"),
    (M + f"rename = {MD5}, xyz\n", "master rename", "not a checksum: 'xyz'"),
    (M + f"replace = {MD5[:-1]}\n", "master replace", "not a checksum"),
    (M + f"replace = {MD5} {MD5}\n", "master replace", "not a checksum"),
    (f"[DEFAULT]\nforcesyncs = {UUID}, no-uuid\n" + M, "DEFAULT forcesyncs", "not an image UUID"),
    (M + "interface = outer\n", "master interface", "not an interface: 'outer'"),
    (U + "%%%%,http://k,t\n", "master credential", "password is not valid base64"),
    (U + "//79,http://k,t\n", "master credential", "password is not valid base64"),
    (U + f"{B64},http://k\n", "master credential", "expected 4 comma-separated fields"),
    (U + f"{B64},http://k,t,x\n", "master credential", "got 5"),
    (U + f"{B64},,t\n", "master credential", "the auth_url field is empty"),
    (U + f"{B64},ftp://k,t\n", "master credential", "not an http:// or https:// URL"),
    (M + "[other]\nverify = true\n", "other credential", "missing credential: set 'credential'"),
    (M + "[o]\nuser = u\npassword = p\n", "o keystone_url", "'keystone_url', 'tenant' not set"),
    (M + "cloud = c\n", "master cloud", "conflicts with 'credential'"),
    (f"[DEFAULT]\ncredential = {CRED}\n[master]\nusername = u\n", "master username", "[DEFAULT]"),
    ("[master]\napplication_credential_id = a\nuser = u\n", "master user", "conflicts with"),
    ("[master]\napplication_credential_id = a\n", "master application_credential_secret", ""),
    (M + "user = u\nusername = v\n", "master username", "'user' is set too"),
    (M + "metadata_condition = image.is_public and\n", "master metadata_condition", "invalid"),
    (M + "metadata_condition = __import__('os')\n", "master metadata_condition", "invalid"),
    (M + f"[bad:name]\ncredential = {CRED}\n", "bad:name", "target name"),
    (M + "verify = 1\nverify = 0\n", "master verify", "line 6: the key is set twice"),
    (M + "[master]\n", "master", "line 5: the section appears twice"),
]


@pytest.mark.parametrize(("text", "where", "fragment"), ERRORS)
def test_errors_name_section_and_key_on_one_line(text: str, where: str, fragment: str) -> None:
    section, _, key = where.partition(" ")
    err = load_error("[main]\nmaster_region = R\n" + text)
    assert (err.section, err.key) == (section, key or None)
    assert fragment in err.detail
    assert f"[{section}]" in str(err)
    assert not key or f"] {key}: " in str(err)
    assert err.path == "<stream>"
    assert PASSWORD not in str(err) and B64 not in str(err)


def test_missing_master_region() -> None:
    err = load_error(f"[master]\ncredential = {CRED}\n")
    assert str(err) == (
        "<stream> [main] master_region: "
        "no master region: set master_region in [main], or OS_REGION_NAME"
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("master_region = R\n", "line 1"),
        ("[main]\nmaster_region = R\nthis is no setting\n", "line 3"),
        (f"[main]\n[master]\ncredential\n{CRED}\n", "line 3"),
    ],
)
def test_syntax_errors_give_the_line_and_never_its_text(text: str, line: str) -> None:
    err = load_error(text)
    assert err.detail.startswith(f"{line}:")
    assert "setting" not in err.detail.split(":", 1)[0] and B64 not in str(err)


def test_control_characters_never_break_the_line() -> None:
    err = load_error(BASE, ("ma\nster\u2028.verify=x",))
    assert len(str(err).splitlines()) == 1


# --- secrets ---------------------------------------------------------------------------


def test_secrets_never_show_in_settings() -> None:
    text = f"""\
        [main]
        master_region = R
        [master]
        credential = {CRED}
        [app]
        application_credential_id = id
        application_credential_secret = app-secret-xyz
        keystone_url = http://k
        """
    settings = load(text)
    for shown in (str(settings), repr(settings), repr(settings.targets["app"])):
        assert PASSWORD not in shown and B64 not in shown and "app-secret-xyz" not in shown


@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o640, True), (0o600, False)])
def test_warns_when_others_can_read_passwords(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, mode: int, warned: bool
) -> None:
    path = tmp_path / "gs.conf"
    path.write_text(SEED_EXAMPLE)
    os.chmod(path, mode)
    with caplog.at_level(logging.WARNING, logger="glancesync.config.loader"):
        load_settings(path, environ={})
    assert bool(caplog.records) is warned
    assert all(PASSWORD not in r.getMessage() for r in caplog.records)


def test_no_warning_without_passwords(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "gs.conf"
    path.write_text("[main]\nmaster_region = R\n")
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="glancesync.config.loader"):
        load_settings(path, environ=ENV)
    assert not caplog.records


# --- check_targets ---------------------------------------------------------------------


def test_check_targets() -> None:
    settings = load(SEED_EXAMPLE)
    check_targets(settings, ["master", "experimental", "experimental:RegionOne", "Trento"])
    with pytest.raises(UsageError) as caught:
        check_targets(settings, ["Trento", "experimentl:RegionOne"])
    assert str(caught.value) == (
        "unknown target 'experimentl' (configured: master, experimental); "
        "did you mean 'experimental'?"
    )
    with pytest.raises(UsageError, match=r"^unknown targets 'a', 'b' \(configured"):
        check_targets(settings, ["a:X", "b:", "a:Y"])


# --- fuzz ------------------------------------------------------------------------------


def _mostly(
    common: st.SearchStrategy[str], rare: st.SearchStrategy[str], odds: int
) -> st.SearchStrategy[str]:
    """*common*, and *rare* once in *odds* draws (one_of would give them equal weight)."""
    return st.integers(0, odds - 1).flatmap(lambda draw: rare if draw == 0 else common)


_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
_LINE = st.text(st.characters(exclude_categories=["Cs", "Cc", "Zl", "Zp"]), max_size=30)
_KNOWN_KEYS = st.sampled_from([*MAIN_KEYS, *TARGET_KEYS, *ALIASES])
_KEYS = _mostly(_KNOWN_KEYS, _LINE.map(lambda text: text[:8]), 5)
_KNOWN_VALUES = st.sampled_from(
    ["", CRED, "true", "0", "any", MD5, UUID, "image.is_public", "nid, type", "3", "gs-nosuch"]
)
_VALUES = _mostly(_KNOWN_VALUES, st.one_of(_LINE, _LINE.map(lambda text: f"a\n  {text}")), 3)
_ENTRY = st.tuples(_KEYS, st.sampled_from(["=", ":", " = "]), _VALUES).map("".join)
_SECTIONS = st.lists(
    st.tuples(
        st.sampled_from(["main", "DEFAULT", "master", "other", "a b", "x:y"]),
        st.lists(_mostly(_ENTRY, _TEXT, 20), max_size=6),
    ),
    max_size=4,
    unique_by=lambda section: section[0],
)
_FILES = _SECTIONS.map(lambda sections: "\n".join(f"[{n}]\n" + "\n".join(e) for n, e in sections))
_OVERRIDE = st.tuples(_KEYS, _VALUES).map("=".join)
_OVERRIDES = st.lists(_mostly(_OVERRIDE, _TEXT, 10), max_size=2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_FILES, overrides=_OVERRIDES, environ=st.sampled_from([{}, ENV]))
def test_fuzz_only_settings_or_one_line_config_errors(
    text: str, overrides: list[str], environ: dict[str, str]
) -> None:
    try:
        result = load_settings(io.StringIO(text), overrides, environ=environ)
    except ConfigError as err:
        assert len(str(err).splitlines()) == 1
    else:
        assert isinstance(result, Settings) and "master" in result.targets
