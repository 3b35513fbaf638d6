"""Evaluator under unbounded names: many model names, many features of one model.

A real evaluator process (``python -m otel_ml.evaluator._cli``) receives over OTLP/HTTP
``--features`` distinct features of one model (``wide``), then one ``ml.predict.calls``
point for each of ``--models`` distinct model names, all in one window. Once ``wide``'s
window is evaluated: windows stored, database size, the evaluator's RSS, the size and
time of ``/api/models`` (its first page) and of ``wide``'s HTML page.

Two rows in the same run: the default ``limits:`` (1,000 models, 1,000 features per
model window) and limits set out of reach (the behaviour before there were any; the
list API and the page are bounded either way).

Run: ``python benchmarks/evaluator_cardinality.py`` (a few minutes; most of it the
unlimited row evaluating 100,000 windows). Prints Markdown. The evaluator process and
the OTLP bodies come from the evaluator tests' ``evaluator_wire`` helpers.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "evaluator"))

from evaluator_wire import EvaluatorProcess, exp_point, metrics_body, model_attrs, post

from otel_ml import semconv as sc

UNLIMITED = "limits: {models: 10000000, features_per_model: 1000000}"


def _wide(feature: str) -> dict[str, str]:
    return {**model_attrs("wide"), sc.ML_FEATURE_NAME: feature}


def _send(url: str, body: bytes) -> None:
    while post(url, "/v1/metrics", body)[0] != 200:  # 503 + Retry-After under load
        time.sleep(1.0)


def _get(url: str) -> tuple[int, float]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as resp:
        size = len(resp.read())
    return size, time.perf_counter() - t0


def run(limits: str, n_models: int, n_features: int, timeout: float) -> dict[str, str]:
    tmp = Path(tempfile.mkdtemp(prefix="otel-ml-cardinality-"))
    cfg = tmp / "evaluator.yaml"
    cfg.write_text(
        f"state_dir: {tmp / 'state'}\n"
        "receivers: {http: {port: 0}, grpc: {enabled: false}}\n"
        "api: {port: 0}\n"
        "windows: {size: 1m, grace: 0s, min_rows: 1}\n"
        f"{limits}\n"
    )
    ev = EvaluatorProcess(cfg, log=tmp / "evaluator.log")
    try:
        url, api = ev.endpoints["otlp_http"], ev.endpoints["api"]
        t = time.time_ns()
        t0 = time.perf_counter()
        for k in range(0, n_features, 2000):
            points = [
                (sc.METRIC_FEATURE_VALUES, exp_point([1.0, 2.0], _wide(f"f{i:06d}"), t))
                for i in range(k, min(k + 2000, n_features))
            ]
            _send(url, metrics_body([], points, t_ns=t))
        for k in range(0, n_models, 1000):
            sums = [
                (sc.METRIC_PREDICT_CALLS, 1.0, model_attrs(f"model-{i:06d}"))
                for i in range(k, min(k + 1000, n_models))
            ]
            _send(url, metrics_body(sums, t_ns=t))
        ingest = time.perf_counter() - t0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # the window closes after 1 min, then evaluates
            try:
                _get(api + "/api/models/wide/report")
                break
            except urllib.error.HTTPError:
                time.sleep(2.0)
        rss = ev.rss_kib() / 1024
        models_size, models_s = _get(api + "/api/models")
        page_size, page_s = _get(api + "/models/wide")
        import sqlite3

        db = sqlite3.connect(str(tmp / "state" / "evaluator.sqlite3"))
        windows = db.execute("SELECT COUNT(*) FROM windows").fetchone()[0]
        db.close()
        size = sum(f.stat().st_size for f in (tmp / "state").glob("evaluator.sqlite3*"))
    finally:
        ev.stop()
    return {
        "limits": "out of reach" if limits == UNLIMITED else "defaults",
        "ingest s": f"{ingest:.1f}",
        "windows": f"{windows:,}",
        "database MB": f"{size / 1e6:.1f}",
        "RSS MB": f"{rss:.0f}",
        "/api/models": f"{models_size / 1e3:.0f} kB in {models_s:.2f} s",
        "/models/wide": f"{page_size / 1e3:.0f} kB in {page_s:.2f} s",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=100_000)
    ap.add_argument("--timeout", type=float, default=900.0, help="wait for evaluation, s")
    args = ap.parse_args()
    rows = [run(lim, args.models, args.features, args.timeout) for lim in ("", UNLIMITED)]
    print(f"{args.models:,} model names, {args.features:,} features of one model\n")
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for r in rows:
        print("| " + " | ".join(r.values()) + " |")


if __name__ == "__main__":
    main()
