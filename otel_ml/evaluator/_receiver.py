"""The protocol-independent half of the OTLP receivers: limits, decoding, sink, self-metrics.

:class:`Receiver` turns one export request (signal + body) into an
:class:`ExportResult`; ``_otlp_http`` and ``_otlp_grpc`` map results onto HTTP status
codes and gRPC status codes. Load shedding happens here: at most
``max_concurrent_requests`` requests are decoded at once (others are answered "busy,
retry after N s" before their body is read, so memory stays bounded by
``max_concurrent_requests * max_body_bytes``), and a sink that says it is overloaded
turns into "unavailable, retry after N s".

Self-metrics (on the meter passed in, scope ``otel_ml.evaluator``):
``otel_ml.evaluator.requests{otel_ml.signal, otel_ml.outcome, error.type}`` (``error.type``
only on requests not accepted; ``otel_ml.signal`` only when the path named one), every
refused, throttled or failed request also logged (at most once a minute per cause),
``otel_ml.evaluator.points.received|ignored{otel_ml.signal}``,
``otel_ml.evaluator.points.rejected{otel_ml.signal, otel_ml.reason}`` (reasons are the
decoders' and the store's fixed ``R_*`` messages, so the cardinality is bounded).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from opentelemetry.metrics import Meter, NoOpMeter

from otel_ml import semconv
from otel_ml.evaluator._auth import BearerAuth
from otel_ml.evaluator._decode import (
    BodyTooLargeError,
    OtlpDecodeError,
    batch_id,
    decode_request,
    decompress,
    parse_request,
)
from otel_ml.evaluator._ingest_bounds import TimeBounds, bound_batch
from otel_ml.evaluator._log_throttle import ThrottledLog
from otel_ml.evaluator._records import IngestBatch, IngestSink, Signal

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ExportResult", "Outcome", "Receiver", "server_receiver"]

_logger = logging.getLogger(__name__)

#: Default limit on a decompressed request body (the SDK exporters' own default is 64 MiB
#: before splitting; 16 MiB holds ~100k sketch points).
DEFAULT_MAX_BODY_BYTES = 16 << 20


class Outcome(enum.Enum):
    """How a request ended; the servers map it to HTTP / gRPC status codes."""

    ACCEPTED = "accepted"  # 200 / OK (maybe with partial_success)
    INVALID = "invalid"  # 400 / INVALID_ARGUMENT
    TOO_LARGE = "too_large"  # 413 / RESOURCE_EXHAUSTED (gRPC enforces its own limit)
    UNAUTHENTICATED = "unauthenticated"  # 401 / UNAUTHENTICATED
    BUSY = "busy"  # 429 / RESOURCE_EXHAUSTED + RetryInfo: too many concurrent requests
    OVERLOADED = "overloaded"  # 503 / UNAVAILABLE + RetryInfo: the sink sheds load
    FAILED = "failed"  # 503 / UNAVAILABLE: the sink raised (logged, counted)


_METRIC_OUTCOME = {
    Outcome.ACCEPTED: "accepted",
    Outcome.INVALID: "rejected",
    Outcome.TOO_LARGE: "rejected",
    Outcome.UNAUTHENTICATED: "rejected",
    Outcome.BUSY: "throttled",
    Outcome.OVERLOADED: "throttled",
    Outcome.FAILED: "failed",
}


@dataclass(frozen=True)
class ExportResult:
    """The answer to one export request.

    ``rejected`` is the number of points/log records rejected inside an accepted
    request (OTLP partial success); ``message`` is safe to send to the client.
    """

    outcome: Outcome
    rejected: int = 0
    message: str = ""
    retry_after: float = 0.0


def _partial_message(rejected: Mapping[str, int], ignored: Mapping[str, int]) -> str:
    out = []
    if rejected:
        parts = "; ".join(f"{reason} ({n})" for reason, n in rejected.items())
        out.append(f"{sum(rejected.values())} rejected: {parts}")
    if ignored:
        parts = "; ".join(f"{reason} ({n})" for reason, n in ignored.items())
        out.append(f"{sum(ignored.values())} ignored: {parts}")
    return ". ".join(out)


class Receiver:
    """Decode, limit, authenticate and deliver OTLP export requests to an :class:`IngestSink`.

    Thread-safe; shared by the HTTP and gRPC servers of one evaluator. Every decoded
    batch goes through :func:`~otel_ml.evaluator._ingest_bounds.bound_batch` before the
    sink: counts, sums and start times always; timestamps against ``clock`` when
    ``time_bounds`` is given (the evaluator app passes its ``limits.max_past`` /
    ``max_future``).
    """

    def __init__(
        self,
        sink: IngestSink,
        *,
        auth: BearerAuth | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_concurrent_requests: int = 16,
        busy_retry_after: float = 1.0,
        meter: Meter | None = None,
        clock: Callable[[], int] = time.time_ns,
        time_bounds: TimeBounds | None = None,
    ) -> None:
        self.sink = sink
        self.time_bounds = time_bounds  # None: no bound on timestamps (the app sets one)
        self.auth = auth
        self.max_body_bytes = max_body_bytes
        self.max_concurrent_requests = max_concurrent_requests
        self.busy_retry_after = busy_retry_after
        self._slots = threading.BoundedSemaphore(max_concurrent_requests)
        self._clock = clock
        self._logged: set[str] = set()
        self._log_lock = threading.Lock()
        self._refusals = ThrottledLog(_logger)
        m = meter if meter is not None else NoOpMeter(semconv.EVALUATOR_SCOPE_NAME)
        #: The meter of the self-metrics (the servers count their connections on it).
        self.meter: Meter = m
        self._requests = m.create_counter(
            semconv.METRIC_EVAL_REQUESTS, unit="{request}", description="OTLP export requests"
        )
        self._received = m.create_counter(
            semconv.METRIC_EVAL_POINTS_RECEIVED,
            unit="{point}",
            description="Data points, log records and spans received",
        )
        self._rejected = m.create_counter(
            semconv.METRIC_EVAL_POINTS_REJECTED,
            unit="{point}",
            description="Points and log records of otel_ml rejected as unusable",
        )
        self._ignored = m.create_counter(
            semconv.METRIC_EVAL_POINTS_IGNORED,
            unit="{point}",
            description="Points, log records and spans that are not otel_ml's (not stored)",
        )

    # ---- building blocks used by the servers ------------------------------------------
    def authorized(self, authorization: str | None) -> bool:
        """Whether the request may proceed (always, when no auth is configured)."""
        return self.auth is None or self.auth.check(authorization)

    def try_acquire(self) -> bool:
        """Take a request slot without waiting; ``False`` means answer "busy"."""
        return self._slots.acquire(blocking=False)

    def release(self) -> None:
        self._slots.release()

    def refuse(self, signal: Signal, outcome: Outcome, message: str) -> ExportResult:
        """Count and build the answer for a request refused before decoding."""
        retry = self.busy_retry_after if outcome in (Outcome.BUSY, Outcome.OVERLOADED) else 0.0
        return self._count(signal, ExportResult(outcome, message=message, retry_after=retry))

    def reject(self, signal: Signal | None, error_type: str, message: str) -> None:
        """Count and log a request refused by the server before it reached the receiver
        (wrong path, method or content type, bad framing); ``error_type`` is a fixed label."""
        attrs: dict[str, str] = {
            semconv.OUTCOME: _METRIC_OUTCOME[Outcome.INVALID],
            semconv.ERROR_TYPE: error_type,
        }
        if signal is not None:
            attrs[semconv.OTLP_SIGNAL] = signal.value
        self._requests.add(1, attrs)
        self._refusals.warning(
            error_type, "OTLP request refused (%s): %s", error_type, message[:200]
        )

    # ---- the whole path for one request ------------------------------------------------
    def export(
        self, signal: Signal, body: bytes, *, json: bool, content_encoding: str = ""
    ) -> ExportResult:
        """Decompress (bounded), parse, decode and submit one request body.

        The caller holds a slot (:meth:`try_acquire`). Never raises.
        """
        try:
            raw = decompress(body, content_encoding, self.max_body_bytes)
            message = parse_request(signal, raw, json=json)
            received = self._clock()
            batch = decode_request(
                signal, message, batch_id=batch_id(signal, raw), received_time_unix_nano=received
            )
            batch = bound_batch(batch, now_unix_nano=received, bounds=self.time_bounds)
        except BodyTooLargeError as exc:
            return self._count(signal, ExportResult(Outcome.TOO_LARGE, message=str(exc)))
        except OtlpDecodeError as exc:
            return self._count(signal, ExportResult(Outcome.INVALID, message=str(exc)[:500]))
        except Exception as exc:  # noqa: BLE001 (counted; a decoder bug must not stop the service)
            self._log_once(f"decode:{type(exc).__name__}", "OTLP decoding failed: %r", exc)
            return self._count(
                signal, ExportResult(Outcome.INVALID, message="request could not be decoded")
            )
        return self._deliver(signal, batch)

    def _deliver(self, signal: Signal, batch: IngestBatch) -> ExportResult:
        attrs = {semconv.OTLP_SIGNAL: signal.value}
        self._received.add(batch.n_records + batch.n_rejected + batch.ignored, attrs)
        if batch.ignored:
            self._ignored.add(batch.ignored, attrs)
        rejected = dict(batch.rejection_counts())
        ignored: dict[str, int] = {}
        self._count_rejected(attrs, rejected)
        if batch.n_records:
            try:
                result = self.sink.submit(batch)
            except Exception as exc:  # noqa: BLE001 (counted; the sink failed: client retries)
                self._log_once(f"sink:{type(exc).__name__}", "ingest sink failed: %r", exc)
                return self._count(
                    signal,
                    ExportResult(
                        Outcome.FAILED,
                        message="temporarily unavailable",
                        retry_after=self.busy_retry_after,
                    ),
                    error_type=type(exc).__name__,
                )
            if not result.accepted:
                return self._count(
                    signal,
                    ExportResult(
                        Outcome.OVERLOADED,
                        message=f"overloaded ({result.reason})" if result.reason else "overloaded",
                        retry_after=max(result.retry_after, 0.0),
                    ),
                )
            store_rejected = {r.reason: r.count for r in result.rejected}
            self._count_rejected(attrs, store_rejected)
            for r in result.rejected:
                rejected[r.reason] = rejected.get(r.reason, 0) + r.count
            for r in result.ignored:
                ignored[r.reason] = ignored.get(r.reason, 0) + r.count
        return self._count(
            signal,
            ExportResult(
                Outcome.ACCEPTED,
                rejected=sum(rejected.values()),
                message=_partial_message(rejected, ignored),
            ),
        )

    def _count_rejected(self, attrs: dict[str, str], rejected: Mapping[str, int]) -> None:
        for reason, n in rejected.items():  # a fixed set of reasons
            self._rejected.add(n, {**attrs, semconv.OTEL_ML_REASON: reason})

    def _count(
        self, signal: Signal, result: ExportResult, *, error_type: str | None = None
    ) -> ExportResult:
        attrs = {
            semconv.OTLP_SIGNAL: signal.value,
            semconv.OUTCOME: _METRIC_OUTCOME[result.outcome],
        }
        if result.outcome is not Outcome.ACCEPTED:
            kind = error_type or result.outcome.value
            attrs[semconv.ERROR_TYPE] = kind
            self._refusals.warning(
                f"{signal.value}:{kind}", "OTLP %s request %s (%s): %s", signal.value,
                attrs[semconv.OUTCOME], kind, result.message[:200],
            )
        self._requests.add(1, attrs)
        return result

    def _log_once(self, cause: str, msg: str, exc: BaseException) -> None:
        with self._log_lock:
            if cause in self._logged:
                return
            self._logged.add(cause)
        _logger.warning(msg, exc)


def server_receiver(
    receiver: Receiver | None,
    sink: IngestSink,
    *,
    auth: BearerAuth | None,
    max_body_bytes: int,
    max_concurrent_requests: int,
    meter: Meter | None,
) -> Receiver:
    """The :class:`Receiver` of an OTLP server: ``receiver`` when given (shared by the
    HTTP and gRPC servers; the other arguments are then ignored), else a new one."""
    if receiver is not None:
        return receiver
    return Receiver(
        sink,
        auth=auth,
        max_body_bytes=max_body_bytes,
        max_concurrent_requests=max_concurrent_requests,
        meter=meter,
    )
