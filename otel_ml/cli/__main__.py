"""``python -m otel_ml.cli`` runs the ``otel-ml`` command line."""

import sys

from otel_ml.cli import main

sys.exit(main())
