"""Chunked request bodies on the OTLP/HTTP receiver, byte for byte over a raw socket.

RFC 9112 §7.1: chunk extensions are ignored, trailer fields read and dropped; the
body limit holds on the wire as chunks arrive (413 before the chunk that would cross
it is read); malformed framing is 400 and closes the connection. Every refused
request is counted on ``otel_ml.evaluator.requests`` and logged.
"""

from __future__ import annotations

import gzip
import logging
import socket
from collections.abc import Iterator
from io import BufferedReader

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from otlp_samples import RecordingSink, metrics_data, metrics_request, sum_metric

from otel_ml import semconv
from otel_ml.evaluator._otlp_http import OtlpHttpServer

LIMIT = 4096
BODY = metrics_request(metrics_data([sum_metric(7.0)])).SerializeToString()


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def server(sink: RecordingSink, reader: InMemoryMetricReader) -> Iterator[OtlpHttpServer]:
    meter = MeterProvider(metric_readers=[reader]).get_meter(semconv.EVALUATOR_SCOPE_NAME)
    with OtlpHttpServer(sink, "127.0.0.1", 0, max_body_bytes=LIMIT, meter=meter) as srv:
        yield srv


def _connect(srv: OtlpHttpServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv.port), timeout=10)


def _head(extra: str = "", te: str = "chunked") -> bytes:
    return (
        "POST /v1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/x-protobuf\r\nTransfer-Encoding: {te}\r\n{extra}\r\n"
    ).encode()


def _chunked(body: bytes, sizes: list[int], ext: str = "", trailers: str = "") -> bytes:
    out, i = b"", 0
    for n in sizes:
        out += f"{n:x}{ext}\r\n".encode() + body[i : i + n] + b"\r\n"
        i += n
    assert i == len(body)
    return out + b"0\r\n" + trailers.encode() + b"\r\n"


class _Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


def _read_response(rfile: BufferedReader) -> _Response:
    status_line = rfile.readline()
    assert status_line, "connection closed without an answer"
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while line := rfile.readline().strip():
        k, _, v = line.decode().partition(":")
        headers[k.strip().lower()] = v.strip()
    body = rfile.read(int(headers.get("content-length", "0")))
    return _Response(status, headers, body)


def _exchange(srv: OtlpHttpServer, data: bytes, *, closes: bool = False) -> tuple[_Response, bool]:
    """Send ``data``, read one answer; with ``closes``, also whether the server then closed
    the connection (waiting up to 5 s for it)."""
    with _connect(srv) as s:
        s.sendall(data)
        f = s.makefile("rb")
        resp = _read_response(f)
        if not closes:
            return resp, False
        s.settimeout(5)
        try:
            closed = f.read(1) == b""
        except TimeoutError:
            closed = False
        return resp, closed


def _requests(reader: InMemoryMetricReader) -> dict[tuple[tuple[str, object], ...], float]:
    data = reader.get_metrics_data()
    out: dict[tuple[tuple[str, object], ...], float] = {}
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == semconv.METRIC_EVAL_REQUESTS:
                    for p in m.data.data_points:  # type: ignore[union-attr]
                        out[tuple(sorted(p.attributes.items()))] = p.value  # type: ignore[union-attr]
    return out


def _refused(error_type: str, signal: str | None = "metrics") -> tuple[tuple[str, object], ...]:
    attrs: dict[str, object] = {semconv.ERROR_TYPE: error_type, semconv.OUTCOME: "rejected"}
    if signal is not None:
        attrs[semconv.OTLP_SIGNAL] = signal
    return tuple(sorted(attrs.items()))


def test_chunk_extensions_and_trailers_on_a_kept_alive_connection(
    server: OtlpHttpServer, sink: RecordingSink
) -> None:
    with _connect(server) as s:
        f = s.makefile("rb")
        # extensions (with and without values, BWS before ';'), trailers, odd chunk sizes
        s.sendall(_head() + _chunked(BODY, [1, len(BODY) - 1], ext=' ;a=1;b="x y"',
                                     trailers="X-Checksum: 1\r\nX-Other: 2\r\n"))
        assert _read_response(f).status == 200
        # the same connection again: gzip, upper-case hex, one byte per chunk at the end
        zipped = gzip.compress(BODY)
        sizes = [len(zipped) - 3, 1, 1, 1]
        raw = _chunked(zipped, sizes).replace(f"{sizes[0]:x}\r\n".encode(),
                                              f"{sizes[0]:X}\r\n".encode(), 1)
        s.sendall(_head("Content-Encoding: gzip\r\n") + raw)
        assert _read_response(f).status == 200
        # and a Content-Length request after the chunked ones
        s.sendall(
            b"POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY
        )
        assert _read_response(f).status == 200
    assert [c.value for c in sink.counters()] == [7.0, 7.0, 7.0]


def test_over_the_limit_is_413_before_the_rest_is_read(
    server: OtlpHttpServer, sink: RecordingSink, reader: InMemoryMetricReader
) -> None:
    # one chunk announced over the limit: answered without sending a byte of its data
    resp, closed = _exchange(server, _head() + f"{LIMIT + 1:x}\r\n".encode(), closes=True)
    assert resp.status == 413 and closed
    # chunks that cross the limit together: refused at the chunk that crosses it, whose
    # data is never sent
    head = _head() + b"800\r\n" + b"a" * 0x800 + b"\r\n" + b"7ff\r\n" + b"b" * 0x7FF + b"\r\n"
    resp, closed = _exchange(server, head + b"2\r\n", closes=True)
    assert resp.status == 413 and closed
    # exactly the limit is fine on the wire (and then a bad protobuf: 400, not 413)
    resp, _ = _exchange(server, _head() + _chunked(b"\xff" * LIMIT, [LIMIT]))
    assert resp.status == 400
    # small when chunked, over the limit once decompressed
    big = metrics_request(metrics_data([sum_metric(float(i)) for i in range(300)]))
    zipped = gzip.compress(big.SerializeToString())
    assert len(zipped) < LIMIT < big.ByteSize()
    gz = _head("Content-Encoding: gzip\r\n")
    resp, _ = _exchange(server, gz + _chunked(zipped, [len(zipped)]))
    assert resp.status == 413
    assert sink.batches == []
    too_large = ((semconv.ERROR_TYPE, "too_large"), (semconv.OUTCOME, "rejected"),
                 (semconv.OTLP_SIGNAL, "metrics"))
    assert _requests(reader)[too_large] == 3


@pytest.mark.parametrize(
    ("data", "status", "error_type"),
    [
        (_head() + b"zz\r\n", 400, "bad_framing"),  # not hex
        (_head() + b"-5\r\n", 400, "bad_framing"),
        (_head() + b"\r\n", 400, "bad_framing"),  # empty size
        (_head() + b"1" * 17 + b"\r\n", 400, "bad_framing"),  # more hex digits than int64
        (_head() + b"5\nhello\r\n0\r\n\r\n", 400, "bad_framing"),  # bare LF
        (_head() + b"5\r\nhelloXX0\r\n\r\n", 400, "bad_framing"),  # no CRLF after the data
        (_head() + b"5;" + b"e" * 5000 + b"\r\n", 400, "bad_framing"),  # endless extension
        (_head() + b"0\r\n" + b"X-T: 1\r\n" * 65 + b"\r\n", 400, "bad_framing"),  # trailers
        (_head(f"Content-Length: {len(BODY)}\r\n") + BODY, 400, "bad_framing"),  # both
        (_head(te="gzip, chunked") + b"0\r\n\r\n", 501, "unsupported_transfer_coding"),
    ],
)
def test_malformed_framing_is_refused_counted_and_logged(
    server: OtlpHttpServer,
    sink: RecordingSink,
    reader: InMemoryMetricReader,
    caplog: pytest.LogCaptureFixture,
    data: bytes,
    status: int,
    error_type: str,
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_ml.evaluator"):
        resp, closed = _exchange(server, data, closes=True)
    assert resp.status == status and closed
    assert sink.batches == []
    assert _requests(reader) == {_refused(error_type): 1}
    assert any(error_type in r.getMessage() for r in caplog.records)
    # the server still serves
    resp, _ = _exchange(server, _head() + _chunked(BODY, [len(BODY)]))
    assert resp.status == 200


def test_a_client_gone_mid_chunk_harms_nothing(
    server: OtlpHttpServer, sink: RecordingSink
) -> None:
    with _connect(server) as s:
        s.sendall(_head() + b"100\r\n" + b"x" * 10)
    resp, _ = _exchange(server, _head() + _chunked(BODY, [len(BODY)]))
    assert resp.status == 200 and len(sink.batches) == 1


def test_no_body_framing_is_an_empty_body(server: OtlpHttpServer, sink: RecordingSink) -> None:
    # RFC 9112 §6.3: neither Content-Length nor Transfer-Encoding means no body; an empty
    # protobuf export request is valid (and holds nothing)
    head = b"POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
    resp, _ = _exchange(server, head + b"\r\n")
    assert resp.status == 200 and sink.batches == []


def test_routing_refusals_are_counted(
    server: OtlpHttpServer, reader: InMemoryMetricReader
) -> None:
    ok = b"Content-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n"
    assert _exchange(server, b"POST /v1/nothing HTTP/1.1\r\nHost: x\r\n" + ok)[0].status == 404
    assert _exchange(server, b"GET /v1/metrics HTTP/1.1\r\nHost: x\r\n\r\n")[0].status == 405
    bad_type = b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\r\n"
    assert _exchange(server, bad_type)[0].status == 415
    assert _requests(reader) == {
        _refused("not_found", None): 1,
        _refused("method_not_allowed"): 1,
        _refused("unsupported_media_type", "logs"): 1,
    }
