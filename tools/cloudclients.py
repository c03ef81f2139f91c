"""Direct clients of the local cloud (tools/devcloud), for tests, benchmarks and the demo.

They talk to Keystone and Glance without glancesync, so that what they
arrange and check does not depend on the code under test. Addresses and
accounts come from the running cloud's layout (tools/devcloud/topology.py).
"""

from __future__ import annotations

from typing import Any

from tools.devcloud import topology


def session_for(cloud: str, layout: topology.Layout | None = None) -> Any:
    """A keystoneauth session as ``cloud``'s user (``master``, ``other``, ``user2``...)."""
    return password_session(*(layout or topology.load()).account(cloud))


def password_session(url: str, user: str, password: str, project: str) -> Any:
    """A keystoneauth session of a user and project of the Default domain."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    auth = v3.Password(
        auth_url=url,
        username=user,
        password=password,
        project_name=project,
        user_domain_name="Default",
        project_domain_name="Default",
    )
    return session.Session(auth=auth)


def glance_for(session: Any, region: str) -> Any:
    """A glanceclient v2 client of ``region`` on that session."""
    from glanceclient import Client

    return Client("2", session=session, region_name=region, interface="public")
