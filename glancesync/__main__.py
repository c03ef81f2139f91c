"""``python -m glancesync``."""

from glancesync.cli import main_exit

main_exit()
