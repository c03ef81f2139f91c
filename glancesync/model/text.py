"""Text that is safe to print on one line: the single home of that rule.

Every message glancesync prints about a file, a key, a region or an image
goes through :func:`one_line`, whatever its source (a configuration value,
a server's error answer), so a message is always one line, readable, free
of control characters, and without the secrets it was given.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Longest message, in characters, before it is cut.
MAX_LINE = 300


def one_line(text: str, limit: int = MAX_LINE, secrets: Iterable[str] = ()) -> str:
    """*text* with *secrets* masked, runs of white space made one space,
    other control characters escaped, and cut to *limit* characters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = " ".join(text.split())
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return out if len(out) <= limit else out[: limit - 3] + "..."
