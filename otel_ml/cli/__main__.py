"""``python -m otel_ml.cli`` runs the ``otel-ml`` command line."""

import sys

from otel_ml.cli import main

if __name__ == "__main__":
    sys.exit(main())
