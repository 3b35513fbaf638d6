"""The service with a fake clock: bounded queue, durable acks, window evaluation, derived
metrics (in-memory reader and Prometheus text), references, the HTTP API."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from evaluator_points import batch, counter, feature_point, prediction
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from otel_ml import semconv as sc
from otel_ml.evaluator._api import ApiServer
from otel_ml.evaluator._auth import BearerAuth, Secret
from otel_ml.evaluator._config import parse_config
from otel_ml.evaluator._config_options import ReferenceSpec
from otel_ml.evaluator._metrics_export import DerivedMetrics
from otel_ml.evaluator._references import ReferenceSet
from otel_ml.evaluator._service import EvaluatorService
from otel_ml.evaluator._store import Store
from otel_ml.evaluator._windows import Windowing
from otel_ml.sketch import Profile
from otel_ml.stats import DriftPolicy


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _metric_points(reader: InMemoryMetricReader, name: str) -> list[tuple[dict[str, str], float]]:
    data = reader.get_metrics_data()
    out = []
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    out += [(dict(p.attributes), p.value) for p in m.data.data_points]
    return out


@pytest.fixture()
def parts(tmp_path: Path):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    Profile.from_data({"x": rng.normal(0, 1, 5000)}, model="m", version="1").save(
        tmp_path / "ref.json"
    )
    cfg = parse_config(
        {
            "windows": {"size": "1m", "grace": "5s", "min_rows": 100},
            "ingest": {"queue_size": 2, "retry_after": 7},
        },
        base_dir=tmp_path,
    )
    clock = Clock(1000.0)
    store = Store(tmp_path / "s.db", Windowing(60.0, 5.0))
    refs = ReferenceSet([ReferenceSpec("m", tmp_path / "ref.json", "1")], check_interval=0.0)
    reader = InMemoryMetricReader()
    svc_box: list[EvaluatorService] = []
    metrics = DerivedMetrics(lambda: svc_box[0].health(), readers=[reader])
    seen: list[object] = []
    svc = EvaluatorService(
        cfg,
        store=store,
        references=refs,
        policy=DriftPolicy(),
        metrics=metrics,
        alerts=lambda obs, now: seen.extend(obs),
        clock=clock,
    )
    svc_box.append(svc)
    yield svc, clock, reader, seen, rng
    svc.stop()
    metrics.shutdown()


def test_window_evaluated_once_closed_and_published(parts) -> None:  # type: ignore[no-untyped-def]
    svc, clock, reader, seen, rng = parts
    svc.start_writer()
    x = rng.normal(1.0, 1, 1000)
    r1 = svc.submit(
        batch(
            feature_point("m", "x", x, 1210),
            counter("m", sc.METRIC_PREDICT_ROWS, 1000, 1210),
            prediction("m", ["a"], 1210, scores=[0.3], trace_id="cd" * 16),
        )
    )
    assert r1.accepted
    assert svc.tick(now=1250.0) == []  # window [1200, 1260) still open
    reports = svc.tick(now=1265.0)
    assert [(r.model, r.window_start) for r in reports] == [("m", 1200.0)]
    assert reports[0].drifted_features == ("x",)
    assert svc.tick(now=1300.0) == []  # evaluated once
    pts = _metric_points(reader, sc.METRIC_DRIFT_DETECTED)
    assert pts == [
        (
            {
                sc.ML_MODEL_NAME: "m",
                sc.ML_MODEL_VERSION: "1",
                sc.ML_FEATURE_NAME: "x",
                sc.ML_DRIFT_METHOD: "wasserstein_normalised",
            },
            1,
        )
    ]
    scores = {a[sc.ML_DRIFT_METHOD]: v for a, v in _metric_points(reader, sc.METRIC_DRIFT_SCORE)}
    assert scores["ks"] == pytest.approx(reports[0].features[0].drift.statistics["ks"])
    assert _metric_points(reader, sc.METRIC_WINDOW_ROWS)[0][1] == 1000
    prom = svc.metrics.prometheus_text().decode()
    assert "ml_drift_detected" in prom and 'ml_feature_name="x"' in prom
    assert {o.kind.value for o in seen} >= {"feature_drift", "label_coverage"}
    assert seen[0].trace_ids == ("cd" * 16,)


def test_full_queue_sheds_load_with_retry_after(parts) -> None:  # type: ignore[no-untyped-def]
    svc, *_ = parts
    # the writer is not running: two batches fill the queue, the third is refused at once
    results: list[object] = []
    threads = [
        threading.Thread(
            target=lambda i=i: results.append(
                svc.submit(batch(counter("m", sc.METRIC_PREDICT_CALLS, 1, 1000 + i)))
            )
        )
        for i in range(2)
    ]
    for t in threads:
        t.start()
    while svc.queue_depth < 2:
        pass
    third = svc.submit(batch(counter("m", sc.METRIC_PREDICT_CALLS, 1, 1003)))
    assert not third.accepted and third.retry_after == 7.0
    assert svc.health().batches["throttled"] == 1
    svc.start_writer()
    for t in threads:
        t.join(10)
    assert all(r.accepted for r in results)  # type: ignore[attr-defined]
    assert svc.store.count("batches") == 2


def test_retried_batch_is_acknowledged_but_counted_once(parts) -> None:  # type: ignore[no-untyped-def]
    svc, *_ = parts
    svc.start_writer()
    b = batch(counter("m", sc.METRIC_PREDICT_CALLS, 5, 1210))
    assert svc.submit(b).accepted and svc.submit(b).accepted
    assert svc.health().batches == {"stored": 1, "duplicate": 1}
    [r] = svc.tick(now=1300.0)
    assert r.operations.calls == 5


def test_api_lists_models_serves_report_html_metrics_and_auth(parts) -> None:  # type: ignore[no-untyped-def]
    svc, _clock, _reader, _seen, rng = parts
    svc.start_writer()
    svc.submit(
        batch(
            feature_point("m", "x", rng.normal(0, 1, 500), 1210),
            counter("m", sc.METRIC_PREDICT_CALLS, 50, 1210),
        )
    )
    svc.tick(now=1300.0)
    api = ApiServer(svc, port=0, auth=BearerAuth([Secret("tok")]))
    api.start()
    try:

        def get(path: str, token: str | None = "tok") -> tuple[int, bytes]:
            req = urllib.request.Request(api.url + path)
            if token:
                req.add_header("Authorization", f"Bearer {token}")
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return resp.status, resp.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

        assert get("/api/models", token=None)[0] == 401
        assert get("/api/models", token="wrong")[0] == 401
        assert get("/healthz", token=None)[0] == 200
        code, body = get("/api/models")
        assert code == 200 and json.loads(body)["models"][0]["name"] == "m"
        code, body = get("/api/models/m/report")
        rep = json.loads(body)
        assert code == 200 and rep["features"][0]["name"] == "x"
        assert rep["features"][0]["drift"]["drifted"] is False
        assert rep["operations"]["calls"] == 50 and rep["alerts"] == []
        assert get("/api/models/nope/report")[0] == 404
        code, body = get("/models/m")
        assert code == 200 and b"<svg" in body and b"<script" not in body
        code, body = get("/metrics")
        assert code == 200 and b"ml_drift_score" in body
    finally:
        api.stop()


def test_restart_republishes_latest_reports(parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    svc, *_ = parts
    svc.start_writer()
    svc.submit(batch(counter("m", sc.METRIC_PREDICT_CALLS, 5, 1210)))
    svc.tick(now=1300.0)
    reader = InMemoryMetricReader()
    metrics = DerivedMetrics(svc.health, readers=[reader], prometheus=False)
    EvaluatorService(
        svc.config,
        store=svc.store,
        references=svc.references,
        policy=DriftPolicy(),
        metrics=metrics,
    )
    assert _metric_points(reader, sc.METRIC_WINDOW_ROWS) == [
        ({sc.ML_MODEL_NAME: "m", sc.ML_MODEL_VERSION: "1"}, 0)
    ]
    metrics.shutdown()


def test_housekeeping_drops_old_windows_and_their_gauges(parts) -> None:  # type: ignore[no-untyped-def]
    svc, _clock, reader, *_ = parts
    svc.start_writer()
    svc.submit(batch(counter("m", sc.METRIC_PREDICT_CALLS, 5, 1210)))
    svc.tick(now=1300.0)
    assert _metric_points(reader, sc.METRIC_WINDOW_ROWS)
    svc.housekeep(now=1300.0 + svc.config.windows.retention + 100)
    assert svc.store.count("windows") == 0 and svc.store.count("reports") == 0
    assert _metric_points(reader, sc.METRIC_WINDOW_ROWS) == []


def test_labels_the_store_refuses_are_reported_in_the_partial_success(parts) -> None:  # type: ignore[no-untyped-def]
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from otel_ml.evaluator._receiver import Outcome, Receiver
    from otel_ml.evaluator._records import Signal

    svc, *_ = parts
    svc.start_writer()
    receiver = Receiver(svc)

    def outcomes(*values: float | str) -> bytes:
        req = ExportLogsServiceRequest()
        records = req.resource_logs.add().scope_logs.add().log_records
        for i, v in enumerate(values):
            rec = records.add(event_name=sc.EVENT_OUTCOME, time_unix_nano=1_210_000_000_000)
            rec.attributes.add(key=sc.ML_MODEL_NAME).value.string_value = "m"
            rec.attributes.add(key=sc.ML_PREDICTION_IDS).value.string_value = f"id{i}"
            value = rec.attributes.add(key=sc.ML_OUTCOME_VALUES).value
            if isinstance(v, str):
                value.string_value = v
            else:
                value.double_value = v
        return req.SerializeToString()

    first = receiver.export(Signal.LOGS, outcomes(1.5, 2.5), json=False)
    assert (first.outcome, first.rejected, first.message) == (Outcome.ACCEPTED, 0, "")
    assert svc.health().pending_labels_unknown_model == 2  # "m" has sent nothing else yet
    res = receiver.export(Signal.LOGS, outcomes(3.5, "x", 1e308), json=False)
    assert (res.outcome, res.rejected) == (Outcome.ACCEPTED, 2)
    assert res.message == (
        "2 rejected: ml.outcome.values beyond +-1e100 (the range regression metrics carry) (1); "
        "ml.outcome.values are classes but the model is a regression model (1). "
        "1 ignored: label for an id already labelled with another value (the first is kept) (1)"
    )  # id0 had 1.5
    assert svc.health().points_rejected[
        "ml.outcome.values are classes but the model is a regression model"
    ] == 1
