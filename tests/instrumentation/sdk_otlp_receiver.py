"""A minimal OTLP receiver on 127.0.0.1 (HTTP/protobuf and gRPC) that keeps what arrives.

Only for the SDK's export tests: it decodes the real exporters' requests with
``opentelemetry.proto`` and answers success.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from sdk_support import prediction_calls

from otel_ml import semconv


@dataclass
class Received:
    """Decoded requests, by signal."""

    metrics: list[metrics_service_pb2.ExportMetricsServiceRequest] = field(default_factory=list)
    logs: list[logs_service_pb2.ExportLogsServiceRequest] = field(default_factory=list)
    traces: list[trace_service_pb2.ExportTraceServiceRequest] = field(default_factory=list)
    #: request headers (HTTP) / metadata (gRPC), lower-case keys, one dict per request
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def metric_points(self, name: str) -> list[tuple[Any, dict[str, Any], Any]]:
        """(metric, point attributes, point) of every point of metric ``name``."""
        out = []
        with self.lock:
            for req in self.metrics:
                for rm in req.resource_metrics:
                    for sm in rm.scope_metrics:
                        for m in sm.metrics:
                            if m.name != name:
                                continue
                            kind = m.WhichOneof("data")
                            for p in getattr(m, kind).data_points:
                                out.append((m, attributes(p.attributes), p))
        return out

    def log_records(self, event_name: str) -> list[tuple[dict[str, Any], Any, dict[str, Any]]]:
        """(resource attributes, record, record attributes) of each record with that event."""
        out = []
        with self.lock:
            for req in self.logs:
                for rl in req.resource_logs:
                    res = attributes(rl.resource.attributes)
                    for sl in rl.scope_logs:
                        for r in sl.log_records:
                            if r.event_name == event_name:
                                out.append((res, r, attributes(r.attributes)))
        return out

    def prediction_calls(self) -> list[dict[str, Any]]:
        """Every call's rows in the ``ml.prediction`` records received (batched or not)."""
        records = [
            (attrs, int.from_bytes(r.trace_id, "big"), int.from_bytes(r.span_id, "big"))
            for _, r, attrs in self.log_records(semconv.EVENT_PREDICTION)
        ]
        return prediction_calls(records)

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        out = []
        with self.lock:
            for req in self.traces:
                for rs in req.resource_spans:
                    res = attributes(rs.resource.attributes)
                    for ss in rs.scope_spans:
                        out.extend((res, s) for s in ss.spans)
        return out


def number(point: Any) -> int | float:
    """The value of an OTLP NumberDataPoint (``as_int`` or ``as_double``)."""
    return getattr(point, point.WhichOneof("value"))  # type: ignore[no-any-return]


def value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind else None


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in kvs if isinstance(kv, KeyValue)}


_PATHS = {
    "/v1/metrics": ("metrics", metrics_service_pb2.ExportMetricsServiceRequest,
                    metrics_service_pb2.ExportMetricsServiceResponse),
    "/v1/logs": ("logs", logs_service_pb2.ExportLogsServiceRequest,
                 logs_service_pb2.ExportLogsServiceResponse),
    "/v1/traces": ("traces", trace_service_pb2.ExportTraceServiceRequest,
                   trace_service_pb2.ExportTraceServiceResponse),
}  # fmt: skip


@contextmanager
def http_receiver() -> Iterator[tuple[str, Received]]:
    """Yields (base URL, received) of an OTLP/HTTP receiver on a free loopback port."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            route = _PATHS.get(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if route is None:
                self.send_response(404)
                self.end_headers()
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            signal, req_cls, resp_cls = route
            req = req_cls()
            req.ParseFromString(body)
            with received.lock:
                getattr(received, signal).append(req)
                received.headers.append({k.lower(): v for k, v in self.headers.items()})
            payload = resp_cls().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def grpc_receiver() -> Iterator[tuple[str, Received]]:
    """Yields (endpoint URL, received) of an OTLP/gRPC receiver on a free loopback port."""
    received = Received()

    class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):  # type: ignore[misc]
        def Export(self, request: Any, context: Any) -> Any:
            with received.lock:
                received.metrics.append(request)
                received.headers.append(dict(context.invocation_metadata()))
            return metrics_service_pb2.ExportMetricsServiceResponse()

    class Logs(logs_service_pb2_grpc.LogsServiceServicer):  # type: ignore[misc]
        def Export(self, request: Any, context: Any) -> Any:
            with received.lock:
                received.logs.append(request)
                received.headers.append(dict(context.invocation_metadata()))
            return logs_service_pb2.ExportLogsServiceResponse()

    class Traces(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
        def Export(self, request: Any, context: Any) -> Any:
            with received.lock:
                received.traces.append(request)
                received.headers.append(dict(context.invocation_metadata()))
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    logs_service_pb2_grpc.add_LogsServiceServicer_to_server(Logs(), server)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", received
    finally:
        server.stop(grace=None)


def run_app(args: list[str], url: str, timeout: float = 180, **env: str) -> str:
    """Run ``python *args`` exporting over OTLP/HTTP to ``url`` (metrics only at exit, unless
    ``env`` says otherwise); its stdout. A failing app fails the test with its stderr."""
    import os
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, *args],
        env={
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_METRIC_EXPORT_INTERVAL": "600000",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
