"""Dispatch of ``otel-ml`` subcommands.

Registering a subcommand
------------------------
A subcommand lives in its own module that exposes
``add_parser(subparsers) -> None``: it calls ``subparsers.add_parser(name, ...)``,
adds its arguments, and sets ``handler=<function(args) -> int>`` with
``set_defaults``. Add the module's import path to :data:`SUBCOMMANDS` below (one
line). Keep heavy imports inside the handler so ``otel-ml --help`` stays fast.

Exit codes
----------
0 success · 1 the command's "found something" result (``drift``: drift found) ·
2 usage or input errors (one line on stderr, no traceback) · 70 an internal error
(a bug: one line, the traceback with ``--debug``) · 130 interrupted · 141 stdout closed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from otel_ml._errors import OtelMlError
from otel_ml._version import __version__

__all__ = ["EXIT_FOUND", "EXIT_INTERNAL", "EXIT_USAGE", "SUBCOMMANDS", "build_parser", "run"]

SUBCOMMANDS: tuple[str, ...] = (
    "otel_ml.cli._profile_command",
    "otel_ml.cli._drift_command",
    "otel_ml.demo._command",
    "otel_ml.evaluator._cli",
)

EXIT_FOUND = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports it


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="otel-ml", description="OpenTelemetry-native monitoring for production ML models."
    )
    parser.add_argument("--version", action="version", version=f"otel-ml {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of internal errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def _fail(command: str, message: str) -> None:
    text = " ".join(str(message).split())  # one line, whatever the message held
    print(f"otel-ml {command}: error: {text}", file=sys.stderr)


def run(argv: list[str]) -> int:
    """Parse ``argv`` and run the subcommand; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 with a usage line on bad arguments
    handler: Any = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    command = str(args.command)
    try:
        return int(handler(args))
    except BrokenPipeError:
        # The reader went away (`otel-ml drift ... | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OtelMlError as exc:
        _fail(command, str(exc))
        return EXIT_USAGE
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _fail(command, f"{where}{exc.strerror or exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        _fail(command, f"internal error {type(exc).__name__}: {exc} (rerun with --debug)")
        return EXIT_INTERNAL
