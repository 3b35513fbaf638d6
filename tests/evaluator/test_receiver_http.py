"""OTLP/HTTP receiver driven by the real OTel SDK OTLP/HTTP exporters over loopback."""

from __future__ import annotations

import gzip
import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from otlp_samples import (
    MODEL,
    PREDICTION_EVENT,
    BlockingSink,
    RecordingSink,
    emit_events,
    exp_metric,
    metrics_data,
    metrics_request,
    sdk_exponential_metrics,
    self_signed,
    sketch_point,
    sum_metric,
)

from otel_ml import semconv
from otel_ml.evaluator._auth import BearerAuth, Secret, TlsOptions
from otel_ml.evaluator._otlp_http import OtlpHttpServer
from otel_ml.evaluator._records import Temporality
from otel_ml.sketch import NumericSketch


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def server(sink: RecordingSink) -> Iterator[OtlpHttpServer]:
    with OtlpHttpServer(sink, "127.0.0.1", 0) as srv:
        yield srv


def _post(
    srv: OtlpHttpServer, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        hdrs = {"Content-Type": "application/x-protobuf", **(headers or {})}
        conn.request("POST", path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_metric_exporter_protobuf_and_gzip(server: OtlpHttpServer, sink: RecordingSink) -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(10, 3, 1000)
    data = metrics_data([exp_metric([sketch_point(values, "age")]), sum_metric(1000)])
    for compression in (Compression.NoCompression, Compression.Gzip):
        exporter = OTLPMetricExporter(
            endpoint=f"{server.url}/v1/metrics", compression=compression
        )
        assert exporter.export(data) is MetricExportResult.SUCCESS
        exporter.shutdown()
    assert len(sink.batches) == 2
    hist, again = sink.histograms()
    assert hist == again  # gzip changed nothing
    expected = NumericSketch(max_size=160)
    expected.update(values)
    assert hist.buckets == expected.to_exponential()
    assert (hist.model, hist.version, hist.feature) == ("churn", "3", "age")
    assert [c.value for c in sink.counters()] == [1000.0, 1000.0]


def test_sdk_exponential_histogram_through_a_periodic_pipeline(
    server: OtlpHttpServer, sink: RecordingSink
) -> None:
    exporter = OTLPMetricExporter(endpoint=f"{server.url}/v1/metrics")
    values = np.arange(1, 501, dtype=float)
    assert exporter.export(sdk_exponential_metrics(values)) is MetricExportResult.SUCCESS
    (p,) = sink.histograms()
    assert p.temporality is Temporality.DELTA
    assert (p.buckets.count, p.buckets.sum, p.buckets.min, p.buckets.max) == (500, 125250.0, 1, 500)


def test_log_exporter_delivers_prediction_and_outcome_events(
    server: OtlpHttpServer, sink: RecordingSink
) -> None:
    provider = LoggerProvider()
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{server.url}/v1/logs"))
    )
    outcome = {semconv.ML_MODEL_NAME: "churn", semconv.ML_PREDICTION_IDS: ["r1"],
               semconv.ML_OUTCOME_VALUES: ["yes"]}
    span_ids = emit_events(provider, [PREDICTION_EVENT, (semconv.EVENT_OUTCOME, outcome)])
    provider.shutdown()
    (pred,) = sink.predictions()
    assert pred.ids == ("r1", "r2") and pred.values == (0.25, 0.75)
    assert (pred.trace_id, pred.span_id) == span_ids[0]
    (out,) = sink.outcomes()
    assert out.ids == ("r1",) and out.actuals == ("yes",)


def test_exporter_retries_after_503_with_retry_after(server: OtlpHttpServer) -> None:
    sink = RecordingSink(refuse=1, retry_after=2.2)  # header says 3 s
    server.receiver.sink = sink
    exporter = OTLPMetricExporter(endpoint=f"{server.url}/v1/metrics", timeout=20)
    start = time.monotonic()
    assert exporter.export(metrics_data([sum_metric(5)])) is MetricExportResult.SUCCESS
    elapsed = time.monotonic() - start
    assert sink.refused == 1 and len(sink.batches) == 1
    # the retry carried the same body: same idempotency key
    assert sink.submitted_ids[0] == sink.submitted_ids[1] == sink.batches[0].batch_id
    assert elapsed >= 2.9  # the Retry-After, not the SDK's 1 s first backoff


def test_overload_and_partial_success_responses(server: OtlpHttpServer) -> None:
    server.receiver.sink = RecordingSink(refuse=1, retry_after=2.0)
    body = metrics_request(metrics_data([sum_metric(5)])).SerializeToString()
    status, headers, payload = _post(server, "/v1/metrics", body)
    assert (status, headers["retry-after"]) == (503, "2")
    st = status_pb2.Status.FromString(payload)
    assert st.code == code_pb2.UNAVAILABLE
    info = error_details_pb2.RetryInfo()
    assert st.details[0].Unpack(info) and info.retry_delay.seconds == 2

    bad = sketch_point([1.0, 2.0], "f")
    request = metrics_request(metrics_data([exp_metric([bad, sketch_point([3.0], "g")])]))
    request.resource_metrics[0].scope_metrics[0].metrics[0].exponential_histogram.data_points[
        0
    ].count = 7
    status, headers, payload = _post(server, "/v1/metrics", request.SerializeToString())
    assert status == 200 and headers["content-type"] == "application/x-protobuf"
    response = ExportMetricsServiceResponse.FromString(payload)
    assert response.partial_success.rejected_data_points == 1
    assert "bucket counts do not add up" in response.partial_success.error_message

    # the same in OTLP/JSON: the answer is JSON too
    from otlp_samples import to_otlp_json

    body_json = json.dumps(to_otlp_json(request)).encode()
    status, headers, payload = _post(
        server, "/v1/metrics", body_json, {"Content-Type": "application/json"}
    )
    assert status == 200 and headers["content-type"] == "application/json"
    answer = json.loads(payload)
    assert answer["partialSuccess"]["rejectedDataPoints"] in ("1", 1)


def test_protocol_errors(server: OtlpHttpServer) -> None:
    status, _, payload = _post(server, "/v1/metrics", b"\x0a\xff\xff\xff")
    assert status == 400
    assert status_pb2.Status.FromString(payload).code == code_pb2.INVALID_ARGUMENT
    status, headers, payload = _post(
        server, "/v1/logs", b"{not json", {"Content-Type": "application/json"}
    )
    assert status == 400 and headers["content-type"] == "application/json"
    assert json_format.Parse(payload, status_pb2.Status()).code == code_pb2.INVALID_ARGUMENT
    assert _post(server, "/v1/profiles", b"")[0] == 404
    assert _post(server, "/v1/metrics", b"", {"Content-Type": "text/plain"})[0] == 415
    assert _post(server, "/v1/metrics", b"xx", {"Content-Encoding": "gzip"})[0] == 400
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/v1/metrics")
    assert conn.getresponse().status == 405
    conn.close()


def test_body_limits(sink: RecordingSink) -> None:
    with OtlpHttpServer(sink, "127.0.0.1", 0, max_body_bytes=4096) as srv:
        # declared length over the limit: refused before reading
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.putrequest("POST", "/v1/metrics")
        conn.putheader("Content-Type", "application/x-protobuf")
        conn.putheader("Content-Length", str(1 << 40))
        conn.endheaders()
        assert conn.getresponse().status == 413
        conn.close()
        # small on the wire, too large once decompressed
        big = metrics_request(metrics_data([sum_metric(float(i)) for i in range(300)]))
        raw = big.SerializeToString()
        assert len(raw) > 4096 and len(gzip.compress(raw)) < 4096
        status, _, _ = _post(srv, "/v1/metrics", gzip.compress(raw), {"Content-Encoding": "gzip"})
        assert status == 413
        assert sink.batches == []
        small = metrics_request(metrics_data([sum_metric(1.0)])).SerializeToString()
        assert _post(srv, "/v1/metrics", small)[0] == 200


def test_traces_are_accepted_and_counted_not_stored(sink: RecordingSink) -> None:
    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter(semconv.EVALUATOR_SCOPE_NAME)
    with OtlpHttpServer(sink, "127.0.0.1", 0, meter=meter) as srv:
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{srv.url}/v1/traces"))
        )
        with tracer_provider.get_tracer("t").start_as_current_span("a"):
            pass
        tracer_provider.shutdown()
        exporter = OTLPMetricExporter(endpoint=f"{srv.url}/v1/metrics")
        data = metrics_data([sum_metric(2), sum_metric(2, name="http.requests"),
                             sum_metric(-1, name=semconv.METRIC_PREDICT_ROWS)])
        assert exporter.export(data) is MetricExportResult.SUCCESS
        _post(srv, "/v1/logs", b"\xff")
    assert sink.batches and all(b.signal.value == "metrics" for b in sink.batches)
    counts = _metric_points(reader)
    sig, out = semconv.OTLP_SIGNAL, semconv.OUTCOME
    assert counts[(semconv.METRIC_EVAL_POINTS_IGNORED, ((sig, "traces"),))] == 1
    assert counts[(semconv.METRIC_EVAL_POINTS_IGNORED, ((sig, "metrics"),))] == 1
    assert counts[(semconv.METRIC_EVAL_POINTS_RECEIVED, ((sig, "metrics"),))] == 3
    rejected = ((semconv.OTEL_ML_REASON, "negative value in a monotonic sum"), (sig, "metrics"))
    assert counts[(semconv.METRIC_EVAL_POINTS_REJECTED, rejected)] == 1
    assert counts[(semconv.METRIC_EVAL_REQUESTS, ((out, "accepted"), (sig, "traces")))] == 1
    key = (semconv.METRIC_EVAL_REQUESTS,
           ((semconv.ERROR_TYPE, "invalid"), (out, "rejected"), (sig, "logs")))
    assert counts[key] == 1


def _metric_points(reader: InMemoryMetricReader) -> dict[tuple[str, Any], float]:
    data = reader.get_metrics_data()
    assert data is not None
    out: dict[tuple[str, Any], float] = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                for p in m.data.data_points:  # type: ignore[union-attr]
                    out[(m.name, tuple(sorted(p.attributes.items())))] = p.value  # type: ignore[union-attr]
    return out


def test_bearer_token(sink: RecordingSink) -> None:
    auth = BearerAuth([Secret("tok-1"), Secret("tok-2")])
    with OtlpHttpServer(sink, "127.0.0.1", 0, auth=auth) as srv:
        data = metrics_data([sum_metric(1)])
        denied = OTLPMetricExporter(endpoint=f"{srv.url}/v1/metrics")
        assert denied.export(data) is MetricExportResult.FAILURE
        wrong = OTLPMetricExporter(
            endpoint=f"{srv.url}/v1/metrics", headers={"Authorization": "Bearer tok-3"}
        )
        assert wrong.export(data) is MetricExportResult.FAILURE
        assert sink.batches == []
        ok = OTLPMetricExporter(
            endpoint=f"{srv.url}/v1/metrics", headers={"Authorization": "Bearer tok-2"}
        )
        assert ok.export(data) is MetricExportResult.SUCCESS
        assert len(sink.batches) == 1
        status, headers, _ = _post(srv, "/v1/metrics", b"")
        assert status == 401 and headers["www-authenticate"].startswith("Bearer")


def test_too_many_concurrent_requests_get_429() -> None:
    sink = BlockingSink()
    body = metrics_request(metrics_data([sum_metric(1)])).SerializeToString()
    with OtlpHttpServer(sink, "127.0.0.1", 0, max_concurrent_requests=1) as srv:
        first: list[object] = []

        def send_first() -> None:
            try:
                first.append(_post(srv, "/v1/metrics", body)[0])
            except OSError as exc:  # reported below, not as a thread warning
                first.append(exc)

        t = threading.Thread(target=send_first)
        t.start()
        assert sink.entered.wait(10)
        status, headers, _ = _post(srv, "/v1/metrics", body)
        assert status == 429 and headers["retry-after"] == "1"
        # the real exporter, refused with 429 while the slot is held, retries after 1 s
        refused = threading.Event()
        refuse = srv.receiver.refuse

        def refuse_and_tell(*args: Any) -> Any:
            refused.set()
            return refuse(*args)

        srv.receiver.refuse = refuse_and_tell  # type: ignore[method-assign]
        threading.Thread(target=lambda: refused.wait(10) and sink.release.set()).start()
        exporter = OTLPMetricExporter(endpoint=f"{srv.url}/v1/metrics")
        start = time.monotonic()
        assert exporter.export(metrics_data([sum_metric(1)])) is MetricExportResult.SUCCESS
        assert time.monotonic() - start >= 0.9
        t.join(10)
        assert first == [200]
        assert sink.submits == 2  # the held request and the exporter's retry


def test_tls(tmp_path: Path, sink: RecordingSink, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the exporter's own
    # certificate_file (psf/requests#3829): clear them so certificate_file is used.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    cert, key = self_signed(tmp_path)
    with OtlpHttpServer(sink, "127.0.0.1", 0, tls=TlsOptions(cert, key)) as srv:
        assert srv.url.startswith("https://")
        exporter = OTLPMetricExporter(endpoint=f"{srv.url}/v1/metrics", certificate_file=str(cert))
        assert exporter.export(metrics_data([sum_metric(4)])) is MetricExportResult.SUCCESS
        assert [c.value for c in sink.counters()] == [4.0]
        # plain HTTP against the TLS port is refused without harming the server
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            _post(srv, "/v1/metrics", b"")
        assert exporter.export(metrics_data([sum_metric(5)])) is MetricExportResult.SUCCESS


def test_model_attributes_survive(server: OtlpHttpServer, sink: RecordingSink) -> None:
    exporter = OTLPMetricExporter(endpoint=f"{server.url}/v1/metrics")
    attrs = {**MODEL, semconv.ERROR_TYPE: "ValueError"}
    data = metrics_data([sum_metric(2, name=semconv.METRIC_PREDICT_ERRORS, attributes=attrs)])
    assert exporter.export(data) is MetricExportResult.SUCCESS
    (c,) = sink.counters()
    assert dict(c.attributes)[semconv.ERROR_TYPE] == "ValueError"
