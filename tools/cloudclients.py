"""Direct clients of the local cloud (tools/devcloud.py), for tests, benchmarks and the demo.

They talk to Keystone and Glance without glancesync, so that what they
arrange and check does not depend on the code under test.
"""

from __future__ import annotations

from typing import Any

#: Credentials the local cloud creates: cloud -> (auth_url, user, password, project).
AUTH = {
    "master": ("http://127.0.0.1:5000/v3", "admin", "adminpass", "admin"),
    "other": ("http://127.0.0.1:5001/v3", "admin", "otherpass", "admin"),
    "user2": ("http://127.0.0.1:5000/v3", "user2", "user2pass", "demo2"),
}


def session_for(cloud: str) -> Any:
    """A keystoneauth session as ``cloud``'s user, in the Default domain."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3

    url, user, password, project = AUTH[cloud]
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
