"""The ml.alert log event through the real OTLP/HTTP log exporter (otlp_logger_provider)
to a loopback receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from alerting_support import drift_obs, window_end
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from otel_ml import semconv
from otel_ml.alerting import AlertEngine, otlp_logger_provider, parse_alerting_config


class LogsReceiver:
    """OTLP/HTTP ``/v1/logs`` (protobuf) on 127.0.0.1, keeping the decoded requests."""

    def __init__(self) -> None:
        self.requests: list[ExportLogsServiceRequest] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportLogsServiceRequest()
                request.ParseFromString(body)
                outer.requests.append(request)
                data = ExportLogsServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def records(self) -> list[Any]:
        return [lr for req in self.requests for rl in req.resource_logs
                for sl in rl.scope_logs for lr in sl.log_records]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[LogsReceiver]:
    server = LogsReceiver()
    yield server
    server.stop()


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def test_alert_event_over_otlp_http(receiver: LogsReceiver) -> None:
    provider = otlp_logger_provider(f"http://127.0.0.1:{receiver.port}")
    engine = AlertEngine(
        parse_alerting_config({"alerts": {"defaults": {"for_windows": 1}}}),
        logger_provider=provider,
    )
    engine.observe([drift_obs(0, 0.45)], now=window_end(0))
    provider.force_flush()
    (record,) = receiver.records()
    attrs = {kv.key: _value(kv.value) for kv in record.attributes}
    assert record.event_name == semconv.EVENT_ALERT
    assert record.severity_number == 13  # SEVERITY_NUMBER_WARN
    assert record.severity_text == "WARNING"
    assert record.trace_id.hex() == f"{1:032x}" and record.span_id.hex() == f"{1:016x}"
    assert record.time_unix_nano == int(window_end(0) * 1e9)
    assert attrs[semconv.ML_ALERT_RULE] == "feature_drift"
    assert attrs[semconv.ML_ALERT_STATE] == "firing"
    assert attrs[semconv.ML_ALERT_VALUE] == pytest.approx(0.45)
    assert attrs[semconv.ML_ALERT_THRESHOLD] == pytest.approx(0.2)
    assert attrs[semconv.ML_ALERT_TRACE_IDS] == [f"{1:032x}"]
    assert "FIRING [warning] churn feature_drift" in record.body.string_value
    resource_logs = receiver.requests[0].resource_logs[0]
    assert resource_logs.scope_logs[0].scope.name == semconv.EVALUATOR_SCOPE_NAME
    resource = {kv.key: _value(kv.value) for kv in resource_logs.resource.attributes}
    assert resource[semconv.SERVICE_NAME] == "otel-ml-evaluator"
    engine.close()
    provider.shutdown()


def test_alert_event_over_otlp_grpc() -> None:
    from concurrent import futures

    import grpc
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc

    received: list[ExportLogsServiceRequest] = []

    class Logs(logs_service_pb2_grpc.LogsServiceServicer):
        def Export(self, request: Any, context: Any) -> Any:
            received.append(request)
            return ExportLogsServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        provider = otlp_logger_provider(f"http://127.0.0.1:{port}", protocol="grpc")
        engine = AlertEngine(parse_alerting_config({"alerts": {"defaults": {"for_windows": 1}}}),
                             logger_provider=provider)
        engine.observe([drift_obs(0, 0.45)], now=window_end(0))
        provider.force_flush()
        records = [lr for req in received for rl in req.resource_logs
                   for sl in rl.scope_logs for lr in sl.log_records]
        assert [r.event_name for r in records] == [semconv.EVENT_ALERT]
        assert records[0].trace_id.hex() == f"{1:032x}"
        engine.close()
        provider.shutdown()
    finally:
        server.stop(None)
