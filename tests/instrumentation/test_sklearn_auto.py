"""``opentelemetry-instrument python app.py`` on an app that never imports OpenTelemetry.

The app runs as a subprocess with the real OTLP/HTTP exporters (configured by
opentelemetry-distro from ``OTEL_*`` variables) pointed at a receiver on
127.0.0.1; the test decodes what arrived.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from otlp_loopback import OtlpReceiver, Received, attributes, run_app
from sdk_support import prediction_calls

from otel_ml import semconv

APP = """
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
total = 0.0
for start in range(0, 200, 50):
    total += float(model.predict_proba(X.iloc[start:start + 50])[:, 1].sum())
labels = model.predict(X.iloc[:10])
print(f"checksum {total:.12f} {labels.tolist()}")
"""

MODEL = "cancer"
N_PROBA_CALLS = 4


def _run(
    tmp_path: Path, endpoint: str | None, source: str = APP, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {"OTEL_SERVICE_NAME": "sklearn-app", "OTEL_ML_SKLEARN_MODELS": f"Pipeline={MODEL}:1"}
    return run_app(tmp_path, source, endpoint, **{**env, **extra})


def _model_spans(received: Received) -> list[tuple[dict[str, object], object]]:
    return [
        (res, span)
        for res, span in received.spans()
        if attributes(span.attributes).get(semconv.ML_MODEL_NAME) == MODEL
    ]


@pytest.fixture(scope="module")
def plain_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    done = _run(tmp_path_factory.mktemp("plain"), None)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_unmodified_app_under_opentelemetry_instrument(tmp_path, plain_output):
    with OtlpReceiver() as receiver:
        done = _run(tmp_path, receiver.endpoint)
        assert done.returncode == 0, done.stderr
        received = receiver.received
        # Exporters flush at exit; give the last requests a moment to land.
        received.wait_for(lambda r: len(_model_spans(r)) >= N_PROBA_CALLS + 1, timeout=10)

    # The app's own output is unchanged by instrumentation.
    assert done.stdout == plain_output

    spans = _model_spans(received)
    names = sorted(span.name for _, span in spans)
    assert names == [f"predict {MODEL}"] + [f"predict_proba {MODEL}"] * N_PROBA_CALLS
    resource, first = spans[0]
    assert resource["service.name"] == "sklearn-app"
    span_attrs = attributes(first.attributes)
    assert span_attrs[semconv.ML_MODEL_VERSION] == "1"
    assert span_attrs[semconv.ML_MODEL_FRAMEWORK] == "sklearn"
    trace_ids = {span.trace_id for _, span in spans}

    # Real histogram metrics: one exponential histogram point per feature, with the
    # feature name, from the bridge; the counts add up to the rows predicted.
    points = [
        point
        for _, metric in received.metrics(semconv.METRIC_FEATURE_VALUES)
        if metric.WhichOneof("data") == "exponential_histogram"
        for point in metric.exponential_histogram.data_points
        if attributes(point.attributes).get(semconv.ML_MODEL_NAME) == MODEL
    ]
    assert points, "no ml.feature.values exponential histogram arrived"
    by_feature: dict[str, int] = {}
    for point in points:
        name = attributes(point.attributes)[semconv.ML_FEATURE_NAME]
        by_feature[name] = by_feature.get(name, 0) + point.count
    assert "mean radius" in by_feature
    assert len(by_feature) == 30
    assert set(by_feature.values()) == {N_PROBA_CALLS * 50 + 10}

    # Prediction events: log records named ml.prediction, inside the predict spans.
    events = [
        rec
        for _, rec in received.logs()
        if rec.event_name == semconv.EVENT_PREDICTION
        and attributes(rec.attributes).get(semconv.ML_MODEL_NAME) == MODEL
    ]
    calls = prediction_calls(
        (attributes(r.attributes), int.from_bytes(r.trace_id, "big"), int.from_bytes(r.span_id))
        for r in events
    )
    assert len(calls) == N_PROBA_CALLS + 1 and len(events) < len(calls)  # batched
    assert {c["trace_id"].to_bytes(16, "big") for c in calls} <= trace_ids
    rows = sorted(len(c[semconv.ML_PREDICTION_IDS]) for c in calls)
    assert rows == [10] + [50] * N_PROBA_CALLS


def test_disabled_by_otel_python_disabled_instrumentations(tmp_path, plain_output):
    with OtlpReceiver() as receiver:
        done = _run(tmp_path, receiver.endpoint, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="sklearn")
        assert done.returncode == 0, done.stderr
        received = receiver.received
    assert done.stdout == plain_output
    assert _model_spans(received) == []
    assert not any(
        rec.event_name == semconv.EVENT_PREDICTION for _, rec in received.logs()
    )


MULTI_OUTPUT_APP = """
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier

rng = np.random.default_rng(0)
X = rng.normal(size=(300, 5))
Y = np.c_[X[:, 0] > 0, X[:, 1] > 0].astype(int)
model = MultiOutputClassifier(LogisticRegression(), n_jobs=2).fit(X, Y)
print(int(model.predict(X[:20]).sum()))
"""


def test_worker_processes_do_not_monitor_sub_estimators(tmp_path):
    """joblib's worker processes inherit opentelemetry-instrument (so they are instrumented);
    the nested-call guard travels with the tasks, so the sub-estimators they run make no
    spans of their own."""
    with OtlpReceiver() as receiver:
        done = _run(tmp_path, receiver.endpoint, MULTI_OUTPUT_APP)
        assert done.returncode == 0, done.stderr
        received = receiver.received
        received.wait_for(lambda r: len(r.spans()) >= 1, timeout=10)
        # Give spans a worker might wrongly have made the time to arrive too.
        received.wait_for(lambda r: len(r.spans()) >= 2, timeout=3)
    names = [span.name for _, span in received.spans()]
    assert names == ["predict MultiOutputClassifier"]


SCRAPED_APP = """
import sys
import numpy as np
from sklearn.linear_model import LogisticRegression

rng = np.random.default_rng(0)
X = rng.normal(size=(300, 3))
model = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
model.predict_proba(X[:40])
print("ready", flush=True)
sys.stdin.readline()  # keep serving /metrics until the test is done scraping
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    import shutil

    binary = shutil.which("prometheus")
    assert binary is not None, "the Debian package prometheus provides the binary"
    port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: app\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    return proc, f"http://127.0.0.1:{port}"


def _query_until(base: str, expr: str, want: float, timeout: float = 60.0) -> float | None:
    import json
    import time
    import urllib.parse
    import urllib.request

    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        try:
            url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            with urllib.request.urlopen(url, timeout=5) as r:
                result = json.load(r)["data"]["result"]
            value = float(result[0]["value"][1]) if result else None
        except OSError:  # Prometheus still starting
            value = None
        if value == want:
            return value
        time.sleep(0.5)
    return value


def test_prometheus_scrape_endpoint_has_feature_histograms(tmp_path):
    """OTEL_METRICS_EXPORTER=prometheus: the SDK's own scrape endpoint gets the sketches,
    a real Prometheus scrapes them, and promtool finds the exposition clean."""
    import shutil
    import urllib.request

    app = tmp_path / "app.py"
    app.write_text(SCRAPED_APP)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        OTEL_TRACES_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        OTEL_METRICS_EXPORTER="prometheus",
        OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
        OTEL_EXPORTER_PROMETHEUS_PORT=str(port),
        OTEL_ML_SKLEARN_MODELS="LogisticRegression=scraped:2",
    )
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, str(app)],
        env=env,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    prometheus = None
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
            text = r.read().decode()
        prometheus, base = _start_prometheus(tmp_path, f"127.0.0.1:{port}")
        scraped = _query_until(
            base, 'sum(ml_feature_values_count{ml_model_name="scraped"})', want=3 * 40.0
        )
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(30)
        proc.communicate("\n", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert scraped == 3 * 40.0  # three features, 40 rows each, as Prometheus stored them

    labels = 'ml_feature_name="f0",ml_model_name="scraped",ml_model_version="2"'
    count = [line for line in text.splitlines() if line.startswith("ml_feature_values_count{")]
    assert any(labels in line and line.endswith(" 40.0") for line in count), count
    assert "ml_feature_values_bucket{" in text
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool (Debian package prometheus) is needed"
    check = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
