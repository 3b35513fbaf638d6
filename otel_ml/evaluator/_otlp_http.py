"""OTLP/HTTP receiver: ``POST /v1/metrics``, ``/v1/logs``, ``/v1/traces``.

Follows the server rules of the OTLP specification: ``application/x-protobuf`` and
``application/json`` bodies, ``Content-Encoding: gzip`` (or ``deflate``), the response
encoded like the request; 200 with an ``Export*ServiceResponse`` (``partial_success``
set when some points were rejected); 400 with a ``google.rpc.Status`` for bad data;
413 when the body (on the wire, or decompressed) exceeds ``max_body_bytes``; 401
without a valid bearer token; 429 (too many concurrent requests) or 503 (the sink
is overloaded) with ``Retry-After``; 404/405/415 for wrong paths, methods and
content types. Bodies come with a ``Content-Length`` or ``Transfer-Encoding:
chunked`` (as the OpenTelemetry JavaScript exporters send them), within the same
limit either way (:mod:`~otel_ml.evaluator._http_body`). Every refused request is
counted on ``otel_ml.evaluator.requests`` and logged (throttled).

Built on :class:`~otel_ml.evaluator._http_serving.LimitedHttpServer`: one thread
per connection, at most ``max_connections`` connections (others get an immediate
503 and are closed), idle and read deadlines against idle and slow clients, TLS
per connection in the connection's own thread. Decoding and the sink are shared
with the gRPC receiver (:class:`~otel_ml.evaluator._receiver.Receiver`).

Examples
--------
>>> from otel_ml.evaluator._records import IngestBatch, SubmitResult
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
import ssl
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
from otel_ml.evaluator._http_body import BodyFramingError, ClientGoneError, read_body
from otel_ml.evaluator._http_serving import (
    BackgroundHttpServer,
    ConnectionLimits,
    LimitedHttpServer,
    TimedHandler,
)
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
_FRAMING_RPC_CODE = {413: code_pb2.RESOURCE_EXHAUSTED, 501: code_pb2.UNIMPLEMENTED}


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


class _Handler(TimedHandler):
    server: _Server

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
    def _refuse(self, signal: Signal | None, code: int, rpc_code: int, message: str,
                error_type: str, *, json: bool = False,
                headers: dict[str, str] | None = None) -> None:
        """Answer a request refused before its body is read (counted, logged), and close."""
        self.server.receiver.reject(signal, error_type, f"{code} {message}")
        self._error(code, rpc_code, message, json=json, close=True, headers=headers)

    def do_POST(self) -> None:
        receiver = self.server.receiver
        signal = _PATHS.get(self.path.split("?", 1)[0])
        if signal is None:
            self._refuse(None, 404, code_pb2.NOT_FOUND, f"no OTLP endpoint at {self.path[:100]}",
                         "not_found")
            return
        ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if ctype not in (_PROTOBUF, _JSON):
            self._refuse(signal, 415, code_pb2.INVALID_ARGUMENT,
                         f"Content-Type must be {_PROTOBUF} or {_JSON}", "unsupported_media_type")
            return
        json = ctype == _JSON
        if not receiver.authorized(self.headers.get("Authorization")):
            result = receiver.refuse(signal, Outcome.UNAUTHENTICATED, "missing or invalid token")
            self._answer(signal, result, json=json, close=True)
            return
        if not receiver.try_acquire():
            result = receiver.refuse(signal, Outcome.BUSY, "too many concurrent requests")
            self._answer(signal, result, json=json, close=True)
            return
        try:
            try:
                body = read_body(self.rfile, self.headers, receiver.max_body_bytes)
            except ClientGoneError:  # the client went away mid-body (or was timed out)
                self.close_connection = True
                return
            except BodyFramingError as exc:
                if exc.status == 413:
                    result = receiver.refuse(signal, Outcome.TOO_LARGE, exc.message)
                    self._answer(signal, result, json=json, close=True)
                else:
                    self._refuse(signal, exc.status,
                                 _FRAMING_RPC_CODE.get(exc.status, code_pb2.INVALID_ARGUMENT),
                                 exc.message, exc.error_type, json=json)
                return
            self.serving()
            result = receiver.export(
                signal, body, json=json,
                content_encoding=self.headers.get("Content-Encoding") or "",
            )
        finally:
            receiver.release()
        self._answer(signal, result, json=json, close=False)

    def _not_allowed(self) -> None:
        self._refuse(_PATHS.get(self.path.split("?", 1)[0]), 405, code_pb2.UNIMPLEMENTED,
                     "only POST is supported", "method_not_allowed", headers={"Allow": "POST"})

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed

    def log_message(self, format: str, *args: Any) -> None:
        _logger.debug("%s %s", self.address_string(), format % args)


class _Server(LimitedHttpServer):
    def __init__(
        self, address: tuple[str, int], receiver: Receiver, ssl_context: ssl.SSLContext | None,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(address, _Handler, limits, listener="otlp_http",
                         ssl_context=ssl_context, meter=receiver.meter)
        self.receiver = receiver


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
        Limit on the body, on the wire and decompressed (413 beyond).
    meter
        Meter for the receiver's self-metrics (none when omitted).
    max_concurrent_requests
        Requests read and decoded at once (429 beyond).
    limits
        Connection cap, idle and read timeouts (:class:`ConnectionLimits`; 256
        connections, 30 s, 30 s by default).
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
        limits: ConnectionLimits | None = None,
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
        server = _Server((host, port), self.receiver, ssl_context, limits or ConnectionLimits())
        super().__init__(
            server,
            host,
            secure=ssl_context is not None,
            thread_name=f"otlp-http-{server.server_address[1]}",
            poll_interval=0.1,
        )
