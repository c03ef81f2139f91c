"""Text that is safe to print: the single home of that rule.

Every message glancesync prints about a file, a key, a region or an image
goes through :func:`one_line`, whatever its source (a configuration value,
a server's error answer), so a message is always one line, readable, free
of control characters, and without the secrets it was given.

Names come from servers that may be hostile, so every name printed to a
terminal or a log goes through :func:`printable_name`: control characters,
terminal escape sequences (they start with a control character) and bidi
overrides are shown as escapes instead of acting on the terminal. A name
written to a CSV cell goes through :func:`csv_cell`, so a spreadsheet never
reads it as a formula.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

#: Longest message, in characters, before it is cut.
MAX_LINE = 300

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def printable_name(text: str) -> str:
    """*text* with every character that is not printable shown as its Python
    escape (``\\x1b``, ``\\n``, ``\\u202e``): control characters, format
    characters (bidi overrides and isolates, zero-width characters), line and
    paragraph separators, surrogates and unassigned code points."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def csv_cell(text: str) -> str:
    """*text* with a leading ``'`` when a spreadsheet would take it for a
    formula; the csv writer quotes what it must (see ``report.status_csv``)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def one_line(text: str, limit: int = MAX_LINE, secrets: Iterable[str] = ()) -> str:
    """*text* with *secrets* masked, runs of white space made one space,
    other control characters escaped, and cut to *limit* characters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    out = printable_name(" ".join(text.split()))
    return out if len(out) <= limit else out[: limit - 3] + "..."


class PrintableFormatter(logging.Formatter):
    """Log lines whose message is printable: a hostile image or region name
    logged with ``%s`` cannot move the cursor, recolour or reorder the line.
    A traceback (``exc_info``) is appended as usual, after the message."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable_name(record.message)
        return super().formatMessage(record)
