"""A full disk: the receiver answers "retry later" while writes fail, /healthz says degraded,
and once space is back every acknowledged prediction is stored — none is evicted by
pending counts that kept the failed batches.

A real evaluator subprocess whose files cannot grow past a limit (``RLIMIT_FSIZE``,
set on the running process with ``prlimit`` and lifted again: what a full filesystem
does to SQLite's writes, without needing root to mount one), real OTLP/HTTP requests.
"""

from __future__ import annotations

import json
import resource
import sqlite3
import time
import urllib.request
from pathlib import Path

from evaluator_wire import EvaluatorProcess, post
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from otel_ml import semconv as sc
from otel_ml.evaluator._app import STATE_FILE

MAX_PENDING = 400
IDS_PER_BATCH = 40
N_BATCHES = 8  # 320 predictions: all fit under the bound


def _kv(key: str, value: str | list[str]) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    arr = ArrayValue(values=[AnyValue(string_value=v) for v in value])
    return KeyValue(key=key, value=AnyValue(array_value=arr))


def predictions_body(ids: list[str]) -> bytes:
    req = ExportLogsServiceRequest()
    rec = req.resource_logs.add().scope_logs.add().log_records.add()
    rec.time_unix_nano = time.time_ns()
    rec.event_name = sc.EVENT_PREDICTION
    rec.attributes.extend([_kv(sc.ML_MODEL_NAME, "disk"), _kv(sc.ML_PREDICTION_IDS, ids)])
    return req.SerializeToString()


def _health(api: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{api}/healthz", timeout=10) as r:
        data: dict[str, object] = json.loads(r.read())
    return data


def test_full_disk_keeps_every_acknowledged_prediction(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cfg = tmp_path / "evaluator.yaml"
    cfg.write_text(
        f"state_dir: {state}\n"
        "receivers: {http: {port: 0}, grpc: {enabled: false}}\n"
        "api: {port: 0}\n"
        f"labels: {{max_pending: {MAX_PENDING}}}\n"
        "ingest: {retry_after: 0.05s}\n"
    )
    ev = EvaluatorProcess(cfg, log=tmp_path / "evaluator.log")
    url, api = ev.endpoints["otlp_http"], ev.endpoints["api"]
    acked: set[str] = set()
    try:
        db = state / STATE_FILE
        files = [db, db.with_name(db.name + "-wal")]
        limit = max(f.stat().st_size for f in files if f.exists()) + 64 * 1024
        resource.prlimit(ev.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        batches = [
            [f"b{b}-{i}" for i in range(IDS_PER_BATCH)] for b in range(N_BATCHES)
        ]
        failed: list[list[str]] = []
        # fill the disk; every refused batch is retried a few times, as exporters do
        for ids in batches:
            for _ in range(4):
                status, _ = post(url, "/v1/logs", predictions_body(ids))
                if status == 200:
                    acked.update(ids)
                    break
                assert status == 503
            else:
                failed.append(ids)
        assert failed, "the file size limit never made a write fail"
        degraded = _health(api)
        assert degraded["status"] == "degraded"
        assert "full" in str(degraded["store_error"]) or "I/O" in str(degraded["store_error"])
        # space is back: the clients' retries go through
        resource.prlimit(
            ev.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        )
        for ids in failed:
            status, _ = post(url, "/v1/logs", predictions_body(ids))
            assert status == 200
            acked.update(ids)
        health = _health(api)
        assert health["status"] == "ok"
        assert health["pending_predictions"] == len(acked)
    finally:
        assert ev.stop() == 0
    assert len(acked) == IDS_PER_BATCH * N_BATCHES
    with sqlite3.connect(state / STATE_FILE) as conn:
        stored = {r[0] for r in conn.execute("SELECT id FROM predictions")}
    assert stored == acked
