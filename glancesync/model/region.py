"""How regions are named: ``Region`` in the master target, ``target:Region`` elsewhere."""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass

MASTER = "master"
_SAFE = frozenset(string.ascii_letters + string.digits + "-_.")
#: Longest file stem (file systems allow 255 bytes; room is left for suffixes).
_MAX_STEM = 160


@dataclass(frozen=True, order=True)
class RegionRef:
    """A region inside a target (one Keystone)."""

    target: str
    name: str

    @property
    def full(self) -> str:
        """The name operators write and reports print."""
        return self.name if self.target == MASTER else f"{self.target}:{self.name}"

    @property
    def file_stem(self) -> str:
        """A name safe for a log or backup file, whatever the catalog calls the region.

        ``target_Region`` (no ``:``, it breaks some tools and filesystems);
        every character but letters, digits, ``-``, ``_`` and inner ``.``
        is written ``%XX`` (so ``/``, ``..``, control characters can't
        leave the directory or hide), and a very long name is cut and
        given a hash. Distinct names still may meet (``a_b`` of target
        ``t`` and ``b`` of target ``t_a``): callers that write several
        files in one directory make them unique.
        """
        text = self.name if self.target == MASTER else f"{self.target}_{self.name}"
        stem = "".join(c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in text)
        if stem.startswith("."):
            stem = "%2E" + stem[1:]
        if len(stem) > _MAX_STEM:
            digest = hashlib.sha256(text.encode()).hexdigest()[:16]
            stem = f"{stem[: _MAX_STEM - 17]}-{digest}"
        return stem or "%"

    @classmethod
    def parse(cls, text: str) -> RegionRef:
        """Read ``Region``, ``master:Region`` or ``target:Region``.

        ``target:`` (an empty region name) is returned with ``name == ""``;
        the caller expands it to every region of the target.
        """
        target, sep, name = text.partition(":")
        if not sep:
            return cls(MASTER, text)
        return cls(target or MASTER, name)

    def __str__(self) -> str:
        return self.full
