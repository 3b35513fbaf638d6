"""OTLP/gRPC receiver: ``MetricsService``, ``LogsService`` and ``TraceService`` ``Export``.

Follows the OTLP specification's gRPC rules: ``OK`` with an ``Export*ServiceResponse``
(``partial_success`` set when some points were rejected); ``INVALID_ARGUMENT`` for bad
data; ``UNAUTHENTICATED`` without a valid ``authorization: Bearer <token>`` metadata
entry; ``UNAVAILABLE`` + ``RetryInfo`` when the sink is overloaded and
``RESOURCE_EXHAUSTED`` + ``RetryInfo`` when too many requests are in flight (both
retried by OTLP exporters, after the given delay). ``RetryInfo`` travels in the
trailing metadata twice: as ``google.rpc.retryinfo-bin`` (read by the Python
exporter) and inside the ``grpc-status-details-bin`` ``google.rpc.Status`` (read by
the Go exporters of the Collector). gRPC itself decompresses gzip and enforces
``max_body_bytes`` on the decompressed message (``RESOURCE_EXHAUSTED``).

Connections are bounded like the HTTP servers'
(:class:`~otel_ml.evaluator._http_serving.ConnectionLimits`): gRPC core refuses
connections past ``max_connections``
(``grpc.max_allowed_incoming_connections``), closes a connection with no RPC for
``idle_timeout`` (``grpc.max_connection_idle_ms``, a GOAWAY clients reconnect from) and
one whose handshake is not done within ``read_timeout``
(``grpc.server_handshake_timeout_ms``). gRPC serves connections from its own polling
threads, so an idle connection costs a file descriptor, not a thread.

Requests are handled as raw bytes (no deserializer registered), so a malformed
message is our ``INVALID_ARGUMENT``, and the idempotency key hashes the exact bytes.

Examples
--------
>>> from otel_ml.evaluator._records import IngestBatch, SubmitResult
>>> class Sink:
...     def submit(self, batch: IngestBatch) -> SubmitResult:
...         return SubmitResult.ok()
>>> server = OtlpGrpcServer(Sink(), port=0)
>>> server.start()
>>> server.port > 0
True
>>> server.stop()
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from typing import NoReturn

import grpc
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2
from opentelemetry.metrics import Meter

from otel_ml._errors import ConfigurationError
from otel_ml.evaluator._auth import BearerAuth, TlsOptions
from otel_ml.evaluator._http_serving import ConnectionLimits
from otel_ml.evaluator._otlp_http import partial_success_response, rpc_status
from otel_ml.evaluator._receiver import (
    DEFAULT_MAX_BODY_BYTES,
    ExportResult,
    Outcome,
    Receiver,
    server_receiver,
)
from otel_ml.evaluator._records import IngestSink, Signal

__all__ = ["SERVICE_NAMES", "OtlpGrpcServer"]

#: Fully qualified gRPC service names of the OTLP collector services.
SERVICE_NAMES = {
    Signal.METRICS: "opentelemetry.proto.collector.metrics.v1.MetricsService",
    Signal.LOGS: "opentelemetry.proto.collector.logs.v1.LogsService",
    Signal.TRACES: "opentelemetry.proto.collector.trace.v1.TraceService",
}
_GRPC_STATUS = {
    Outcome.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    Outcome.TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Outcome.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Outcome.BUSY: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Outcome.OVERLOADED: grpc.StatusCode.UNAVAILABLE,
    Outcome.FAILED: grpc.StatusCode.UNAVAILABLE,
}
_RETRY_INFO_KEY = "google.rpc.retryinfo-bin"
_STATUS_DETAILS_KEY = "grpc-status-details-bin"


def _abort(context: grpc.ServicerContext, result: ExportResult) -> NoReturn:
    code = _GRPC_STATUS[result.outcome]
    retry = result.retry_after if result.outcome in (Outcome.BUSY, Outcome.OVERLOADED,
                                                     Outcome.FAILED) else None
    status = rpc_status(code.value[0], result.message, retry)
    trailing: list[tuple[str, bytes]] = [(_STATUS_DETAILS_KEY, status.SerializeToString())]
    if retry is not None:
        seconds = max(retry, 0.0)
        info = error_details_pb2.RetryInfo(
            retry_delay=Duration(seconds=int(seconds), nanos=int((seconds % 1) * 1e9))
        )
        trailing.append((_RETRY_INFO_KEY, info.SerializeToString()))
    context.set_trailing_metadata(tuple(trailing))
    context.abort(code, result.message)  # raises
    raise AssertionError("grpc context.abort returned")


def _export_method(receiver: Receiver, signal: Signal) -> Callable[..., bytes]:
    def export(request: bytes, context: grpc.ServicerContext) -> bytes:
        metadata = {k.lower(): v for k, v in context.invocation_metadata()}
        auth = metadata.get("authorization")
        if not receiver.authorized(auth if isinstance(auth, str) else None):
            refused = receiver.refuse(signal, Outcome.UNAUTHENTICATED, "missing or invalid token")
            _abort(context, refused)
        if not receiver.try_acquire():
            _abort(context, receiver.refuse(signal, Outcome.BUSY, "too many concurrent requests"))
        try:
            result = receiver.export(signal, request, json=False)
        finally:
            receiver.release()
        if result.outcome is not Outcome.ACCEPTED:
            _abort(context, result)
        return bytes(
            partial_success_response(signal, result.rejected, result.message).SerializeToString()
        )

    return export


class OtlpGrpcServer:
    """The OTLP/gRPC receiver, delivering to ``sink``.

    Parameters are those of :class:`~otel_ml.evaluator.OtlpHttpServer` (4317 is the
    OTLP/gRPC default port); ``max_workers`` is the size of the handler thread pool;
    ``limits`` as described above.
    Pass the HTTP server's ``receiver`` to share limits and counters.
    """

    def __init__(
        self,
        sink: IngestSink,
        host: str = "127.0.0.1",
        port: int = 4317,
        *,
        auth: BearerAuth | None = None,
        tls: TlsOptions | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        meter: Meter | None = None,
        max_concurrent_requests: int = 16,
        max_workers: int = 8,
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
        limit = self.receiver.max_body_bytes
        lim = limits or ConnectionLimits()
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="otlp-grpc"),
            handlers=[
                grpc.method_handlers_generic_handler(
                    name,
                    {
                        "Export": grpc.unary_unary_rpc_method_handler(
                            _export_method(self.receiver, s)
                        )
                    },
                )
                for s, name in SERVICE_NAMES.items()
            ],
            # queued + running RPCs beyond this get RESOURCE_EXHAUSTED from gRPC itself
            maximum_concurrent_rpcs=2 * self.receiver.max_concurrent_requests + max_workers,
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.so_reuseport", 0),
                ("grpc.max_allowed_incoming_connections", lim.max_connections),
                ("grpc.max_connection_idle_ms", int(lim.idle_timeout * 1000)),
                ("grpc.server_handshake_timeout_ms", int(lim.read_timeout * 1000)),
            ],
        )
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        try:
            if tls is None:
                bound = self._server.add_insecure_port(address)
            else:
                cert, key, ca = tls.pem()
                creds = grpc.ssl_server_credentials(
                    [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
                )
                bound = self._server.add_secure_port(address, creds)
        except RuntimeError as exc:
            bound = 0
            reason = str(exc)
        else:
            reason = "address in use or not available"
        if not bound:
            raise ConfigurationError(
                f"grpc: cannot listen on {address} ({reason}); pick another port"
            )
        self._port = int(bound)
        self._started = False

    @property
    def port(self) -> int:
        """The bound port (useful with ``port=0``)."""
        return self._port

    def start(self) -> None:
        """Start serving (gRPC runs its own threads)."""
        if not self._started:
            self._server.start()
            self._started = True

    def stop(self, grace: float | None = 1.0) -> None:
        """Stop serving; in-flight RPCs get ``grace`` seconds to finish."""
        self._server.stop(grace).wait()
        self._started = False

    def __enter__(self) -> OtlpGrpcServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
