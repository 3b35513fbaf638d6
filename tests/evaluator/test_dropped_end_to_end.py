"""End to end: the SDK's batched ml.prediction records and its dropped reports, through the
real OTLP log exporter into a real evaluator process. Labels for delivered ids join;
labels for ids the SDK dropped (its byte budget spent) are counted as labels of dropped
predictions, apart from labels for ids never predicted, which wait.
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from evaluator_wire import EvaluatorProcess
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

import otel_ml
from otel_ml.evaluator._app import STATE_FILE
from otel_ml.instrumentation import Aggregator, Runtime, _ids

CALLS, ROWS = 20, 5_000
UNKNOWN = 50


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def _counts(db: Path) -> tuple[int, int]:
    """(joined labels, labels waiting for their prediction) of model e2e."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        joined = conn.execute("SELECT COUNT(*) FROM joined WHERE model='e2e'").fetchone()[0]
        waiting = conn.execute("SELECT COUNT(*) FROM outcomes WHERE model='e2e'").fetchone()[0]
    return int(joined), int(waiting)


def test_labels_of_dropped_predictions_are_told_from_unknown_ids(tmp_path: Path) -> None:
    state = tmp_path / "state"
    cfg = tmp_path / "evaluator.yaml"
    cfg.write_text(
        f"state_dir: {state}\nreceivers: {{http: {{port: 0}}, grpc: {{enabled: false}}}}\n"
        "api: {port: 0}\n"
    )
    ev = EvaluatorProcess(cfg, log=tmp_path / "evaluator.log")
    try:
        url, api = ev.endpoints["otlp_http"], ev.endpoints["api"]
        lp = LoggerProvider()
        lp.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{url}/v1/logs"))
        )
        runtime = Runtime(event_budget_bytes=1024 * 1024)  # room for ~30,000 of 100,000 rows

        @otel_ml.monitor(  # type: ignore[arg-type]
            model="e2e",
            version="1",
            aggregator=Aggregator(),
            tracer_provider=TracerProvider(),
            logger_provider=lp,
            runtime=runtime,
        )
        def predict(x: np.ndarray) -> np.ndarray:
            return x[:, 0]

        x = np.random.default_rng(1).normal(size=(ROWS, 3))
        sent: list[str] = []
        for _ in range(CALLS):
            predict(x)
            last = _ids._LAST_IDS.get()
            assert last is not None
            sent += last.as_tuple()
        runtime.flush()
        lp.force_flush()
        dropped = runtime.events.dropped[("e2e", "1")]
        assert 0 < dropped < CALLS * ROWS
        # A label for every prediction id, and for ids no one predicted.
        unknown = [f"nobody-{i}" for i in range(UNKNOWN)]
        otel_ml.record_outcome(
            model="e2e", ids=sent + unknown, actuals=np.ones(len(sent) + UNKNOWN),
            logger_provider=lp,
        )  # fmt: skip
        lp.force_flush()
        lp.shutdown()

        db = state / STATE_FILE
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            health = json.loads(_get(f"{api}/healthz"))
            joined, waiting = _counts(db)
            by_sdk = health["dropped_by_sdk"]
            if joined + by_sdk["labels"] + waiting >= len(sent) + UNKNOWN:
                break
            time.sleep(0.3)
        assert by_sdk == {"predictions": dropped, "labels": dropped}
        assert joined == CALLS * ROWS - dropped  # every delivered id met its label
        assert waiting == UNKNOWN  # ids never predicted: they wait (and are evicted later)
        metrics = _get(f"{api}/metrics").decode().splitlines()
        for name in ("labels_prediction_dropped", "predictions_dropped"):
            (line,) = [m for m in metrics if m.startswith(f"otel_ml_evaluator_{name}_total")]
            assert float(line.rpartition(" ")[2]) == dropped, line
    finally:
        ev.stop()
