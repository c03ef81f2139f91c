"""doc/configuration.rst and etc/glancesync.conf.sample agree with the table of keys.

The table is :data:`glancesync.config.keys.KEYS`. In the reference, every
key is a definition-list term ``key`` at the start of a line, followed by an
indented field list (``:Section:``, ``:Type:``, ``:Default:``, ``:Example:``
for a key, ``:Alias of:`` for an alias) and its description, whose first
sentence is the row's doc line. The sample sets a key only to its default.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from glancesync.config import loader as config
from glancesync.config.ini import parse
from glancesync.config.keys import (
    ALIASES,
    BY_NAME,
    KEYS,
    MAIN,
    MAIN_KEYS,
    MAX_CHILDREN_LIMIT,
    TARGET_KEYS,
    ChecksumList,
    Key,
)
from glancesync.config.loader import load_settings
from glancesync.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "doc" / "configuration.rst"
SAMPLE = ROOT / "etc" / "glancesync.conf.sample"
_PASSWORD = "user = u\npassword = p\nkeystone_url = https://k.example.org/v3\ntenant = t\n"

_TERM = re.compile(r"^``([a-z_]+)``\n((?:[ \t]+.*\n|\n)*)", re.MULTILINE)
_FIELD = re.compile(r"^[ \t]+:([A-Z][A-Za-z ]*):[ \t]*(.*)$", re.MULTILINE)
#: A description line: indented by exactly three spaces, not a field.
_DESCRIPTION = re.compile(r"^   ([^\s:].*)$", re.MULTILINE)
#: A default that is a value, not the name of something worked out at run time.
_LITERAL = re.compile(r"``[^`$]*``")


def documented() -> dict[str, dict[str, str]]:
    """Term -> its fields (first line of each value)."""
    text = REFERENCE.read_text(encoding="utf-8")
    entries: dict[str, dict[str, str]] = {}
    for match in _TERM.finditer(text):
        fields = dict(_FIELD.findall(match.group(2)))
        if fields:
            assert match.group(1) not in entries, f"{match.group(1)} documented twice"
            entries[match.group(1)] = fields
    return entries


def test_every_key_of_the_code_is_documented_and_nothing_else() -> None:
    in_code = {*MAIN_KEYS, *TARGET_KEYS, *ALIASES}
    in_doc = set(documented())
    assert not in_code - in_doc, f"keys missing from {REFERENCE.name}"
    assert not in_doc - in_code, f"keys in {REFERENCE.name} that the code does not know"


def descriptions() -> dict[str, str]:
    """Term -> its description, lines joined."""
    text = REFERENCE.read_text(encoding="utf-8")
    return {
        match.group(1): " ".join(_DESCRIPTION.findall(match.group(2)))
        for match in _TERM.finditer(text)
    }


def rendered(default: object) -> str | None:
    """How the reference states *default*; None when it is worked out at run time."""
    if default is None:
        return None
    if isinstance(default, bool):
        return "``true``" if default else "``false``"
    if isinstance(default, float):
        return f"``{default:g}``"
    if isinstance(default, (int, str)):
        return f"``{default}``"
    assert default in ((), frozenset(), ChecksumList()) or default == {}, default
    return "empty"


@pytest.mark.parametrize("key", KEYS, ids=lambda key: key.name)
def test_each_key_has_the_tables_section_type_default_and_doc_line(key: Key) -> None:
    fields = documented()[key.name]
    assert {"Section", "Type", "Default", "Example"} <= set(fields), fields
    assert fields["Section"] == ("[main]" if key.section == MAIN else "[DEFAULT] or a target")
    assert key.kind in fields["Type"]
    stated = fields["Default"].split(" (")[0].rstrip(",;")
    expected = rendered(key.default)
    if expected is None:
        assert not _LITERAL.fullmatch(stated), f"{key.name}: the table has no default"
    else:
        assert stated == expected
    assert descriptions()[key.name].startswith(key.doc)


def test_the_bound_of_max_children_is_documented() -> None:
    assert f"from 1 to {MAX_CHILDREN_LIMIT}" in documented()["max_children"]["Type"]


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_each_alias_names_its_key(alias: str) -> None:
    assert documented()[alias] == {"Alias of": f"``{ALIASES[alias]}``"}


def test_documented_examples_load(tmp_path: Path) -> None:
    """Every ``Example`` of a target key is a valid line of a [DEFAULT] section."""
    examples = {
        key: fields["Example"] for key, fields in documented().items() if "Example" in fields
    }
    skip = {"credential", "cloud", "application_credential_id", "application_credential_secret"}
    skip |= {"user", "password", "keystone_url", "tenant"}  # authentication: one way only
    for key in TARGET_KEYS:
        if key in skip:
            continue
        line = examples[key].strip("`")
        text = f"[main]\nmaster_region = R\n[DEFAULT]\n{line}\n[master]\n{_PASSWORD}"
        load_settings(io.StringIO(text), environ={})
    main_lines = "\n".join(examples[key].strip("`") for key in MAIN_KEYS)
    load_settings(io.StringIO(f"[main]\n{main_lines}\n[master]\n{_PASSWORD}"), environ={})


def _sample_keys() -> set[str]:
    """Keys set or shown commented (``# key =``) in the sample."""
    text = SAMPLE.read_text(encoding="utf-8")
    return set(re.findall(r"^#?[ \t]*([a-z_]+)[ \t]*=", text, re.MULTILINE))


def test_every_key_of_the_code_is_in_the_sample() -> None:
    missing = {*MAIN_KEYS, *TARGET_KEYS} - _sample_keys()
    assert not missing, f"keys missing from {SAMPLE.name}"


def test_every_alias_is_mentioned_in_the_sample() -> None:
    text = SAMPLE.read_text(encoding="utf-8")
    missing = [alias for alias in ALIASES if not re.search(rf"\b{alias}\b", text)]
    assert not missing, f"aliases missing from {SAMPLE.name}"


def test_the_sample_holds_no_unknown_key() -> None:
    unknown = _sample_keys() - {*MAIN_KEYS, *TARGET_KEYS, *ALIASES}
    assert not unknown


def test_the_sample_sets_keys_only_to_their_defaults() -> None:
    """The sample claims to show every default: a value it sets must be that default."""
    sections = parse(SAMPLE.read_text(encoding="utf-8"), str(SAMPLE))
    for entries in sections.values():
        for name, entry in entries.items():
            key = BY_NAME[ALIASES.get(name, name)]
            if key.default is not None and key.parse is not None:
                assert key.parse(entry) == key.default, f"[{entry.section}] {name}"


def test_the_sample_loads_as_it_stands() -> None:
    settings = load_settings(SAMPLE, environ={})
    assert isinstance(settings, Settings)
    assert set(settings.targets) == {"master", "other"}
    assert settings.master_region == "RegionOne"


def test_the_default_path_is_the_one_the_docs_name() -> None:
    assert config.DEFAULT_CONFIG_PATH == "/etc/glancesync.conf"
    assert f"``{config.DEFAULT_CONFIG_PATH}``" in REFERENCE.read_text(encoding="utf-8")
