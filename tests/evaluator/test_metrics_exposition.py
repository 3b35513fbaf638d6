"""The evaluator's ``/metrics`` passes the real ``promtool check metrics``.

Every metric family the evaluator can show (derived gauges of an evaluated window with
drift, quality, performance and operations; alert gauges; the receivers' and servers'
counters for accepted and refused requests) has help text, and no sample carries an
empty label (``error_type=""`` on accepted requests: OpenTelemetry sets ``error.type``
only on failure). ``promtool`` comes from Debian's ``prometheus`` package, which
``./dev test`` installs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from evaluator_points import batch, counter, duration_point, feature_point, outcome, prediction
from evaluator_wire import metrics_body, model_attrs, post

from otel_ml import semconv as sc
from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config
from otel_ml.sketch import Profile

T0 = 1_800_000_000.0  # window [T0, T0 + 60) at a fixed clock


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _families(text: str) -> tuple[set[str], dict[str, str]]:
    samples = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
               if line and not line.startswith("#")}
    helps = {m.group(1): m.group(2) for m in re.finditer(r"^# HELP (\S+) ?(.*)$", text, re.M)}
    return samples, helps


def test_metrics_pass_promtool_check(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is needed: ./dev test installs Debian's prometheus package")
    rng = np.random.default_rng(0)
    Profile.from_data({"x": rng.normal(0, 1, 5000)}, model="m", version="1").save(
        tmp_path / "ref.json"
    )
    cfg = parse_config(
        {
            "state_dir": "state",
            "receivers": {"http": {"port": 0}, "grpc": {"enabled": False}},
            "api": {"port": 0},
            "windows": {"size": "1m", "grace": "1s", "min_rows": 10},
            "references": [{"model": "m", "version": "1", "path": "ref.json"}],
            "alerts": {"defaults": {"for_windows": 1}},
        },
        base_dir=tmp_path,
    )
    clock = Clock(T0 + 10)
    app = EvaluatorApp.from_config(cfg, clock=clock)
    app.start(tick_interval=0.1)
    try:
        t = T0 + 5
        ids = [f"id{i}" for i in range(200)]
        labels = ["a" if i % 3 else "b" for i in range(200)]
        result = app.service.submit(
            batch(
                feature_point("m", "x", rng.normal(2, 1, 200), t),
                counter("m", sc.METRIC_PREDICT_CALLS, 20, t),
                counter("m", sc.METRIC_PREDICT_ROWS, 200, t),
                counter("m", sc.METRIC_PREDICT_ERRORS, 2, t, error_type="ValueError"),
                duration_point("m", [0.01, 0.02, 0.2], t),
                prediction("m", ids, t, labels=labels),
            )
        )
        assert result.accepted
        assert app.service.submit(batch(outcome("m", ids, labels[::-1], t + 1))).accepted
        url = app.endpoints()["otlp_http"]
        body = metrics_body([(sc.METRIC_PREDICT_CALLS, 1.0, model_attrs("m"))], t_ns=int(t * 1e9))
        assert post(url, "/v1/metrics", body)[0] == 200  # accepted: no error.type
        assert post(url, "/v1/metrics", b"\xff")[0] == 400  # refused
        assert post(url, "/v1/nothing", b"")[0] == 404  # refused before the receiver
        clock.t = T0 + 120  # the window is closed: the service evaluates it
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not app.store.reports("m", limit=1):
            time.sleep(0.05)
        assert app.store.reports("m", limit=1)
        api = app.endpoints()["api"]
        with urllib.request.urlopen(api + "/metrics", timeout=10) as resp:
            text = resp.read().decode()
    finally:
        app.stop()
    check = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
    samples, helps = _families(text)
    expected = {
        "ml_drift_score", "ml_drift_detected", "ml_drift_p_value", "ml_data_quality_rate",
        "ml_performance_value", "ml_label_coverage", "ml_label_delay_seconds",
        "ml_window_rows", "ml_predict_latency_p95_seconds", "ml_predict_error_rate",
        "ml_alerts_firing", "otel_ml_evaluator_requests_total",
        "otel_ml_evaluator_points_received_total", "otel_ml_evaluator_batches_total",
        "otel_ml_evaluator_queue_depth", "otel_ml_evaluator_window_lag_seconds",
        "otel_ml_evaluator_pending_predictions",
        "otel_ml_evaluator_evaluation_duration_seconds",
    }
    assert expected <= samples, expected - samples
    assert all(helps.values()), [k for k, v in helps.items() if not v]
    assert '=""' not in text
    accepted = [line for line in text.splitlines()
                if line.startswith("otel_ml_evaluator_requests_total")
                and 'otel_ml_outcome="accepted"' in line]
    assert accepted and not any("error_type" in line for line in accepted)
