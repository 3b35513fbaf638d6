"""Cardinality limits through the real OTLP/HTTP receiver (models, features per model,
categories per feature: rejected with a reason, exact across a restart), one page of
/api/models at a time, and a model page that stays bounded however many features."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from evaluator_points import batch, feature_point
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from otlp_samples import PREDICTION_EVENT, exp_metric, logs_request, metrics_data, sum_metric

from otel_ml import semconv as sc
from otel_ml.evaluator._app import EvaluatorApp
from otel_ml.evaluator._config import parse_config
from otel_ml.evaluator._windows import WindowKey
from otel_ml.sketch import NumericSketch, exponential_data_point

S = 1_000_000_000
LIMITS = {"models": 3, "features_per_model": 5, "categories_per_feature": 4}


def _app(state: Path, **extra: Any) -> EvaluatorApp:
    cfg = parse_config(
        {
            "state_dir": str(state),
            "receivers": {"http": {"port": 0}, "grpc": {"enabled": False}},
            "api": {"port": 0},
            "windows": {"size": "1m", "grace": "0s", "min_rows": 1},
            **extra,
        }
    )
    app = EvaluatorApp.from_config(cfg)
    app.service.start_writer()
    assert app.http is not None and app.api is not None
    app.http.start()
    app.api.start()
    return app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[EvaluatorApp]:
    a = _app(tmp_path / "state", limits=LIMITS)
    try:
        yield a
    finally:
        a.stop()


def _post(app: EvaluatorApp, path: str, body: bytes) -> tuple[int, bytes]:
    assert app.http is not None
    conn = http.client.HTTPConnection("127.0.0.1", app.http.port, timeout=30)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/x-protobuf"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _metrics(app: EvaluatorApp, metrics: list[Any]) -> Any:
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

    status, body = _post(
        app, "/v1/metrics", encode_metrics(metrics_data(metrics)).SerializeToString()
    )
    assert status == 200, body
    return ExportMetricsServiceResponse.FromString(body).partial_success


def _get(app: EvaluatorApp, path: str) -> tuple[int, bytes]:
    assert app.api is not None
    conn = http.client.HTTPConnection("127.0.0.1", app.api.port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _feature(model: str, feature: str, t: int) -> Any:
    sketch = NumericSketch()
    sketch.update([1.0, 2.0])
    attrs = {sc.ML_MODEL_NAME: model, sc.ML_MODEL_VERSION: "1", sc.ML_FEATURE_NAME: feature}
    return exponential_data_point(sketch, attrs, t - S, t)


def _category(model: str, feature: str, value: str, t: int) -> Any:
    attrs = {
        sc.ML_MODEL_NAME: model,
        sc.ML_MODEL_VERSION: "1",
        sc.ML_FEATURE_NAME: feature,
        sc.ML_FEATURE_VALUE: value,
    }
    return sum_metric(3, start=t - S, time=t, name=sc.METRIC_FEATURE_CATEGORIES, attributes=attrs)


def test_models_features_and_categories_beyond_the_limits_are_rejected(
    app: EvaluatorApp, tmp_path: Path
) -> None:
    t = (time.time_ns() // (60 * S)) * 60 * S + 20 * S  # points at t .. t + 2 s: one window
    # five models in one request: three fit
    partial = _metrics(app, [exp_metric([_feature(f"m{i}", "f", t) for i in range(5)])])
    assert partial.rejected_data_points == 2
    assert "model limit reached (limits.models) (2)" in partial.error_message
    # eight features of m0 (one already stored): five fit its window
    partial = _metrics(app, [exp_metric([_feature("m0", f"f{i}", t) for i in range(8)])])
    assert partial.rejected_data_points == 4  # f0..f3 join f; f4..f7 do not
    assert "feature limit of the model's window reached" in partial.error_message
    # six categories and the overflow bucket of m1's feature c: four fit, __other__ always
    values = [f"v{i}" for i in range(6)] + [sc.OVERFLOW_CATEGORY]
    partial = _metrics(app, [_category("m1", "c", v, t) for v in values])
    assert partial.rejected_data_points == 2
    assert "category limit of the feature's window reached" in partial.error_message
    # prediction events of a fourth model are refused too
    request, _ = logs_request(
        [(PREDICTION_EVENT[0], {**PREDICTION_EVENT[1], sc.ML_MODEL_NAME: "m9"})]
    )
    status, body = _post(app, "/v1/logs", request.SerializeToString())
    logs_partial = ExportLogsServiceResponse.FromString(body).partial_success
    assert status == 200 and logs_partial.rejected_log_records == 1
    assert app.store.count("predictions") == 0
    health = app.service.health()
    assert health.points_rejected["model limit reached (limits.models)"] == 3

    reports = {r.model: r for r in app.service.tick(time.time() + 180)}
    assert sorted(reports) == ["m0", "m1", "m2"]
    assert sorted(f.name for f in reports["m0"].features) == ["f", "f0", "f1", "f2", "f3"]
    r1 = reports["m1"]
    key = WindowKey(r1.model, r1.version, r1.window_start, r1.window_end)
    cats = app.store.load_window(key).categorical["c"]
    assert set(cats.to_dict()["counts"]) == {"v0", "v1", "v2", "v3"}
    assert cats.to_dict()["overflow"] == 3

    # the limits hold across a restart (they are read from the database)
    app.stop()
    again = _app(tmp_path / "state", limits=LIMITS)
    try:
        partial = _metrics(
            again, [exp_metric([_feature("m7", "f", t + S), _feature("m2", "f", t + S)])]
        )
        assert partial.rejected_data_points == 1
        assert "model limit reached" in partial.error_message
        partial = _metrics(again, [exp_metric([_feature("m0", "f9", t + S)])])
        assert partial.rejected_data_points == 1  # m0's window holds five features already
        partial = _metrics(
            again, [_category("m1", "c", "v0", t + S), _category("m1", "c", "v5", t + S)]
        )
        assert partial.rejected_data_points == 1
    finally:
        again.stop()


def test_api_models_is_paginated(tmp_path: Path) -> None:
    app = _app(tmp_path / "state")
    try:
        names = [f"model-{i:04d}" for i in range(250)]
        for i in range(0, len(names), 50):
            points = [feature_point(n, "x", [1.0, 2.0], 1210) for n in names[i : i + 50]]
            assert app.service.submit(batch(*points)).accepted
        status, body = _get(app, "/api/models")
        first = json.loads(body)
        assert status == 200 and len(first["models"]) == 100 and first["total"] == 250
        assert first["next"] == names[99]
        seen, after = [], ""
        while True:
            status, body = _get(app, f"/api/models?limit=70&after={after}")
            page = json.loads(body)
            seen += [m["name"] for m in page["models"]]
            if page["next"] is None:
                break
            after = page["next"]
        assert seen == names  # every model once, in name order
        assert _get(app, "/api/models?limit=0")[0] == 400
        assert _get(app, "/api/models?limit=1001")[0] == 400
        assert _get(app, "/api/models?limit=x")[0] == 400
    finally:
        app.stop()


def test_the_model_page_is_bounded(tmp_path: Path) -> None:
    app = _app(tmp_path / "state")
    try:
        points = [feature_point("wide", f"f{i:04d}", [1.0, 2.0], 1210) for i in range(600)]
        assert app.service.submit(batch(*points)).accepted
        (report,) = app.service.tick(1300.0)
        assert len(report.features) == 600
        status, page = _get(app, "/models/wide")
        assert status == 200
        assert b"500 more features without a verdict not shown" in page
        assert b"f0099" in page and b"f0100" not in page and b"f0599" not in page
        status, body = _get(app, "/api/models/wide/report")
        assert len(json.loads(body)["features"]) == 600  # all of them in the JSON report
    finally:
        app.stop()


def test_a_model_name_leaves_with_its_last_window(tmp_path: Path) -> None:
    from otel_ml.evaluator._cardinality import CardinalityLimits
    from otel_ml.evaluator._store import Store
    from otel_ml.evaluator._windows import Windowing

    store = Store(tmp_path / "s.db", Windowing(60.0), limits=CardinalityLimits(models=1))
    try:
        (stored,) = store.write([batch(feature_point("old", "x", [1.0], 1210))])
        assert stored.rejected == ()
        (refused,) = store.write([batch(feature_point("new", "x", [1.0], 5000))])
        assert [r.reason for r in refused.rejected] == ["model limit reached (limits.models)"]
        store.housekeep(5000.0, retention=600.0)  # the old model's only window goes
        (stored,) = store.write([batch(feature_point("new", "x", [1.0], 5010))])
        assert stored.rejected == ()
        assert [m for m, _ in store.models()] == ["new"]
    finally:
        store.close()


def test_model_links_work_for_any_name(tmp_path: Path) -> None:
    """The report and page links of /api/models reach the model whatever its name holds."""
    app = _app(tmp_path / "state")
    try:
        name = "team/fraud v2?#%"
        assert app.service.submit(batch(feature_point(name, "x", [1.0, 2.0], 1210))).accepted
        app.service.tick(1300.0)
        status, body = _get(app, "/api/models")
        (entry,) = json.loads(body)["models"]
        assert status == 200 and entry["name"] == name
        status, body = _get(app, entry["report"])
        assert status == 200 and json.loads(body)["model"] == name
        assert _get(app, entry["page"])[0] == 200
    finally:
        app.stop()
