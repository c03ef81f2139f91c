"""The README's commands work verbatim: its shell blocks are run as they are written.

The blocks of "Install" and "Use the demo cloud" are taken from README.rst
and run with bash in this checkout, where ``make test`` (or ``make demo``)
has made ``.venv`` and started the local cloud: what a newcomer types after
``make demo``. Only the state directory is read from ``$DEVCLOUD_STATE``
when it is set, so the test also runs against a cloud kept elsewhere.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from test.e2e.conftest import ROOT, STATE, Env

README = ROOT / "README.rst"


def shell_blocks(section: str) -> list[str]:
    """The literal blocks (after ``::``) of one section of the README."""
    text = README.read_text(encoding="utf-8")
    start = re.search(rf"^{re.escape(section)}\n=+\n", text, re.MULTILINE)
    assert start, f"README has no section {section!r}"
    body = text[start.end() :]
    end = re.search(r"^\S.*\n=+\n", body, re.MULTILINE)
    body = body[: end.start()] if end else body
    blocks = []
    for match in re.finditer(r"::\n\n((?:(?:    .*)?\n)+)", body):
        lines = [line[4:] for line in match.group(1).splitlines()]
        blocks.append("\n".join(lines).strip())
    return blocks


def test_the_readme_blocks_are_found() -> None:
    assert any("make venv" in block for block in shell_blocks("Install"))
    assert any("glancesync --show-regions" in b for b in shell_blocks("Use the demo cloud"))


def test_the_demo_cloud_section_runs_verbatim(env: Env, tmp_path: Path) -> None:
    script = "\n".join(
        block
        for block in shell_blocks("Install") + shell_blocks("Use the demo cloud")
        if "pip install" not in block
    )
    script = script.replace(". .devcloud/env.sh", f". {STATE}/env.sh")
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "GLANCESYNC"))}
    environ["HOME"] = str(tmp_path)
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert "Traceback" not in output
        assert "RegionTwo" in done.stdout and "ok,RegionTwo,my_image" in done.stdout, output
    finally:
        env.glance.delete_prefixed("my_image")
