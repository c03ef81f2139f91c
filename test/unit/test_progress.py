"""Progress of a transfer: log lines for cron, a bar on a terminal."""

from __future__ import annotations

import io
import logging

import pytest

from glancesync.transfer.progress import tracked


def test_without_a_terminal_a_start_and_an_end_line_are_logged(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with caplog.at_level(logging.INFO, logger="glancesync.transfer.progress"):
        assert b"".join(tracked([b"ab", b"cd"], 4, "[R] img")) == b"abcd"
    assert [r.getMessage().split(":")[1].split()[0] for r in caplog.records] == ["sending", "sent"]
    assert "MB/s" in caplog.records[-1].getMessage()


def test_on_a_terminal_a_bar_counts_the_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    monkeypatch.setattr("glancesync.transfer.progress._bars_allowed", True)
    logging.getLogger("glancesync.transfer.progress").setLevel(logging.INFO)
    assert b"".join(tracked([b"x" * 1000] * 3, 3000, "img")) == b"x" * 3000
    assert "3.00k" in screen.getvalue() or "3.0k" in screen.getvalue()
