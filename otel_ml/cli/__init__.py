"""The ``otel-ml`` command line: ``profile``, ``drift``, ``evaluator``, ``demo``."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``otel-ml`` (subcommands are registered in ``otel_ml/cli/_main.py``)."""
    from otel_ml.cli._main import run

    return run(sys.argv[1:] if argv is None else argv)
