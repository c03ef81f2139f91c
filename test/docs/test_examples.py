"""Every ``>>>`` example of the docs runs, in order, against the in-memory cloud."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "doc").glob("*.rst"))
WITH_EXAMPLES = [path for path in DOCS if ">>> " in path.read_text(encoding="utf-8")]


def test_the_programmers_guide_has_examples() -> None:
    assert ROOT / "doc" / "api.rst" in WITH_EXAMPLES


@pytest.mark.parametrize("path", WITH_EXAMPLES, ids=lambda path: path.name)
def test_doc_examples_run(path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # The examples use the in-memory cloud shipped in glancesync.testing.
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.chdir(tmp_path)
    for name in ("GLANCESYNC_CONFIG", "OS_CLOUD", "OS_REGION_NAME"):
        monkeypatch.delenv(name, raising=False)
    text = path.read_text(encoding="utf-8")
    parser = doctest.DocTestParser()
    test = parser.get_doctest(text, {"__name__": "__doc_example__"}, path.name, str(path), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    output: list[str] = []
    result = runner.run(test, out=output.append)
    assert result.attempted > 0
    assert result.failed == 0, "".join(output)
