"""doc/design.rst names tests that exist, and the code cites sections that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DESIGN = ROOT / "doc" / "design.rst"
_CITED_TEST = re.compile(r"``((?:unit|integration|e2e|fault|docs)/test_\w+\.py)(?:::(\w+))?``")
_TITLE = re.compile(r"^(.+)\n[-=]{3,}$", re.MULTILINE)
#: A comment that cites a section: doc/design.rst, "Title" (or ("Title", "Title")).
_CITATION = re.compile(r"design\.rst[`]*,?\s*\(?((?:\"[^\"]+\",?\s*)+)")


def test_every_test_the_design_names_exists() -> None:
    cited = _CITED_TEST.findall(DESIGN.read_text(encoding="utf-8"))
    assert len(cited) > 40
    for path, name in cited:
        source = ROOT / "test" / path
        assert source.is_file(), path
        if name:
            assert re.search(rf"^def {name}\(", source.read_text(encoding="utf-8"), re.M), name


def test_every_section_the_code_cites_exists() -> None:
    titles = set(_TITLE.findall(DESIGN.read_text(encoding="utf-8")))
    cited: list[tuple[Path, str]] = []
    for folder in ("glancesync", "test", "tools", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == Path(__file__).resolve():
                continue
            # a citation may wrap over comment lines
            text = re.sub(r"\s+(?:#:?\s+)?", " ", path.read_text(encoding="utf-8"))
            for group in _CITATION.findall(text):
                cited += [(path, title) for title in re.findall(r"\"([^\"]+)\"", group)]
    assert cited
    missing = [f"{path.relative_to(ROOT)}: {title}" for path, title in cited if title not in titles]
    assert not missing
