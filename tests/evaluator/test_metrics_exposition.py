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
from typing import Any

import numpy as np
import pytest
from evaluator_points import batch, counter, duration_point, feature_point, outcome, prediction
from evaluator_wire import metrics_body, model_attrs, post
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from otel_ml import semconv as sc
from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config
from otel_ml.evaluator._metrics_export import DerivedMetrics, HealthSnapshot, _WithoutEmptyLabels
from otel_ml.evaluator._report import (
    FeatureReport,
    ModelReport,
    OperationsReport,
    PerformanceReport,
    QualityRate,
)
from otel_ml.sketch import CategoricalSketch, FeatureKind, NumericSketch, Profile
from otel_ml.stats import (
    DriftPolicy,
    EstimatedMetric,
    EstimatedPerformance,
    classification_metrics,
    compare_feature,
)

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
        "ml_drift_score", "ml_drift_detected", "ml_drift_p_value", "ml_drift_grade",
        "ml_data_quality_rate",
        "ml_performance_value", "ml_label_coverage", "ml_label_delay_seconds",
        "ml_window_rows", "ml_predict_duration_quantile_seconds", "ml_predict_error_rate",
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


def _rich_reports(n_features: int) -> list[ModelReport]:
    """Reports showing every model gauge: numeric and categorical drift, an output,
    quality with and without a feature, classification metrics, operations; one feature
    name needs escaping."""
    rng = np.random.default_rng(4)
    policy = DriftPolicy()
    feats = []
    for f in range(n_features):
        r, c = NumericSketch(), NumericSketch()
        r.update(rng.normal(0, 1, 2000))
        c.update(rng.normal(0.5 if f % 3 == 0 else 0, 1, 500))
        name = 'odd "name" \\ here' if f == 1 else f"f{f}"
        feats.append(FeatureReport(name, FeatureKind.NUMERIC, 500,
                                   compare_feature(name, r, c, policy=policy), "", 0.1, 0.0, 0.0))
    cr, cc = CategoricalSketch(), CategoricalSketch()
    cr.update(rng.choice(["a", "b", "c"], 2000))
    cc.update(rng.choice(["a", "b"], 500))
    feats.append(FeatureReport("color", FeatureKind.CATEGORICAL, 500,
                               compare_feature("color", cr, cc, policy=policy)))
    feats.append(FeatureReport("late", FeatureKind.NUMERIC, 3, None, "3 rows < min_rows"))
    out_r, out_c = NumericSketch(), NumericSketch()
    out_r.update(rng.uniform(0, 1, 1000))
    out_c.update(rng.uniform(0, 1, 300))
    y_true = rng.choice(["0", "1"], 300)
    metrics = classification_metrics(y_true, rng.choice(["0", "1"], 300), rng.uniform(0, 1, 300))
    m = EstimatedMetric(0.9, 0.87, 0.93)
    nan = EstimatedMetric(float("nan"), float("nan"), float("nan"))  # no predicted positive
    estimated = EstimatedPerformance("1", "1", 500, 0.5, 0.95, m, nan, m, m, m)
    return [
        ModelReport(
            f"m{k}", "1", T0, T0 + 60, 500, True, "ref",
            features=tuple(feats),
            predictions=(FeatureReport("score", FeatureKind.NUMERIC, 300,
                                       compare_feature("score", out_r, out_c)),),
            quality=(QualityRate("f0", sc.QUALITY_OUT_OF_RANGE, 3.0, 0.006, 0.0),
                     QualityRate("", sc.QUALITY_SCHEMA_MISMATCH, 1.0, 0.002, None)),
            performance=PerformanceReport("classification", metrics, 300, 500, 0.6, 12.5, 30.0),
            operations=OperationsReport(20, 500, {"ValueError": 2.0}, 0.1, 0.01, 0.2),
            estimated=estimated,
        )
        for k in range(2)
    ]


def _parsed(text: str) -> dict[str, tuple[str, str, set[tuple[frozenset[Any], float]]]]:
    return {
        fam.name: (fam.documentation, fam.type,
                   {(frozenset(s.labels.items()), s.value) for s in fam.samples})
        for fam in text_string_to_metric_families(text)
    }


def test_model_gauges_are_written_as_the_otel_prometheus_reader_writes_them() -> None:
    """The model gauges' text, written from the reports directly, is what the OTel SDK's
    Prometheus reader writes for the same gauges (names, help, labels, values)."""
    theirs = CollectorRegistry()
    metrics = DerivedMetrics(HealthSnapshot, readers=[PrometheusMetricReader(registry=theirs)])
    try:
        for r in _rich_reports(4):
            metrics.update(r)
        ours = metrics.prometheus_text().decode()
        reader_text = generate_latest(_WithoutEmptyLabels(theirs)).decode()
    finally:
        metrics.shutdown()
    assert _parsed(ours) == _parsed(reader_text)
    for name in ("ml_drift_score", "ml_performance_value", "ml_label_delay_seconds",
                 "ml_estimated_performance_value", "ml_estimated_performance_lower",
                 "ml_estimated_performance_upper",
                 "ml_predict_duration_quantile_seconds", "ml_predict_error_rate", "ml_window_rows"):
        assert f"\n{name}{{" in ours
    assert r'ml_feature_name="odd \"name\" \\ here"' in ours
    estimated = [ln for ln in ours.splitlines() if ln.startswith("ml_estimated_performance_")]
    assert len(estimated) == 2 * 3 * 4  # 2 models, value/lower/upper, 4 finite metrics
    assert any('ml_performance_metric="roc_auc"' in ln and ln.endswith(" 0.93")
               for ln in estimated if ln.startswith("ml_estimated_performance_upper"))


def test_every_model_series_is_shown_and_promtool_accepts_it() -> None:
    """More than the 2,000 series an OTel metric stream keeps (the old path folded the rest
    into one ``otel_metric_overflow`` series)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is needed: ./dev test installs Debian's prometheus package")
    metrics = DerivedMetrics(HealthSnapshot)
    try:
        for r in _rich_reports(160):
            metrics.update(r)
        first = metrics.prometheus_text()
        assert metrics.prometheus_text() == first  # rendered once, served again
        text = first.decode()
    finally:
        metrics.shutdown()
    scores = [line for line in text.splitlines() if line.startswith("ml_drift_score{")]
    assert len(scores) == 2 * (160 * 7 + 6 + 7)  # 7 per numeric feature or output, 6 categorical
    assert "otel_metric_overflow" not in text
    check = subprocess.run([promtool, "check", "metrics"], input=first,
                           capture_output=True, timeout=60)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
