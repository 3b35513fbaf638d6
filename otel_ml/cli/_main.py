"""Dispatch of ``otel-ml`` subcommands (placeholder until the subcommands land)."""

from __future__ import annotations

import argparse

from otel_ml._version import __version__


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="otel-ml", description="OpenTelemetry-native ML monitoring")
    parser.add_argument("--version", action="version", version=f"otel-ml {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0
