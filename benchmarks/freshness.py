"""End-to-end freshness: from a predict call to the drift gauge on the evaluator's /metrics.

A real evaluator (``python -m otel_ml.evaluator._cli``, default settings but for its ports,
its state directory and one reference profile) and, in this process, a model service set
up with ``otel_ml.configure`` (the SDK's real OTLP/HTTP exporters, default export
interval) and ``@otel_ml.monitor``. One predict call of ``--rows`` rows whose ``x1`` is
shifted by 1.5 standard deviations; then polled every 0.25 s: the evaluator's state
database (read-only) until the call's feature sketch is committed there, then its
``/metrics`` until ``ml_drift_detected`` of ``x1`` reads 1. Printed: each step's time
from the call, and what bounds it —

- **export**: the SDK exports every ``export interval`` (``OTEL_METRIC_EXPORT_INTERVAL``,
  60 s), so a call waits 0 .. interval for the next export;
- **window**: the point lands in the evaluator's window holding its export time
  (``windows.size``, 300 s); the window is evaluated once closed, ``windows.grace``
  (30 s) after its end, at the next evaluation tick (every ``min(5 s, size / 20)``);
- **publish**: the evaluation sets the gauges, which the next scrape reads at once.

So the wait is ``window end - call + grace + 0 .. tick``: between about ``grace`` and
``export interval + size + grace + tick`` (30 s .. 395 s with the defaults), about 210 s
on average for a call at a random time. ``--export-interval``, ``--window`` and
``--grace`` change the settings (to check the bound quickly).

Run: ``python benchmarks/freshness.py`` (up to ~7 minutes with the defaults).
"""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        body: bytes = r.read()
        return body


def _drift_detected(metrics: bytes, model: str, feature: str) -> bool:
    for line in metrics.decode().splitlines():
        if (
            line.startswith("ml_drift_detected")
            and f'"{model}"' in line
            and f'"{feature}"' in line
            and float(line.rsplit(" ", 1)[1]) == 1.0
        ):
            return True
    return False


def _sketch_stored(db: Path, model: str, feature: str) -> bool:
    """Whether the evaluator committed a sketch of ``feature`` (the SDK's metric export; the
    call's ``ml.prediction`` log record, exported sooner, already opens the window)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute(
            "SELECT 1 FROM sketches WHERE model=? AND name=? LIMIT 1", (model, feature)
        ).fetchone()
    finally:
        conn.close()
    return row is not None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--export-interval", type=float, help="seconds (default: the SDK's, 60)")
    ap.add_argument("--window", type=float, help="windows.size, seconds (default 300)")
    ap.add_argument("--grace", type=float, help="windows.grace, seconds (default 30)")
    ap.add_argument("--timeout", type=float, default=900.0)
    a = ap.parse_args()

    import otel_ml
    from otel_ml.sketch import Profile

    model, feature = "freshness", "x1"
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ref = {"x1": rng.normal(0.0, 1.0, 20_000), "x2": rng.normal(5.0, 2.0, 20_000)}
        Profile.from_data(ref, model=model, version="1").save(tmp / "ref.json")
        windows = {k: v for k, v in (("size", a.window), ("grace", a.grace)) if v is not None}
        cfg = {
            "state_dir": str(tmp / "state"),
            "receivers": {"http": {"port": 0}, "grpc": {"enabled": False}},
            "api": {"port": 0},
            "references": [{"model": model, "version": "1", "path": str(tmp / "ref.json")}],
            **({"windows": windows} if windows else {}),
        }
        (tmp / "evaluator.yaml").write_text(json.dumps(cfg))  # JSON is YAML
        cli = [sys.executable, "-m", "otel_ml.evaluator._cli"]
        proc = subprocess.Popen(
            [*cli, "--config", str(tmp / "evaluator.yaml")],
            stdout=subprocess.PIPE, stderr=(tmp / "evaluator.log").open("wb"),
        )
        assert proc.stdout is not None
        urls: dict[str, str] = {}
        while True:
            line = proc.stdout.readline().decode().strip()
            if not line and proc.poll() is not None:
                raise RuntimeError((tmp / "evaluator.log").read_text())
            if line == "ready":
                break
            name, _, url = line.partition(" ")
            urls[name] = url
        api = urls["api"]
        state = tmp / "state" / "evaluator.sqlite3"
        conf = otel_ml.configure(
            service_name="freshness-bench",
            endpoint=urls["otlp_http"],
            protocol="http/protobuf",
            export_interval=a.export_interval,
        )

        @otel_ml.monitor(model=model, version="1")
        def predict(x: dict[str, np.ndarray]) -> np.ndarray:
            return np.asarray(x["x1"]) * 0.1

        try:
            batch = {
                "x1": rng.normal(1.5, 1.0, a.rows),  # drifted
                "x2": rng.normal(5.0, 2.0, a.rows),
            }
            predict(batch)
            t0 = time.time()
            arrived = gauge = math.nan
            deadline = time.monotonic() + a.timeout
            while time.monotonic() < deadline:
                now = time.time()
                if math.isnan(arrived) and _sketch_stored(state, model, feature):
                    arrived = now
                if not math.isnan(arrived) and _drift_detected(
                    _get(api + "/metrics"), model, feature
                ):
                    gauge = now
                    break
                time.sleep(0.25)
        finally:
            conf.shutdown()
            proc.terminate()
            proc.wait(60)
    size = a.window or 300.0
    grace = 30.0 if a.grace is None else a.grace
    interval = a.export_interval or 60.0
    tick = min(5.0, max(size / 20, 0.5))
    window_end = math.ceil(arrived / size) * size
    print(f"settings: export interval {interval:g} s, window {size:g} s, grace {grace:g} s, "
          f"evaluation tick {tick:g} s\n")
    print("| step | seconds after the call | bound |")
    print("|---|---:|---|")
    print(f"| point stored by the evaluator (export) | {arrived - t0:.1f} | "
          f"0 .. export interval ({interval:g} s) |")
    print(f"| its window closes (end + grace) | {window_end + grace - t0:.1f} | "
          f"window end 0 .. {size:g} s after the export, + grace {grace:g} s |")
    print(f"| ml_drift_detected = 1 on /metrics | {gauge - t0:.1f} | "
          f"window closed + 0 .. tick ({tick:g} s) + evaluation |")
    print(f"\nbound for any call: {grace:g} .. {interval + size + grace + tick:g} s")


if __name__ == "__main__":
    main()
