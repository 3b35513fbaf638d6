"""Idle and slow connections cannot take the evaluator down.

Every listener caps its connections (one more is answered 503 and closed at once),
closes a connection idle for ``idle_timeout`` and one whose request trickles in for
longer than ``read_timeout``. With the open-file limit of a small container, a flood
of idle and slow connections on the API port must leave OTLP/HTTP and gRPC ingestion
working (before, 1,017 idle API connections exhausted 1,024 file descriptors and
every port timed out). Loopback only; the number of sockets is bounded.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from evaluator_wire import EvaluatorProcess, metrics_body, model_attrs, post
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from otlp_samples import RecordingSink, metrics_data, metrics_request, sum_metric

from otel_ml import semconv as sc
from otel_ml.evaluator._http_serving import ConnectionLimits
from otel_ml.evaluator._otlp_grpc import SERVICE_NAMES
from otel_ml.evaluator._otlp_http import OtlpHttpServer
from otel_ml.evaluator._records import Signal

BODY = metrics_request(metrics_data([sum_metric(1.0)])).SerializeToString()
REQUEST = (
    b"POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
    + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY
)


def _closed_within(s: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed ``s`` (reading and dropping what it sends), or None."""
    start = time.monotonic()
    s.settimeout(0.1)
    while (elapsed := time.monotonic() - start) < seconds:
        try:
            if s.recv(65536) == b"":
                return elapsed
        except TimeoutError:
            continue
        except ConnectionResetError:
            return elapsed
    return None


def _still_open_after(socks: list[socket.socket], seconds: float) -> int:
    """How many of ``socks`` the server has not closed within ``seconds``."""
    left = set(socks)
    with selectors.DefaultSelector() as sel:
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        deadline = time.monotonic() + seconds
        while left and (wait := deadline - time.monotonic()) > 0:
            for key, _ in sel.select(timeout=min(wait, 0.2)):
                s = key.fileobj  # type: ignore[assignment]
                try:
                    data = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data == b"":
                    sel.unregister(s)
                    left.discard(s)
    return len(left)


def _closed(reader: InMemoryMetricReader) -> dict[str, float]:
    data = reader.get_metrics_data()
    out: dict[str, float] = {}
    for rm in data.resource_metrics if data is not None else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == sc.METRIC_EVAL_CONNECTIONS_CLOSED:
                    for p in m.data.data_points:  # type: ignore[union-attr]
                        out[str(p.attributes[sc.OTEL_ML_REASON])] = p.value  # type: ignore[union-attr]
    return out


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def server(reader: InMemoryMetricReader) -> Iterator[OtlpHttpServer]:
    meter = MeterProvider(metric_readers=[reader]).get_meter(sc.EVALUATOR_SCOPE_NAME)
    limits = ConnectionLimits(max_connections=4, idle_timeout=0.6, read_timeout=1.0)
    with OtlpHttpServer(RecordingSink(), "127.0.0.1", 0, meter=meter, limits=limits) as srv:
        yield srv


def _connect(srv: OtlpHttpServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv.port), timeout=10)


def test_idle_connections_are_closed_after_the_idle_timeout(
    server: OtlpHttpServer, reader: InMemoryMetricReader
) -> None:
    with _connect(server) as never_speaks, _connect(server) as kept_alive:
        kept_alive.sendall(REQUEST)
        assert kept_alive.recv(12) == b"HTTP/1.1 200"
        # both idle from here: closed after ~0.6 s (checked every 0.1 s), not before
        t1, t2 = _closed_within(never_speaks, 5), _closed_within(kept_alive, 5)
        assert t1 is not None and 0.3 < t1 < 2.0, t1
        assert t2 is not None and t2 < 2.0, t2
    assert _closed(reader) == {"idle_timeout": 2}


def test_a_request_that_trickles_in_is_cut_at_the_read_timeout(
    server: OtlpHttpServer, reader: InMemoryMetricReader
) -> None:
    line, rest = REQUEST.split(b"\r\n", 1)
    with _connect(server) as s:
        s.sendall(line + b"\r\n")  # the request line at once, then a byte every 50 ms:
        start = time.monotonic()  # never idle for long, never done
        cut = None
        for byte in rest[:-1]:
            try:
                s.sendall(bytes([byte]))
            except OSError:
                cut = time.monotonic() - start
                break
            time.sleep(0.05)
            if _closed_within(s, 0.001) is not None:
                cut = time.monotonic() - start
                break
        assert cut is not None and 0.8 < cut < 3.0, cut  # 1 s after the request line
    assert _closed(reader) == {"read_timeout": 1}


def test_one_connection_over_the_cap_gets_503_and_is_closed(
    server: OtlpHttpServer, reader: InMemoryMetricReader
) -> None:
    held = [_connect(server) for _ in range(4)]
    try:
        time.sleep(0.2)  # all four accepted
        with _connect(server) as extra:
            extra.settimeout(5)
            answer = extra.recv(4096)
            assert answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in answer
            assert _closed_within(extra, 5) is not None
    finally:
        for s in held:
            s.close()
    # once they are gone, requests are served again
    time.sleep(0.3)
    assert post(server.url, "/v1/metrics", BODY)[0] == 200
    assert _closed(reader)["connections_full"] == 1


# ---- a real evaluator with a small open-file limit -------------------------------------
FLOOD = 300  # sockets at the API port at once (more than the evaluator's file limit)
MAX_OPEN_FILES = 256


def _grpc_export(target: str, body: bytes) -> None:
    with grpc.insecure_channel(target) as channel:
        export = channel.unary_unary(f"/{SERVICE_NAMES[Signal.METRICS]}/Export")
        export(body, timeout=10)


def _ingest_works(ep: dict[str, str], k: int) -> None:
    body = metrics_body([(sc.METRIC_PREDICT_CALLS, 1.0, model_attrs("flood", pod=str(k)))],
                        t_ns=time.time_ns() + k)
    assert post(ep["otlp_http"], "/v1/metrics", body, timeout=10)[0] == 200
    _grpc_export(ep["otlp_grpc"], body + b"")  # same batch again is fine (deduplicated)


@contextlib.contextmanager
def _flood(port: int, n: int, *, slow: bool) -> Iterator[list[socket.socket]]:
    """``n`` connections to ``port``; ``slow``: each sends a header byte every 0.2 s."""
    socks: list[socket.socket] = []
    stop = threading.Event()
    try:
        for _ in range(n):
            s = socket.socket()
            s.settimeout(5)
            s.connect(("127.0.0.1", port))
            socks.append(s)

        def trickle() -> None:
            head = b"GET /healthz HTTP/1.1\r\n" + b"X-Slow: y\r\n" * 1000
            i = 0
            while not stop.wait(0.2) and i < len(head):
                for s in socks:
                    with contextlib.suppress(OSError):
                        s.send(head[i : i + 1])
                i += 1

        t = threading.Thread(target=trickle, daemon=True)
        if slow:
            t.start()
        yield socks
    finally:
        stop.set()
        for s in socks:
            s.close()


def _api_answers(url: str) -> bool:
    """Whether ``url`` answers 200 within 5 s (503 + Retry-After while the server is
    still releasing the connections it has just closed)."""
    deadline = time.monotonic() + 5
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return bool(r.status == 200)
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or time.monotonic() > deadline:
                return False
            time.sleep(0.1)


def test_a_flooded_api_port_leaves_ingestion_working(tmp_path: Path) -> None:
    cfg = tmp_path / "evaluator.yaml"
    cfg.write_text(
        "state_dir: state\n"
        "receivers:\n"
        "  http: {port: 0, max_connections: 64}\n"
        "  grpc: {port: 0, max_connections: 32, read_timeout: 2s}\n"
        "api: {port: 0, max_connections: 32, idle_timeout: 2s, read_timeout: 3s}\n"
        "windows: {size: 1h}\n"
    )
    ev = EvaluatorProcess(cfg, log=tmp_path / "ev.log", max_open_files=MAX_OPEN_FILES)
    try:
        ep = ev.endpoints
        api_port = int(ep["api"].rsplit(":", 1)[1])
        _ingest_works(ep, 0)
        for slow in (False, True):
            with _flood(api_port, FLOOD, slow=slow) as socks:
                time.sleep(0.5)
                for k in range(3):  # while the flood holds every API connection it may
                    _ingest_works(ep, k + (10 if slow else 1))
                # the API kept at most its cap; the rest were answered 503 and closed
                fds = len(list(Path(f"/proc/{ev.pid}/fd").iterdir()))
                assert fds < MAX_OPEN_FILES - 64, fds
                # and closes its own after the idle (2 s) or read (3 s) timeout
                left = _still_open_after(socks, 8)
                assert left == 0, f"{left} of {FLOOD} connections still open"
            assert _api_answers(ep["api"] + "/healthz")
        # the OTLP/HTTP port flooded with idle connections: gRPC still ingests
        http_port = int(ep["otlp_http"].rsplit(":", 1)[1])
        body = metrics_body([(sc.METRIC_PREDICT_CALLS, 1.0, model_attrs("flood"))],
                            t_ns=time.time_ns())
        with _flood(http_port, 80, slow=False):
            time.sleep(0.5)
            _grpc_export(ep["otlp_grpc"], body)
        # the gRPC port flooded with connections that never finish the HTTP/2 handshake:
        # OTLP/HTTP still ingests, gRPC closes them after read_timeout and serves again
        grpc_port = int(ep["otlp_grpc"].rsplit(":", 1)[1])
        with _flood(grpc_port, 100, slow=False) as socks:
            time.sleep(0.5)
            assert post(ep["otlp_http"], "/v1/metrics", body, timeout=10)[0] == 200
            assert len(list(Path(f"/proc/{ev.pid}/fd").iterdir())) < MAX_OPEN_FILES - 64
            assert _still_open_after(socks, 6) == 0
        _grpc_export(ep["otlp_grpc"], body)
        assert ev.proc.poll() is None
    finally:
        assert ev.stop() == 0
    log = (tmp_path / "ev.log").read_text()
    assert "api: closed a connection (connections_full" in log
    assert "Too many open files" not in log


def test_an_open_file_limit_below_the_caps_is_named_at_start(tmp_path: Path) -> None:
    cfg = tmp_path / "evaluator.yaml"
    cfg.write_text("state_dir: state\nreceivers: {http: {port: 0}, grpc: {port: 0}}\n"
                   "api: {port: 0}\n")
    ev = EvaluatorProcess(cfg, log=tmp_path / "ev.log", max_open_files=200)
    assert ev.stop() == 0
    log = (tmp_path / "ev.log").read_text()
    assert ("the open-file limit (200) is below what the connection caps need "
            "(receivers.http.max_connections 256 + receivers.grpc.max_connections 256 + "
            "api.max_connections 64, + 128)") in log
