"""``python -m afdecomp``: the same command line as ``afdecomp``."""

import sys

from .cli import main

sys.exit(main())
