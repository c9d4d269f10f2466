"""``python -m vrx_core``: the same as the ``vrx`` command."""

import sys

from vrx_core.cli.main import main

sys.exit(main())
