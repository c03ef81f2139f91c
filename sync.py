#!/usr/bin/env python3
"""Run glancesync from a checkout: ``./sync.py --help``."""

import sys

from glancesync.cli import main

if __name__ == "__main__":
    sys.exit(main())
