"""``otel-ml demo``: the whole system on a real model, in under a minute.

Trains a model on a dataset shipped with scikit-learn, serves simulated
production traffic through ``@otel_ml.monitor`` (a covariate shift, then a
concept change; labels back later through ``otel_ml.record_outcome``), with the
evaluator embedded in this process receiving real OTLP on 127.0.0.1 (or an
external one: ``--evaluator-endpoint``). Prints alerts as they fire and resolve,
a summary table, and writes ``report.html`` and ``summary.json`` into
``--output-dir``. ``--offline`` runs the earlier offline drift report instead
(one production batch compared with the training profile, no evaluator).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="run the demo: a monitored model, drifting traffic, delayed labels, alerts, a report",
        description="Train a model on a dataset shipped with scikit-learn and serve simulated "
        "production traffic through @otel_ml.monitor to an embedded evaluator: a covariate "
        "shift, then a concept change, labels arriving late. Prints alerts as they fire and "
        "resolve, a summary, and writes a self-contained HTML report.",
    )
    p.add_argument(
        "--output-dir",
        default="otel-ml-demo",
        metavar="DIR",
        help="profile, evaluator state, report.html, summary.json (default %(default)s)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a shorter run: 12 windows of 400 rows instead of 18 of 600",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    p.add_argument(
        "--no-drift",
        action="store_true",
        help="serve baseline traffic only (a control run: nothing should fire)",
    )
    p.add_argument(
        "--evaluator-endpoint",
        metavar="URL",
        default=None,
        help="send OTLP/HTTP to this evaluator (e.g. http://127.0.0.1:4318) instead "
        "of the embedded one; see DIR/evaluator.yaml",
    )
    p.add_argument(
        "--evaluator-api",
        metavar="URL",
        default=None,
        help="with --evaluator-endpoint: that evaluator's API (e.g. http://127.0.0.1:8080), "
        "to read its findings back for the summary and the report",
    )
    p.add_argument(
        "--prometheus-port",
        type=int,
        default=0,
        metavar="PORT",
        help="port of the model service's Prometheus endpoint (default: any free)",
    )
    p.add_argument(
        "--api-port",
        type=int,
        default=0,
        metavar="PORT",
        help="port of the embedded evaluator's API and /metrics (default: any free)",
    )
    p.add_argument(
        "--serve",
        type=float,
        nargs="?",
        const=-1.0,
        default=0.0,
        metavar="SECONDS",
        help="keep the endpoints open after the run (for SECONDS, or until Ctrl-C)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="instead: the offline drift report of one production batch (no evaluator)",
    )
    p.set_defaults(handler=_run)


def _hold(seconds: float, console: Any) -> None:
    if seconds == 0:
        return
    console.print(
        "serving the endpoints above " + ("until Ctrl-C" if seconds < 0 else f"for {seconds:g} s")
    )
    try:
        if seconds < 0:
            while True:
                time.sleep(3600)
        time.sleep(seconds)
    except KeyboardInterrupt:
        console.print()


def _run(args: argparse.Namespace) -> int:
    if args.offline:
        from otel_ml.demo._offline import run_command

        return run_command(args)
    from otel_ml.demo._console import DemoConsole, summary_lines
    from otel_ml.demo._report_html import REPORT_FILE, report_html
    from otel_ml.demo._run import DemoOptions, DemoResult, run_demo
    from otel_ml.demo._scenario import Scenario
    from otel_ml.demo._summary import SUMMARY_FILE, write_summary

    scenario = (
        Scenario.quick(drift=not args.no_drift) if args.quick else Scenario(drift=not args.no_drift)
    )
    out = Path(args.output_dir)
    options = DemoOptions(
        output_dir=out,
        scenario=scenario,
        seed=args.seed,
        evaluator_endpoint=args.evaluator_endpoint,
        evaluator_api=args.evaluator_api,
        prometheus_port=args.prometheus_port,
        api_port=args.api_port,
    )
    console = DemoConsole(progress=args.progress)
    console.print(
        "otel-ml demo: a logistic regression on the Wisconsin breast cancer dataset "
        "(shipped with scikit-learn), monitored with @otel_ml.monitor"
    )

    def ready(endpoints: dict[str, str], t0: float) -> None:
        if args.evaluator_endpoint:
            console.print(f"evaluator:            external, OTLP/HTTP {endpoints['otlp']}")
        else:
            console.print(
                f"evaluator:            embedded, OTLP/HTTP {endpoints['otlp']}, "
                f"state in {out / 'evaluator-state'}"
            )
            console.print(f"evaluator metrics:    {endpoints['evaluator_metrics']}  (Prometheus)")
            console.print(f"evaluator report:     {endpoints['evaluator_report']}")
        console.print(f"model service:        {endpoints['prometheus']}  (Prometheus)")
        console.print()
        console.intro(scenario, t0)

    def finish(result: DemoResult) -> None:
        console.done()
        console.print()
        for line in summary_lines(result):
            console.print(line)
        report.write_text(report_html(result), encoding="utf-8")
        write_summary(result, out / SUMMARY_FILE)
        console.print()
        if not result.embedded:
            where = args.evaluator_api or "the evaluator's API"
            console.print(f"alerts and reports: {where} (and its notifiers)")
        console.print(f"report:  {report}")
        console.print(f"summary: {out / SUMMARY_FILE}")
        console.print(f"profile: {result.profile_path}")
        _hold(args.serve, console)

    report = out / REPORT_FILE
    result = run_demo(
        options,
        progress=console.progress,
        on_alert=console.alert,
        on_ready=ready,
        before_stop=finish,
    )
    console.print(f"({result.seconds:.1f} s)")
    return 0
