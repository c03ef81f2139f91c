"""How regions are named: ``Region`` in the master target, ``target:Region`` elsewhere."""

from __future__ import annotations

from dataclasses import dataclass

MASTER = "master"


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
        """A name safe for a log file: no ``:`` (it breaks some tools and filesystems)."""
        return self.name if self.target == MASTER else f"{self.target}_{self.name}"

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
