"""A sustained flood: the evaluator sheds load with 429/503 + Retry-After, keeps its memory
bounded, stays responsive, and stores every batch it acknowledged.

Real evaluator subprocess, real OTLP/HTTP protobuf requests from many threads; RSS is
read from ``/proc``. The numbers of one run are recorded in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from evaluator_wire import EvaluatorProcess, exp_point, metrics_body, model_attrs, post

from otel_ml import semconv as sc
from otel_ml.evaluator._app import STATE_FILE

FLOOD_SECONDS = 8.0
N_THREADS = 24


def _body(k: int, rng: np.random.Generator) -> bytes:
    t = time.time_ns()
    hist = []
    for m in range(4):
        attrs = model_attrs(f"flood{m}")
        for f in range(40):
            hist.append(
                (
                    sc.METRIC_FEATURE_VALUES,
                    exp_point(rng.normal(f, 1, 64), {**attrs, sc.ML_FEATURE_NAME: f"f{f}"}, t + k),
                )
            )
    return metrics_body([(sc.METRIC_PREDICT_CALLS, 1.0, model_attrs("flood0"))], hist, t_ns=t + k)


@pytest.mark.slow
def test_flood_is_shed_with_retry_after_and_memory_stays_bounded(tmp_path: Path) -> None:
    cfg = tmp_path / "evaluator.yaml"
    cfg.write_text(
        "state_dir: state\n"
        "receivers: {http: {port: 0}, grpc: {enabled: false}}\n"
        "api: {port: 0}\n"
        "windows: {size: 1h}\n"
        "ingest: {queue_size: 4, max_batch_commit: 2, retry_after: 3}\n"
    )
    rng = np.random.default_rng(0)
    bodies = [_body(k, rng) for k in range(64)]
    ev = EvaluatorProcess(cfg, log=tmp_path / "flood.log")
    url = ev.endpoints["otlp_http"]
    codes: dict[int, int] = {}
    retry_after: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()
    sent = [0]

    def flood(k: int) -> None:
        i = k
        while not stop.is_set():
            # a fresh body each time (distinct batch ids): timestamps differ by i
            body = bodies[i % len(bodies)] + b""
            try:
                code, headers = post(url, "/v1/metrics", _retime(body, i), timeout=30)
            except ConnectionResetError:
                # answered (429) and closed before the whole body was sent: shed too
                code, headers = -1, {}
            with lock:
                codes[code] = codes.get(code, 0) + 1
                sent[0] += 1
                if code in (429, 503):
                    retry_after.add(headers.get("retry-after", ""))
            i += N_THREADS

    rss: list[tuple[float, int]] = []
    threads = [threading.Thread(target=flood, args=(k,)) for k in range(N_THREADS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    health_ok = 0
    try:
        while time.monotonic() - t0 < FLOOD_SECONDS:
            rss.append((time.monotonic() - t0, ev.rss_kib()))
            with urllib.request.urlopen(ev.endpoints["api"] + "/healthz", timeout=10) as r:
                health_ok += r.status == 200
            time.sleep(0.25)
        rss.append((time.monotonic() - t0, ev.rss_kib()))  # a late sample even if /healthz lagged
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        code = ev.stop()
    assert code == 0
    shed = codes.get(429, 0) + codes.get(503, 0) + codes.get(-1, 0)
    assert codes.get(200, 0) > 0 and shed > 0, codes
    assert set(codes) <= {200, 429, 503, -1}, codes
    assert retry_after and all(v.isdigit() and int(v) >= 1 for v in retry_after), retry_after
    assert health_ok >= len(rss) - 1
    peak = max(v for _, v in rss)
    early = max(v for t, v in rss if t < 2.5)
    late = max(v for t, v in rss if t >= FLOOD_SECONDS - 3)
    print(
        f"\nflood: {sent[0]} requests in {FLOOD_SECONDS:.0f} s, codes {codes}, "
        f"RSS early {early / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB, "
        f"late {late / 1024:.0f} MiB"
    )
    assert peak < 400 * 1024, "RSS above 400 MiB under flood"
    assert late - early < 64 * 1024, "RSS keeps growing under a sustained flood"
    # every acknowledged batch is in the store (each body is distinct)
    conn = sqlite3.connect(tmp_path / "state" / STATE_FILE)
    try:
        stored = conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
    finally:
        conn.close()
    assert stored >= codes[200]


def _retime(body: bytes, i: int) -> bytes:
    """Make a body distinct per request without re-encoding: append an unknown protobuf field
    (field 15, varint ``i``) that the decoder skips but the batch id hashes."""
    varint = bytearray()
    v = i
    while True:
        b = v & 0x7F
        v >>= 7
        varint.append(b | (0x80 if v else 0))
        if not v:
            break
    return body + bytes([15 << 3]) + bytes(varint)
