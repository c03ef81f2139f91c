"""Sphinx configuration of the glancesync documentation.

Build: ``.venv/bin/sphinx-build -W -q -b html doc doc/_build/html``.
"""

from __future__ import annotations

project = "glancesync"
author = "the glancesync authors"
copyright = "the glancesync authors, Apache License 2.0"  # noqa: A001 (Sphinx's name)

extensions: list[str] = []
exclude_patterns = ["_build"]
root_doc = "index"
highlight_language = "none"
html_theme = "alabaster"
html_static_path: list[str] = []
