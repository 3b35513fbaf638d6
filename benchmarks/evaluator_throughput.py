"""Evaluator throughput: points ingested per second, time to evaluate a window, memory.

1. **Ingest**: ``--senders`` processes, each with the SDK's real ``OTLPMetricExporter``
   (OTLP/HTTP, protobuf), export requests of ``--models`` x ``--features``
   exponential-histogram points (1,000 normal values per sketch, DELTA, as the SDK bridge
   emits them) plus one ``ml.predict.calls`` counter per model (CUMULATIVE, as the SDK
   sends its own instruments by default), as fast as they are accepted, for
   ``--seconds`` (all senders start together). Target: the real evaluator
   (``python -m otel_ml.evaluator._cli``, every point durably committed to SQLite
   before the 200). Baseline, same run, same senders: the same OTLP/HTTP receiver in
   its own process with a sink that accepts everything without storing (the transport
   + decode floor). Reported: points/s, the receiver process's CPU time per point (all
   threads, ``/proc/<pid>/stat``), the senders' CPU per point, and the receiver's RSS
   sampled every 0.5 s (the first and last third of the run: flat or growing).
2. **Evaluate**: one window of 100 models x 50 features (each model with its own
   reference profile) stored, then ``EvaluatorService.tick()`` evaluates all 100 windows
   (load sketches, drift for 5,000 features, quality, store the reports, publish the
   gauges); then the next window of every model is stored and evaluated (the steady
   state: the references are prepared by then). CPU time of the process and wall time.
   Baseline: ``compare_feature`` alone on the first window's 5,000 sketch pairs, plain
   reference sketches. ``--only evaluate --eval-repeat 2`` runs only this part, on two
   fresh stores, and keeps the faster.
3. **Store**: ``Store.write`` in-process (sketch points one batch per commit and ten
   per commit; prediction ids stored; outcome ids joined).

Run: ``python benchmarks/evaluator_throughput.py`` (about 1 minute). Prints Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_ml import semconv as sc
from otel_ml.sketch import NumericSketch, exponential_data_point

DELTA = AggregationTemporality.DELTA
CUMULATIVE = AggregationTemporality.CUMULATIVE

_NULL_SERVER = """
import sys, time
from otel_ml.evaluator._records import SubmitResult
from otel_ml.evaluator._otlp_http import OtlpHttpServer
class Null:
    def submit(self, batch):
        return SubmitResult.ok()
s = OtlpHttpServer(Null(), port=0)
s.start()
print("otlp_http", s.url, flush=True)
print("ready", flush=True)
sys.stdin.read()
s.stop()
"""


def _points(models: int, features: int, seed: int) -> list[ExponentialHistogramDataPoint]:
    rng = np.random.default_rng(seed)
    out = []
    for m in range(models):
        for f in range(features):
            s = NumericSketch()
            s.update(rng.normal(f, 1 + f / 10, 1000))
            attrs = {
                sc.ML_MODEL_NAME: f"model-{m}",
                sc.ML_MODEL_VERSION: "1",
                sc.ML_FEATURE_NAME: f"f{f}",
            }
            out.append(exponential_data_point(s, attrs, 0, 0))
    return out


def _sender(
    url: str, models: int, features: int, seconds: float, seed: int, barrier: Any, out: Any
) -> None:
    """One sender process: the SDK's real exporter, as fast as requests are accepted."""
    exporter = OTLPMetricExporter(endpoint=url + "/v1/metrics", timeout=30)
    base = _points(models, features, seed)
    resource_ = Resource.create({"service.name": "bench", "service.instance.id": str(seed)})
    scope = InstrumentationScope("otel_ml", "0")
    started = time.time_ns()
    points_ok = requests_ok = failed = 0
    barrier.wait()
    c0 = time.process_time()
    end = time.monotonic() + seconds
    calls_so_far = 0
    while time.monotonic() < end:
        t = time.time_ns()
        pts = [
            dataclasses.replace(p, start_time_unix_nano=t - 10**9, time_unix_nano=t) for p in base
        ]
        calls_so_far += 100
        # the SDK's own counters are CUMULATIVE (the exporter's default temporality)
        calls = [
            NumberDataPoint(
                {sc.ML_MODEL_NAME: f"model-{m}", sc.ML_MODEL_VERSION: "1"},
                started, t, calls_so_far,
            )
            for m in range(models)
        ]
        data = MetricsData(
            [
                ResourceMetrics(
                    resource_,
                    [
                        ScopeMetrics(
                            scope,
                            [
                                Metric(
                                    sc.METRIC_FEATURE_VALUES,
                                    "",
                                    "1",
                                    ExponentialHistogram(pts, DELTA),
                                ),
                                Metric(
                                    sc.METRIC_PREDICT_CALLS,
                                    "",
                                    "{call}",
                                    Sum(calls, CUMULATIVE, True),
                                ),
                            ],
                            "",
                        )
                    ],
                    "",
                )
            ]
        )
        if exporter.export(data) is MetricExportResult.SUCCESS:
            points_ok += len(pts) + len(calls)
            requests_ok += 1
        else:
            failed += 1
    cpu = time.process_time() - c0
    exporter.shutdown()
    out.put((points_ok, requests_ok, failed, cpu))


def _start(cmd: list[str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("wb")
    )
    assert proc.stdout is not None
    url = ""
    while True:
        line = proc.stdout.readline().decode().strip()
        if not line and proc.poll() is not None:
            raise RuntimeError(f"server exited; see {log}")
        if line.startswith("otlp_http "):
            url = line.split()[1]
        if line == "ready":
            return proc, url


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sample_rss(pid: int, samples: list[tuple[float, int]], stop: threading.Event) -> None:
    t0 = time.monotonic()
    while not stop.is_set():
        samples.append((time.monotonic() - t0, _rss_kib(pid)))
        stop.wait(0.5)


def _run_target(
    cmd: list[str], log: Path, senders: int, models: int, features: int, seconds: float
) -> dict[str, float]:
    proc, url = _start(cmd, log)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(senders + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_sender, args=(url, models, features, seconds, s, barrier, results))
        for s in range(senders)
    ]
    for p in procs:
        p.start()
    barrier.wait()  # every sender is ready: the clock starts for all at once
    c0, t0 = _cpu_seconds(proc.pid), time.perf_counter()
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(proc.pid, samples, stop))
    sampler.start()
    outs = [results.get() for _ in procs]
    c1, elapsed = _cpu_seconds(proc.pid), time.perf_counter() - t0
    stop.set()
    sampler.join()
    for p in procs:
        p.join()
    proc.terminate()  # the evaluator stops cleanly on SIGTERM
    proc.communicate(timeout=60)
    pts = sum(o[0] for o in outs)
    rss = [kib / 1024 for _, kib in samples]
    third = max(1, len(rss) // 3)
    return {
        "points/s": pts / elapsed,
        "requests ok": sum(o[1] for o in outs),
        "export failures": sum(o[2] for o in outs),
        "receiver CPU s": c1 - c0,
        "receiver CPU us per point": (c1 - c0) / max(pts, 1) * 1e6,
        "receiver CPU cores busy": (c1 - c0) / elapsed,
        "senders CPU us per point": sum(o[3] for o in outs) / max(pts, 1) * 1e6,
        "RSS MiB, first third of the run (max)": max(rss[:third]),
        "RSS MiB, last third of the run (max)": max(rss[-third:]),
        "RSS MiB, peak": max(rss),
    }


def ingest(senders: int, models: int, features: int, seconds: float, tmp: Path) -> dict[str, float]:
    cfg = tmp / "evaluator.yaml"
    cfg.write_text(
        f"state_dir: {tmp / 'state'}\nreceivers: {{http: {{port: 0}}, grpc: {{enabled: false}}}}\n"
        "api: {enabled: false}\nwindows: {size: 1h}\n"
    )
    results: dict[str, float] = {}
    targets = {
        "null sink (baseline)": [sys.executable, "-c", _NULL_SERVER],
        "evaluator": [sys.executable, "-m", "otel_ml.evaluator._cli", "--config", str(cfg)],
    }
    for name, cmd in targets.items():
        log = tmp / f"{name.split()[0]}.log"
        out = _run_target(cmd, log, senders, models, features, seconds)
        results.update({f"{name} {k}": v for k, v in out.items()})
    return results


def evaluate_window(models: int, features: int, tmp: Path) -> dict[str, float]:
    from otel_ml.evaluator._config import parse_config
    from otel_ml.evaluator._config_options import ReferenceSpec
    from otel_ml.evaluator._metrics_export import DerivedMetrics, HealthSnapshot
    from otel_ml.evaluator._records import HistogramPoint as HP
    from otel_ml.evaluator._records import (
        IngestBatch,
        ResourceIdentity,
        Signal,
        Temporality,
    )
    from otel_ml.evaluator._references import ReferenceSet
    from otel_ml.evaluator._service import EvaluatorService
    from otel_ml.evaluator._store import Store
    from otel_ml.evaluator._windows import Windowing
    from otel_ml.sketch import Profile
    from otel_ml.stats import DriftPolicy, compare_feature

    rng = np.random.default_rng(1)
    specs = []
    t_build = time.perf_counter()
    for m in range(models):
        data = {f"f{f}": rng.normal(f, 1, 2000) for f in range(features)}
        Profile.from_data(data, model=f"model-{m}", version="1").save(tmp / f"ref{m}.json")
        specs.append(ReferenceSpec(f"model-{m}", tmp / f"ref{m}.json", "1"))
    refs = ReferenceSet(specs)
    store = Store(tmp / "eval.db", Windowing(3600.0, 0.0))
    res = ResourceIdentity("bench")
    pairs: list[tuple[str, NumericSketch, NumericSketch]] = []

    def write_window(t: int) -> None:
        for m in range(models):
            hist = []
            for f in range(features):
                s = NumericSketch()
                s.update(rng.normal(f + (0.3 if f % 10 == 0 else 0.0), 1, 1000))
                ref = refs.get(f"model-{m}", "1")
                assert ref is not None
                if t == 1800 * 10**9:
                    pairs.append((f"f{f}", ref.profile.features[f"f{f}"].sketch, s))
                attrs = (
                    (sc.ML_FEATURE_NAME, f"f{f}"),
                    (sc.ML_MODEL_NAME, f"model-{m}"),
                    (sc.ML_MODEL_VERSION, "1"),
                )
                hist.append(
                    HP(
                        sc.METRIC_FEATURE_VALUES,
                        f"model-{m}",
                        "1",
                        f"f{f}",
                        attrs,
                        res,
                        t - 10**9,
                        t,
                        Temporality.DELTA,
                        s.to_exponential(),
                    )
                )
            store.write([IngestBatch(f"b{m}-{t}", Signal.METRICS, histograms=tuple(hist))])

    write_window(1800 * 10**9)
    setup = time.perf_counter() - t_build
    cfg = parse_config({"windows": {"size": "1h", "grace": "0s", "min_rows": 100}})
    metrics = DerivedMetrics(HealthSnapshot, prometheus=True)
    svc = EvaluatorService(cfg, store=store, references=refs, policy=DriftPolicy(), metrics=metrics)
    t0, c0 = time.perf_counter(), time.process_time()
    reports = svc.tick(now=7200.0)
    tick, tick_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert len(reports) == models
    n_drift = sum(len(r.drifted_features) for r in reports)
    # The next window of every model: the references are prepared already (steady state).
    write_window((1800 + 3600) * 10**9)
    t0, c0 = time.perf_counter(), time.process_time()
    assert len(svc.tick(now=7200.0 + 3600)) == models
    tick2, tick2_cpu = time.perf_counter() - t0, time.process_time() - c0
    policy = DriftPolicy()
    c0 = time.process_time()
    for name, r, c in pairs:
        compare_feature(name, r, c, policy=policy, n_tests=features)
    bare = time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    scrape = metrics.prometheus_text()
    scrape_s, scrape_cpu = time.perf_counter() - t0, time.process_time() - c0
    metrics.shutdown()
    return {
        f"evaluate {models}x{features} windows, first tick, wall s": tick,
        f"evaluate {models}x{features} windows, first tick, CPU s": tick_cpu,
        f"evaluate {models}x{features} windows, next tick, wall s": tick2,
        f"evaluate {models}x{features} windows, next tick, CPU s": tick2_cpu,
        "compare_feature alone on the plain sketches (baseline), CPU s": bare,
        "ratio next tick CPU / baseline": tick2_cpu / bare,
        f"drifted features found (of {models * features // 10} shifted by 0.3 sd)": n_drift,
        "Prometheus scrape of the gauges, wall s": scrape_s,
        "Prometheus scrape of the gauges, CPU s": scrape_cpu,
        "scrape size KiB": len(scrape) / 1024,
        "scrape series": scrape.count(b"\n") - scrape.count(b"\n#"),
        "setup (profiles + store) s": setup,
        "benchmark process max RSS MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def store_rates(tmp: Path) -> dict[str, float]:
    """In-process ``Store.write`` rates (no HTTP): sketch points per commit and grouped,
    prediction ids stored, outcome ids joined."""
    from otel_ml.evaluator._records import HistogramPoint as HP
    from otel_ml.evaluator._records import (
        IngestBatch,
        OutcomeEvent,
        PredictionEvent,
        ResourceIdentity,
        Signal,
        Temporality,
    )
    from otel_ml.evaluator._store import Store
    from otel_ml.evaluator._windows import Windowing

    rng = np.random.default_rng(2)
    res = ResourceIdentity("bench")
    t = 1800 * 10**9

    def hist_batch(k: int) -> IngestBatch:
        pts = []
        for m in range(4):
            for f in range(50):
                sk = NumericSketch()
                sk.update(rng.normal(f, 1, 64))
                attrs = ((sc.ML_FEATURE_NAME, f"f{f}"), (sc.ML_MODEL_NAME, f"m{m}"))
                pts.append(
                    HP(
                        sc.METRIC_FEATURE_VALUES,
                        f"m{m}",
                        "1",
                        f"f{f}",
                        attrs,
                        res,
                        t - 10**9,
                        t,
                        Temporality.DELTA,
                        sk.to_exponential(),
                    )
                )
        return IngestBatch(f"h{k}", Signal.METRICS, histograms=tuple(pts))

    st = Store(tmp / "rates.db", Windowing(3600.0))
    batches = [hist_batch(k) for k in range(40)]
    t0 = time.perf_counter()
    for b in batches[:30]:
        st.write([b])
    one = 30 * 200 / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    st.write(batches[30:])
    grouped = 10 * 200 / (time.perf_counter() - t0)
    ids = [f"p{i}" for i in range(20_000)]
    t0 = time.perf_counter()
    for k in range(0, 20_000, 1000):
        chunk = tuple(ids[k : k + 1000])
        st.write(
            [
                IngestBatch(
                    f"p{k}",
                    Signal.LOGS,
                    predictions=(
                        PredictionEvent(
                            "m0", "1", chunk, (0.5,) * 1000, ("1",) * 1000, t, t, "", ""
                        ),
                    ),
                )
            ]
        )
    preds = 20_000 / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for k in range(0, 20_000, 1000):
        chunk = tuple(ids[k : k + 1000])
        st.write(
            [
                IngestBatch(
                    f"o{k}",
                    Signal.LOGS,
                    outcomes=(OutcomeEvent("m0", None, chunk, ("0",) * 1000, t + 10**9),),
                )
            ]
        )
    joined = 20_000 / (time.perf_counter() - t0)
    st.close()
    return {
        "sketch points/s, one batch per commit": one,
        "sketch points/s, 10 batches per commit": grouped,
        "prediction ids/s stored (1,000 per event)": preds,
        "outcome ids/s joined (1,000 per event)": joined,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--models", type=int, default=10)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--eval-models", type=int, default=100)
    ap.add_argument("--eval-features", type=int, default=50)
    ap.add_argument("--only", choices=("ingest", "store", "evaluate"),
                    help="run one part (default: all three)")
    ap.add_argument("--eval-repeat", type=int, default=1,
                    help="evaluate that many fresh stores, keep the fastest tick")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ing = ingest(a.senders, a.models, a.features, a.seconds, tmp) if a.only in (
            None, "ingest") else {}
        ev: dict[str, float] = {}
        if a.only in (None, "evaluate"):
            runs = []
            for k in range(a.eval_repeat):
                (tmp / f"eval{k}").mkdir()
                runs.append(evaluate_window(a.eval_models, a.eval_features, tmp / f"eval{k}"))
            ev = min(runs, key=lambda r: next(v for k, v in r.items() if "next tick, CPU" in k))
        rates = store_rates(tmp) if a.only in (None, "store") else {}
    if ing:
        print(
            f"\n### Ingest: {a.senders} sender processes, {a.models} models x {a.features} "
            f"features per request, {a.seconds:g} s each\n"
        )
        print("| measure | value |\n|---|---|")
        for k, v in ing.items():
            print(f"| {k} | {v:,.1f} |")
        ratio = ing["evaluator points/s"] / ing["null sink (baseline) points/s"]
        print(f"| evaluator / baseline, points/s | {ratio:.2f} |")
        cpu = ing["evaluator receiver CPU us per point"]
        base = ing["null sink (baseline) receiver CPU us per point"]
        print(f"| evaluator / baseline, CPU per point | {cpu / base:.2f} |")
        print(f"| evaluator: sketch points per CPU second | {1e6 / cpu:,.0f} |")
        print(f"| replica x feature streams at a 60 s interval, at the measured rate | "
              f"{ing['evaluator points/s'] * 60:,.0f} |")
    if rates:
        print("\n### Store.write in-process (no HTTP)\n")
        print("| measure | value |\n|---|---|")
        for k, v in rates.items():
            print(f"| {k} | {v:,.0f} |")
    if ev:
        print(f"\n### Evaluate one window: {a.eval_models} models x {a.eval_features} features "
              f"(fastest tick of {a.eval_repeat})\n")
        print("| measure | value |\n|---|---|")
        for k, v in ev.items():
            print(f"| {k} | {v:,.3f} |")


if __name__ == "__main__":
    main()
