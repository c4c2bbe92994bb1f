"""`python -m edge_inspector.cli VERB ...`."""

import sys

from .main import main

if __name__ == "__main__":
    sys.exit(main())
