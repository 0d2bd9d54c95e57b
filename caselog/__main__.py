"""``python -m caselog``: the same as the ``caselog`` command."""

import sys

from caselog.cli import main

sys.exit(main())
