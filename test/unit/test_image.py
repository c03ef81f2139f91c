"""Reading Glance v2 image documents, including surprising ones."""

from __future__ import annotations

import pytest

from glancesync.model.image import MalformedImage, image_from_glance


def test_system_fields_and_properties_are_split() -> None:
    image = image_from_glance(
        {
            "id": "i",
            "name": "n",
            "size": 3,
            "visibility": "public",
            "os_hidden": True,
            "nid": "1",
            "stores": "fs",
            "os_glance_x": "y",
        },
        region="R",
    )
    assert (image.name, image.size, image.is_public, image.hidden) == ("n", 3, True, True)
    assert dict(image.properties) == {"nid": "1"}


@pytest.mark.parametrize(
    "doc",
    [{}, {"id": None}, {"id": ""}, {"id": "x", "size": "big"}, {"id": "x", "min_ram": [1]}],
)
def test_malformed_documents_raise_one_line_errors(doc: dict[str, object]) -> None:
    with pytest.raises(MalformedImage) as error:
        image_from_glance(doc)
    assert "\n" not in str(error.value)


def test_missing_name_and_status_never_match_anything() -> None:
    image = image_from_glance({"id": "x", "name": None, "status": None, "size": None})
    assert (image.name, image.status, image.size) == ("", "", 0)
