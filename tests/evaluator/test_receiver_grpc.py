"""OTLP/gRPC receiver driven by the real OTel SDK OTLP/gRPC exporters over loopback."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics.export import MetricExportResult
from otlp_samples import (
    PREDICTION_EVENT,
    BlockingSink,
    RecordingSink,
    emit_events,
    exp_metric,
    metrics_data,
    metrics_request,
    self_signed,
    sketch_point,
    sum_metric,
)

from otel_ml import semconv
from otel_ml.evaluator._auth import BearerAuth, Secret, TlsOptions
from otel_ml.evaluator._otlp_grpc import SERVICE_NAMES, OtlpGrpcServer
from otel_ml.evaluator._records import Signal
from otel_ml.sketch import NumericSketch


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def server(sink: RecordingSink) -> Iterator[OtlpGrpcServer]:
    with OtlpGrpcServer(sink, "127.0.0.1", 0) as srv:
        yield srv


def _raw_export(
    srv: OtlpGrpcServer,
    signal: Signal,
    body: bytes,
    metadata: tuple[tuple[str, str], ...] = (),
    compression: grpc.Compression = grpc.Compression.NoCompression,
) -> bytes:
    with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as channel:
        call = channel.unary_unary(f"/{SERVICE_NAMES[signal]}/Export")
        return call(  # type: ignore[no-any-return]
            body, timeout=10, metadata=metadata, compression=compression
        )


def _exporter(srv: OtlpGrpcServer, **kw: object) -> OTLPMetricExporter:
    return OTLPMetricExporter(endpoint=f"127.0.0.1:{srv.port}", insecure=True, **kw)  # type: ignore[arg-type]


def test_metric_exporter_with_and_without_gzip(server: OtlpGrpcServer, sink: RecordingSink) -> None:
    values = np.random.default_rng(4).exponential(2.0, 800)
    data = metrics_data([exp_metric([sketch_point(values, "x")]), sum_metric(800)])
    for compression in (grpc.Compression.NoCompression, grpc.Compression.Gzip):
        exporter = _exporter(server, compression=compression)
        assert exporter.export(data) is MetricExportResult.SUCCESS
        exporter.shutdown()
    expected = NumericSketch(max_size=160)
    expected.update(values)
    assert [h.buckets for h in sink.histograms()] == [expected.to_exponential()] * 2
    assert [c.value for c in sink.counters()] == [800.0, 800.0]


def test_log_exporter_delivers_events(server: OtlpGrpcServer, sink: RecordingSink) -> None:
    provider = LoggerProvider()
    exporter = OTLPLogExporter(endpoint=f"127.0.0.1:{server.port}", insecure=True)
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    outcome = {semconv.ML_MODEL_NAME: "churn", semconv.ML_PREDICTION_IDS: ["r2"],
               semconv.ML_OUTCOME_VALUES: [1.5]}
    span_ids = emit_events(provider, [PREDICTION_EVENT, (semconv.EVENT_OUTCOME, outcome)])
    provider.shutdown()
    (pred,) = sink.predictions()
    assert (pred.trace_id, pred.span_id) == span_ids[0]
    assert pred.labels == ("no", "yes")
    (out,) = sink.outcomes()
    assert out.actuals == (1.5,)


def test_exporter_retries_after_unavailable_with_retry_info(server: OtlpGrpcServer) -> None:
    sink = RecordingSink(refuse=1, retry_after=2.5)
    server.receiver.sink = sink
    exporter = _exporter(server, timeout=20)
    start = time.monotonic()
    assert exporter.export(metrics_data([sum_metric(9)])) is MetricExportResult.SUCCESS
    elapsed = time.monotonic() - start
    assert sink.refused == 1 and len(sink.batches) == 1
    assert sink.submitted_ids[0] == sink.submitted_ids[1]
    assert elapsed >= 2.4  # RetryInfo's delay, not the SDK's ~1 s first backoff
    exporter.shutdown()


def test_status_codes_and_partial_success(server: OtlpGrpcServer) -> None:
    with pytest.raises(grpc.RpcError) as err:
        _raw_export(server, Signal.METRICS, b"\x0a\xff\xff\xff")
    assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT

    request = metrics_request(metrics_data([exp_metric([sketch_point([1.0], "a")])]))
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].exponential_histogram
    point.data_points[0].scale = 40
    response = ExportMetricsServiceResponse.FromString(
        _raw_export(server, Signal.METRICS, request.SerializeToString())
    )
    assert response.partial_success.rejected_data_points == 1
    assert "scale" in response.partial_success.error_message

    server.receiver.sink = RecordingSink(refuse=1, retry_after=1.5)
    with pytest.raises(grpc.RpcError) as err:
        _raw_export(server, Signal.METRICS, metrics_request(metrics_data([sum_metric(1)]))
                    .SerializeToString())
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE
    trailing = dict(err.value.trailing_metadata())
    info = error_details_pb2.RetryInfo.FromString(trailing["google.rpc.retryinfo-bin"])
    assert (info.retry_delay.seconds, info.retry_delay.nanos) == (1, 500_000_000)
    status = status_pb2.Status.FromString(trailing["grpc-status-details-bin"])
    assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert status.details[0].Unpack(error_details_pb2.RetryInfo())


def test_traces_accepted_without_touching_the_sink(
    server: OtlpGrpcServer, sink: RecordingSink
) -> None:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"127.0.0.1:{server.port}", insecure=True))
    )
    with provider.get_tracer("t").start_as_current_span("s"):
        pass
    provider.shutdown()
    assert sink.batches == []


def test_message_size_limit(sink: RecordingSink) -> None:
    with OtlpGrpcServer(sink, "127.0.0.1", 0, max_body_bytes=2048) as srv:
        big = metrics_request(metrics_data([sum_metric(1.0) for i in range(200)]))
        raw = big.SerializeToString()
        assert len(raw) > 2048 and len(gzip.compress(raw)) < 2048
        for compression in (grpc.Compression.NoCompression, grpc.Compression.Gzip):
            with pytest.raises(grpc.RpcError) as err:
                _raw_export(srv, Signal.METRICS, raw, compression=compression)
            assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        _raw_export(srv, Signal.METRICS, metrics_request(metrics_data([sum_metric(1)]))
                    .SerializeToString())
    assert len(sink.batches) == 1


def test_bearer_token_in_metadata(sink: RecordingSink) -> None:
    with OtlpGrpcServer(sink, "127.0.0.1", 0, auth=BearerAuth([Secret("g-token")])) as srv:
        body = metrics_request(metrics_data([sum_metric(1)])).SerializeToString()
        with pytest.raises(grpc.RpcError) as err:
            _raw_export(srv, Signal.METRICS, body)
        assert err.value.code() is grpc.StatusCode.UNAUTHENTICATED
        denied = _exporter(srv, headers=(("authorization", "Bearer nope"),))
        assert denied.export(metrics_data([sum_metric(1)])) is MetricExportResult.FAILURE
        ok = _exporter(srv, headers=(("authorization", "Bearer g-token"),))
        assert ok.export(metrics_data([sum_metric(2)])) is MetricExportResult.SUCCESS
    assert [c.value for c in sink.counters()] == [2.0]


def test_busy_is_resource_exhausted_with_retry_info() -> None:
    sink = BlockingSink()
    body = metrics_request(metrics_data([sum_metric(1)])).SerializeToString()
    with OtlpGrpcServer(sink, "127.0.0.1", 0, max_concurrent_requests=1) as srv:
        first: list[object] = []

        def send_first() -> None:
            try:
                first.append(_raw_export(srv, Signal.METRICS, body))
            except grpc.RpcError as exc:  # reported below, not as a thread warning
                first.append(exc)

        t = threading.Thread(target=send_first)
        t.start()
        assert sink.entered.wait(10)
        with pytest.raises(grpc.RpcError) as err:
            _raw_export(srv, Signal.METRICS, body)
        assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "google.rpc.retryinfo-bin" in dict(err.value.trailing_metadata())
        sink.release.set()
        t.join(10)
        assert first == [b""]  # the first request, held in the sink, succeeded


def test_tls(tmp_path: Path, sink: RecordingSink) -> None:
    cert, key = self_signed(tmp_path)
    with OtlpGrpcServer(sink, "127.0.0.1", 0, tls=TlsOptions(cert, key)) as srv:
        exporter = OTLPMetricExporter(
            endpoint=f"localhost:{srv.port}",
            insecure=False,
            credentials=grpc.ssl_channel_credentials(cert.read_bytes()),
        )
        assert exporter.export(metrics_data([sum_metric(3)])) is MetricExportResult.SUCCESS
        exporter.shutdown()
    assert [c.value for c in sink.counters()] == [3.0]


def test_port_in_use_is_a_configuration_error(server: OtlpGrpcServer) -> None:
    from otel_ml import ConfigurationError

    with pytest.raises(ConfigurationError, match="cannot listen"):
        OtlpGrpcServer(RecordingSink(), "127.0.0.1", server.port)
