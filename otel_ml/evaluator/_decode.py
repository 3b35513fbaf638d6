"""OTLP request bodies (protobuf or OTLP/JSON, optionally compressed) to :class:`IngestBatch`.

Three steps, each usable alone:

- :func:`decompress` undoes ``Content-Encoding: gzip`` / ``deflate`` with a bound on
  the decompressed size (:class:`BodyTooLargeError`; no gzip bomb can allocate more);
- :func:`parse_request` turns the bytes into the OTLP ``Export*ServiceRequest``
  message: binary protobuf, or OTLP/JSON (lowerCamelCase keys, hex trace/span ids,
  64-bit integers as numbers or strings, enums as integers, unknown fields ignored);
- :func:`decode_request` picks otel_ml's points and events out of the message
  (``_decode_metrics`` / ``_decode_logs`` rules in :mod:`otel_ml.evaluator._records`).

Any malformed input raises :class:`OtlpDecodeError` (a ``ValueError``); the servers
answer it with HTTP 400 / gRPC ``INVALID_ARGUMENT``.

Examples
--------
>>> import json
>>> ids = {"arrayValue": {"values": [{"stringValue": "a"}]}}
>>> actual = {"arrayValue": {"values": [{"stringValue": "yes"}]}}
>>> record = {"eventName": "ml.outcome", "timeUnixNano": "5", "attributes": [
...     {"key": "ml.model.name", "value": {"stringValue": "churn"}},
...     {"key": "ml.prediction.ids", "value": ids},
...     {"key": "ml.outcome.values", "value": actual}]}
>>> body = json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [record]}]}]}).encode()
>>> batch = decode_body(Signal.LOGS, body, json=True)
>>> batch.outcomes[0].model, batch.outcomes[0].ids, batch.outcomes[0].actuals
('churn', ('a',), ('yes',))
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json as _json
import time
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otel_ml.evaluator._decode_logs import decode_logs
from otel_ml.evaluator._decode_metrics import decode_metrics
from otel_ml.evaluator._records import IngestBatch, Signal

__all__ = [
    "BodyTooLargeError",
    "OtlpDecodeError",
    "batch_id",
    "decode_body",
    "decode_request",
    "decompress",
    "parse_request",
    "request_type",
]

_REQUEST_TYPES: dict[Signal, type[Message]] = {
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
    Signal.TRACES: ExportTraceServiceRequest,
}
# OTLP/JSON encodes these bytes fields as hex, not base64 (the only deviation from
# the proto3 JSON mapping besides integer enums, which json_format accepts).
_HEX_ID_KEYS = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)
_CHUNK = 64 * 1024


class OtlpDecodeError(ValueError):
    """The request body is not a valid OTLP request (the message says why)."""


class BodyTooLargeError(OtlpDecodeError):
    """The (decompressed) request body is larger than the configured limit."""


def request_type(signal: Signal) -> type[Message]:
    """The protobuf message class of an export request for ``signal``."""
    return _REQUEST_TYPES[signal]


def decompress(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """Undo a ``Content-Encoding`` (``identity``, ``gzip``, ``deflate``), to at most ``max_bytes``.

    Raises :class:`BodyTooLargeError` as soon as the output would exceed
    ``max_bytes`` and :class:`OtlpDecodeError` for corrupt or truncated data or an
    unsupported encoding.

    >>> import gzip
    >>> decompress(gzip.compress(b"abc"), "gzip", 10)
    b'abc'
    >>> decompress(gzip.compress(b"x" * 100), "gzip", 10)
    Traceback (most recent call last):
    ...
    otel_ml.evaluator._decode.BodyTooLargeError: decompressed body exceeds 10 bytes
    """
    enc = encoding.strip().lower()
    if enc in ("", "identity"):
        if len(body) > max_bytes:
            raise BodyTooLargeError(f"body exceeds {max_bytes} bytes")
        return body
    if enc not in ("gzip", "x-gzip", "deflate"):
        raise OtlpDecodeError(f"unsupported Content-Encoding {encoding!r} (use gzip or deflate)")
    wbits = 31 if enc != "deflate" else 15
    out = bytearray()
    data = body
    try:
        while True:  # one iteration per gzip member
            d = zlib.decompressobj(wbits)
            while data:
                room = max_bytes - len(out)
                chunk = d.decompress(data, min(_CHUNK, room + 1))
                out += chunk
                if len(out) > max_bytes:
                    raise BodyTooLargeError(f"decompressed body exceeds {max_bytes} bytes")
                data = d.unconsumed_tail
                if d.eof:
                    break
            if not d.eof:
                raise OtlpDecodeError(f"truncated {enc} body")
            data = d.unused_data
            if not data or enc == "deflate":
                break
    except zlib.error as exc:
        raise OtlpDecodeError(f"corrupt {enc} body: {exc}") from exc
    return bytes(out)


def _hex_ids_to_base64(node: Any) -> Any:
    """Rewrite OTLP/JSON hex ids as the base64 that ``json_format`` expects (in place)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _HEX_ID_KEYS and isinstance(value, str):
                try:
                    raw = bytes.fromhex(value)
                except ValueError as exc:
                    raise OtlpDecodeError(f"{key} {value[:40]!r} is not hex") from exc
                node[key] = base64.b64encode(raw).decode("ascii")
            else:
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)
    return node


def parse_request(signal: Signal, body: bytes, *, json: bool) -> Message:
    """Parse an export request for ``signal`` from protobuf (``json=False``) or OTLP/JSON.

    >>> parse_request(Signal.TRACES, b"", json=False).ByteSize()
    0
    >>> parse_request(Signal.METRICS, b"\\xff\\xff", json=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    otel_ml.evaluator._decode.OtlpDecodeError: invalid protobuf ExportMetricsServiceRequest: ...
    """
    message = _REQUEST_TYPES[signal]()
    try:
        if json:
            tree = _json.loads(body) if body.strip() else {}
            if not isinstance(tree, dict):
                raise OtlpDecodeError("the JSON body must be an object")
            json_format.ParseDict(_hex_ids_to_base64(tree), message, ignore_unknown_fields=True)
        else:
            message.ParseFromString(body)
    except OtlpDecodeError:
        raise
    except (DecodeError, json_format.ParseError) as exc:
        kind = "OTLP/JSON" if json else "protobuf"
        raise OtlpDecodeError(f"invalid {kind} {type(message).__name__}: {exc}") from exc
    except (ValueError, TypeError, RecursionError, binascii.Error) as exc:
        # json.loads (UnicodeDecodeError and JSONDecodeError are ValueErrors), deep nesting
        raise OtlpDecodeError(f"invalid JSON body: {exc}") from exc
    return message


def batch_id(signal: Signal, body: bytes) -> str:
    """The idempotency key of a request: SHA-256 of the signal and the decompressed body.

    >>> batch_id(Signal.LOGS, b"x") == batch_id(Signal.LOGS, b"x") != batch_id(Signal.METRICS, b"x")
    True
    """
    return hashlib.sha256(signal.value.encode() + b"\0" + body).hexdigest()


def decode_request(
    signal: Signal, message: Message, *, batch_id: str, received_time_unix_nano: int
) -> IngestBatch:
    """Pick otel_ml's records out of a parsed export request.

    Traces are only counted: the batch has no records and ``ignored`` is the
    number of spans.
    """
    if isinstance(message, ExportMetricsServiceRequest):
        return decode_metrics(
            message, batch_id=batch_id, received_time_unix_nano=received_time_unix_nano
        )
    if isinstance(message, ExportLogsServiceRequest):
        return decode_logs(
            message, batch_id=batch_id, received_time_unix_nano=received_time_unix_nano
        )
    if isinstance(message, ExportTraceServiceRequest):
        spans = sum(len(ss.spans) for rs in message.resource_spans for ss in rs.scope_spans)
        return IngestBatch(
            batch_id=batch_id,
            signal=signal,
            ignored=spans,
            received_time_unix_nano=received_time_unix_nano,
        )
    raise TypeError(f"not an OTLP export request: {type(message).__name__}")


def decode_body(
    signal: Signal, body: bytes, *, json: bool, received_time_unix_nano: int | None = None
) -> IngestBatch:
    """:func:`parse_request` then :func:`decode_request` on a decompressed body."""
    message = parse_request(signal, body, json=json)
    return decode_request(
        signal,
        message,
        batch_id=batch_id(signal, body),
        received_time_unix_nano=time.time_ns()
        if received_time_unix_nano is None
        else received_time_unix_nano,
    )
