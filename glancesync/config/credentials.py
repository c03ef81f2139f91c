"""How a target authenticates: the credential part of :mod:`glancesync.config.loader`.

A target authenticates in exactly one way:

* ``cloud = NAME``, an entry of clouds.yaml, checked with openstacksdk's own
  loader in :mod:`glancesync.cloud.cloudsyaml` (never parsed by hand);
* an application credential (id, secret and ``keystone_url``);
* user, password, ``keystone_url`` and tenant, possibly as the FIWARE line
  ``credential = user,BASE64_PASSWORD,auth_url,tenant``.

A Keystone URL ending in ``/v2.0`` (old FIWARE files) is rewritten to
``/v3``: Keystone v2 is gone, and both versions live under the same root.

The master target may instead take its credentials from the ``OS_*``
variables, as the old tool did. No message ever holds a secret.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import replace

from glancesync.cloud.cloudsyaml import cloud_region
from glancesync.config.ini import Entry, error, fail, quote
from glancesync.config.keys import COMMON_KEYS, WAY_KEYS, interface, parsed
from glancesync.config.settings import Credentials
from glancesync.model.region import MASTER

_PASSWORD = ("user", "password", "keystone_url", "tenant")
_APPLICATION = ("application_credential_id", "application_credential_secret", "keystone_url")
_ENV_PASSWORD = ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME")
_ENV_APPLICATION = (
    "OS_APPLICATION_CREDENTIAL_ID",
    "OS_APPLICATION_CREDENTIAL_SECRET",
    "OS_AUTH_URL",
)
_ENV_COMMON = {
    "interface": "OS_INTERFACE",
    "cacert": "OS_CACERT",
    "user_domain_name": "OS_USER_DOMAIN_NAME",
    "project_domain_name": "OS_PROJECT_DOMAIN_NAME",
}
_HOW = "set 'credential', 'cloud', or user, password, keystone_url and tenant"


def target_credentials(
    name: str, values: Mapping[str, Entry], env: Mapping[str, str], origin: str | None
) -> Credentials:
    """The credentials of target *name*, from its effective *values*.

    *values* maps canonical key names to their entries (empty ones removed).
    The master with no credential key at all reads *env* instead.
    """
    base = _common(values)
    present = [key for key in WAY_KEYS if key in values]
    if not present:
        if name == MASTER:
            return _from_environment(base, values, env, origin)
        raise error(f"missing credential: {_HOW}", origin, name, "credential")
    allowed: tuple[str, ...] = (present[0],)
    if present[0].startswith("application"):
        allowed = _APPLICATION
    elif present[0] in _PASSWORD:
        allowed = _PASSWORD
    clashes = [key for key in present if key not in allowed]
    if clashes:
        first, other = values[present[0]], values[clashes[0]]
        message = (
            f"conflicts with {quote(first.key)} (in [{first.section}]): authenticate "
            "in one way; write 'key =' to undefine an inherited key"
        )
        raise error(message, other.origin, name, other.key)
    if allowed == ("cloud",):
        return replace(
            base, cloud=values["cloud"].value, region_name=cloud_region(values["cloud"], env)
        )
    if allowed == ("credential",):
        user, password, url, tenant = _fiware_credential(values["credential"])
        return replace(base, auth_url=url, username=user, password=password, project_name=tenant)
    missing = [key for key in allowed if key not in values]
    if missing:
        message = f"incomplete credentials: {', '.join(map(quote, missing))} not set"
        raise error(message, values[present[0]].origin, name, missing[0])
    url = auth_url(values["keystone_url"])
    if allowed == _APPLICATION:
        return replace(
            base,
            auth_url=url,
            application_credential_id=values["application_credential_id"].value,
            application_credential_secret=values["application_credential_secret"].value,
        )
    user, password, tenant = (values[key].value for key in ("user", "password", "tenant"))
    return replace(base, auth_url=url, username=user, password=password, project_name=tenant)


def _common(values: Mapping[str, Entry]) -> Credentials:
    """The credentials' fields that every way shares, as the file sets them."""
    return Credentials(**parsed(COMMON_KEYS, values))


def _from_environment(
    base: Credentials, values: Mapping[str, Entry], env: Mapping[str, str], origin: str | None
) -> Credentials:
    """The master's credentials from ``OS_*`` variables (the file gave none).

    What the file sets (interface, cacert, domains) wins over the environment.
    """

    def get(var: str) -> str | None:
        return (env.get(var) or "").strip() or None

    def entry(var: str) -> Entry:
        return Entry(get(var) or "", MASTER, var, "environment")

    common: dict[str, str] = {}
    for key, var in _ENV_COMMON.items():
        value = get(var)
        if key not in values and value:
            common[key] = interface(entry(var)) if key == "interface" else value
    base = replace(
        base,
        interface=common.get("interface", base.interface),
        cacert=common.get("cacert", base.cacert),
        user_domain_name=common.get("user_domain_name", base.user_domain_name),
        project_domain_name=common.get("project_domain_name", base.project_domain_name),
    )
    if get("OS_CLOUD"):
        cloud = entry("OS_CLOUD")
        return replace(base, cloud=cloud.value, region_name=cloud_region(cloud, env))
    found = {var: get(var) for var in (*_ENV_APPLICATION, *_ENV_PASSWORD)}
    found["OS_PROJECT_NAME"] = get("OS_PROJECT_NAME") or get("OS_TENANT_NAME")
    app = found["OS_APPLICATION_CREDENTIAL_ID"] or found["OS_APPLICATION_CREDENTIAL_SECRET"]
    wanted = _ENV_APPLICATION if app else _ENV_PASSWORD
    lacking = [var for var in wanted if not found[var]]
    if len(lacking) == len(wanted):
        message = (
            f"no credentials for the master target: {_HOW} in [master], or OS_CLOUD, "
            "or OS_AUTH_URL, OS_USERNAME, OS_PASSWORD and OS_PROJECT_NAME"
        )
        raise error(message, origin, MASTER)
    if lacking:
        message = (
            f"no credentials for the master target: the environment lacks {', '.join(lacking)}"
        )
        raise error(message, origin, MASTER)
    url = auth_url(entry("OS_AUTH_URL"))
    if app:
        return replace(
            base,
            auth_url=url,
            application_credential_id=found["OS_APPLICATION_CREDENTIAL_ID"],
            application_credential_secret=found["OS_APPLICATION_CREDENTIAL_SECRET"],
        )
    return replace(
        base,
        auth_url=url,
        username=found["OS_USERNAME"],
        password=found["OS_PASSWORD"],
        project_name=found["OS_PROJECT_NAME"],
    )


def auth_url(entry: Entry) -> str:
    """An http(s) Keystone URL; ``/v2.0`` at its end becomes ``/v3``.

    The URL is split here as the client libraries will split it, so that a
    bad host or port is this one line now, not a traceback at the first
    request. The message never quotes the URL: it may hold a password.
    """
    url = entry.value.strip()
    if not re.match(r"https?://[^\s/]", url, re.IGNORECASE) or re.search(r"\s", url):
        raise fail(entry, "not an http:// or https:// URL")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        netloc = url.split("/", 3)[2]
        if "[" in netloc or "]" in netloc:
            raise fail(entry, "not a valid URL: bad IPv6 address in [ ]") from None
        raise fail(entry, "not a valid URL: the port is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise fail(entry, "not a valid URL: no host name")
    return re.sub(r"/v2\.0/?$", "/v3", url)


def _fiware_credential(entry: Entry) -> tuple[str, str, str, str]:
    """``user,BASE64_PASSWORD,auth_url,tenant`` -> its four values, decoded."""
    fields = [field.strip() for field in entry.value.split(",")]
    if len(fields) != 4:
        message = "expected 4 comma-separated fields user,BASE64_PASSWORD,auth_url,tenant"
        raise fail(entry, f"{message}; got {len(fields)}")
    names = ("user", "password", "auth_url", "tenant")
    empty = [name for name, value in zip(names, fields, strict=True) if not value]
    if empty:
        raise fail(entry, f"the {empty[0]} field is empty")
    user, encoded, url, tenant = fields
    return user, _decode_password(entry, encoded), auth_url(replace(entry, value=url)), tenant


def _decode_password(entry: Entry, encoded: str) -> str:
    """Standard or URL-safe base64, padding optional, of UTF-8 text."""
    padded = encoded + "=" * (-len(encoded) % 4)
    for altchars in (None, b"-_"):
        try:
            password = base64.b64decode(padded, altchars=altchars, validate=True).decode()
        except (binascii.Error, ValueError):
            continue
        if password:
            return password
    raise fail(entry, "password is not valid base64")
