"""SIGKILL in the middle of ingestion: nothing acknowledged with a 200 is lost, nothing is
counted twice, and retries of the same batch are deduplicated after the restart.

A real evaluator subprocess, real OTLP/HTTP protobuf requests from several threads.
Each batch ``i`` carries ``ml.predict.calls = 1`` and a ``batch_no`` feature histogram
holding the single value ``i + 1``, so the stored totals tell exactly which batches
are in the store and how often.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from evaluator_wire import SCOPE, EvaluatorProcess, exp_point, metrics_body, model_attrs, post
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource

from otel_ml import semconv as sc
from otel_ml.evaluator._app import STATE_FILE
from otel_ml.evaluator._decode import batch_id
from otel_ml.evaluator._records import Signal
from otel_ml.evaluator._store_codec import sketch_from_stored

N_BATCHES = 240
N_THREADS = 4


def _bodies() -> list[bytes]:
    t0 = time.time_ns()
    out = []
    for i in range(N_BATCHES):
        attrs = model_attrs("killtest")
        out.append(
            metrics_body(
                [(sc.METRIC_PREDICT_CALLS, 1.0, attrs)],
                [
                    (
                        sc.METRIC_FEATURE_VALUES,
                        exp_point(
                            [float(i + 1)], {**attrs, sc.ML_FEATURE_NAME: "batch_no"}, t0 + i
                        ),
                    )
                ],
                t_ns=t0 + i,
            )
        )
    return out


def _state(db: Path) -> tuple[set[str], float, int, float]:
    """(stored batch ids, total calls, batch_no count, batch_no sum) read from the store."""
    conn = sqlite3.connect(db)
    try:
        ids = {r[0] for r in conn.execute("SELECT id FROM batches")}
        calls = conn.execute(
            "SELECT COALESCE(SUM(value), 0) FROM counters WHERE metric=?",
            (sc.METRIC_PREDICT_CALLS,),
        ).fetchone()[0]
        count, total = 0, 0.0
        for (data,) in conn.execute("SELECT data FROM sketches WHERE name='batch_no'"):
            sketch = sketch_from_stored(data)
            count += sketch.count
            total += sketch.sum
    finally:
        conn.close()
    return ids, float(calls), count, total


def _send_all(
    url: str, bodies: list[bytes], order: list[int], acked: set[int], stop: threading.Event
) -> None:
    for i in order:
        if stop.is_set():
            return
        try:
            code, _ = post(url, "/v1/metrics", bodies[i], timeout=10)
        except OSError:
            return  # the evaluator is gone
        if code == 200:
            acked.add(i)


@pytest.mark.slow
def test_sigkill_mid_ingestion_loses_nothing_acknowledged_and_counts_once(tmp_path: Path) -> None:
    cfg = tmp_path / "evaluator.yaml"
    cfg.write_text(
        "state_dir: state\n"
        "receivers: {http: {port: 0}, grpc: {enabled: false}}\n"
        "api: {enabled: false}\n"
        "windows: {size: 1h, min_rows: 1}\n"
        "ingest: {queue_size: 8, max_batch_commit: 4}\n"
    )
    bodies = _bodies()
    ids = [batch_id(Signal.METRICS, b) for b in bodies]
    assert len(set(ids)) == N_BATCHES
    db = tmp_path / "state" / STATE_FILE

    ev = EvaluatorProcess(cfg, log=tmp_path / "run1.log")
    acked: set[int] = set()
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=_send_all,
            args=(
                ev.endpoints["otlp_http"],
                bodies,
                list(range(k, N_BATCHES, N_THREADS)),
                acked,
                stop,
            ),
        )
        for k in range(N_THREADS)
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < N_BATCHES // 3 and time.monotonic() < deadline:
        time.sleep(0.002)
    os.kill(ev.pid, signal.SIGKILL)  # mid-ingestion: the senders are still busy
    ev.kill()
    stop.set()
    for t in threads:
        t.join(30)
    assert N_BATCHES // 3 <= len(acked) < N_BATCHES, "the kill must land mid-ingestion"

    stored, calls, count, total = _state(db)
    assert {ids[i] for i in acked} <= stored, "a batch acknowledged with 200 was lost"
    stored_idx = {i for i in range(N_BATCHES) if ids[i] in stored}
    assert stored == {ids[i] for i in stored_idx}
    # every stored batch counted exactly once, in the counters and in the sketches
    assert calls == len(stored_idx)
    assert count == len(stored_idx)
    assert total == sum(i + 1 for i in stored_idx)

    # restart on the same state; the exporters retry everything (acknowledged or not)
    ev2 = EvaluatorProcess(cfg, log=tmp_path / "run2.log")
    try:
        for i, body in enumerate(bodies):
            for _ in range(100):
                code, headers = post(ev2.endpoints["otlp_http"], "/v1/metrics", body)
                if code == 200:
                    break
                assert code in (429, 503) and "retry-after" in headers
                time.sleep(0.05)
            else:
                pytest.fail(f"batch {i} never accepted after the restart")
    finally:
        assert ev2.stop() == 0
    stored, calls, count, total = _state(db)
    assert stored == set(ids)
    assert calls == N_BATCHES
    assert count == N_BATCHES
    assert total == N_BATCHES * (N_BATCHES + 1) / 2


def _cumulative_calls(value: float, start_ns: int, t_ns: int, instance: str) -> bytes:
    """A CUMULATIVE ``ml.predict.calls`` point (the SDK's default temporality)."""
    point = NumberDataPoint(model_attrs("cumulative"), start_ns, t_ns, value)
    metric = Metric(sc.METRIC_PREDICT_CALLS, "", "1",
                    Sum([point], AggregationTemporality.CUMULATIVE, True))
    resource = Resource.create({"service.name": "svc", "service.instance.id": instance})
    data = MetricsData([ResourceMetrics(resource, [ScopeMetrics(SCOPE, [metric], "")], "")])
    return bytes(encode_metrics(data).SerializeToString())


@pytest.mark.slow
def test_cumulative_streams_are_counted_once_across_a_sigkill(tmp_path: Path) -> None:
    """The deltas of a cumulative stream continue after a restart: the interval between the
    last point stored before the kill and the first one after it is neither lost nor
    counted twice, and a new stream whose first point only arrives after the restart (the
    exporter retrying what the killed process never acknowledged) counts whole."""
    cfg = tmp_path / "evaluator.yaml"
    cfg.write_text(
        "state_dir: state\n"
        "receivers: {http: {port: 0}, grpc: {enabled: false}}\n"
        "api: {enabled: false}\n"
        "windows: {size: 1h, min_rows: 1}\n"
    )
    db = tmp_path / "state" / STATE_FILE
    ev = EvaluatorProcess(cfg, log=tmp_path / "run1.log")
    start = time.time_ns()  # both app streams start after the evaluator did
    s = 10**9
    try:
        url = ev.endpoints["otlp_http"]
        assert post(url, "/v1/metrics", _cumulative_calls(10, start, start + s, "a"))[0] == 200
        assert post(url, "/v1/metrics", _cumulative_calls(12, start, start + 2 * s, "a"))[0] == 200
    finally:
        ev.kill()  # SIGKILL
    assert _state(db)[1] == 12
    ev = EvaluatorProcess(cfg, log=tmp_path / "run2.log")
    try:
        url = ev.endpoints["otlp_http"]
        bodies = [
            _cumulative_calls(30, start, start + 3 * s, "a"),  # +18 since the kill
            _cumulative_calls(12, start, start + 2 * s, "a"),  # a late retry: nothing new
            _cumulative_calls(7, start + s, start + 3 * s, "b"),  # never acknowledged before
            _cumulative_calls(31, start, start + 4 * s, "a"),  # +1
        ]
        for body in bodies:
            assert post(url, "/v1/metrics", body)[0] == 200
    finally:
        assert ev.stop() == 0
    assert _state(db)[1] == 31 + 7
