"""``otel-ml evaluator --config FILE``: run the evaluator until SIGTERM / SIGINT.

On start it prints one line per endpoint (``otlp_http http://127.0.0.1:4318``,
``otlp_grpc 127.0.0.1:4317``, ``api http://127.0.0.1:8080``) and then
``ready``, so scripts that asked for port 0 learn the ports. On SIGTERM or
SIGINT it stops listening, commits what is queued and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

__all__ = ["add_parser", "cli", "main"]


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evaluator",
        help="receive OTLP, evaluate drift, data quality and accuracy per window",
        description="Run the otel-ml evaluator (OTLP/HTTP + OTLP/gRPC in, derived metrics, "
        "alerts and an HTTP API out).",
    )
    p.add_argument("--config", required=True, metavar="FILE", help="evaluator YAML file")
    p.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    p.add_argument(
        "--tick-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how often closed windows are evaluated (default: size/20, 0.5..5 s)",
    )
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from otel_ml.evaluator._app import EvaluatorApp
    from otel_ml.evaluator._config import load_config

    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    config = load_config(args.config)
    app = EvaluatorApp.from_config(config)
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    app.start(tick_interval=args.tick_interval)
    try:
        for name, url in app.endpoints().items():
            print(f"{name} {url}", flush=True)
        print("ready", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        app.stop()
    return 0


def cli(argv: list[str] | None = None) -> int:
    """``python -m otel_ml.evaluator._cli --config FILE`` (same as ``otel-ml evaluator``)."""
    from otel_ml._errors import OtelMlError

    parser = argparse.ArgumentParser(prog="otel-ml")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluator", *(sys.argv[1:] if argv is None else argv)])
    try:
        return main(args)
    except OtelMlError as exc:
        print(f"otel-ml evaluator: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(cli())
