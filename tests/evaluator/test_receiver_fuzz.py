"""Malformed input never takes the receivers down (Hypothesis fuzzing, live servers)."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
import time
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from otlp_samples import (
    PREDICTION_EVENT,
    RecordingSink,
    exp_metric,
    explicit_metric,
    logs_request,
    metrics_data,
    metrics_request,
    sketch_point,
    sum_metric,
    to_otlp_json,
)

from otel_ml.evaluator._decode import OtlpDecodeError, decode_body
from otel_ml.evaluator._http_serving import ConnectionLimits
from otel_ml.evaluator._otlp_grpc import SERVICE_NAMES, OtlpGrpcServer
from otel_ml.evaluator._otlp_http import OtlpHttpServer
from otel_ml.evaluator._records import IngestBatch, Signal
from otel_ml.evaluator._temporality import DeltaSink

VALID_METRICS = metrics_request(
    metrics_data(
        [
            exp_metric([sketch_point([-3.0, 0.0, 0.5, 2.0, 1e6], "f")]),
            sum_metric(4),
            explicit_metric([1, 2, 3], [0.1, 1.0], total=3.0),
        ]
    )
).SerializeToString()
VALID_LOGS = logs_request([PREDICTION_EVENT])[0].SerializeToString()
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _decodes_or_rejects(signal: Signal, body: bytes, *, json_mode: bool) -> None:
    try:
        batch = decode_body(signal, body, json=json_mode)
    except OtlpDecodeError:
        return
    assert isinstance(batch, IngestBatch)
    # whatever was decoded must also survive the temporality stage
    DeltaSink(RecordingSink()).submit(batch)


@FUZZ
@given(st.binary(max_size=2048), st.sampled_from(list(Signal)), st.booleans())
def test_random_bytes(body: bytes, signal: Signal, json_mode: bool) -> None:
    _decodes_or_rejects(signal, body, json_mode=json_mode)


@FUZZ
@given(st.data())
def test_truncated_and_bit_flipped_requests(data: st.DataObject) -> None:
    signal, valid = data.draw(
        st.sampled_from([(Signal.METRICS, VALID_METRICS), (Signal.LOGS, VALID_LOGS)])
    )
    body = bytearray(valid[: data.draw(st.integers(0, len(valid)))])
    for _ in range(data.draw(st.integers(0, 4))):
        if body:
            i = data.draw(st.integers(0, len(body) - 1))
            body[i] ^= 1 << data.draw(st.integers(0, 7))
    _decodes_or_rejects(signal, bytes(body), json_mode=False)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["traceId", "spanId", "resourceMetrics", "scopeMetrics", "metrics",
                         "dataPoints", "attributes", "key", "value", "stringValue", "sum",
                         "exponentialHistogram", "timeUnixNano", "count", "x"]),
        children, max_size=4,
    ),
    max_leaves=20,
)


@settings(max_examples=80, deadline=None)
@given(_json_values)
def test_random_json_trees(tree: object) -> None:
    body = json.dumps({"resourceMetrics": [tree]}).encode()
    _decodes_or_rejects(Signal.METRICS, body, json_mode=True)


@FUZZ
@given(st.data())
def test_mutated_otlp_json(data: st.DataObject) -> None:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    text = json.dumps(to_otlp_json(ExportMetricsServiceRequest.FromString(VALID_METRICS)))
    i = data.draw(st.integers(0, len(text) - 1))
    j = data.draw(st.integers(i, min(len(text), i + 20)))
    mutated = text[:i] + data.draw(st.text(max_size=10)) + text[j:]
    _decodes_or_rejects(Signal.METRICS, mutated.encode(), json_mode=True)


@pytest.fixture(scope="module")
def http_server() -> Iterator[OtlpHttpServer]:
    with OtlpHttpServer(RecordingSink(), "127.0.0.1", 0, max_body_bytes=1 << 16,
                        limits=ConnectionLimits(read_timeout=0.5)) as srv:
        yield srv


def _post(srv: OtlpHttpServer, path: str, body: bytes, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def _still_serving(srv: OtlpHttpServer) -> None:
    assert _post(srv, "/v1/metrics", VALID_METRICS,
                 {"Content-Type": "application/x-protobuf"}) == 200


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.binary(max_size=4096),
    path=st.sampled_from(["/v1/metrics", "/v1/logs", "/v1/traces"]),
    ctype=st.sampled_from(["application/x-protobuf", "application/json"]),
    encoding=st.sampled_from(["", "gzip", "deflate"]),
    gzip_it=st.booleans(),
)
def test_http_server_answers_every_random_request(
    http_server: OtlpHttpServer, body: bytes, path: str, ctype: str, encoding: str,
    gzip_it: bool,
) -> None:
    if gzip_it and encoding == "gzip":
        body = gzip.compress(body)
    headers = {"Content-Type": ctype}
    if encoding:
        headers["Content-Encoding"] = encoding
    assert _post(http_server, path, body, headers) in (200, 400)


def _raw(srv: OtlpHttpServer, head: bytes, body: bytes = b"", *, close: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(head + body)
        if close:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            pass
        return b"".join(chunks)


def test_http_hostile_requests(http_server: OtlpHttpServer) -> None:
    req = b"POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
    assert _raw(http_server, req + b"Content-Length: " + b"9" * 40 + b"\r\n\r\n").startswith(
        b"HTTP/1.1 413"
    )
    assert b" 400 " in _raw(http_server, req + b"Content-Length: -5\r\n\r\n")
    assert b" 400 " in _raw(http_server, req + b"Content-Length: abc\r\n\r\n")
    assert b" 400 " in _raw(http_server, req + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n")
    # chunked bodies are read (tests/evaluator/test_receiver_chunked.py has the details)
    assert b" 200 " in _raw(http_server, req + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    # a body shorter than declared, then the client goes away
    assert _raw(http_server, req + b"Content-Length: 1000\r\n\r\n", b"\x0a\x02") == b""
    # a client that stalls mid-body is cut off by the read timeout
    start = time.monotonic()
    _raw(http_server, req + b"Content-Length: 1000\r\n\r\n", b"\x0a", close=False)
    assert time.monotonic() - start < 4
    # garbage instead of HTTP (a TLS hello, a bad request line): an error page, no crash
    assert b"Bad request" in _raw(http_server, b"\x16\x03\x01\x02\x00\x01\xfc\x03\x03" * 50)
    assert b"Error code: 505" in _raw(http_server, b"GARBAGE / HTTP/9.9\r\n\r\n")
    # headers bomb
    answer = _raw(http_server, b"POST /v1/metrics HTTP/1.1\r\n" + b"X: y\r\n" * 500 + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431")
    # gzip bomb: 64 MiB of zeros, ~64 kB on the wire, limit 64 kB
    bomb = gzip.compress(b"\0" * (64 << 20))
    head = (req + b"Content-Encoding: gzip\r\nContent-Length: "
            + str(len(bomb)).encode() + b"\r\n\r\n")
    assert _raw(http_server, head, bomb).startswith(b"HTTP/1.1 413")
    _still_serving(http_server)


@pytest.fixture(scope="module")
def grpc_server() -> Iterator[OtlpGrpcServer]:
    with OtlpGrpcServer(RecordingSink(), "127.0.0.1", 0) as srv:
        yield srv


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=4096), signal=st.sampled_from(list(Signal)))
def test_grpc_server_answers_every_random_request(
    grpc_server: OtlpGrpcServer, body: bytes, signal: Signal
) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{grpc_server.port}") as channel:
        call = channel.unary_unary(f"/{SERVICE_NAMES[signal]}/Export")
        try:
            call(body, timeout=10)
        except grpc.RpcError as err:
            assert err.code() is grpc.StatusCode.INVALID_ARGUMENT
        ok = channel.unary_unary(f"/{SERVICE_NAMES[Signal.METRICS]}/Export")
        ok(VALID_METRICS, timeout=10)
