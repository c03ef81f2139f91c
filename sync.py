#!/usr/bin/env python3
"""Run glancesync from a checkout: ``./sync.py --help``.

``make venv`` (and ``make demo``) install the dependencies into ``.venv``
of the checkout. When the interpreter running this script lacks them,
the script runs itself again with ``.venv/bin/python``, so it works
without activating the environment (README.rst, Install).
"""

import os
import sys
from pathlib import Path

#: Set on the second run, so a broken .venv is reported instead of looping.
_AGAIN = "GLANCESYNC_SYNC_PY_REEXEC"

if __name__ == "__main__":
    try:
        from glancesync.cli import main_exit
    except ModuleNotFoundError as missing:
        venv_python = Path(__file__).absolute().parent / ".venv" / "bin" / "python"
        if venv_python.exists() and not os.environ.get(_AGAIN):
            os.environ[_AGAIN] = "1"
            os.execv(venv_python, [str(venv_python), __file__, *sys.argv[1:]])
        sys.stderr.write(
            f"glancesync: error: {missing} ({sys.executable}); run `make venv` in "
            f"{Path(__file__).absolute().parent}, or `pip install .` into your environment\n"
        )
        sys.exit(2)
    os.environ.pop(_AGAIN, None)
    main_exit()
