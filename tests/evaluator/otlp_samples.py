"""Real OTel SDK data for the receiver/decoder/temporality tests (not a test module).

Metrics come either from a real ``MeterProvider`` (exponential-histogram View) or as
hand-built SDK ``ExponentialHistogramDataPoint`` objects from a ``NumericSketch`` (the
way otel_ml's SDK bridge emits them: negative values included). Logs come from a real
``LoggerProvider`` emitting events with ``event_name`` inside a real span.
"""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Histogram,
    HistogramDataPoint,
    InMemoryMetricReader,
    Metric,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_ml import semconv
from otel_ml.evaluator._records import IngestBatch, SubmitResult
from otel_ml.sketch import NumericSketch, exponential_data_point

MODEL = {semconv.ML_MODEL_NAME: "churn", semconv.ML_MODEL_VERSION: "3"}
RESOURCE = Resource.create({"service.name": "scoring-api", "service.instance.id": "pod-1"})
SCOPE = InstrumentationScope("otel_ml", "0")
DELTA = AggregationTemporality.DELTA
CUMULATIVE = AggregationTemporality.CUMULATIVE
PREDICTION_EVENT = (
    semconv.EVENT_PREDICTION,
    {
        **MODEL,
        semconv.ML_PREDICTION_IDS: ["r1", "r2"],
        semconv.ML_PREDICTION_VALUES: [0.25, 0.75],
        semconv.ML_PREDICTION_LABELS: ["no", "yes"],
    },
)


class RecordingSink:
    """An IngestSink that keeps every batch; refuses the first ``refuse`` submits."""

    def __init__(self, refuse: int = 0, retry_after: float = 0.2) -> None:
        self.batches: list[IngestBatch] = []
        self.submitted_ids: list[str] = []  # every submit, refused ones included
        self.refused = 0
        self._refuse = refuse
        self._retry_after = retry_after
        self._lock = threading.Lock()

    def submit(self, batch: IngestBatch) -> SubmitResult:
        with self._lock:
            self.submitted_ids.append(batch.batch_id)
            if self.refused < self._refuse:
                self.refused += 1
                return SubmitResult.overloaded(self._retry_after)
            self.batches.append(batch)
            return SubmitResult.ok()

    def histograms(self) -> list[Any]:
        return [p for b in self.batches for p in b.histograms]

    def counters(self) -> list[Any]:
        return [p for b in self.batches for p in b.counters]

    def predictions(self) -> list[Any]:
        return [e for b in self.batches for e in b.predictions]

    def outcomes(self) -> list[Any]:
        return [e for b in self.batches for e in b.outcomes]


class BlockingSink:
    """An IngestSink that holds every submit until ``release`` is set (10 s at most)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.submits = 0

    def submit(self, batch: IngestBatch) -> SubmitResult:
        self.submits += 1
        self.entered.set()
        self.release.wait(10)
        return SubmitResult.ok()


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A throw-away certificate and key for ``localhost`` / ``127.0.0.1`` (openssl)."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def sketch_point(
    values: Sequence[float],
    feature: str,
    *,
    start: int = 1_000,
    time: int = 2_000,
    max_size: int = 160,
) -> ExponentialHistogramDataPoint:
    """An SDK exponential point built from a NumericSketch (as otel_ml's bridge does)."""
    s = NumericSketch(max_size=max_size)
    s.update(list(values))
    return exponential_data_point(s, {**MODEL, semconv.ML_FEATURE_NAME: feature}, start, time)


def metrics_data(metrics: Sequence[Metric], resource: Resource = RESOURCE) -> MetricsData:
    return MetricsData([ResourceMetrics(resource, [ScopeMetrics(SCOPE, list(metrics), "")], "")])


def exp_metric(
    points: Sequence[ExponentialHistogramDataPoint],
    temporality: AggregationTemporality = DELTA,
    name: str = semconv.METRIC_FEATURE_VALUES,
) -> Metric:
    return Metric(name, "", "1", ExponentialHistogram(list(points), temporality))


def sum_metric(
    value: float,
    *,
    start: int = 1_000,
    time: int = 2_000,
    temporality: AggregationTemporality = DELTA,
    name: str = semconv.METRIC_PREDICT_CALLS,
    attributes: dict[str, Any] | None = None,
    monotonic: bool = True,
) -> Metric:
    attrs = attributes if attributes is not None else dict(MODEL)
    point = NumberDataPoint(attrs, start, time, value)
    return Metric(name, "", "{call}", Sum([point], temporality, monotonic))


def explicit_metric(
    counts: Sequence[int],
    bounds: Sequence[float],
    *,
    total: float,
    temporality: AggregationTemporality = DELTA,
) -> Metric:
    point = HistogramDataPoint(
        dict(MODEL), 1_000, 2_000, sum(counts), total, list(counts), list(bounds), 0.001, 9.0
    )
    return Metric(semconv.METRIC_PREDICT_DURATION, "", "s", Histogram([point], temporality))


def sdk_exponential_metrics(values: Sequence[float], feature: str = "age") -> MetricsData:
    """Record ``values`` on a real SDK histogram aggregated as an exponential histogram."""
    reader = InMemoryMetricReader(preferred_temporality={HistogramInstrument: DELTA})
    provider = MeterProvider(
        resource=RESOURCE,
        metric_readers=[reader],
        views=[
            View(
                instrument_name=semconv.METRIC_FEATURE_VALUES,
                aggregation=ExponentialBucketHistogramAggregation(max_size=160),
            )
        ],
    )
    hist = provider.get_meter("otel_ml").create_histogram(semconv.METRIC_FEATURE_VALUES)
    for v in values:
        hist.record(v, {**MODEL, semconv.ML_FEATURE_NAME: feature})
    data = reader.get_metrics_data()
    provider.shutdown()
    assert data is not None
    return data


def emit_events(
    logger_provider: LoggerProvider,
    events: Sequence[tuple[str, dict[str, Any]]],
) -> list[tuple[str, str]]:
    """Emit (event_name, attributes) log events inside real spans; return (trace, span) hex ids."""
    tracer = TracerProvider().get_tracer("test")
    logger = logger_provider.get_logger("otel_ml")
    ids: list[tuple[str, str]] = []
    for name, attrs in events:
        with tracer.start_as_current_span("predict") as span:
            logger.emit(event_name=name, attributes=attrs)
            ctx = span.get_span_context()
            ids.append((f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"))
    return ids


def sdk_log_records(events: Sequence[tuple[str, dict[str, Any]]]) -> tuple[Any, list[Any]]:
    """Real SDK log records for the events; returns (records, [(trace, span) hex])."""
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    ids = emit_events(provider, events)
    provider.shutdown()
    return exporter.get_finished_logs(), ids


def logs_request(events: Sequence[tuple[str, dict[str, Any]]]) -> tuple[Any, list[Any]]:
    records, ids = sdk_log_records(events)
    return encode_logs(records), ids


def metrics_request(data: MetricsData) -> Any:
    return encode_metrics(data)


def to_otlp_json(message: Any) -> dict[str, Any]:
    """Encode a protobuf request as OTLP/JSON per the spec: lowerCamelCase keys,
    hex trace/span ids, enums as integers, 64-bit integers as decimal strings."""
    from google.protobuf import json_format

    tree = json_format.MessageToDict(message, use_integers_for_enums=True)

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("traceId", "spanId", "parentSpanId") and isinstance(v, str):
                    node[k] = base64.b64decode(v).hex()
                else:
                    fix(v)
        elif isinstance(node, list):
            for item in node:
                fix(item)
        return node

    return fix(tree)  # type: ignore[no-any-return]
