"""``python -m glancesync``."""

import sys

from glancesync.cli import main

sys.exit(main())
