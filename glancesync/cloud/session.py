"""One keystoneauth session per target: password, application credential or clouds.yaml.

The session carries authentication, endpoint discovery and connection
retries for every client of the target's regions (:mod:`glancesync.cloud.glance`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from keystoneauth1 import session as ksa_session
from keystoneauth1.identity import generic as ksa_generic
from keystoneauth1.identity import v3 as ksa_v3

from glancesync.config.settings import Credentials
from glancesync.model.errors import RegionError
from glancesync.model.text import one_line

USER_AGENT = "glancesync"


def _is_v3_url(url: str) -> bool:
    return urlsplit(url).path.rstrip("/").endswith("/v3")


def _v3_url(url: str) -> str:
    return url if _is_v3_url(url) else url.rstrip("/") + "/v3"


@dataclass(frozen=True)
class Target:
    """A target's authenticated session and what was learnt with it."""

    session: ksa_session.Session
    interface: str
    secrets: tuple[str, ...]


def make_target(
    target: str, creds: Credentials, secrets: tuple[str, ...], timeout: float, retries: int
) -> Target:
    """The authenticated session of one target (not yet used: no request is made)."""
    if creds.cloud:
        return _cloud_target(target, creds, secrets, timeout)
    if not creds.auth_url:
        raise RegionError(target, "no auth_url configured")
    auth: Any
    if creds.application_credential_id:
        auth = ksa_v3.ApplicationCredential(
            auth_url=_v3_url(creds.auth_url),
            application_credential_id=creds.application_credential_id,
            application_credential_secret=creds.application_credential_secret or "",
        )
    else:
        if not creds.username or creds.password is None:
            raise RegionError(target, "no username/password configured")
        # A URL that names /v3 needs no version discovery (one request less,
        # and no warning when Keystone is down).
        plugin = ksa_v3.Password if _is_v3_url(creds.auth_url) else ksa_generic.Password
        auth = plugin(
            auth_url=creds.auth_url,
            username=creds.username,
            password=creds.password,
            project_name=creds.project_name,
            user_domain_name=creds.user_domain_name,
            project_domain_name=creds.project_domain_name,
        )
    verify: bool | str = creds.verify
    if creds.verify and creds.cacert:
        verify = creds.cacert
    session = ksa_session.Session(
        auth=auth,
        verify=verify,
        timeout=timeout,
        app_name=USER_AGENT,
        # also covers the token request, which no adapter sees
        connect_retries=retries,
    )
    return Target(session=session, interface=creds.interface or "public", secrets=secrets)


def _cloud_target(
    target: str, creds: Credentials, secrets: tuple[str, ...], timeout: float
) -> Target:
    # openstacksdk is heavy to import; only targets configured with a
    # clouds.yaml entry pay for it.
    from openstack import config as os_config
    from openstack import exceptions as os_exc

    try:
        with warnings.catch_warnings():
            # openstacksdk warns about optional metrics backends on every load
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            cloud = os_config.OpenStackConfig().get_one(cloud=creds.cloud)
    except os_exc.OpenStackCloudException as exc:
        raise RegionError(
            target, one_line(f"cloud {creds.cloud!r}: {exc}", secrets=secrets)
        ) from exc
    auth_conf = cloud.config.get("auth") or {}
    more = tuple(
        str(auth_conf[k])
        for k in ("password", "application_credential_secret", "token")
        if auth_conf.get(k)
    )
    session = cloud.get_session()
    if session.timeout is None:
        session.timeout = timeout
    interface = creds.interface or "public"
    # The cloud entry's interface wins over the default, not over an explicit choice.
    if interface == "public" and cloud.config.get("interface"):
        interface = str(cloud.config["interface"])
    return Target(session=session, interface=interface, secrets=secrets + more)
