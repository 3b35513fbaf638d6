"""Poisoned points through the real OTLP/HTTP receiver of a real evaluator: each is
rejected with a reason (200 + partial success), the good points of its request are
stored and evaluated; a window whose evaluation fails is quarantined once, not retried."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from otlp_samples import (
    CUMULATIVE,
    MODEL,
    exp_metric,
    metrics_data,
    metrics_request,
    sketch_point,
    sum_metric,
)

from otel_ml import semconv as sc
from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config
from otel_ml.sketch import NumericSketch, exponential_data_point

S = 1_000_000_000
YEAR = 365 * 86400 * S


class _Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def app(tmp_path: Path) -> Iterator[EvaluatorApp]:
    cfg = parse_config(
        {
            "state_dir": str(tmp_path / "state"),
            "receivers": {"http": {"port": 0}, "grpc": {"enabled": False}},
            "api": {"port": 0},
            "windows": {"size": "1m", "grace": "0s", "min_rows": 1},
            "export": {"prometheus": True},
        }
    )
    a = EvaluatorApp.from_config(cfg, clock=_Clock())
    a.service.start_writer()
    assert a.http is not None and a.api is not None
    a.http.start()
    a.api.start()
    try:
        yield a
    finally:
        a.stop()


def _send(app: EvaluatorApp, request: Any) -> tuple[int, Any]:
    assert app.http is not None
    conn = http.client.HTTPConnection("127.0.0.1", app.http.port, timeout=30)
    try:
        conn.request(
            "POST",
            "/v1/metrics",
            request.SerializeToString(),
            {"Content-Type": "application/x-protobuf"},
        )
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        return resp.status, body
    return 200, ExportMetricsServiceResponse.FromString(body).partial_success


def _get(app: EvaluatorApp, path: str) -> tuple[int, bytes]:
    assert app.api is not None
    conn = http.client.HTTPConnection("127.0.0.1", app.api.port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _now_ns() -> int:
    """20 s into the current minute (window): points at it and a few seconds later share
    one window, and it is not yet closed."""
    return (time.time_ns() // (60 * S)) * 60 * S + 20 * S


def _good(t: int, feature: str = "good") -> Any:
    return sketch_point([1.0, 2.0, 3.0], feature, start=t - S, time=t)


def _request_with(poison: Any, t: int) -> Any:
    """A request holding the poisoned point (first) and a good feature point."""
    if poison is None:
        return metrics_request(metrics_data([exp_metric([_good(t)])]))
    return metrics_request(metrics_data([poison, exp_metric([_good(t)])]))


def _bucket_past_int64(t: int) -> Any:
    req = metrics_request(
        metrics_data([exp_metric([sketch_point([1.0, 2.0], "bad", start=t - S, time=t)])])
    )
    p = req.resource_metrics[0].scope_metrics[0].metrics[0].exponential_histogram.data_points[0]
    p.positive.bucket_counts[-1] = 2**63  # fits the protobuf uint64, not an int64 sketch
    p.count = sum(p.positive.bucket_counts) + p.zero_count
    req.resource_metrics[0].scope_metrics[0].metrics.append(
        metrics_request(metrics_data([exp_metric([_good(t)])]))
        .resource_metrics[0]
        .scope_metrics[0]
        .metrics[0]
    )
    return req


def _huge_sum(t: int) -> Any:
    req = metrics_request(
        metrics_data([exp_metric([sketch_point([1.0, 2.0], "bad", start=t - S, time=t)])])
    )
    p = req.resource_metrics[0].scope_metrics[0].metrics[0].exponential_histogram.data_points[0]
    p.sum = 1e308
    req.resource_metrics[0].scope_metrics[0].metrics.append(
        metrics_request(metrics_data([exp_metric([_good(t)])]))
        .resource_metrics[0]
        .scope_metrics[0]
        .metrics[0]
    )
    return req


POISONS: dict[str, tuple[Callable[[int], Any], str]] = {
    "bucket count past int64": (_bucket_past_int64, "count above 2**53"),
    "row count 2**63-1": (
        lambda t: _request_with(
            sum_metric(2**63 - 1, start=t - S, time=t, name=sc.METRIC_PREDICT_ROWS), t
        ),
        "count above 2**53",
    ),
    "sum 1e308": (_huge_sum, "sum above 1e300 in magnitude"),
    "cumulative start 2**64-1": (
        lambda t: _request_with(
            sum_metric(5, start=2**64 - 1, time=t, temporality=CUMULATIVE), t
        ),
        "start_time_unix_nano after time_unix_nano",
    ),
    "year 2200": (
        lambda t: _request_with(
            sum_metric(5, start=t + 175 * YEAR, time=t + 175 * YEAR + S), t
        ),
        "timestamp later than limits.max_future",
    ),
    "years ago": (
        lambda t: _request_with(sum_metric(5, start=t - 3 * YEAR - S, time=t - 3 * YEAR), t),
        "timestamp older than limits.max_past",
    ),
}


@pytest.mark.parametrize("kind", sorted(POISONS))
def test_poisoned_point_is_rejected_with_a_reason_and_the_rest_evaluated(
    app: EvaluatorApp, kind: str
) -> None:
    build, reason = POISONS[kind]
    t = _now_ns()
    status, partial = _send(app, build(t))
    assert status == 200, partial
    assert partial.rejected_data_points == 1
    assert reason in partial.error_message
    # the same again (a client's retry, or a second such point): same answer, nothing stored
    status, partial = _send(app, build(t + S))
    assert (status, partial.rejected_data_points) == (200, 1)

    reports = app.service.tick(time.time() + 180)
    assert app.service.health().windows_quarantined == 0
    (report,) = reports
    assert report.model == MODEL[sc.ML_MODEL_NAME]
    good = next(f for f in report.features if f.name == "good")
    assert good.n == 6  # both requests' good points, merged
    assert {f.name for f in report.features} == {"good"}
    assert app.store.count("windows") == 1  # no window in 2200 or in the past
    # evaluating again finds nothing to do and fails nothing
    assert app.service.tick(time.time() + 240) == []


def test_window_totals_cannot_overflow_across_merges(app: EvaluatorApp) -> None:
    t = _now_ns()
    rows = 2**53 - 5  # each point fits; two of them do not fit one window
    first = _request_with(sum_metric(rows, start=t - S, time=t, name=sc.METRIC_PREDICT_ROWS), t)
    assert _send(app, first) == (200, ExportMetricsServiceResponse().partial_success)
    second = _request_with(
        sum_metric(rows, start=t, time=t + S, name=sc.METRIC_PREDICT_ROWS), t + S
    )
    status, partial = _send(app, second)
    assert (status, partial.rejected_data_points) == (200, 1)
    assert "count of the window would exceed 2**53" in partial.error_message

    big = sketch_point([1.0, 2.0], "x", start=t - S, time=t)
    for i, expected in enumerate((0, 1)):
        req = metrics_request(metrics_data([exp_metric([big])]))
        p = req.resource_metrics[0].scope_metrics[0].metrics[0].exponential_histogram
        p.data_points[0].sum = 6e299
        p.data_points[0].time_unix_nano = t + i
        status, partial = _send(app, req)
        assert (status, partial.rejected_data_points) == (200, expected)
    assert "sum of the window would exceed 1e300" in partial.error_message
    health = app.service.health()
    assert health.points_rejected["count of the window would exceed 2**53"] == 1
    assert health.points_rejected["sum of the window would exceed 1e300 in magnitude"] == 1

    (report,) = app.service.tick(time.time() + 180)
    assert report.n_rows == rows
    assert {f.name: f.n for f in report.features} == {"good": 6, "x": 2}
    assert app.service.health().windows_quarantined == 0


def _feature(model: str, values: list[float], t: int) -> Any:
    sketch = NumericSketch()
    sketch.update(values)
    attrs = {**MODEL, sc.ML_MODEL_NAME: model, sc.ML_FEATURE_NAME: "f"}
    return metrics_request(
        metrics_data([exp_metric([exponential_data_point(sketch, attrs, t - S, t)])])
    )


def test_a_window_that_cannot_be_evaluated_is_quarantined_once(
    app: EvaluatorApp, caplog: pytest.LogCaptureFixture
) -> None:
    t = _now_ns()
    assert _send(app, _feature("churn", [1.0, 2.0], t - 120 * S))[0] == 200
    (earlier,) = app.service.tick(time.time())
    assert earlier.model == "churn"
    for model in ("churn", "other"):
        assert _send(app, _feature(model, [1.0, 2.0], t))[0] == 200
    # the stored sketch of churn's new window is damaged (as a bad earlier version could
    # leave it): its evaluation raises
    app.store.db.execute(
        "UPDATE sketches SET data=? WHERE model='churn' AND start > ?",
        (json.dumps({"scale": "x"}), earlier.window_start),
    )
    app.store.sketches.drop_cache()

    reports = app.service.tick(time.time() + 180)
    assert [r.model for r in reports] == ["other"]  # the other model is not blocked
    health = app.service.health()
    assert health.windows_quarantined == 1
    assert sum("quarantined" in r.message for r in caplog.records) == 1

    # late data for the quarantined window does not bring it back into evaluation
    assert _send(app, _feature("churn", [1.0], t + S))[0] == 200
    for k in range(5):
        assert app.service.tick(time.time() + 240 + k) == []
    assert sum("quarantined" in r.message for r in caplog.records) == 1
    assert app.service.window_lag(time.time() + 600) == 0.0

    status, body = _get(app, "/healthz")
    h = json.loads(body)
    assert status == 200 and h["windows_quarantined"] == 1
    (q,) = h["quarantined"]
    assert q["model"] == "churn" and q["version"] == "3" and "ValueError" in q["reason"]
    status, text = _get(app, "/metrics")
    line = next(
        x for x in text.decode().splitlines() if x.startswith("otel_ml_evaluator_windows_quar")
    )
    assert float(line.rsplit(" ", 1)[1]) == 1.0
    status, body = _get(app, "/api/models/churn/report")
    assert status == 200 and json.loads(body)["quarantined"][0]["reason"] == q["reason"]
    status, page = _get(app, "/models/churn")
    assert status == 200 and b"Quarantined windows" in page
    status, page = _get(app, "/models/other")
    assert status == 200 and b"Quarantined" not in page


def test_prediction_events_out_of_the_time_bounds_are_rejected(app: EvaluatorApp) -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
    from otlp_samples import PREDICTION_EVENT, logs_request

    request, _ = logs_request([PREDICTION_EVENT] * 3)
    records = request.resource_logs[0].scope_logs[0].log_records
    t = _now_ns()
    records[0].time_unix_nano = t + 175 * YEAR  # year 2200
    records[1].time_unix_nano = t - 3 * YEAR
    records[2].time_unix_nano = t
    assert app.http is not None
    conn = http.client.HTTPConnection("127.0.0.1", app.http.port, timeout=30)
    conn.request(
        "POST", "/v1/logs", request.SerializeToString(), {"Content-Type": "application/x-protobuf"}
    )
    resp = conn.getresponse()
    partial = ExportLogsServiceResponse.FromString(resp.read()).partial_success
    conn.close()
    assert resp.status == 200 and partial.rejected_log_records == 2
    assert "later than limits.max_future" in partial.error_message
    assert "older than limits.max_past" in partial.error_message
    assert app.store.count("predictions") == 2  # r1, r2 of the one in-bounds event
    assert app.store.count("windows") == 1


def test_points_without_a_model_version_are_version_unknown(app: EvaluatorApp) -> None:
    t = _now_ns()
    sketch = NumericSketch()
    sketch.update([1.0, 2.0])
    attrs = {sc.ML_MODEL_NAME: "nov", sc.ML_FEATURE_NAME: "f"}
    point = exponential_data_point(sketch, attrs, t - S, t)
    assert _send(app, metrics_request(metrics_data([exp_metric([point])])))[0] == 200
    (report,) = app.service.tick(time.time() + 180)
    assert report.version == "unknown"
    status, body = _get(app, "/api/models")
    assert json.loads(body)["models"][0]["versions"] == ["unknown"]


@pytest.mark.parametrize("extreme", ["count", "sum", "negative sum"])
def test_a_window_at_the_bounds_is_evaluated(tmp_path: Path, extreme: str) -> None:
    """The bounds are ones the statistics carry: a window at them evaluates, with a
    reference (drift, quality) and every counter at 2**53."""
    import dataclasses

    import numpy as np
    from evaluator_points import batch, counter, feature_point

    from otel_ml.evaluator._config_options import ReferenceSpec
    from otel_ml.evaluator._ingest_bounds import MAX_ABS_SUM, MAX_COUNT
    from otel_ml.evaluator._references import ReferenceSet
    from otel_ml.evaluator._service import EvaluatorService
    from otel_ml.evaluator._store import Store
    from otel_ml.evaluator._windows import Windowing
    from otel_ml.sketch import Profile
    from otel_ml.stats import DriftPolicy

    rng = np.random.default_rng(1)
    data = {"x": rng.normal(0, 1, 5000), "c": rng.choice(["a", "b"], 5000)}
    Profile.from_data(data, model="m", version="1").save(tmp_path / "ref.json")
    cfg = parse_config({"windows": {"size": "1m", "grace": "5s", "min_rows": 1}})
    store = Store(tmp_path / "s.db", Windowing(60.0, 5.0))
    refs = ReferenceSet([ReferenceSpec("m", tmp_path / "ref.json", "1")], check_interval=0.0)
    svc = EvaluatorService(cfg, store=store, references=refs, policy=DriftPolicy())
    svc.start_writer()
    try:
        p = feature_point("m", "x", [1.0, 2.0, 3.0], 1210)
        b = p.buckets
        if extreme == "count":
            counts = (b.positive_counts[0] + MAX_COUNT - b.count, *b.positive_counts[1:])
            b = dataclasses.replace(b, positive_counts=counts, count=MAX_COUNT)
        elif extreme == "sum":
            b = dataclasses.replace(b, sum=MAX_ABS_SUM, max=1.7e308)
        else:
            b = dataclasses.replace(b, sum=-MAX_ABS_SUM, min=-1.7e308)
        counters = [
            counter("m", sc.METRIC_PREDICT_ROWS, MAX_COUNT, 1210),
            counter("m", sc.METRIC_PREDICT_CALLS, MAX_COUNT, 1210),
            counter("m", sc.METRIC_PREDICT_ERRORS, MAX_COUNT, 1210, error_type="X"),
            counter(
                "m", sc.METRIC_FEATURE_CATEGORIES, MAX_COUNT, 1210, "1", "c", ml_feature_value="a"
            ),
            counter("m", sc.METRIC_PREDICTION_CLASSES, MAX_COUNT, 1210, ml_prediction_class="1"),
        ]
        result = svc.submit(batch(dataclasses.replace(p, buckets=b), *counters))
        assert result.accepted and result.rejected == ()
        (report,) = svc.tick(1300.0)
        assert report.n_rows == MAX_COUNT
        assert {f.name for f in report.features} == {"x", "c"}
        assert store.count_quarantined() == 0
    finally:
        svc.stop()
        store.close()


def test_a_batch_the_store_refuses_is_reported_rejected(app: EvaluatorApp) -> None:
    """A batch the store refuses as inconsistent (here built by hand past the decoder's
    checks) is acknowledged, since a retry could never succeed, and each of its records
    is reported rejected with the reason instead of silently dropped."""
    import dataclasses

    from evaluator_points import batch, feature_point

    from otel_ml.evaluator._records import Rejection

    bad = feature_point("m", "x", [1.0, 2.0], 1210)
    bad = dataclasses.replace(bad, buckets=dataclasses.replace(bad.buckets, count=5))
    result = app.service.submit(batch(bad, feature_point("m", "y", [1.0], 1210)))
    assert result.accepted
    assert result.rejected == (Rejection("store refused", 2),)
    assert app.service.health().points_rejected["store refused"] == 2
