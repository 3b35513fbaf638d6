"""End to end, no stand-ins: two model-service processes using ``@otel_ml.monitor`` and the
real OTel OTLP exporters (one over HTTP, one over gRPC) send to the evaluator on loopback;
their traffic has a drifted feature; labels arrive later through ``record_outcome``.
The evaluator's verdicts and accuracy are read three ways -- its OTLP metric export (to a
real OTLP/HTTP endpoint in this test), its Prometheus scrape endpoint and its report API --
and checked against values computed directly from the same raw data with otel_ml.stats,
scipy and scikit-learn.

The evaluator runs in this process with a clock the test controls (windows of one day,
closed by moving the clock), its receivers and API on real sockets.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from e2e_app import model_proba, reference_frame
from e2e_support import Clock, get
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from prometheus_client.parser import text_string_to_metric_families
from scipy import stats as sps
from sklearn import metrics as skm

from otel_ml import semconv as sc
from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config
from otel_ml.sketch import Profile
from otel_ml.stats import compare

HERE = Path(__file__).parent
ROWS_PER_APP = 1500


class OtlpGaugeSink:
    """A real OTLP/HTTP metrics endpoint that keeps the latest value of every gauge point."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        self.requests = 0
        self.events: list[tuple[str, dict[str, str]]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/logs":
                    logs = ExportLogsServiceRequest()
                    logs.ParseFromString(body)
                    for rl in logs.resource_logs:
                        for sl in rl.scope_logs:
                            for rec in sl.log_records:
                                attrs = {a.key: a.value.string_value for a in rec.attributes}
                                sink.events.append((rec.event_name, attrs))
                    self._reply(ExportLogsServiceResponse().SerializeToString())
                    return
                req = ExportMetricsServiceRequest()
                req.ParseFromString(body)
                sink.requests += 1
                for rm in req.resource_metrics:
                    for sm in rm.scope_metrics:
                        for m in sm.metrics:
                            for p in m.gauge.data_points:
                                attrs = frozenset(
                                    (a.key, a.value.string_value) for a in p.attributes
                                )
                                v = p.as_double if p.HasField("as_double") else p.as_int
                                sink.values[(m.name, attrs)] = float(v)
                self._reply(ExportMetricsServiceResponse().SerializeToString())

            def _reply(self, out: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def get(self, name: str, **attrs: str) -> float | None:
        for (n, a), v in self.values.items():
            if n == name and set(attrs.items()) <= set(a):
                return v
        return None

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _run_app(
    endpoint: str, protocol: str, out: Path, seed: int, instance: str, log: Path
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            str(HERE / "e2e_app.py"),
            endpoint,
            protocol,
            str(out),
            str(seed),
            str(ROWS_PER_APP),
            instance,
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.slow
def test_monitor_to_evaluator_over_http_and_grpc(tmp_path: Path) -> None:
    ref_rng = np.random.default_rng(100)
    ref_df = reference_frame(ref_rng, 6000)
    reference = Profile.from_data(
        ref_df, model="credit", version="1", predictions=model_proba(ref_df)
    )
    reference.save(tmp_path / "credit.json")
    sink = OtlpGaugeSink()
    cfg = parse_config(
        {
            "state_dir": "state",
            "receivers": {"http": {"port": 0}, "grpc": {"port": 0}},
            "api": {"port": 0},
            "windows": {"size": "1d", "grace": "1s", "min_rows": 500},
            "references": [{"model": "credit", "version": "1", "path": "credit.json"}],
            "export": {"otlp": {"endpoint": sink.url, "interval": "0.5s"}},
            "alerts": {
                "defaults": {"for_windows": 1},
                "builtin_rules": False,
                "rules": {
                    "drift_verdict": {
                        "kind": "feature_drift",
                        "threshold": "verdict",
                        "severity": "warning",
                    }
                },
            },
        },
        base_dir=tmp_path,
    )
    clock = Clock()
    app = EvaluatorApp.from_config(cfg, clock=clock)
    app.start(tick_interval=0.2)
    apps: list[subprocess.Popen[bytes]] = []
    try:
        ep = app.endpoints()
        apps += [
            _run_app(
                ep["otlp_http"], "http/protobuf", tmp_path / "a.npz", 1, "pod-a", tmp_path / "a.log"
            ),
            _run_app(
                "http://" + ep["otlp_grpc"],
                "grpc",
                tmp_path / "b.npz",
                2,
                "pod-b",
                tmp_path / "b.log",
            ),
        ]
        for p in apps:
            assert p.wait(120) == 0, (tmp_path / "a.log").read_text()[-3000:] + (
                tmp_path / "b.log"
            ).read_text()[-3000:]
        raw = [np.load(tmp_path / f"{k}.npz") for k in "ab"]
        x1 = np.concatenate([r["x1"] for r in raw])
        x2 = np.concatenate([r["x2"] for r in raw])
        region = np.concatenate([r["region"] for r in raw])
        proba = np.concatenate([r["proba"] for r in raw])
        y = np.concatenate([r["y"] for r in raw])
        labelled = np.concatenate([r["labelled"] for r in raw])
        n = 2 * ROWS_PER_APP
        assert len(x1) == n

        # everything the apps exported is durable in the evaluator once they have exited
        now = clock()
        day_end = (now // 86400 + 1) * 86400
        clock.offset = day_end + 2 - time.time() + 0.0  # close today's window
        report = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            models = json.loads(get(ep["api"] + "/api/models"))["models"]
            if models and models[0]["latest_window"] is not None:
                report = json.loads(get(ep["api"] + "/api/models/credit/report"))
                break
            time.sleep(0.2)
        assert report is not None, "no report within 60 s"

        # --- what the evaluator says vs the same data computed directly -------------
        current = pd.DataFrame({"x1": x1, "x2": x2, "region": region})
        expected = compare(reference, current)
        feats = {f["name"]: f for f in report["features"]}
        assert set(feats) == {"x1", "x2", "region"}
        for fd in expected.features:
            got = feats[fd.feature]["drift"]
            assert feats[fd.feature]["n"] == n
            assert got["drifted"] == fd.drifted, (fd.feature, got["reason"], fd.reason)
            assert got["method"] == fd.method
            assert got["statistic"] == pytest.approx(fd.statistic, rel=0.02, abs=0.005)
        assert feats["x1"]["drift"]["drifted"] is True
        assert feats["x2"]["drift"]["drifted"] is False
        ks_raw = sps.ks_2samp(ref_df["x1"], x1).statistic
        ks = feats["x1"]["drift"]["statistics"]
        assert ks_raw - ks["ks_max_error"] - 1e-9 <= ks["ks"] <= ks_raw + 1e-9
        assert report["drifted_features"] == ["x1"]
        preds = {f["name"]: f for f in report["predictions"]}
        assert preds["1"]["drift"] is not None and preds["1"]["n"] == n

        perf = report["performance"]
        y_pred = (proba[:, 1] > proba[:, 0]).astype(int)
        acc = skm.accuracy_score(y[labelled], y_pred[labelled])
        auc = skm.roc_auc_score(y[labelled], proba[labelled, 1])
        assert perf["n_predicted"] == n
        assert perf["n_labelled"] == labelled.sum()
        assert perf["coverage"] == pytest.approx(labelled.mean())
        assert perf["metrics"]["accuracy"] == pytest.approx(acc)
        assert perf["metrics"]["roc_auc"] == pytest.approx(auc)
        assert report["operations"]["calls"] == n / 100
        assert report["operations"]["rows"] == n
        assert report["operations"]["error_rate"] == 0.0
        assert len(report["trace_ids"]) > 0

        # --- Prometheus scrape --------------------------------------------------------
        prom = get(ep["api"] + "/metrics").decode()
        samples = [
            (s.name, s.labels, s.value)
            for fam in text_string_to_metric_families(prom)
            for s in fam.samples
        ]

        def prom_value(prefix: str, **labels: str) -> float:
            hits = [
                v
                for name, lab, v in samples
                if name.startswith(prefix) and labels.items() <= lab.items()
            ]
            assert len(hits) == 1, (prefix, labels, hits)
            return hits[0]

        fx = {"ml_feature_name": "x1", "ml_model_name": "credit"}
        assert prom_value("ml_drift_detected", **fx) == 1
        assert prom_value("ml_drift_detected", ml_feature_name="x2") == 0
        assert prom_value("ml_performance_value", ml_performance_metric="accuracy") == (
            pytest.approx(acc)
        )
        assert prom_value("ml_label_coverage") == pytest.approx(labelled.mean())
        # the evaluator's own health, on the same endpoint
        received = sum(
            v for name, _, v in samples if name.startswith("otel_ml_evaluator_points_received")
        )
        assert received >= n / 100  # at least the calls' data points and the events
        for health in (
            "otel_ml_evaluator_queue_depth",
            "otel_ml_evaluator_window_lag",
            "otel_ml_evaluator_pending_predictions",
            "otel_ml_evaluator_batches",
        ):
            assert any(name.startswith(health) for name, _, _ in samples), health

        # --- OTLP export back to "the Collector" --------------------------------------
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and sink.get(sc.METRIC_PERFORMANCE, **{sc.ML_PERFORMANCE_METRIC: "accuracy"}) is None
        ):
            time.sleep(0.2)
        assert sink.get(sc.METRIC_DRIFT_DETECTED, **{sc.ML_FEATURE_NAME: "x1"}) == 1
        assert sink.get(sc.METRIC_DRIFT_DETECTED, **{sc.ML_FEATURE_NAME: "x2"}) == 0
        assert sink.get(sc.METRIC_PERFORMANCE, **{sc.ML_PERFORMANCE_METRIC: "accuracy"}) == (
            pytest.approx(acc)
        )
        assert sink.get(
            sc.METRIC_DRIFT_SCORE, **{sc.ML_FEATURE_NAME: "x1", sc.ML_DRIFT_METHOD: "ks"}
        ) == (pytest.approx(ks["ks"]))

        # --- the drift verdict fires an alert: in the report and as an OTLP log event ---
        # (the engine judges the window right after its report is stored)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            alerts = json.loads(get(ep["api"] + "/api/models/credit/report"))["alerts"]
            if alerts:
                break
            time.sleep(0.2)
        assert [a.get("feature") for a in alerts] == ["x1"], alerts
        assert json.loads(get(ep["api"] + "/api/models"))["models"][0]["alerts_firing"] == 1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            name == sc.EVENT_ALERT for name, _ in sink.events
        ):
            time.sleep(0.2)
        fired = [a for name, a in sink.events if name == sc.EVENT_ALERT]
        assert fired and fired[0][sc.ML_ALERT_STATE] == "firing"

        html = get(ep["api"] + "/models/credit").decode()
        assert "x1" in html and "<svg" in html
    finally:
        for p in apps:  # only left running when the test failed
            if p.poll() is None:
                p.kill()
                p.wait(30)
        app.stop()
        sink.stop()
