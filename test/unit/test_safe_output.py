"""Hostile names in what glancesync prints: CSV cells, terminal text, logs.

Image and region names come from servers that may be hostile; see
``glancesync.model.text`` for the rule and doc/reliability.rst.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path

import pytest

from glancesync.model.text import PrintableFormatter, csv_cell, one_line, printable_name
from glancesync.report import status_csv
from glancesync.testing.memcloud import MemoryCloud
from test.unit.conftest import run

#: Characters that act on a terminal or reorder a line instead of showing.
ACTIVE = [
    "\x1b", "\x9b", "\x00", "\x07", "\x08", "\x7f", "\r", "\n", "\t", "\x0b", "\x0c",
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
    "\u2069", "\u200e", "\u200f", "\u061c", "\u200b", "\ufeff", "\u2028", "\u2029",
    "\ud800",
]  # fmt: skip

HOSTILE_NAMES = [
    "\x1b[2J\x1b[31mfake: ok\x1b[0m",
    "invoice\u202egnp.exe",
    "\u2066isolated\u2069",
    "line\rover",
    "two\nlines",
    '=HYPERLINK("http://x","y")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\tlead",
    "\rlead",
    'quote " and, comma',
]


def _active(text: str) -> list[str]:
    return [c for c in ACTIVE if c in text]


@pytest.mark.parametrize("char", ACTIVE)
def test_printable_name_escapes_every_active_character(char: str) -> None:
    shown = printable_name(f"a{char}b")
    assert _active(shown) == []
    assert shown.startswith("a\\") and shown.endswith("b")
    assert one_line(f"a{char}b") in (shown, "a b")  # white space becomes one space


@pytest.mark.parametrize("name", ["ubuntu-22.04", "Ubuntu 22.04 (ñ, 日本語, Ωmega)", "a\\b"])
def test_printable_name_keeps_ordinary_names(name: str) -> None:
    assert printable_name(name) == name


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        ("ubuntu-22", "ubuntu-22"),
        ("", ""),
    ],
)
def test_csv_cell_escapes_formula_starts(cell: str, expected: str) -> None:
    assert csv_cell(cell) == expected


def test_status_csv_reads_back_one_row_per_image() -> None:
    rows = [{"status": "pending_upload", "region": "-Region", "image": n} for n in HOSTILE_NAMES]
    text = status_csv(rows)
    parsed = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    assert parsed == [["pending_upload", "'-Region", csv_cell(name)] for name in HOSTILE_NAMES]
    assert text.endswith("\n")
    assert not any(cell[:1] in "=+-@\t\r" for row in parsed for cell in row)


def test_status_csv_of_plain_names_is_unchanged() -> None:
    rows = [{"status": "ok", "region": "RegionTwo", "image": "base_ubuntu"}] * 2
    assert status_csv(rows) == "ok,RegionTwo,base_ubuntu\n" * 2


def test_log_lines_are_printable() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PrintableFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.safe_output")
    logger.addHandler(handler)
    try:
        logger.warning("[%s] image %s failed", "Region\u202e", HOSTILE_NAMES[0])
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    assert _active(line[:-1]) == []
    assert "\\x1b[2J" in line and "Region\\u202e" in line


# -- the command line, on the in-memory cloud ----------------------------------


@pytest.fixture
def hostile(cloud: MemoryCloud) -> MemoryCloud:
    for number, name in enumerate(HOSTILE_NAMES):
        cloud.add("RegionOne", name, b"data %d" % number)
    return cloud


def test_show_status_csv_of_hostile_names(
    hostile: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(hostile, "--show-status", "RegionTwo") == 0
    out = capsys.readouterr().out
    parsed = list(csv.reader(io.StringIO(out, newline=""), strict=True))
    assert sorted(row[2] for row in parsed) == sorted(map(csv_cell, HOSTILE_NAMES))
    assert {row[1] for row in parsed} == {"RegionTwo"}


def test_json_keeps_names_exact(
    hostile: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(hostile, "--show-status", "--format", "json", "RegionTwo") == 0
    out = capsys.readouterr().out
    assert sorted(row["image"] for row in json.loads(out)) == sorted(HOSTILE_NAMES)
    assert _active(out.replace("\n", "")) == []  # json escapes them itself


def test_dry_run_text_of_hostile_names(
    hostile: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(hostile, "--dry-run", "RegionTwo") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1 + len(HOSTILE_NAMES)  # the region line, one per image
    assert _active(out.replace("\n", "")) == []
    assert any("invoice\\u202egnp.exe" in line for line in lines)


def test_sync_summary_and_logs_of_hostile_names(
    hostile: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile.regions_by_target["master"].append("Evil\x1b]0;title\x07Region")
    assert run(hostile, "Evil\x1b]0;title\x07Region") == 0
    assert len(hostile.named("Evil\x1b]0;title\x07Region", "line\rover")) == 1
    out, err = capsys.readouterr()
    assert "Evil\\x1b]0;title\\x07Region: ok" in out
    assert _active(out.replace("\n", "")) == [] and _active(err.replace("\n", "")) == []
    assert "\\x1b[2J" in err  # the upload of that image was logged, escaped


def test_show_regions_of_hostile_names(
    cloud: MemoryCloud, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.regions_by_target["master"].append("Bad\u202eRegion")
    assert run(cloud, "--show-regions") == 0
    assert "Bad\\u202eRegion" in capsys.readouterr().out
