"""otel_ml against the tools users would pick instead: whylogs, Evidently, the bare OTel SDK.

Run from the repository root (any Python 3.10+ with venv; the project's own
``.venv/bin/python`` is fine)::

    python benchmarks/alternatives.py            # full run, writes docs/benchmarks.md
    python benchmarks/alternatives.py --quick    # smoke run on small data, prints only

The optional tools are installed into the script's **own** virtual environment,
``benchmarks/.venv-alternatives`` (git-ignored), never into the project's: it is
created with ``python -m venv``, gets ``pip install -e .`` (this project) and each
tool's pinned requirement, then the script re-runs itself inside it. A tool that
will not install or import is reported on the page with its error, and everything
else still runs. ``--no-install`` runs in the current interpreter with whatever is
importable there.

In one run, on the same generated data (ratios against otel_ml measured in the same
run, since the machine is shared and noisy):

1. feature capture throughput: ``NumericSketch``/``CategoricalSketch`` updates vs
   whylogs ``why.log(DataFrame)`` vs every value through the OTel SDK's
   ``Histogram.record`` / ``Counter.add``;
2. drift computation time, 25 features, 100,000 reference rows vs 10,000 and
   100,000 current rows: ``otel_ml.compare`` vs Evidently's ``DataDriftPreset``;
3. false alarms on no-drift windows and detection of known shifts at 1,000 /
   10,000 / 100,000 rows: the default ``DriftPolicy`` vs Evidently's defaults;
4. per-call overhead of ``@otel_ml.monitor`` vs an undecorated call vs a bare OTel
   span (``benchmarks/sdk_overhead.py``, imported and called).

The full run writes its tables into ``docs/benchmarks.md`` between marker comments
(a re-run replaces them); ``--quick`` prints them unless ``--write`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ENV_DIR = HERE / ".venv-alternatives"
DOC = REPO / "docs" / "benchmarks.md"
HEADING = "## Against the alternatives (`benchmarks/alternatives.py`)"
# Evidently 0.7 imports a pandas internal that pandas 3 removed, hence pandas<3 for both.
# Major versions are pinned because the Evidently API changed completely at 0.7.
REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "whylogs": ("whylogs>=1.6,<2", "pandas<3"),
    "evidently": ("evidently>=0.7,<0.8", "pandas<3"),
}
INSTALL_ERRORS_VAR = "OTEL_ML_ALTERNATIVES_INSTALL_ERRORS"


def _env_python() -> Path:
    return ENV_DIR / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _tail(text: str, lines: int = 3) -> str:
    """The last meaningful lines of a pip error, on one line (noise lines dropped)."""
    noise = ("is ignored: it is neither a file", "Ignored the following versions")
    kept = [ln.strip()[:300] for ln in text.splitlines()
            if ln.strip() and not any(n in ln for n in noise)]
    return " / ".join(kept[-lines:]) or "no output"


def prepare_environment() -> tuple[Path | None, dict[str, str]]:
    """Create the script's venv and install the tools; (python to run, tool -> error)."""
    errors: dict[str, str] = {}
    py = _env_python()

    def pip(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(py), "-m", "pip", "install", "--quiet", *args],
                              capture_output=True, text=True, check=False)

    if not py.exists():
        print(f"creating {ENV_DIR.relative_to(REPO)} ...", flush=True)
        made = subprocess.run([sys.executable, "-m", "venv", str(ENV_DIR)],
                              capture_output=True, text=True, check=False)
        if made.returncode != 0:
            reason = f"`python -m venv` failed: {_tail(made.stderr)}"
            return None, dict.fromkeys(REQUIREMENTS, reason)
    print("installing this project into it (pip install -e .) ...", flush=True)
    own = pip("-e", str(REPO))
    if own.returncode != 0:
        reason = f"`pip install -e .` into the benchmark venv failed: {_tail(own.stderr)}"
        return None, dict.fromkeys(REQUIREMENTS, reason)
    for tool, reqs in REQUIREMENTS.items():
        print(f"installing {' '.join(reqs)} ...", flush=True)
        done = pip(*reqs)
        if done.returncode != 0:
            errors[tool] = f"`pip install {' '.join(reqs)}`: {_tail(done.stderr)}"
    return py, errors


def _inside_env() -> bool:
    return Path(sys.prefix).resolve() == ENV_DIR.resolve()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small data and few repetitions (a smoke run, a few minutes)")
    parser.add_argument("--write", action="store_true",
                        help="write docs/benchmarks.md even with --quick")
    parser.add_argument("--no-install", action="store_true",
                        help="do not create the venv; use what this interpreter can import")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the drift-simulation window counts")
    args = parser.parse_args(argv)

    if not args.no_install and not _inside_env():
        py, errors = prepare_environment()
        if py is not None:
            env = dict(os.environ, **{INSTALL_ERRORS_VAR: json.dumps(errors)})
            cmd = [str(py), str(Path(__file__).resolve()),
                   *(argv if argv is not None else sys.argv[1:])]
            return subprocess.run(cmd, env=env, check=False).returncode
        print(f"benchmark venv unusable, running here without the tools: {errors}",
              flush=True)
        return run(args, errors)
    return run(args, json.loads(os.environ.get(INSTALL_ERRORS_VAR, "{}")))


def run(args: argparse.Namespace, install_errors: dict[str, str]) -> int:
    sys.path.insert(0, str(HERE))
    from _alternatives_detection import Plan, simulate
    from _alternatives_speed import call_overhead, capture_throughput, drift_time
    from _alternatives_tables import Tools, render_section, replace_between_markers

    def say(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    began = time.perf_counter()
    tools = Tools.load(install_errors)
    for tool in (tools.whylogs, tools.evidently):
        say(f"{tool.name}: {tool.version if tool.available else tool.error}")
    quick = args.quick
    tables = []
    say("1/4 capture throughput")
    tables.append(capture_throughput(tools, rows=2_000 if quick else 10_000,
                                     otel_rows=100 if quick else 500, repeat=2 if quick else 5))
    say("2/4 drift computation time")
    tables.append(drift_time(tools, reference_rows=20_000 if quick else 100_000,
                             current_rows=(2_000, 20_000) if quick else (10_000, 100_000),
                             repeat=1 if quick else 3))
    say("3/4 false alarms and detection")
    plan = Plan().scaled(args.scale)
    if quick:
        plan = Plan(sizes=(1_000, 10_000), null_windows=(20, 10), shift_windows=(5, 5),
                    report_checks=1, reference_rows=20_000, small_reference=(1_000, 20))
    tables += simulate(tools, plan, progress=say)
    say("4/4 per-call overhead (benchmarks/sdk_overhead.py)")
    tables.append(call_overhead(quick=quick))
    elapsed = time.perf_counter() - began

    import platform

    import numpy

    command = "python benchmarks/alternatives.py" + (" --quick" if quick else "") + (
        f" --scale {args.scale:g}" if args.scale != 1.0 else "")
    versions = ", ".join(
        [f"Python {platform.python_version()}", f"numpy {numpy.__version__}"]
        + [f"{t.name} {t.version}" if t.available else f"{t.name}: not available"
           for t in (tools.whylogs, tools.evidently)]
        + [f"opentelemetry-sdk {_version('opentelemetry-sdk')}"])
    header = (f"Command: `{command}` (from the repository root; {elapsed / 60:.0f} min wall "
              "on a shared 2-core machine). It installs whylogs and Evidently into its own "
              "venv, `benchmarks/.venv-alternatives`, so the project's dependencies stay "
              f"as they are. Versions: {versions}. Times are CPU time of the process "
              "(`time.process_time`), ratios against the otel_ml row of the same run.")
    missing = [t for t in (tools.whylogs, tools.evidently) if not t.available]
    if missing:
        header += "\n\n" + "\n".join(f"**{t.name} did not run here:** {t.error}" for t in missing)
    body = render_section(tables, header)
    print(body)
    if not quick or args.write:
        DOC.write_text(replace_between_markers(DOC.read_text(encoding="utf-8"), body, HEADING),
                       encoding="utf-8")
        say(f"wrote {DOC.relative_to(REPO)}")
    return 0


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
