"""The files a cloud leaves in its state dir for its clients (stdlib only).

state.json   the ports and venv actually used (read back by topology.load)
clouds.yaml  clouds master, other, user2, other-user2; each lists its Keystone's
             regions under ``regions:`` (first = default), because openstacksdk
             refuses a region_name that clouds.yaml does not list
glancesync.conf, env.sh  (``. STATE/env.sh`` sets OS_CLIENT_CONFIG_FILE and
             GLANCESYNC_CONFIG)
"""

import os

from tools.devcloud.servers import write
from tools.devcloud.topology import (
    ACCOUNTS,
    FAULT_REGIONS,
    KEYSTONES,
    MASTER_REGION,
    STATE_FILE,
    STORAGE_REGIONS,
    keystone,
)


def write_state(lay):
    write(os.path.join(lay.state, STATE_FILE), lay.to_json())


def write_client_files(lay):
    def cloud(cname):
        a = ACCOUNTS[cname]
        regions = lay.catalog_regions(a.keystone)
        default = keystone(a.keystone).region
        regions.sort(key=lambda r: r != default)  # stable: the rest stay sorted
        return (
            f"  {cname}:\n    auth:\n      auth_url: {lay.url(a.keystone)}\n"
            f"      username: {a.user}\n      password: {a.password}\n"
            f"      project_name: {a.project}\n      user_domain_name: Default\n"
            f"      project_domain_name: Default\n    regions: [{', '.join(regions)}]\n"
            f"    interface: public\n    identity_api_version: 3\n"
        )

    write(os.path.join(lay.state, "clouds.yaml"), "clouds:\n" + "".join(map(cloud, ACCOUNTS)))
    conf = f"[main]\nmaster_region = {MASTER_REGION}\n"
    for k in KEYSTONES:
        conf += (
            f"[{k.cloud}]\nuser = admin\npassword = {k.admin_password}\n"
            f"keystone_url = {lay.url(k.name)}\ntenant = admin\n"
        )
        ignored = [
            r
            for r, _ in lay.image_endpoints(k.name, True)
            if r in (*FAULT_REGIONS, *STORAGE_REGIONS)
        ]
        if ignored:  # the fault tests register them for a while: only tests naming them go there
            conf += f"ignore_regions = {', '.join(ignored)}\n"
    write(os.path.join(lay.state, "glancesync.conf"), conf)
    write(
        os.path.join(lay.state, "env.sh"),
        f"export OS_CLIENT_CONFIG_FILE={lay.state}/clouds.yaml\n"
        f"export GLANCESYNC_CONFIG={lay.state}/glancesync.conf\n",
    )
