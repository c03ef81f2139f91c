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

A server may echo a secret back in another form than the one we sent: JSON
escaped in an error body, URL-encoded in a link, base64-encoded in a Basic
authorization header. :func:`mask` removes each of those forms, and also
what looks like a secret whatever its value: token headers, passwords in
URLs and JSON ``"password"`` members (see doc/reliability.rst, "Hostile
servers").
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

#: Longest message, in characters, before it is cut.
MAX_LINE = 300
MASK = "***"
#: Base64 fragments shorter than this are not masked: they would match at random.
_MIN_BASE64 = 6

_PATTERNS = (
    # X-Auth-Token: value, "X-Subject-Token": "value", x-auth-token=value
    re.compile(r"(?i)(x-(?:auth|subject)-token['\"]?\s*[:=]\s*['\"]?)[^\s'\",;}]+"),
    # "password": "value" (JSON, any escaping inside the value)
    re.compile(r"(?i)(['\"](?:password|secret|token)['\"]\s*:\s*['\"])(?:\\.|[^'\"\\])*"),
    # scheme://user:password@host
    re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+(?=@)"),
)


def _base64_cores(secret: bytes) -> set[str]:
    """The part of the secret's base64 that is the same at any offset in a longer text.

    Base64 maps 3 bytes to 4 characters, so the characters a secret yields
    depend on where it starts modulo 3; for each start, only the characters
    made of the secret's bits alone are kept.
    """
    cores = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret).decode()
        core = encoded[-(-8 * shift // 6) : (8 * (shift + len(secret))) // 6]
        if len(core) >= _MIN_BASE64:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))
    return cores


def secret_forms(secret: str) -> set[str]:
    """Every form in which *secret* may come back in an answer."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        quote(secret),
        quote(secret, safe=""),
        quote_plus(secret),
    }
    forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
    forms |= _base64_cores(secret.encode())
    return {f for f in forms if f}


def mask(text: str, secrets: Iterable[str] = ()) -> str:
    """*text* without *secrets* (in any of their forms) nor anything shaped like a secret."""
    forms = set()
    for secret in secrets:
        if secret:
            forms |= secret_forms(secret)
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


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
    text = mask(text, secrets)
    out = printable_name(" ".join(text.split()))
    return out if len(out) <= limit else out[: limit - 3] + "..."


class PrintableFormatter(logging.Formatter):
    """Log lines whose message is printable: a hostile image or region name
    logged with ``%s`` cannot move the cursor, recolour or reorder the line.
    A traceback (``exc_info``) is appended as usual, after the message."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable_name(record.message)
        return super().formatMessage(record)
