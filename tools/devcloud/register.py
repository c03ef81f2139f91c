"""Keystone registration and image upload, run under the cloud's own venv python.

These steps need openstacksdk, which only the cloud's venv has; devcloud's
stdlib part runs ``<venv>/bin/python -m tools.devcloud.register STATE ...``.
Every step is idempotent: running it again changes nothing.

    register KS              service user, projects, roles, regions, image endpoints
    fault-regions on|off     add or remove the fault-test regions' endpoints
    add-image FILE NAME REGION VISIBILITY DISK_FORMAT CONTAINER_FORMAT
"""

import os
import re
import sys

from tools.devcloud import topology
from tools.devcloud.topology import (
    FAULT_REGIONS,
    SERVICE_PASSWORD,
    SERVICE_USER,
    USER2,
    USER2_PASSWORD,
    USER2_PROJECT,
)

IMAGE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def connect(lay, cloud, region):
    import openstack  # only available in the venv

    url, user, password, project = lay.account(cloud)
    return openstack.connect(
        auth_url=url,
        username=user,
        password=password,
        project_name=project,
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=region,
    )


def identity(lay, ks):
    return connect(lay, topology.keystone(ks).cloud, topology.keystone(ks).region).identity


def image_service(idn):
    return idn.find_service("glance") or idn.create_service(name="glance", type="image")


def set_endpoints(idn, service, endpoints):
    """Public and internal endpoint of each (region, port); existing ones are corrected."""
    existing = {(e.region_id, e.interface): e for e in idn.endpoints(service_id=service.id)}
    for region, url in endpoints:
        if not idn.find_region(region):
            idn.create_region(id=region)
        for iface in ("public", "internal"):
            old = existing.get((region, iface))
            if old is None:
                idn.create_endpoint(
                    service_id=service.id, interface=iface, region_id=region, url=url
                )
            elif old.url != url:
                idn.update_endpoint(old, url=url)


def register(lay, ks):
    """Service user glance, project demo2 with user2, the image service and its endpoints."""
    idn = identity(lay, ks)

    def ensure(find, create, key, **attrs):
        return find(key) or create(**attrs)

    def ensure_user(uname, password, project):
        attrs = dict(name=uname, password=password, default_project_id=project.id)
        return ensure(idn.find_user, idn.create_user, uname, domain_id="default", **attrs)

    def ensure_project(pname):
        return ensure(idn.find_project, idn.create_project, pname, name=pname, domain_id="default")

    service_project, demo2 = ensure_project("service"), ensure_project(USER2_PROJECT)
    roles = {r: ensure(idn.find_role, idn.create_role, r, name=r) for r in ("admin", "service")}
    roles["member"] = ensure(idn.find_role, idn.create_role, "member", name="member")
    glance_user = ensure_user(SERVICE_USER, SERVICE_PASSWORD, service_project)
    idn.assign_project_role_to_user(service_project, glance_user, roles["admin"])
    idn.assign_project_role_to_user(service_project, glance_user, roles["service"])
    user2 = ensure_user(USER2, USER2_PASSWORD, demo2)
    idn.assign_project_role_to_user(demo2, user2, roles["member"])
    endpoints = lay.image_endpoints(ks, faults=lay.faults_in_catalog)
    service = image_service(idn)
    set_endpoints(idn, service, [(r, f"http://{lay.host}:{p}") for r, p in endpoints])
    limited = [g.region for g in topology.GLANCES if g.limits and g.keystone == ks]
    if limited:
        reader = ensure(idn.find_role, idn.create_role, "reader", name="reader")
        # oslo.limit reads the limits and finds Glance's endpoint with a system-scoped token
        idn.put(f"/system/users/{glance_user.id}/roles/{reader.id}")
        register_limits(idn, service, limited)
    print(f"{ks}: registration done")


def register_limits(idn, service, regions):
    """The registered limits of topology.LIMITS in each region (kept at those values)."""
    for region in regions:
        query = f"/registered_limits?service_id={service.id}&region_id={region}"
        have = {r["resource_name"]: r for r in idn.get(query).json()["registered_limits"]}
        for resource, value in topology.LIMITS.items():
            old = have.get(resource)
            if old is None:
                body = {"service_id": service.id, "region_id": region}
                body |= {"resource_name": resource, "default_limit": value}
                idn.post("/registered_limits", json={"registered_limits": [body]})
            elif old["default_limit"] != value:
                patch = {"registered_limit": {"default_limit": value}}
                idn.patch(f"/registered_limits/{old['id']}", json=patch)


def fault_regions(lay, on):
    """Put the fault-test regions into the master Keystone's catalog, or take them out."""
    idn = identity(lay, "ks1")
    service = image_service(idn)
    if on:
        wanted = [(r, p) for r, p in lay.image_endpoints("ks1", True) if r in FAULT_REGIONS]
        set_endpoints(idn, service, [(r, f"http://{lay.host}:{p}") for r, p in wanted])
    else:
        for e in list(idn.endpoints(service_id=service.id)):
            if e.region_id in FAULT_REGIONS:
                idn.delete_endpoint(e)
    print(f"fault-test regions {'registered' if on else 'deregistered'}")


def add_image(lay, path, name, region, visibility, disk_format, container_format):
    """Create an image in `region` as its cloud's admin and upload the file, streamed."""
    conn = connect(lay, topology.cloud_of(region), region)
    base = conn.session.get_endpoint(service_type="image", interface="public", region_name=region)
    if not base:
        raise SystemExit(f"add-image: region {region} has no image endpoint")
    base = base.rstrip("/") + "/v2/images"
    body = dict(
        name=name,
        visibility=visibility,
        disk_format=disk_format,
        container_format=container_format,
    )
    image_id = str(conn.session.post(base, json=body).json().get("id", ""))
    if not IMAGE_ID.fullmatch(image_id):
        raise SystemExit(f"add-image: {region} answered an image id that is not a UUID")
    size = os.path.getsize(path)
    with open(path, "rb") as data:
        conn.session.put(
            f"{base}/{image_id}/file",
            data=data,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
    image = conn.session.get(f"{base}/{image_id}").json()
    print(f"{region}: image {name} ({image_id}) {image.get('status')}, {size} bytes, {visibility}")


def main(argv):
    state, action, *rest = argv
    lay = topology.load(state)
    if action == "register":
        register(lay, rest[0])
    elif action == "fault-regions":
        fault_regions(lay, rest[0] == "on")
    elif action == "add-image":
        add_image(lay, *rest)
    else:
        raise SystemExit(f"unknown action {action}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
