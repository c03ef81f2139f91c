#!/usr/bin/env python3
"""Run glancesync from a checkout: ``./sync.py --help``."""

from glancesync.cli import main_exit

if __name__ == "__main__":
    main_exit()
