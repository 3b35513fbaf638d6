"""The OpenTelemetry JavaScript SDK exports straight into the evaluator.

A client no one here wrote: ``@opentelemetry/exporter-metrics-otlp-http`` (OTLP/JSON)
and ``-proto`` (protobuf), with and without gzip, run by Node.js from
``tests/evaluator/js_client`` (versions pinned in its ``package-lock.json``; ``./dev
test`` runs ``npm ci`` there). Node streams every request body with
``Transfer-Encoding: chunked`` and the JS SDK treats 411 as final, so before the
evaluator read chunked bodies all of this data was dropped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_ml import semconv as sc
from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config

JS_CLIENT = Path(__file__).parent / "js_client"
CASES = [(p, c) for p in ("json", "protobuf") for c in ("none", "gzip")]


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (JS_CLIENT / "node_modules" / "@opentelemetry").is_dir():
        pytest.fail(
            "Node.js and the JS SDK are needed: run ./dev setup (it runs npm ci in "
            f"{JS_CLIENT.name})"
        )
    return node


def _requests(reader: InMemoryMetricReader) -> dict[tuple[tuple[str, object], ...], float]:
    data = reader.get_metrics_data()
    out: dict[tuple[tuple[str, object], ...], float] = {}
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == sc.METRIC_EVAL_REQUESTS:
                    for p in m.data.data_points:  # type: ignore[union-attr]
                        key = tuple(sorted(p.attributes.items()))
                        out[key] = p.value  # type: ignore[union-attr]
    return out


def test_js_sdk_exporters_deliver_into_the_evaluator(tmp_path: Path) -> None:
    node = _node()
    reader = InMemoryMetricReader()
    cfg = parse_config(
        {
            "state_dir": "state",
            "receivers": {"http": {"port": 0}, "grpc": {"enabled": False}},
            "api": {"enabled": False},
            "windows": {"size": "1h"},
        },
        base_dir=tmp_path,
    )
    app = EvaluatorApp.from_config(cfg, metric_readers=[reader])
    app.start(tick_interval=0.2)
    try:
        url = app.endpoints()["otlp_http"] + "/v1/metrics"
        for protocol, compression in CASES:
            run = subprocess.run(
                [node, str(JS_CLIENT / "export_metrics.js"), url, protocol, compression,
                 f"js-{protocol}-{compression}"],
                capture_output=True, text=True, timeout=60, cwd=JS_CLIENT,
            )
            result = json.loads(run.stdout.strip().splitlines()[-1])
            assert result == {"code": 0, "error": None}, (protocol, compression, run.stderr)
        # each export: ml.predict.calls, ml.predict.rows, ml.predict.duration, all ours
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and app.service.health().batches.get("stored") != 4:
            time.sleep(0.05)
        health = app.service.health()
        assert health.batches == {"stored": 4}
        assert health.points_received == 4 * 3
        assert not health.points_rejected
        models = set(app.store.models())
        assert {(f"js-{p}-{c}", "1") for p, c in CASES} <= models
        requests = _requests(reader)
        accepted = ((sc.OUTCOME, "accepted"), (sc.OTLP_SIGNAL, "metrics"))
        assert requests == {accepted: 4}  # nothing refused, nothing retried
    finally:
        app.stop()
