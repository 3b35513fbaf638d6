"""The evaluator's MLflow sink against a real ``mlflow server`` (SQLite backend, 127.0.0.1).

A model-service subprocess (``sink_app.py``: ``@otel_ml.monitor``, ``record_outcome``,
the real OTel OTLP exporters, a simulated clock one window per minute) sends windows to
an evaluator running in this process; the test ticks the evaluator itself. The metrics
read back with ``MlflowClient`` equal what the evaluator's API reports for each window.
The tracking server is killed while more windows are evaluated (they are, and the drift
alert reaches its webhook), the evaluator restarts on its state with the backlog, the
server comes back on the same port and store: every window arrives once, in one run.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from mlflow_server import MlflowServer, free_port
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families
from sink_app import MODEL, VERSION, frame, model_proba

from otel_ml import ConfigurationError
from otel_ml.alerting import RetryPolicy
from otel_ml.evaluator import EvaluatorApp
from otel_ml.evaluator._config import parse_config
from otel_ml.evaluator._config_options import MlflowSinkOptions
from otel_ml.evaluator._metrics_export import DRIFT_SCORE_METHODS
from otel_ml.evaluator._mlflow_sink import OUTBOX_FILE, MlflowSink
from otel_ml.evaluator._report import ModelReport, QualityRate
from otel_ml.evaluator._windows import WindowKey
from otel_ml.sketch import Profile

HERE = Path(__file__).parent
WINDOW = 60.0
FEATURES = ("x1", "x2", "region")


@pytest.fixture(autouse=True)
def _client_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sink sets MLflow's request retries and timeout in the environment when unset
    (as in production); they go away after each test."""
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.setenv(name, "")  # remembers the value before, restored at teardown
        monkeypatch.delenv(name)


class Webhook:
    """A real webhook notifier endpoint on 127.0.0.1 that keeps every alert posted."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                hook.alerts += body.get("alerts", [])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def firing(self) -> list[dict[str, Any]]:
        return [a for a in self.alerts if a.get("status") == "firing"]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _send_windows(endpoint: str, t0: float, first: int, last: int, log: Path) -> None:
    drift_from = 3
    proc = subprocess.run(
        [sys.executable, str(HERE / "sink_app.py"), endpoint, str(t0), str(first), str(last),
         str(drift_from)],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, timeout=120, check=False,
    )
    assert proc.returncode == 0, log.read_text()[-3000:]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as r:
        return bytes(r.read())


def _self_metrics(app: EvaluatorApp) -> dict[tuple[str, str], float]:
    """The sink's self-metrics from the API's /metrics: (name, outcome) -> value."""
    assert app.api is not None
    out = {}
    for family in text_string_to_metric_families(_get(app.api.url + "/metrics").decode()):
        for s in family.samples:
            if s.name.startswith("otel_ml_evaluator_sink_") and s.labels.get(
                "otel_ml_sink"
            ) == "mlflow":
                out[(s.name, s.labels.get("otel_ml_outcome", ""))] = s.value
    return out


def _config(tmp_path: Path, tracking_uri: str, experiment: str, hook: Webhook) -> Any:
    quick = {"initial_backoff": "0.2s", "max_backoff": "1s"}
    return parse_config(
        {
            "state_dir": "state",
            "receivers": {"http": {"port": 0}, "grpc": {"enabled": False}},
            "api": {"port": 0},
            "windows": {"size": "1m", "grace": "1s", "min_rows": 100},
            "references": [{"model": MODEL, "version": VERSION, "path": "credit.json"}],
            "alerts": {
                "defaults": {"for_windows": 1},
                "builtin_rules": False,
                "rules": {"drift": {"kind": "feature_drift", "threshold": "verdict",
                                    "severity": "warning"}},
            },
            "notifiers": {"hook": {"type": "webhook", "url": hook.url, "retry": quick}},
            "sinks": {"mlflow": {"tracking_uri": tracking_uri, "experiment": experiment,
                                 "timeout": "5s", "retry": quick}},
        },
        base_dir=tmp_path,
    )


def _expected(api_report: dict[str, Any]) -> dict[int, dict[str, float]]:
    """What MLflow must hold at each window's step, from the API's report JSON alone."""
    out: dict[int, dict[str, float]] = {}
    for h in api_report["history"]:
        want = {"window/rows": float(h["n_rows"]), "labels/coverage": h["label_coverage"]}
        for name, value in (h["performance"] or {}).items():
            if value is not None:
                want[f"performance/{name}"] = value
        for f in FEATURES:
            want[f"drift/{f}/drifted"] = float(f in h["drifted_features"])
        for key, value in (("window/latency_p95", h["latency_p95"]),
                           ("window/error_rate", h["error_rate"])):
            if value is not None:
                want[key] = value
        out[int(h["window_end"])] = want
    latest = out[int(api_report["window_end"])]
    for f in api_report["features"]:
        d = f["drift"]
        for method, value in d["statistics"].items():
            if method in DRIFT_SCORE_METHODS and value is not None:
                latest[f"drift/{f['name']}/{method}"] = value
        latest[f"drift/{f['name']}/p_value"] = d["p_value"]
    return out


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, int, float]]:
    """One metric's whole history in the run: [(step, timestamp, value)]."""
    return sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key))


def _logged(client: MlflowClient, run_id: str) -> dict[str, list[tuple[int, int, float]]]:
    """Every metric's whole history in the run (one request per key)."""
    return {k: _history(client, run_id, k) for k in client.get_run(run_id).data.metrics}


def test_windows_reach_mlflow_once_through_server_and_evaluator_restarts(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    """On the session's server (killed and restarted here: one start instead of a server
    of its own, two starts); the experiment is this test's own."""
    try:
        _windows_reach_mlflow_once(tmp_path, mlflow_server)
    finally:
        mlflow_server.start()  # running again for the next tests, whatever happened


def _windows_reach_mlflow_once(tmp_path: Path, mlflow_server: MlflowServer) -> None:
    rng = np.random.default_rng(100)
    ref = frame(rng, 5000)
    Profile.from_data(ref, model=MODEL, version=VERSION, predictions=model_proba(ref)).save(
        tmp_path / "credit.json"
    )
    hook = Webhook()
    experiment = f"sink-{tmp_path.name}"
    cfg = _config(tmp_path, mlflow_server.uri, experiment, hook)
    t0 = math.floor(time.time() / WINDOW) * WINDOW - 12 * WINDOW
    log = tmp_path / "app.log"
    app = EvaluatorApp.from_config(cfg)
    app.start(tick_interval=3600.0)  # the test ticks
    try:
        endpoint = app.endpoints()["otlp_http"]
        # 1. windows 0-2 with the server up
        _send_windows(endpoint, t0, 0, 3, log)
        assert len(app.service.tick()) == 3
        sink = app.mlflow_sink
        assert sink is not None
        _wait(lambda: sink.backlog() == 0, "the first windows to reach MLflow")

        # 2. the server dies; windows 3-5 (x1 drifts from 3 on) are evaluated and alerted
        mlflow_server.kill()
        _send_windows(endpoint, t0, 3, 6, log)
        reports = app.service.tick()
        assert [r.window_start for r in reports] == [t0 + k * WINDOW for k in (3, 4, 5)]
        assert all("x1" in r.drifted_features for r in reports)
        _wait(lambda: any(a["labels"].get("ml_feature_name") == "x1" for a in hook.firing()),
              "the drift alert while MLflow is down")
        _wait(lambda: _self_metrics(app).get(
            ("otel_ml_evaluator_sink_windows_total", "retried"), 0) >= 2,
              "failed attempts to be counted")
        assert sink.backlog() == 3
        assert _self_metrics(app)[("otel_ml_evaluator_sink_backlog", "")] == 3
    finally:
        app.stop()

    # 3. the evaluator restarts on its state (backlog on disk), then the server comes back
    app = EvaluatorApp.from_config(cfg)
    app.start(tick_interval=3600.0)
    try:
        sink = app.mlflow_sink
        assert sink is not None and sink.backlog() == 3
        mlflow_server.start()
        _wait(lambda: sink.backlog() == 0, "the backlog to drain after the server's restart")
        _send_windows(app.endpoints()["otlp_http"], t0, 6, 8, log)
        assert len(app.service.tick()) == 2
        _wait(lambda: sink.backlog() == 0, "the last windows")
        metrics = _self_metrics(app)
        assert metrics[("otel_ml_evaluator_sink_windows_total", "delivered")] == 5
        assert ("otel_ml_evaluator_sink_windows_total", "dropped") not in metrics
        assert app.api is not None
        api_report = json.loads(_get(f"{app.api.url}/api/models/{MODEL}/report"))
    finally:
        app.stop()
        hook.stop()

    client = MlflowClient(tracking_uri=mlflow_server.uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1  # found again after both restarts, never created twice
    run = runs[0]
    assert run.data.tags["ml.model.name"] == MODEL
    assert run.data.tags["ml.model.version"] == VERSION
    logged = _logged(client, run.info.run_id)
    ends = [int(t0 + (k + 1) * WINDOW) for k in range(8)]
    # nothing lost, nothing twice: every window once at its step, with its end as timestamp
    assert [step for step, _, _ in logged["window/rows"]] == ends
    for key, points in logged.items():
        steps = [step for step, _, _ in points]
        assert len(steps) == len(set(steps)), (key, points)
        assert all(ts == step * 1000 for step, ts, _ in points), key
    expected = _expected(api_report)
    assert sorted(expected) == ends
    for step, want in expected.items():
        got = {key: v for key, points in logged.items() for s, _, v in points if s == step}
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-12), (step, key)
    fired = {s: v for s, _, v in logged["alerts/fired"]}
    assert fired[ends[3]] >= 1  # x1 starts drifting in window 3: its alert fired then
    assert all(fired[e] == 0 for e in ends[:3])


class _FailOnce:
    """A real MlflowClient whose ``log_batch`` fails once, on its second call."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def log_batch(self, run_id: str, **kwargs: Any) -> None:
        self.calls += 1
        if self.calls == 2:
            raise ConnectionError("connection reset in the middle of a window")
        self.client.log_batch(run_id, **kwargs)


def test_retry_after_a_partial_failure_duplicates_nothing(
    tmp_path: Path, tracking_uri: str
) -> None:
    """A window of more than 1,000 metrics takes two ``log_batch`` calls; the second fails,
    the retry sends the whole window again, and MLflow's SQL store keeps each point once."""
    client = _FailOnce(MlflowClient(tracking_uri=tracking_uri))
    options = MlflowSinkOptions(tracking_uri=tracking_uri, experiment=f"partial-{tmp_path.name}")
    sink = MlflowSink(options, state_dir=tmp_path, client=lambda: client)
    quality = tuple(QualityRate(f"f{i}", "missing", i, i / 2000) for i in range(1500))
    report = ModelReport(model="wide", version="1", window_start=600.0, window_end=660.0,
                         n_rows=2000, verdict_ready=True, quality=quality)
    try:
        sink.submit([report], (), now=1000.0)
        assert sink.deliver_pending(1000.0) == 0 and sink.backlog() == 1
        assert client.calls == 2  # the first 1,000 metrics were logged
        assert sink.deliver_pending(2000.0) == 1 and sink.backlog() == 0
    finally:
        sink.close()
    runs = client.search_runs([client.get_experiment_by_name(options.experiment).experiment_id])
    assert len(runs) == 1
    run_id = runs[0].info.run_id
    # quality rates, window/rows, alerts/fired, alerts/resolved
    assert len(client.get_run(run_id).data.metrics) == 1500 + 3
    # the histories of keys sent twice (the first log_batch's) and once (the second's): one
    # point each (a sample: 1,503 history requests took most of this test's time)
    for i in (0, 7, 500, 999, 1000, 1499):
        assert _history(client.client, run_id, f"quality/f{i}/missing") == [
            (660, 660_000, i / 2000)], i
    for key in ("window/rows", "alerts/fired"):
        assert len(_history(client.client, run_id, key)) == 1


def test_config_errors_name_the_field_and_the_fix() -> None:
    cases = {
        "sinks.mlflow.tracking_uri: missing; give the MLflow tracking server's URL":
            {"mlflow": {"experiment": "x"}},
        "sinks.mlflow.experimnt: unknown key; did you mean 'experiment'?":
            {"mlflow": {"tracking_uri": "http://127.0.0.1:5000", "experimnt": "x"}},
        "sinks.mlflow.retry.jitter: 2.0 is outside [0, 1]; fix the value":
            {"mlflow": {"tracking_uri": "http://127.0.0.1:5000", "retry": {"jitter": 2}}},
        "sinks.mlflow.max_backlog:":
            {"mlflow": {"tracking_uri": "http://127.0.0.1:5000", "max_backlog": 0}},
        "sinks.mlfow: unknown key; did you mean 'mlflow'?": {"mlfow": {}},
    }
    for message, sinks in cases.items():
        with pytest.raises(ConfigurationError) as err:
            parse_config({"sinks": sinks})
        assert message in str(err.value)
    cfg = parse_config({"sinks": {"mlflow": {"tracking_uri": "http://127.0.0.1:5000"}}})
    assert cfg.sinks.mlflow is not None and cfg.sinks.mlflow.experiment == "otel-ml"


def test_backlog_is_bounded_and_what_it_drops_is_counted(tmp_path: Path) -> None:
    """MLflow unreachable (nothing listens on the port): the outbox keeps the newest
    ``max_backlog`` windows, counts the dropped ones, delivers nothing, and tries again
    only after the backoff (10 s, then 20 s: ``retry`` without jitter); each attempt is one
    request (the sink turns MLflow's own retries off)."""
    reader = InMemoryMetricReader()
    retry = RetryPolicy(initial_backoff=10.0, max_backoff=20.0, jitter=0.0)
    options = MlflowSinkOptions(tracking_uri=f"http://127.0.0.1:{free_port()}", max_backlog=3,
                                retry=retry)
    sink = MlflowSink(options, state_dir=tmp_path, meter_provider=MeterProvider([reader]))
    reports = [
        ModelReport(model="m", version="1", window_start=60.0 * k, window_end=60.0 * (k + 1),
                    n_rows=10, verdict_ready=False)
        for k in range(5)
    ]
    try:
        sink.submit(reports[:2], (), now=1000.0)
        sink.submit(reports[2:], (), now=1000.0)
        assert sink.backlog() == 3
        assert sink.deliver_pending(1000.0) == 0 and sink.backlog() == 3
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"
        attempts = []
        for now in (1000.0, 1009.9, 1010.0, 1029.9, 1030.0, 1049.9, 1050.0):
            sink.deliver_pending(now)
            attempts.append(sink._store.due("mlflow", now=1e12)[0].attempts)
        assert attempts == [1, 1, 2, 2, 3, 3, 4]
        data = reader.get_metrics_data()
    finally:
        sink.close()
    counts = {}
    assert data is not None
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:
                    counts[(m.name, p.attributes.get("otel_ml.outcome", ""))] = p.value
    assert counts[("otel_ml.evaluator.sink.windows", "queued")] == 5
    assert counts[("otel_ml.evaluator.sink.windows", "dropped")] == 2
    assert counts[("otel_ml.evaluator.sink.windows", "retried")] == 4
    assert ("otel_ml.evaluator.sink.windows", "delivered") not in counts
    assert counts[("otel_ml.evaluator.sink.backlog", "")] == 3
    # the oldest went: a restart finds the three newest windows, in order
    sink = MlflowSink(options, state_dir=tmp_path)
    try:
        rows = sink._store.due("mlflow", now=1e12)  # the outbox itself
        assert [json.loads(r.transition)["end"] for r in rows] == [180.0]
        assert sink.backlog() == 3
    finally:
        sink.close()


def test_a_deleted_run_is_replaced_without_losing_the_window(
    tmp_path: Path, tracking_uri: str
) -> None:
    client = MlflowClient(tracking_uri=tracking_uri)
    options = MlflowSinkOptions(tracking_uri=tracking_uri, experiment=f"deleted-{tmp_path.name}")
    sink = MlflowSink(options, state_dir=tmp_path, client=lambda: client)

    def window(k: int) -> ModelReport:
        return ModelReport(model="m", version="2", window_start=60.0 * k,
                           window_end=60.0 * (k + 1), n_rows=10 + k, verdict_ready=False)

    try:
        sink.submit([window(1)], (), now=1000.0)
        assert sink.deliver_pending(1000.0) == 1
        exp = client.get_experiment_by_name(options.experiment)
        assert exp is not None
        (first,) = client.search_runs([exp.experiment_id])
        client.delete_run(first.info.run_id)
        sink.submit([window(2)], (), now=1001.0)
        assert sink.deliver_pending(1001.0) == 0 and sink.backlog() == 1  # refused: retried
        assert sink.deliver_pending(2000.0) == 1 and sink.backlog() == 0
    finally:
        sink.close()
    (second,) = client.search_runs([exp.experiment_id])
    assert second.info.run_id != first.info.run_id
    assert _logged(client, second.info.run_id)["window/rows"] == [(180, 180_000, 12.0)]


class _Refusing:
    """A real MlflowClient whose ``log_batch`` carries one more metric while ``refuse`` is
    set: a key longer than MLflow's 250 characters, which the server refuses as invalid."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client
        self.refuse = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def log_batch(self, run_id: str, metrics: Any = ()) -> None:
        from mlflow.entities import Metric

        bad = [Metric("k" * 300, 1.0, m.timestamp, m.step) for m in metrics[:1]]
        self.client.log_batch(run_id, metrics=[*metrics, *(bad if self.refuse else [])])


def test_a_window_mlflow_refuses_is_dropped_and_counted_not_retried(
    tmp_path: Path, tracking_uri: str
) -> None:
    """MLflow refusing a window as invalid on a run just found or created is final: the
    window is dropped and counted as failed, and the version's next window is not held
    behind it for retry.max_age."""
    client = _Refusing(MlflowClient(tracking_uri=tracking_uri))
    reader = InMemoryMetricReader()
    options = MlflowSinkOptions(tracking_uri=tracking_uri, experiment=f"refused-{tmp_path.name}")
    sink = MlflowSink(options, state_dir=tmp_path, client=lambda: client,
                      meter_provider=MeterProvider([reader]))

    def window(k: int) -> ModelReport:
        return ModelReport(model="m", version="3", window_start=60.0 * k,
                           window_end=60.0 * (k + 1), n_rows=10 + k, verdict_ready=False)

    try:
        sink.submit([window(1)], (), now=1000.0)
        assert sink.deliver_pending(1000.0) == 0 and sink.backlog() == 0
        client.refuse = False
        sink.submit([window(2)], (), now=1001.0)
        assert sink.deliver_pending(1001.0) == 1 and sink.backlog() == 0
        data = reader.get_metrics_data()
    finally:
        sink.close()
    assert data is not None
    outcomes = {p.attributes.get("otel_ml.outcome"): p.value for rm in data.resource_metrics
                for sm in rm.scope_metrics for m in sm.metrics
                if m.name == "otel_ml.evaluator.sink.windows" for p in m.data.data_points}
    assert outcomes == {"queued": 2, "failed": 1, "delivered": 1}
    exp = client.get_experiment_by_name(options.experiment)
    (run,) = client.search_runs([exp.experiment_id])
    assert _history(client.client, run.info.run_id, "window/rows") == [(180, 180_000, 12.0)]


def test_windows_saved_but_not_queued_before_a_crash_are_queued_at_the_next_start(
    tmp_path: Path,
) -> None:
    """A crash between the store's commit of a window's report and the sink's queueing
    loses nothing: the next start queues the windows evaluated after the last queued ones
    (without alert counts, which are not known), once."""
    cfg = parse_config(
        {
            "state_dir": "state",
            "receivers": {"http": {"enabled": False}, "grpc": {"enabled": False}},
            "api": {"enabled": False},
            "sinks": {"mlflow": {"tracking_uri": f"http://127.0.0.1:{free_port()}"}},
        },
        base_dir=tmp_path,
    )
    now = [10_000.0]

    def report(k: int) -> tuple[WindowKey, ModelReport]:
        r = ModelReport(model="m", version="1", window_start=60.0 * k,
                        window_end=60.0 * (k + 1), n_rows=k, verdict_ready=False)
        return WindowKey("m", "1", r.window_start, r.window_end), r

    def outbox() -> list[dict[str, Any]]:
        db = sqlite3.connect(tmp_path / "state" / OUTBOX_FILE)
        try:
            rows = db.execute("SELECT transition FROM outbox ORDER BY id").fetchall()
            return [json.loads(t) for (t,) in rows]
        finally:
            db.close()

    app = EvaluatorApp.from_config(cfg, clock=lambda: now[0])
    sink = app.mlflow_sink
    assert sink is not None and sink.backlog() == 0  # a first start queues no history
    key, r = report(1)  # a tick that went through: saved, then queued
    app.store.save_report(key, json.dumps(r.to_dict()), now=10_100.0)
    sink.submit([r], [], now=10_100.0)
    key, r = report(2)  # the tick cut short: saved, never queued
    app.store.save_report(key, json.dumps(r.to_dict()), now=10_200.0)
    app.stop()
    for _ in range(2):  # the restart queues window 2; the next one nothing more
        now[0] += 1000.0
        app = EvaluatorApp.from_config(cfg, clock=lambda: now[0])
        app.stop()
        rows = outbox()
        assert [(w["end"], w["metrics"]["window/rows"]) for w in rows] == [(120.0, 1), (180.0, 2)]
        assert "alerts/fired" in rows[0]["metrics"] and "alerts/fired" not in rows[1]["metrics"]


def test_credentials_in_the_tracking_uri_are_neither_logged_nor_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """MLflow's connection errors quote the request's URL, credentials included
    (``http://user:password@host``): the sink's warning and the outbox's last error show
    ``***@`` instead."""
    options = MlflowSinkOptions(tracking_uri=f"http://alice:s3cret@127.0.0.1:{free_port()}")
    sink = MlflowSink(options, state_dir=tmp_path)
    report = ModelReport(model="m", version="1", window_start=0.0, window_end=60.0, n_rows=10,
                         verdict_ready=False)
    try:
        sink.submit([report], (), now=1000.0)
        with caplog.at_level(logging.WARNING):
            assert sink.deliver_pending(1000.0) == 0 and sink.backlog() == 1
    finally:
        sink.close()
    [warning] = [r.getMessage() for r in caplog.records if "delivery failed" in r.getMessage()]
    assert "http://***@127.0.0.1" in warning and "s3cret" not in warning
    db = sqlite3.connect(tmp_path / OUTBOX_FILE)
    try:
        [(error,)] = db.execute("SELECT last_error FROM outbox").fetchall()
    finally:
        db.close()
    assert "http://***@127.0.0.1" in error and "s3cret" not in error


def test_a_window_logs_estimated_performance_multivariate_drift_and_graded_verdicts() -> None:
    """Every result of the evaluation reaches the sink's keys: the estimated performance
    (CBPE) with its band, the multivariate verdict, each feature's graded verdict."""
    from otel_ml.evaluator._report import FeatureReport
    from otel_ml.evaluator._window_metrics import window_metrics
    from otel_ml.sketch import FeatureKind, NumericSketch
    from otel_ml.stats import EstimatedMetric, EstimatedPerformance, compare_feature
    from otel_ml.stats._multivariate import MultivariateDrift

    rng = np.random.default_rng(5)
    ref, cur = NumericSketch(), NumericSketch()
    ref.update(rng.normal(0, 1, 2000))
    cur.update(rng.normal(1, 1, 2000))
    drift = compare_feature("x1", ref, cur)
    m, nan = EstimatedMetric(0.9, 0.87, 0.93), EstimatedMetric(math.nan, math.nan, math.nan)
    report = ModelReport(
        model="m", version="1", window_start=0.0, window_end=60.0, n_rows=2000,
        verdict_ready=True,
        features=(FeatureReport("x1", FeatureKind.NUMERIC, 2000, drift),),
        estimated=EstimatedPerformance("score", "1", 2000, 0.5, 0.95, m, nan, m, m, m),
        multivariate=MultivariateDrift(
            drifted=True, method="pca_reconstruction", statistic=0.8, threshold=0.1,
            effect="wasserstein", test="ks", p_value=1e-6, mean_error=2.5,
            reference_mean_error=1.0, n_reference=5000, n_current=2000, n_components=2,
            features=("x1", "x2"), reason=""),
    )
    got = window_metrics(report, ())
    assert got["drift/x1/grade"] == 2.0 and got["drift/x1/drifted"] == 1.0
    assert {k: v for k, v in got.items() if k.startswith("estimated_performance/accuracy")} == {
        "estimated_performance/accuracy": 0.9, "estimated_performance/accuracy/lower": 0.87,
        "estimated_performance/accuracy/upper": 0.93}
    assert "estimated_performance/precision" not in got  # NaN: nothing logged
    assert {k for k in got if k.startswith("estimated_performance/")} == {
        f"estimated_performance/{name}{part}" for name in ("accuracy", "recall", "f1", "roc_auc")
        for part in ("", "/lower", "/upper")}
    assert {k: v for k, v in got.items() if k.startswith("multivariate/")} == {
        "multivariate/drifted": 1.0, "multivariate/wasserstein": 0.8,
        "multivariate/p_value": 1e-6, "multivariate/mean_error": 2.5}
