"""A small OTLP/HTTP receiver on 127.0.0.1 for tests: the real exporters send to it.

It answers ``/v1/traces``, ``/v1/metrics`` and ``/v1/logs`` with protobuf (gzip
or not), decodes each body with ``opentelemetry.proto`` and keeps the decoded
requests. Helpers flatten them into spans, metrics and log records.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

_ROUTES: dict[str, tuple[type[Message], type[Message]]] = {
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    "/v1/logs": (ExportLogsServiceRequest, ExportLogsServiceResponse),
}


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return None if kind is None else getattr(value, kind)


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs if isinstance(kv, KeyValue)}


@dataclass
class Received:
    """Everything the receiver decoded, by signal path."""

    requests: dict[str, list[Message]] = field(default_factory=lambda: {p: [] for p in _ROUTES})
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, path: str) -> list[Message]:
        with self.lock:
            return list(self.requests[path])

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) for every span received."""
        out = []
        for req in self.of("/v1/traces"):
            for rs in req.resource_spans:  # type: ignore[attr-defined]
                res = attributes(rs.resource.attributes)
                for ss in rs.scope_spans:
                    out.extend((res, span) for span in ss.spans)
        return out

    def metrics(self, name: str | None = None) -> Iterator[tuple[dict[str, Any], Any]]:
        """(resource attributes, metric) for every metric received (optionally by name)."""
        for req in self.of("/v1/metrics"):
            for rm in req.resource_metrics:  # type: ignore[attr-defined]
                res = attributes(rm.resource.attributes)
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        if name is None or metric.name == name:
                            yield res, metric

    def logs(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, log record) for every log record received."""
        out = []
        for req in self.of("/v1/logs"):
            for rl in req.resource_logs:  # type: ignore[attr-defined]
                res = attributes(rl.resource.attributes)
                for sl in rl.scope_logs:
                    out.extend((res, rec) for rec in sl.log_records)
        return out

    def wait_for(self, predicate: Callable[[Received], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return predicate(self)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        route = _ROUTES.get(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        if route is None:
            self.send_error(404)
            return
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request_type, response_type = route
        message = request_type()
        try:
            message.ParseFromString(body)
        except Exception:  # noqa: BLE001 - a bad body is a 400, as the OTLP spec says
            self.send_error(400)
            return
        with self.server.received.lock:
            self.server.received.requests[self.path].append(message)
        payload = response_type().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    received: Received


class OtlpReceiver:
    """Context manager: a running receiver; ``endpoint`` is its base URL."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.received = Received()
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def received(self) -> Received:
        return self._server.received

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def run_app(tmp_path: Path, source: str, endpoint: str | None,
            **env: str) -> subprocess.CompletedProcess[str]:
    """``python app.py`` (``source``, written to ``tmp_path``) with no ``OTEL_`` variables;
    with an ``endpoint``, under ``opentelemetry-instrument`` exporting traces, metrics and
    logs there over OTLP/HTTP every few hundred milliseconds, plus ``env``."""
    app = tmp_path / "app.py"
    app.write_text(source)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    cmd = [sys.executable, str(app)]
    if endpoint is not None:
        environ.update(
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="otlp",
            OTEL_LOGS_EXPORTER="otlp",
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_METRIC_EXPORT_INTERVAL="500",
            OTEL_BSP_SCHEDULE_DELAY="100",
            OTEL_BLRP_SCHEDULE_DELAY="100",
        )
        environ.update(env)
        cmd = [str(Path(sys.executable).parent / "opentelemetry-instrument"), *cmd]
    return subprocess.run(
        cmd, env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=180, check=False
    )
