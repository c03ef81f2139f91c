"""Running one import to its end (glancesync/cloud/imports.py), against a scripted Glance:
failures and stalls come back as ImportFailed with the region's own words."""

from __future__ import annotations

from typing import Any

import pytest

from glancesync.cloud import imports
from glancesync.model.errors import ImageError, ImportFailed
from glancesync.model.image import Image, image_from_glance
from glancesync.model.region import RegionRef

R2 = RegionRef("master", "RegionTwo")


class Scripted:
    """Answers in turn for the image; records the requests made."""

    def __init__(self, states: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> None:
        self.states, self.tasks, self.calls = states, tasks, []  # type: ignore[var-annotated]

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.calls.append((method, url, kwargs.get("json")))
        if url.endswith("/tasks"):
            return {"tasks": self.tasks}
        if url.startswith("/v2/info/usage"):
            raise ImageError(R2.full, "usage", "HTTP 404: no such API")
        return None

    def get(self, region: RegionRef, image_id: str) -> Image:
        doc = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return image_from_glance({"id": image_id, "name": "n", **doc}, region.full)


@pytest.fixture(autouse=True)
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imports, "POLL_SECONDS", 0)


def test_a_finished_import_in_every_store_returns_the_image() -> None:
    glance = Scripted(
        [
            {"status": "importing", "os_glance_importing_to_stores": "fs,fs2"},
            {"status": "active", "stores": "fs", "os_glance_importing_to_stores": "fs2"},
            {"status": "active", "stores": "fs,fs2", "os_glance_importing_to_stores": ""},
        ],
        [],
    )
    got = imports.run_import(
        glance.request, glance.get, R2, "i1", {"name": "glance-direct"}, ("fs", "fs2"), 60
    )
    assert got.raw["stores"] == "fs,fs2"
    assert glance.calls[0] == (
        "POST",
        "/v2/images/i1/import",
        {
            "method": {"name": "glance-direct"},
            "stores": ["fs", "fs2"],
            "all_stores_must_succeed": True,
        },
    )


def test_a_failed_import_reports_the_tasks_message() -> None:
    failure = {"status": "failure", "message": "Image format mismatch"}
    glance = Scripted([{"status": "queued", "os_glance_failed_import": "fs"}], [failure])
    with pytest.raises(
        ImportFailed,
        match=r"glance-direct import failed \(stores fs\): "
        "Image format mismatch",
    ):
        imports.run_import(glance.request, glance.get, R2, "i1", {"name": "glance-direct"}, (), 60)


def test_a_stalled_import_is_given_up_at_its_deadline() -> None:
    glance = Scripted([{"status": "importing"}], [{"status": "processing", "message": ""}])
    with pytest.raises(ImportFailed, match=r"not done after 0 s \(status importing\)"):
        imports.run_import(glance.request, glance.get, R2, "i1", {"name": "copy-image"}, (), 0)


def test_an_offer_without_usage_blocks_nothing() -> None:
    answers = {
        "/v2/info/import": {"import-methods": {"value": ["glance-direct", "bad name!"]}},
        "/v2/info/stores": {"stores": [{"id": "fs"}, {"id": "../x"}, "junk"]},
    }

    def request(method: str, url: str, **kwargs: Any) -> Any:
        if url in answers:
            return answers[url]
        raise ImageError(R2.full, "usage", "HTTP 404")

    offer = imports.read_offer(request)
    assert offer.import_methods == ("glance-direct",) and offer.stores == ("fs",)
    assert offer.usage is None and offer.quota("image_size_total") is None
