"""The export bridge through the real OTLP exporters (HTTP and gRPC) to a loopback receiver."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import pandas as pd
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sdk_otlp_receiver import Received, grpc_receiver, http_receiver, number

import otel_ml
from otel_ml import semconv
from otel_ml.instrumentation import DURATION_BOUNDS, Aggregator, SketchMetricExporter, flush
from otel_ml.sketch import CategoricalSketch, NumericSketch, Profile

DELTA = 1  # AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA in the proto


def _exporters(protocol: str, url: str) -> tuple[Any, Any, Any]:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return (
            OTLPSpanExporter(endpoint=url, insecure=True),
            OTLPMetricExporter(endpoint=url, insecure=True),
            OTLPLogExporter(endpoint=url, insecure=True),
        )
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HLog
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HMet
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HSpan

    return (
        HSpan(endpoint=f"{url}/v1/traces"),
        HMet(endpoint=f"{url}/v1/metrics"),
        HLog(endpoint=f"{url}/v1/logs"),
    )


def _receiver(protocol: str) -> AbstractContextManager[tuple[str, Received]]:
    return grpc_receiver() if protocol == "grpc" else http_receiver()


@pytest.fixture(params=["http/protobuf", "grpc"])
def protocol(request: pytest.FixtureRequest) -> Iterator[str]:
    yield request.param


def _frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "app_id": [f"a{i}" for i in range(n)],
            "income": rng.normal(0.0, 50.0, n),  # negative values too
            "age": rng.integers(18, 90, n).astype(float),
            "city": rng.choice(["paris", "lyon", "nice"], n),
        }
    )


def test_bridge_sends_real_histograms_counters_and_events(protocol: str) -> None:
    rng = np.random.default_rng(7)
    reference = Profile.from_data(_frame(rng, 2000).drop(columns=["app_id"]))
    df = _frame(rng, 500)
    df.loc[3, "income"] = np.nan
    df.loc[4, "city"] = "berlin"  # unseen category
    df.loc[5, "age"] = 150.0  # out of the reference range
    proba = rng.random((500, 2))

    with _receiver(protocol) as (url, received):
        span_exp, metric_exp, log_exp = _exporters(protocol, url)
        resource = Resource.create({"service.name": "scoring", "service.instance.id": "pod-1"})
        agg = Aggregator()
        reader = PeriodicExportingMetricReader(
            SketchMetricExporter(metric_exp, aggregator=agg), export_interval_millis=3_600_000
        )
        mp = MeterProvider(metric_readers=[reader], resource=resource)
        tp = TracerProvider(resource=resource)
        tp.add_span_processor(SimpleSpanProcessor(span_exp))
        lp = LoggerProvider(resource=resource)
        lp.add_log_record_processor(SimpleLogRecordProcessor(log_exp))

        try:

            @otel_ml.monitor(
                model="credit",
                version="3",
                reference=reference,
                id_column="app_id",
                class_names=["no", "yes"],
                aggregator=agg,
                tracer_provider=tp,
                logger_provider=lp,
                meter_provider=mp,
            )
            def predict(frame: pd.DataFrame) -> np.ndarray:
                return proba

            assert predict(df) is proba
            flush()
            mp.force_flush()

            # Feature histograms: exactly the sketch of the raw column, as an OTLP point.
            points = {
                a[semconv.ML_FEATURE_NAME]: (m, p)
                for m, a, p in received.metric_points(semconv.METRIC_FEATURE_VALUES)
            }
            # the reference's multivariate model adds the rows' reconstruction errors
            assert set(points) == {"income", "age", semconv.MULTIVARIATE_ERROR_FEATURE}
            assert reference.multivariate is not None
            errors = reference.multivariate.error_sketch(
                {"income": df["income"].to_numpy(), "age": df["age"].to_numpy()}
            ).to_exponential()
            _, mv = points[semconv.MULTIVARIATE_ERROR_FEATURE]
            assert (mv.scale, mv.count, tuple(mv.positive.bucket_counts)) == (
                errors.scale, 500, errors.positive_counts
            )
            metric, p = points["income"]
            assert metric.exponential_histogram.aggregation_temporality == DELTA
            expected = NumericSketch()
            expected.update(df["income"].to_numpy())
            e = expected.to_exponential()
            assert (p.scale, p.count, p.zero_count) == (e.scale, e.count, e.zero_count)
            assert (p.positive.offset, tuple(p.positive.bucket_counts)) == (
                e.positive_offset,
                e.positive_counts,
            )
            assert (p.negative.offset, tuple(p.negative.bucket_counts)) == (
                e.negative_offset,
                e.negative_counts,
            )
            assert p.count == 499 and p.min == e.min and p.max == e.max
            assert p.sum == pytest.approx(e.sum)
            _, attrs, _ = received.metric_points(semconv.METRIC_FEATURE_VALUES)[0]
            assert (
                attrs[semconv.ML_MODEL_NAME] == "credit" and attrs[semconv.ML_MODEL_VERSION] == "3"
            )

            # Prediction distributions, one per probability column.
            outs = {
                a[semconv.ML_PREDICTION_OUTPUT]: p
                for _, a, p in received.metric_points(semconv.METRIC_PREDICTION_VALUES)
            }
            assert set(outs) == {"no", "yes"} and outs["yes"].count == 500

            def sums(name: str, key: str | None = None) -> dict[Any, int]:
                return {
                    (a.get(key) if key else None): number(p)
                    for m, a, p in received.metric_points(name)
                    if m.sum.aggregation_temporality == DELTA
                }

            assert sums(semconv.METRIC_PREDICT_CALLS) == {None: 1}
            assert sums(semconv.METRIC_PREDICT_ROWS) == {None: 500}
            cats = sums(semconv.METRIC_FEATURE_CATEGORIES, semconv.ML_FEATURE_VALUE)
            expected_cats = CategoricalSketch()
            expected_cats.update(df["city"].to_numpy())
            assert cats == expected_cats.counts
            classes = sums(semconv.METRIC_PREDICTION_CLASSES, semconv.ML_PREDICTION_CLASS)
            n_yes = int(np.count_nonzero(proba[:, 1] > proba[:, 0]))
            assert classes == {"yes": n_yes, "no": 500 - n_yes}
            issues = {
                (a.get(semconv.ML_FEATURE_NAME), a[semconv.ML_DATA_QUALITY_ISSUE]): number(p)
                for _, a, p in received.metric_points(semconv.METRIC_DATA_QUALITY_ISSUES)
            }
            assert issues[("income", semconv.QUALITY_MISSING)] == 1
            assert issues[("city", semconv.QUALITY_UNSEEN_CATEGORY)] == 1
            assert issues[("age", semconv.QUALITY_OUT_OF_RANGE)] >= 1
            ((_, _, dur),) = received.metric_points(semconv.METRIC_PREDICT_DURATION)
            assert dur.count == 1 and list(dur.explicit_bounds) == list(DURATION_BOUNDS)

            # The span and the prediction event, linked.
            ((res, span),) = received.spans()
            assert span.name == "predict credit"
            assert res["service.name"] == "scoring" and res["service.instance.id"] == "pod-1"
            # One call: its rows in batched records (8 KiB each), each part naming the span.
            (ev,) = received.prediction_calls()
            assert ev["trace_id"] == int.from_bytes(span.trace_id, "big")
            assert ev["span_id"] == int.from_bytes(span.span_id, "big")
            assert ev[semconv.ML_PREDICTION_IDS] == list(df["app_id"])
            assert ev[semconv.ML_PREDICTION_VALUES] == pytest.approx(proba[:, 1].tolist())
            assert ev[semconv.ML_PREDICTION_LABELS][:3] == [
                "yes" if a[1] > a[0] else "no" for a in proba[:3]
            ]
            assert "income" not in str(ev)  # no raw feature values without opt-in

            # DELTA: the next export carries only what happened since.
            n_requests = len(received.metrics)
            predict(df.iloc[:10])
            flush()
            mp.force_flush()
            new = [number(p) for m, a, p in received.metric_points(semconv.METRIC_PREDICT_ROWS)]
            assert len(received.metrics) > n_requests and new == [500, 10]

            otel_ml.record_outcome(
                model="credit", ids=["a1", "a2"], actuals=[1, 0], logger_provider=lp
            )
            ((_, _, outcome),) = received.log_records(semconv.EVENT_OUTCOME)
            assert outcome[semconv.ML_PREDICTION_IDS] == ["a1", "a2"]
            assert outcome[semconv.ML_OUTCOME_VALUES] == ["1", "0"]
        finally:
            tp.shutdown()
            lp.shutdown()
            mp.shutdown()


_APP = textwrap.dedent(
    """
    import numpy as np
    import otel_ml
    from opentelemetry import trace

    own = None
    if {own_tracer}:
        from opentelemetry.sdk.trace import TracerProvider
        own = TracerProvider()
        trace.set_tracer_provider(own)
    cfg = otel_ml.configure()
    assert otel_ml.configure() is cfg  # idempotent
    if own is not None:
        assert cfg.tracer_provider is None and trace.get_tracer_provider() is own

    @otel_ml.monitor(model="m", version="1")
    def predict(x):
        return x.sum(axis=1)

    for _ in range(3):
        predict(np.array([[1.0, -2.0], [3.0, 4.0]]))
    print(cfg.protocol)
    # no explicit shutdown: configure() flushes at interpreter exit
    """
)


def _run_app(protocol: str, url: str, *, own_tracer: bool = False) -> str:
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_ENDPOINT": url,
        "OTEL_SERVICE_NAME": "svc",
        "OTEL_RESOURCE_ATTRIBUTES": "service.instance.id=i-1,deployment.environment=test",
        "OTEL_METRIC_EXPORT_INTERVAL": "600000",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=blue",
    }
    proc = subprocess.run(
        [sys.executable, "-c", _APP.format(own_tracer=own_tracer)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_configure_from_environment_exports_at_exit(protocol: str) -> None:
    with _receiver(protocol) as (url, received):
        assert _run_app(protocol, url) == protocol
        res_attrs = [res for res, _ in received.spans()]
        assert len(res_attrs) == 3
        assert res_attrs[0]["service.name"] == "svc"
        assert res_attrs[0]["service.instance.id"] == "i-1"
        feats = {
            a[semconv.ML_FEATURE_NAME]: p.count
            for _, a, p in received.metric_points(semconv.METRIC_FEATURE_VALUES)
        }
        assert feats == {"f0": 6, "f1": 6}
        assert (
            sum(number(p) for _, _, p in received.metric_points(semconv.METRIC_PREDICT_ROWS)) == 6
        )
        assert len(received.prediction_calls()) == 3
        assert received.headers and all(h.get("x-tenant") == "blue" for h in received.headers)


def test_configure_keeps_the_applications_provider() -> None:
    with http_receiver() as (url, received):
        _run_app("http/protobuf", url, own_tracer=True)
        assert received.spans() == []  # the app's own provider had no exporter
        assert len(received.prediction_calls()) == 3
        assert received.metric_points(semconv.METRIC_FEATURE_VALUES)


def test_failed_calls_carry_error_type_on_their_duration() -> None:
    """ml.predict.duration has error.type on failed calls only (as the OTel conventions do),
    bounded like the error counter; the points add up to every call."""
    from otel_ml.instrumentation._aggregator import Delta
    from otel_ml.instrumentation._otlp_bridge import delta_to_metrics
    from otel_ml.instrumentation._window import MAX_ERROR_TYPES, ModelKey, ModelWindow

    w = ModelWindow()
    for seconds in (0.001, 0.002, 0.003):
        w.add_call(seconds, rows=1, error_type=None)
    w.add_call(0.5, rows=0, error_type="ValueError")
    w.add_call(0.25, rows=0, error_type="ValueError")
    for i in range(MAX_ERROR_TYPES + 3):  # past the bound: folded into one overflow type
        w.add_call(0.1, rows=0, error_type=f"Error{i}")
    (duration,) = [
        m for m in delta_to_metrics(Delta(0, 1, {ModelKey("m", "1"): w}))
        if m.name == semconv.METRIC_PREDICT_DURATION
    ]
    by_type = {p.attributes.get(semconv.ERROR_TYPE): p for p in duration.data.data_points}
    assert by_type[None].count == 3 and by_type[None].sum == pytest.approx(0.006)
    assert by_type["ValueError"].count == 2 and by_type["ValueError"].max == 0.5
    assert len(by_type) == 1 + MAX_ERROR_TYPES + 1  # success, the bound, the overflow
    assert by_type[semconv.OVERFLOW_CATEGORY].count == 4
    assert sum(p.count for p in by_type.values()) == w.calls
    errors = {e: n for e, n in w.errors.items()}
    assert {k: p.count for k, p in by_type.items() if k is not None} == errors
