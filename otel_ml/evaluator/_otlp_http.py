"""OTLP/HTTP receiver: ``POST /v1/metrics``, ``/v1/logs``, ``/v1/traces``.

Follows the server rules of the OTLP specification: ``application/x-protobuf`` and
``application/json`` bodies, ``Content-Encoding: gzip`` (or ``deflate``), the response
encoded like the request; 200 with an ``Export*ServiceResponse`` (``partial_success``
set when some points were rejected); 400 with a ``google.rpc.Status`` for bad data;
413 when the (decompressed) body exceeds ``max_body_bytes``; 401 without a valid
bearer token; 429 (too many concurrent requests) or 503 (the sink is overloaded)
with ``Retry-After``; 404/405/411/415 for wrong paths, methods, missing length and
content types.

Built on the standard library's threading HTTP server: one thread per connection,
at most ``max_connections`` connections (others get an immediate 503 and are
closed), a read timeout against slow clients, TLS per connection in the
connection's own thread. Decoding and the sink are shared with the gRPC receiver
(:class:`~otel_ml.evaluator._receiver.Receiver`).

Examples
--------
>>> from otel_ml.evaluator import IngestBatch, SubmitResult
>>> class Sink:
...     def submit(self, batch: IngestBatch) -> SubmitResult:
...         return SubmitResult.ok()
>>> server = OtlpHttpServer(Sink(), port=0)
>>> server.start()
>>> server.url.startswith("http://127.0.0.1:")
True
>>> server.stop()
"""

from __future__ import annotations

import logging
import math
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf import json_format
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.metrics import Meter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_ml.evaluator._auth import BearerAuth, TlsOptions
from otel_ml.evaluator._http_serving import BackgroundHttpServer
from otel_ml.evaluator._receiver import (
    DEFAULT_MAX_BODY_BYTES,
    ExportResult,
    Outcome,
    Receiver,
    server_receiver,
)
from otel_ml.evaluator._records import IngestSink, Signal

__all__ = ["OtlpHttpServer", "partial_success_response", "retry_after_header", "rpc_status"]

_logger = logging.getLogger(__name__)

_PATHS = {"/v1/metrics": Signal.METRICS, "/v1/logs": Signal.LOGS, "/v1/traces": Signal.TRACES}
_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_HTTP_STATUS = {
    Outcome.INVALID: (400, code_pb2.INVALID_ARGUMENT),
    Outcome.TOO_LARGE: (413, code_pb2.RESOURCE_EXHAUSTED),
    Outcome.UNAUTHENTICATED: (401, code_pb2.UNAUTHENTICATED),
    Outcome.BUSY: (429, code_pb2.RESOURCE_EXHAUSTED),
    Outcome.OVERLOADED: (503, code_pb2.UNAVAILABLE),
    Outcome.FAILED: (503, code_pb2.UNAVAILABLE),
}
_CONNECTIONS_FULL = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` as whole seconds (RFC 9110 delay-seconds), at least 1.

    >>> retry_after_header(0.2), retry_after_header(2.5)
    ('1', '3')
    """
    return str(max(1, math.ceil(seconds)))


def rpc_status(code: int, message: str, retry_after: float | None = None) -> status_pb2.Status:
    """A ``google.rpc.Status``, with a ``RetryInfo`` detail when ``retry_after`` is given."""
    status = status_pb2.Status(code=code, message=message)
    if retry_after is not None:
        seconds = max(retry_after, 0.0)
        delay = Duration(seconds=int(seconds), nanos=int((seconds % 1) * 1e9))
        detail = AnyProto()
        detail.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        status.details.append(detail)
    return status


def partial_success_response(signal: Signal, rejected: int, message: str) -> Message:
    """The ``Export*ServiceResponse`` of an accepted request (``partial_success`` if any)."""
    if signal is Signal.METRICS:
        m: Message = ExportMetricsServiceResponse()
        if rejected or message:
            m.partial_success.rejected_data_points = rejected
    elif signal is Signal.LOGS:
        m = ExportLogsServiceResponse()
        if rejected or message:
            m.partial_success.rejected_log_records = rejected
    else:
        m = ExportTraceServiceResponse()
        if rejected or message:
            m.partial_success.rejected_spans = rejected
    if message:
        m.partial_success.error_message = message
    return m


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30.0  # socket read timeout (slow or stalled clients)

    # -- responses ---------------------------------------------------------------------
    def _send(
        self, code: int, message: Message, *, json: bool, headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        if json:
            body = json_format.MessageToJson(message, indent=None).encode()
        else:
            body = message.SerializeToString()
        self.send_response(code)
        self.send_header("Content-Type", _JSON if json else _PROTOBUF)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _error(self, code: int, rpc_code: int, message: str, *, json: bool = False,
               close: bool = False, headers: dict[str, str] | None = None) -> None:
        self._send(code, rpc_status(rpc_code, message), json=json, headers=headers, close=close)

    def _answer(self, signal: Signal, result: ExportResult, *, json: bool, close: bool) -> None:
        if result.outcome is Outcome.ACCEPTED:
            response = partial_success_response(signal, result.rejected, result.message)
            self._send(200, response, json=json, close=close)
            return
        code, rpc_code = _HTTP_STATUS[result.outcome]
        headers: dict[str, str] = {}
        retry: float | None = None
        if code in (429, 503):
            retry = result.retry_after
            headers["Retry-After"] = retry_after_header(retry)
        if code == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="otel-ml"'
        status = rpc_status(rpc_code, result.message, retry)
        self._send(code, status, json=json, headers=headers, close=close or code == 413)

    # -- methods -----------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        receiver = self.server.receiver
        signal = _PATHS.get(self.path.split("?", 1)[0])
        if signal is None:
            self._error(404, code_pb2.NOT_FOUND, f"no OTLP endpoint at {self.path[:100]}",
                        close=True)
            return
        ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if ctype not in (_PROTOBUF, _JSON):
            self._error(415, code_pb2.INVALID_ARGUMENT,
                        f"Content-Type must be {_PROTOBUF} or {_JSON}", close=True)
            return
        json = ctype == _JSON
        if not receiver.authorized(self.headers.get("Authorization")):
            result = receiver.refuse(signal, Outcome.UNAUTHENTICATED, "missing or invalid token")
            self._answer(signal, result, json=json, close=True)
            return
        if self.headers.get("Transfer-Encoding"):
            self._error(411, code_pb2.INVALID_ARGUMENT, "send a Content-Length", json=json,
                        close=True)
            return
        try:
            length = int(self.headers.get("Content-Length") or "")
            if length < 0:
                raise ValueError(length)
        except ValueError:
            self._error(411, code_pb2.INVALID_ARGUMENT, "a valid Content-Length is required",
                        json=json, close=True)
            return
        if length > receiver.max_body_bytes:
            msg = f"body exceeds {receiver.max_body_bytes} bytes"
            self._answer(signal, receiver.refuse(signal, Outcome.TOO_LARGE, msg), json=json,
                         close=True)
            return
        if not receiver.try_acquire():
            result = receiver.refuse(signal, Outcome.BUSY, "too many concurrent requests")
            self._answer(signal, result, json=json, close=True)
            return
        try:
            body = self.rfile.read(length)
            if len(body) < length:  # the client went away mid-body
                self.close_connection = True
                return
            result = receiver.export(
                signal, body, json=json,
                content_encoding=self.headers.get("Content-Encoding") or "",
            )
        finally:
            receiver.release()
        self._answer(signal, result, json=json, close=False)

    def _not_allowed(self) -> None:
        self._error(405, code_pb2.UNIMPLEMENTED, "only POST is supported",
                    headers={"Allow": "POST"}, close=True)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        _logger.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], receiver: Receiver, ssl_context: ssl.SSLContext | None,
        max_connections: int, read_timeout: float,
    ) -> None:
        handler = type("OtlpHandler", (_Handler,), {"timeout": read_timeout})
        super().__init__(address, handler)
        self.receiver = receiver
        self.ssl_context = ssl_context
        self.max_connections = max_connections
        self.read_timeout = read_timeout
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            full = len(self._open) >= self.max_connections
            if not full:
                self._open.add(request)
        if full:
            try:
                if self.ssl_context is None:
                    request.sendall(_CONNECTIONS_FULL)
            except OSError:
                pass  # the client is gone already; nothing to answer
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        conn = request
        try:
            if self.ssl_context is not None:
                request.settimeout(self.read_timeout)
                conn = self.ssl_context.wrap_socket(request, server_side=True)
            self.finish_request(conn, client_address)
        except (OSError, ssl.SSLError) as exc:
            _logger.debug("connection from %s ended: %r", client_address, exc)
        except Exception:  # a handler bug: log it, keep serving
            _logger.exception("OTLP/HTTP request from %s failed", client_address)
        finally:
            self.shutdown_request(conn)
            with self._lock:
                self._open.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _logger.debug("OTLP/HTTP connection error from %s", client_address, exc_info=True)

    def close_all(self) -> None:
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by the peer


class OtlpHttpServer(BackgroundHttpServer):
    """The OTLP/HTTP receiver, delivering to ``sink``.

    Parameters
    ----------
    sink
        Where decoded batches go (see :class:`~otel_ml.evaluator.IngestSink`).
    host, port
        Listening address; ``127.0.0.1`` by default, port ``0`` picks a free port
        (read :attr:`port` after :meth:`start`). 4318 is the OTLP/HTTP default.
    auth
        Require ``Authorization: Bearer <token>`` when given.
    tls
        Serve HTTPS with this certificate when given.
    max_body_bytes
        Limit on the decompressed body (413 beyond).
    meter
        Meter for the receiver's self-metrics (none when omitted).
    receiver
        Share one :class:`Receiver` (limits, counters) with the gRPC server; when
        given, ``sink``/``auth``/``max_body_bytes``/``meter`` are taken from it.
    """

    def __init__(
        self,
        sink: IngestSink,
        host: str = "127.0.0.1",
        port: int = 4318,
        *,
        auth: BearerAuth | None = None,
        tls: TlsOptions | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        meter: Meter | None = None,
        max_concurrent_requests: int = 16,
        max_connections: int = 256,
        read_timeout: float = 30.0,
        receiver: Receiver | None = None,
    ) -> None:
        self.receiver = server_receiver(
            receiver,
            sink,
            auth=auth,
            max_body_bytes=max_body_bytes,
            max_concurrent_requests=max_concurrent_requests,
            meter=meter,
        )
        ssl_context = tls.ssl_context() if tls is not None else None
        server = _Server((host, port), self.receiver, ssl_context, max_connections, read_timeout)
        self._connections = server
        super().__init__(
            server,
            host,
            secure=ssl_context is not None,
            thread_name=f"otlp-http-{server.server_address[1]}",
            poll_interval=0.1,
        )

    def _close_connections(self) -> None:
        self._connections.close_all()
