"""Glance's interoperable import, and what a region offers for it, over real servers.

Kept beside :mod:`glancesync.cloud.glance` (whose facade delegates here):
reading ``/v2/info/import``, ``/v2/info/stores`` and ``/v2/info/usage``,
and running one import to its end -- active and in every store asked, or
failed, or past its deadline -- with the region's own error text read from
the image's ``os_glance_failed_import`` field and its tasks
(doc/manual.rst, "Regions that store differently").
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from glancesync.model.errors import ImageError, ImportFailed
from glancesync.model.image import Image
from glancesync.model.region import RegionRef
from glancesync.model.storage import RegionOffer, offer, usage_from
from glancesync.model.text import one_line

#: How often a running import is checked on.
POLL_SECONDS = 1.0
#: At most this many import methods, stores and tasks are read from one answer.
MAX_ENTRIES = 64
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

Request = Callable[..., Any]
GetImage = Callable[[RegionRef, str], Image]


def read_offer(request: Request) -> RegionOffer:
    """Import methods, stores and usage; a part the region does not have is None/empty."""
    methods = _names(_optional(request, "/v2/info/import"), ("import-methods", "value"))
    stores_doc = _optional(request, "/v2/info/stores")
    stores = None
    if isinstance(stores_doc, dict) and isinstance(stores_doc.get("stores"), list):
        stores = tuple(
            str(s["id"])
            for s in stores_doc["stores"][:MAX_ENTRIES]
            if isinstance(s, dict) and isinstance(s.get("id"), str) and _NAME.fullmatch(s["id"])
        )
    usage_doc = _optional(request, "/v2/info/usage")
    usage = None
    if isinstance(usage_doc, dict) and isinstance(usage_doc.get("usage"), dict):
        usage = usage_from(usage_doc["usage"])
    return offer(methods, stores, usage)


def _optional(request: Request, url: str) -> Any:
    """The answer, or None when the region answers 4xx (it has no such API)."""
    try:
        return request("GET", url, image=url.rsplit("/", 1)[-1])
    except ImportFailed:
        raise
    except ImageError:
        return None


def _names(doc: Any, path: Sequence[str]) -> tuple[str, ...]:
    for key in path:
        doc = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(doc, list):
        return ()
    return tuple(str(m) for m in doc[:MAX_ENTRIES] if isinstance(m, str) and _NAME.fullmatch(m))


def run_import(
    request: Request,
    get_image: GetImage,
    region: RegionRef,
    image_id: str,
    method: dict[str, Any],
    stores: Sequence[str],
    timeout: float,
) -> Image:
    """Start an import and wait for its end; ImportFailed (with the region's words) if not.

    Done means active, nothing left in ``os_glance_importing_to_stores``, and
    every store asked in the image's ``stores``.
    """
    body: dict[str, Any] = {"method": method}
    if stores:
        body.update(stores=list(stores), all_stores_must_succeed=True)
    url = f"/v2/images/{image_id}/import"
    request("POST", url, image=image_id, json=body)
    name = str(method.get("name"))
    deadline = time.monotonic() + timeout
    while True:
        image = get_image(region, image_id)
        failed = _field(image, "os_glance_failed_import")
        if failed or image.status in ("killed", "deleted", "deactivated"):
            why = _task_error(request, image_id) or f"status {image.status}"
            stores_text = f" (stores {failed})" if failed else ""
            raise ImportFailed(region.full, image_id, f"{name} import failed{stores_text}: {why}")
        pending = _field(image, "os_glance_importing_to_stores")
        held = {s.strip() for s in _field(image, "stores").split(",") if s.strip()}
        if image.status == "active" and not pending and held >= set(stores):
            return image
        if time.monotonic() > deadline:
            why = _task_error(request, image_id)
            tail = f": {why}" if why else ""
            raise ImportFailed(
                region.full,
                image_id,
                f"{name} import not done after {timeout:.0f} s (status {image.status}){tail}",
            )
        time.sleep(POLL_SECONDS)


def _field(image: Image, key: str) -> str:
    value = image.raw.get(key)
    return one_line(value, 200) if isinstance(value, str) else ""


def _task_error(request: Request, image_id: str) -> str:
    """The message of the image's latest failed task (``GET /v2/images/{id}/tasks``)."""
    try:
        doc = request("GET", f"/v2/images/{image_id}/tasks", image=image_id)
    except ImageError:
        return ""
    tasks = doc.get("tasks") if isinstance(doc, dict) else None
    if not isinstance(tasks, list):
        return ""
    messages = [
        str(t.get("message"))
        for t in tasks[:MAX_ENTRIES]
        if isinstance(t, dict) and t.get("status") == "failure" and t.get("message")
    ]
    return one_line(messages[-1], 300) if messages else ""
