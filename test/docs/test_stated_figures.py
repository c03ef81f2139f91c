"""Figures and names the docs state are the code's: retries, defaults, log and venv names.

Each test reads what the prose says and compares it with the constant the
code uses, so changing one without the other fails here.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from glancesync.cloud.connections import DEFAULT_RETRIES
from glancesync.config.keys import MAIN_KEYS, TARGET_KEYS
from glancesync.config.loader import load_settings
from glancesync.engine.retry import UPLOAD_ATTEMPTS
from test.docs.test_config_reference import documented

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.rst", *sorted((ROOT / "doc").glob("*.rst"))]
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10}
#: "up to 3 times", "at most three attempts", "(3 times)": a count of tries.
_COUNT = re.compile(r"(?:up to |at most |\()(\d+|" + "|".join(_WORDS) + r") (?:times|attempts)\b")


def _sentences(path: Path) -> list[str]:
    text = re.sub(r"\s+", " ", path.read_text(encoding="utf-8"))
    return re.split(r"(?<=[.:])\s+(?=[A-Z`*])", text)


def _retry_claims() -> list[tuple[str, str, int]]:
    """(page, sentence, figure) of each "N times"/"N attempts" said of retrying."""
    claims = []
    for path in PAGES:
        for sentence in _sentences(path):
            if not re.search(r"\b(?:re)?tri(?:ed|es)\b|attempt", sentence, re.IGNORECASE):
                continue
            for figure in _COUNT.findall(sentence):
                number = int(figure) if figure.isdigit() else _WORDS[figure]
                claims.append((path.name, sentence, number))
    return claims


def test_the_docs_state_both_retry_figures() -> None:
    figures = {number for _, _, number in _retry_claims()}
    assert {UPLOAD_ATTEMPTS, DEFAULT_RETRIES} <= figures


@pytest.mark.parametrize(("page", "sentence", "figure"), _retry_claims(), ids=lambda v: str(v)[:40])
def test_each_stated_retry_count_is_the_codes(page: str, sentence: str, figure: int) -> None:
    expected = UPLOAD_ATTEMPTS if re.search(r"\bupload", sentence) else DEFAULT_RETRIES
    assert figure == expected, f"{page}: {sentence}"


def test_no_page_says_uploads_are_never_retried() -> None:
    for path in PAGES:
        for sentence in _sentences(path):
            if re.search(r"never retried|not retried", sentence) and re.search(
                r"upload|transferring data", sentence
            ):
                assert "Corrupt" in sentence, f"{path.name}: {sentence}"


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_each_literal_default_of_the_reference_is_the_codes() -> None:
    """``:Default: ``X```` of doc/configuration.rst against a config that sets nothing."""
    settings = load_settings(
        io.StringIO(
            "[main]\nmaster_region = R\n[master]\nuser = u\npassword = p\n"
            "keystone_url = https://k.example.org/v3\ntenant = t\n"
        ),
        environ={},
    )
    places = [settings, settings.master, settings.master.credentials]
    compared = []
    for key, fields in documented().items():
        literal = re.fullmatch(r"``([^`$]+)``(?: \(.*\))?", fields.get("Default", ""))
        if key not in (*MAIN_KEYS, *TARGET_KEYS) or literal is None:
            continue
        owner = next((place for place in places if hasattr(place, key)), None)
        assert owner is not None, f"{key}: documented default, but no setting of that name"
        assert _plain(getattr(owner, key)) == literal.group(1), key
        compared.append(key)
    assert len(compared) >= 8, compared


def test_every_cron_line_logs_to_the_same_file() -> None:
    logs = {
        (path.name, found)
        for path in PAGES
        for found in re.findall(r">>\s*(/\S+)", path.read_text(encoding="utf-8"))
    }
    assert len(logs) >= 2 and len({name for _, name in logs}) == 1, logs


def test_the_readme_names_the_makefiles_venv_and_offers_no_install_without_the_command() -> None:
    venv = re.search(r"^VENV := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert venv is not None
    readme = (ROOT / "README.rst").read_text(encoding="utf-8")
    named = set(re.findall(r"(\.?\bvenv)/", readme))
    assert named == {venv.group(1)}, named
    assert "pip install -r requirements.txt" not in readme


#: "``images_dir`` is not used", "``cache_dir`` is ignored": a key said to be unused.
_UNUSED = re.compile(
    r"``([a-z_]+)``(?: (?:key|option|setting))? (?:is|are)(?: \w+ but)? "
    r"(?:not (?:used|read)|ignored|unused)\b"
)


def test_no_page_calls_a_key_the_code_reads_unused() -> None:
    for path in PAGES:
        for sentence in _sentences(path):
            keys = set(_UNUSED.findall(sentence)) & {*MAIN_KEYS, *TARGET_KEYS}
            assert not keys, f"{path.name}: {sentence}"


def test_the_unused_key_check_catches_the_old_migration_sentence() -> None:
    old = "``images_dir`` is accepted but not used: data goes through the API."
    assert _UNUSED.findall(old) == ["images_dir"]
