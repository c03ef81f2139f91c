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


def write_backup(
    images: Iterable[Mapping[str, Any]], directory: str | os.PathLike[str], stem: str
) -> Path:
    """Write ``backup_STEM_YYYYmmdd_HHMMSS.jsonl`` in *directory*; return its path."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"backup_{stem}_{time.strftime('%Y%m%d_%H%M%S')}.jsonl"
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".backup_", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            for image in images:
                stream.write(json.dumps(dict(image), sort_keys=True, default=str) + "\n")
        os.replace(temporary, final)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return final
