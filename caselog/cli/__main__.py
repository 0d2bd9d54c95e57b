"""``python -m caselog.cli``: the same as the ``caselog`` command."""

import sys

from caselog.cli import main

sys.exit(main())
