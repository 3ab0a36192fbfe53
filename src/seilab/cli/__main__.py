"""``python -m seilab.cli``: the ``seilab`` command."""

import sys

from seilab.cli import main

sys.exit(main())
