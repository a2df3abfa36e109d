"""``python -m testbed_agent`` is the same as the ``testbed-agent`` console script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
