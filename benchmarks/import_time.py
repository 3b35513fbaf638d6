"""What importing otel_ml costs a model service, next to importing the OpenTelemetry SDK.

Usage::

    .venv/bin/python benchmarks/import_time.py [--repeat 15] [--compare-with DIR]

``--compare-with DIR`` also measures the otel_ml of another checkout (``git worktree add
--detach DIR <commit>``), interleaved with this one, so that before and after share the
machine's noise: its rows are marked ``[DIR's commit]``.

Each subject runs ``--repeat`` times in a fresh interpreter, subjects interleaved so that
the noise of a shared machine falls on all of them alike. Two measures per run:

- ``importtime``: the cumulative time ``python -X importtime`` reports for the modules
  the statement imports (interpreter start-up excluded);
- ``cpu``: the child process's user + system CPU time minus that of ``python -c pass``
  (median of the bare runs).

Subjects: the baseline is the OpenTelemetry SDK's trace, metrics and logs modules (what
any instrumented service imports); ``import otel_ml`` (the package alone: public names
load on first use); ``from otel_ml import monitor`` (the SDK a model service uses: the
sketch layer, numpy, the OTel SDK); ``import numpy`` (a floor: the sketches need it);
``import otel_ml.evaluator`` and ``from otel_ml import compare`` (the collector side and
the statistics, scipy) for scale. Prints min and median in milliseconds and the ratio
of each median to the baseline's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

BASELINE = "import opentelemetry.sdk.trace, opentelemetry.sdk.metrics, opentelemetry.sdk._logs"
SUBJECTS = (
    BASELINE,
    "import otel_ml",
    "from otel_ml import monitor",
    "import numpy",
    "import otel_ml.evaluator",
    "from otel_ml import compare",
)
_MARK = "otel_ml-import-time-mark"


def _run(statement: str, tree: str | None = None) -> tuple[float, float]:
    """(importtime ms of ``statement``'s imports, child CPU seconds) of one fresh run, with
    the otel_ml of checkout ``tree`` first on the path when given."""
    code = f"import sys; sys.stderr.write({_MARK!r} + '\\n'); {statement}"
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = tree
    before = os.times()
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=tempfile.gettempdir(),  # not a checkout: '' on sys.path must not shadow otel_ml
    )
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    lines = out.stderr.split(_MARK + "\n", 1)[1].splitlines()
    total_us = 0
    for line in lines:
        if not line.startswith("import time:"):
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        if not name[1:].startswith(" "):  # a top-level import of the statement
            total_us += int(cumulative)
    return total_us / 1000.0, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--compare-with", metavar="DIR", help="another checkout to measure too")
    args = parser.parse_args()
    runs: list[tuple[str, str | None]] = [(s, None) for s in SUBJECTS]
    commit = ""
    if args.compare_with:
        tree = os.path.abspath(args.compare_with)
        commit = subprocess.run(
            ["git", "-C", tree, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        runs += [(s, tree) for s in SUBJECTS if "otel_ml" in s]
    bare: list[float] = []
    importtime: dict[tuple[str, str | None], list[float]] = {r: [] for r in runs}
    cpu: dict[tuple[str, str | None], list[float]] = {r: [] for r in runs}
    for _ in range(args.repeat):
        bare.append(_run("pass")[1])
        for r in runs:
            ms, seconds = _run(*r)
            importtime[r].append(ms)
            cpu[r].append(seconds)
    floor = statistics.median(bare)
    cpu_ms = {s: [max(0.0, (c - floor) * 1000.0) for c in v] for s, v in cpu.items()}
    base_it = statistics.median(importtime[(BASELINE, None)])
    base_cpu = statistics.median(cpu_ms[(BASELINE, None)])
    print(f"python {sys.version.split()[0]}, {args.repeat} runs each, bare start-up CPU "
          f"{floor * 1000:.0f} ms (subtracted)")
    print(f"{'statement':<88} {'importtime ms':>16} {'x':>5} {'cpu ms':>13} {'x':>5}")
    print(f"{'':<88} {'min':>7} {'median':>8} {'':>5} {'min':>5} {'med':>7} {'':>5}")
    for r in runs:
        it, c = importtime[r], cpu_ms[r]
        med_it, med_c = statistics.median(it), statistics.median(c)
        label = r[0] if r[1] is None else f"{r[0]} [{commit}]"
        print(
            f"{label:<88} {min(it):7.1f} {med_it:8.1f} {med_it / base_it:5.2f} "
            f"{min(c):5.0f} {med_c:7.0f} {med_c / base_cpu if base_cpu else float('nan'):5.2f}"
        )


if __name__ == "__main__":
    main()
