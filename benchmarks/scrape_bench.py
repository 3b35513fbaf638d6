"""Time of one Prometheus scrape of about 8,000 series: the evaluator's and a model service's.

1. **Evaluator**: ``DerivedMetrics`` holding the latest report of ``--models`` models x
   ``--features`` numeric features (every feature with a drift verdict: seven drift
   scores, the verdict, the p-value and an out-of-range rate = 10 series per feature),
   scraped with ``DerivedMetrics.prometheus_text()`` -- the body ``GET /metrics``
   serves -- the first time after the reports changed (a report's lines are written
   then) and again, and over HTTP from the real API server on 127.0.0.1.
2. **Model service**: the SDK's ``SketchCollector`` and ``PrometheusMetricReader`` on
   one registry (what ``otel_ml.configure(prometheus_port=...)`` serves), holding
   ``--sdk-features`` feature histograms of 1,000 normal values each (up to 40 ``le``
   buckets per sign + ``_count`` / ``_sum``); between two scrapes every feature gets new
   values, as in a live service. Timed: ``generate_latest(registry)``.

Times are CPU time of the process (``time.process_time``), fastest of ``--repeat``;
the machine is shared, so wall time mostly measures the scheduler.

Run: ``python benchmarks/scrape_bench.py`` (under a minute). Prints Markdown.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

from otel_ml.evaluator._api import ApiServer
from otel_ml.evaluator._metrics_export import DerivedMetrics, HealthSnapshot
from otel_ml.evaluator._report import FeatureReport, ModelReport, QualityRate
from otel_ml.sketch import FeatureKind, NumericSketch
from otel_ml.stats import DriftPolicy, compare_feature


def _cpu_best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        c0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - c0)
    return best, out


def _series(text: bytes) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))


def evaluator_reports(models: int, features: int) -> list[ModelReport]:
    rng = np.random.default_rng(0)
    policy = DriftPolicy()
    refs, curs = [], []
    for f in range(features):
        r, c = NumericSketch(), NumericSketch()
        r.update(rng.normal(f, 1, 5000))
        c.update(rng.normal(f + (0.3 if f % 10 == 0 else 0), 1, 1000))
        refs.append(r)
        curs.append(c)
    drifts = [compare_feature(f"f{f}", refs[f], curs[f], policy=policy, n_tests=features)
              for f in range(features)]
    reports = []
    for m in range(models):
        feats = tuple(
            FeatureReport(f"f{f}", FeatureKind.NUMERIC, 1000, drifts[f], "", float(f), float(f),
                          float(f))
            for f in range(features)
        )
        quality = tuple(QualityRate(f"f{f}", "out_of_range", 2.0, 0.002, 0.0)
                        for f in range(features))
        reports.append(ModelReport(f"model-{m}", "1", 0.0, 3600.0, 1000, True, "ref",
                                   features=feats, quality=quality))
    return reports


def evaluator_scrape(models: int, features: int, repeat: int) -> dict[str, float]:
    metrics = DerivedMetrics(HealthSnapshot, prometheus=True)
    c0 = time.process_time()
    for r in evaluator_reports(models, features):
        metrics.update(r)
    publish = time.process_time() - c0
    c0 = time.process_time()
    text = metrics.prometheus_text()
    first = time.process_time() - c0
    cpu, _ = _cpu_best(metrics.prometheus_text, repeat)
    out = {
        "series": float(_series(text)),
        "body KiB": len(text) / 1024,
        "publish the reports (update), CPU ms": publish * 1000,
        "first scrape after the reports changed (prometheus_text), CPU ms": first * 1000,
        "next scrapes (prometheus_text), CPU ms": cpu * 1000,
    }
    server, url = _api_server(metrics)
    walls = []
    body = b""
    for _ in range(repeat):
        t0 = time.perf_counter()
        with urllib.request.urlopen(url + "/metrics", timeout=30) as resp:
            body = resp.read()
        walls.append(time.perf_counter() - t0)
    server.stop()
    out["GET /metrics over HTTP (wall, fastest), ms"] = min(walls) * 1000
    out["GET /metrics series"] = float(_series(body))
    metrics.shutdown()
    return out


def _api_server(metrics: DerivedMetrics) -> tuple[ApiServer, str]:
    """The evaluator's real API server on 127.0.0.1, serving ``metrics``."""
    from otel_ml.evaluator._config import parse_config
    from otel_ml.evaluator._references import ReferenceSet
    from otel_ml.evaluator._service import EvaluatorService
    from otel_ml.evaluator._store import Store
    from otel_ml.evaluator._windows import Windowing

    tmp = Path(tempfile.mkdtemp())
    cfg = parse_config({"api": {"port": 0}})
    store = Store(tmp / "s.db", Windowing(3600.0, 0.0))
    svc = EvaluatorService(cfg, store=store, references=ReferenceSet([]), policy=DriftPolicy(),
                           metrics=metrics)
    server = ApiServer(svc, host="127.0.0.1", port=0)
    server.start()
    return server, server.url


def sdk_scrape(features: int, repeat: int) -> dict[str, float]:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import CollectorRegistry, generate_latest

    from otel_ml.instrumentation import Aggregator, ModelKey
    from otel_ml.instrumentation._prometheus import SketchCollector
    from otel_ml.instrumentation._window import ModelWindow

    rng = np.random.default_rng(1)
    agg = Aggregator(max_features=max(1000, features))
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    SketchCollector(agg).register(registry)
    key = ModelKey("model", "1")

    def feed() -> None:
        w = ModelWindow()
        for f in range(features):
            s = NumericSketch()
            s.update(rng.normal(0, 1 + f / 10, 1000))
            w.numeric[f"f{f}"] = s
        agg.merge(key, w)
        agg.record_call(key, 0.01, rows=1000, error_type=None)

    feed()
    generate_latest(registry)  # first scrape: the collector's cumulative copy exists
    times = []
    text = b""
    for _ in range(repeat):
        feed()  # new values for every feature between scrapes, as in a live service
        c0 = time.process_time()
        text = generate_latest(registry)
        times.append(time.process_time() - c0)
    provider.shutdown()
    return {
        "series": float(_series(text)),
        "body KiB": len(text) / 1024,
        "scrape (generate_latest), CPU ms": min(times) * 1000,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=16)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--sdk-features", type=int, default=137)
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    ev = evaluator_scrape(a.models, a.features, a.repeat)
    sdk = sdk_scrape(a.sdk_features, a.repeat)
    print(f"### Evaluator: {a.models} models x {a.features} features (fastest of {a.repeat})\n")
    print("| measure | value |\n|---|---:|")
    for k, v in ev.items():
        print(f"| {k} | {v:,.1f} |")
    print(f"\n### Model service: {a.sdk_features} feature histograms (fastest of {a.repeat})\n")
    print("| measure | value |\n|---|---:|")
    for k, v in sdk.items():
        print(f"| {k} | {v:,.1f} |")


if __name__ == "__main__":
    main()
