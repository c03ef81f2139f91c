"""Metadata backups: one JSON Lines file per region, never half-written.

The rule (doc/design.rst, "Metadata backups"): one object per image with
every field Glance returned, written to a temporary file in the same
directory and renamed into place once complete.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: Backups of one stem in one second before giving up on a free name.
MAX_SAME_SECOND = 1000


def write_backup(
    images: Iterable[Mapping[str, Any]], directory: str | os.PathLike[str], stem: str
) -> Path:
    """Write ``backup_STEM_YYYYmmdd_HHMMSS.jsonl`` in *directory*; return its path.

    A backup never replaces another: when that name is taken (a second
    backup of the region in the same second, or a region whose escaped name
    is the same), the file is ``..._HHMMSS_2.jsonl`` and so on. The complete
    file is linked to its name, which fails if the name exists, so two
    writers cannot take the same one.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    base = f"backup_{stem}_{time.strftime('%Y%m%d_%H%M%S')}"
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".backup_", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            for image in images:
                stream.write(json.dumps(dict(image), sort_keys=True, default=str) + "\n")
        for number in range(1, MAX_SAME_SECOND + 1):
            final = folder / (f"{base}.jsonl" if number == 1 else f"{base}_{number}.jsonl")
            try:
                os.link(temporary, final)
            except FileExistsError:
                continue
            return final
        raise FileExistsError(f"{folder}: {MAX_SAME_SECOND} backups named {base}*.jsonl")
    finally:
        Path(temporary).unlink(missing_ok=True)
