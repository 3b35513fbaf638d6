"""The Prometheus side of the bridge, scraped by a real Prometheus and linted by promtool."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.parser import text_string_to_metric_families

import otel_ml
from otel_ml.instrumentation import Aggregator, SketchCollector
from otel_ml.sketch import Profile

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()  # type: ignore[no-any-return]


@pytest.fixture
def app() -> Iterator[tuple[str, Aggregator, MeterProvider]]:
    """A scrape endpoint: the SDK's Prometheus reader + our collector on one registry."""
    registry = CollectorRegistry()
    agg = Aggregator()
    mp = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    collector = SketchCollector(agg).register(registry)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{server.server_port}", agg, mp
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        collector.unregister()
        mp.shutdown()


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Any]:
    assert PROMETHEUS is not None, "the Debian package prometheus provides the binary"
    procs: list[subprocess.Popen[bytes]] = []

    def start(target: str) -> str:
        port = _free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text(
            "global:\n  scrape_interval: 1s\n"
            "scrape_configs:\n  - job_name: app\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        proc = subprocess.Popen(
            [
                str(PROMETHEUS),
                f"--config.file={cfg}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "prometheus.log").open("wb"),
        )
        procs.append(proc)
        return f"http://127.0.0.1:{port}"

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    body = json.loads(_get(url))
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def _wait_for(base: str, expr: str, want: float, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    last: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            last = _query(base, expr)
        except OSError:  # Prometheus still starting
            last = []
        if last and float(last[0]["value"][1]) == want:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{expr} never reached {want}: {last}")


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "income": rng.normal(0.0, 50.0, n),
            "age": rng.integers(18, 90, n).astype(float),
            "city": rng.choice(["paris", "lyon", "nice"], n),
        }
    )


def test_real_prometheus_scrapes_histograms_and_promtool_is_clean(
    app: tuple[str, Aggregator, MeterProvider], prometheus: Any
) -> None:
    target, agg, mp = app
    rng = np.random.default_rng(3)
    reference = Profile.from_data(_frame(rng, 1000))

    @otel_ml.monitor(
        model="credit", version="3", reference=reference, class_names=["no", "yes"],
        aggregator=agg, meter_provider=mp,
    )  # fmt: skip
    def predict(df: pd.DataFrame) -> np.ndarray:
        return np.column_stack([1 - df["age"] / 100, df["age"] / 100])

    @otel_ml.monitor(model="credit", version="3", aggregator=agg, meter_provider=mp)
    def broken(df: pd.DataFrame) -> np.ndarray:
        raise ValueError("bad row")

    df = _frame(rng, 500)
    df.loc[0, "city"] = "berlin"
    predict(df)
    with pytest.raises(ValueError, match="bad row"):
        broken(df.iloc[:1])

    text = _get(f"http://{target}/metrics")
    assert PROMTOOL is not None
    lint = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr

    families = {f.name: f for f in text_string_to_metric_families(text)}
    income = [s for s in families["ml_feature_values"].samples
              if s.labels.get("ml_feature_name") == "income"]  # fmt: skip
    buckets = [s for s in income if s.name.endswith("_bucket")]
    assert float(buckets[0].labels["le"]) < 0  # negative values are exposed
    assert len(buckets) <= 2 * 40 + 2
    counts = [s.value for s in buckets]
    assert counts == sorted(counts) and counts[-1] == 500.0
    (count,) = [s for s in income if s.name == "ml_feature_values_count"]
    assert count.value == 500.0
    assert "otel_ml_queue_size" in families  # the SDK's own reader shares the endpoint
    # error_type only on the failed call's duration series
    durations = {
        s.labels.get("error_type"): s.value
        for s in families["ml_predict_duration_seconds"].samples
        if s.name == "ml_predict_duration_seconds_count"
    }
    assert durations == {None: 1.0, "ValueError": 1.0}

    base = prometheus(target)
    _wait_for(base, 'ml_predict_rows_total{ml_model_name="credit"}', 500.0)
    _wait_for(base, 'ml_feature_categories_total{ml_feature_name="city",'
              'ml_feature_value="berlin"}', 1.0)  # fmt: skip
    _wait_for(base, 'ml_data_quality_issues_total{ml_data_quality_issue="unseen_category"}', 1.0)
    (median,) = _query(
        base, 'histogram_quantile(0.5, ml_feature_values_bucket{ml_feature_name="income"})'
    )
    lo, hi = np.quantile(df["income"], [0.35, 0.65])
    assert lo <= float(median["value"][1]) <= hi
    (p,) = _query(base, 'ml_prediction_values_count{ml_prediction_output="yes"}')
    assert float(p["value"][1]) == 500.0

    predict(df.iloc[:10])  # cumulative counters keep growing
    _wait_for(base, 'ml_predict_rows_total{ml_model_name="credit"}', 510.0)
    _wait_for(base, 'sum(ml_predict_duration_seconds_count{ml_model_name="credit"})', 3.0)
    (up,) = _query(base, 'up{job="app"}')
    assert up["value"][1] == "1"


_CONFIGURED_APP = """
import sys, urllib.request
import numpy as np
import otel_ml

cfg = otel_ml.configure(prometheus_port=0, metrics=True, traces=False, logs=False)
host, port = cfg.prometheus_address

@otel_ml.monitor(model="m", version="1")
def predict(x):
    return x.sum(axis=1)

predict(np.array([[1.0, -2.0], [3.0, 4.0]]))
url = f"http://{host}:{port}/metrics"
sys.stdout.write(urllib.request.urlopen(url, timeout=10).read().decode())
cfg.shutdown()
"""


def test_configure_serves_a_clean_prometheus_endpoint() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["OTEL_METRICS_EXPORTER"] = "none"  # only the scrape endpoint, no OTLP
    proc = subprocess.run(
        [sys.executable, "-c", _CONFIGURED_APP],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert (
        'ml_feature_values_count{ml_feature_name="f0",ml_model_name="m",ml_model_version="1"} 2.0'
        in text
    )
    assert "ml_predict_duration_seconds_bucket" in text and "target_info" in text
    assert PROMTOOL is not None
    lint = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr
