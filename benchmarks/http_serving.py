"""OTLP/HTTP serving: the evaluator's stdlib server against uvicorn + starlette.

Should the hand-written serving (``_http_serving`` / ``_otlp_http`` / ``_http_body``:
``http.server`` threads, connection cap, idle and read deadlines, chunked bodies)
become a well-kept ASGI stack? Both servers run in their own subprocess and do the
same work per request: check path and content type, read the body under the same
``max_body_bytes`` limit (413 once crossed), ``Receiver.export`` into a sink that
accepts everything, answer the protobuf response. The uvicorn + starlette server is a
faithful prototype (``_starlette_app``): uvicorn with ``limit_concurrency`` as the
connection cap and ``timeout_keep_alive`` as the idle timeout, the export in
starlette's thread pool (it decodes and then blocks on the store).

Measured, in the same run:

- throughput: requests/s and points/s with 1 and 8 keep-alive clients, the body sent
  with Content-Length and chunked;
- slow clients: the same 8-client throughput while 150 idle connections and 50 that
  trickle a header byte every 0.2 s are held open (2 x --seconds), the server's
  threads and RSS, and how many of those 200 it has closed by itself (idle and read
  timeouts 5 s, uvicorn's default keep-alive timeout);
- correctness: chunk extensions and trailers, two requests on one kept-alive
  connection, a chunk announced over the limit (413 before its data?), a malformed
  chunk size, both framings, an unknown transfer coding.

Run: ``python benchmarks/http_serving.py`` (about 2 minutes). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

sys.path.insert(0, str(Path(__file__).parent))
from otlp_receiver import _NullSink, _request

LIMIT = 16 << 20
IDLE_TIMEOUT = 5.0  # uvicorn's default timeout_keep_alive; read_timeout the same
MAX_CONNECTIONS = 256


# ---- the servers (run with --serve KIND in a subprocess) --------------------------------
def _starlette_app(receiver: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from otel_ml.evaluator._otlp_http import _HTTP_STATUS, partial_success_response, rpc_status
    from otel_ml.evaluator._receiver import Outcome
    from otel_ml.evaluator._records import Signal

    async def metrics(request: Request) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip()
        if ctype != "application/x-protobuf":
            return Response(status_code=415)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > LIMIT:
            return Response(status_code=413, headers={"Connection": "close"})
        parts, total = [], 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > LIMIT:  # crossed: stop reading
                return Response(status_code=413, headers={"Connection": "close"})
            parts.append(chunk)
        result = await run_in_threadpool(
            receiver.export, Signal.METRICS, b"".join(parts), json=False,
            content_encoding=request.headers.get("content-encoding", ""),
        )
        if result.outcome is Outcome.ACCEPTED:
            msg = partial_success_response(Signal.METRICS, result.rejected, result.message)
            code = 200
        else:
            code, rpc = _HTTP_STATUS[result.outcome]
            msg = rpc_status(rpc, result.message)
        return Response(msg.SerializeToString(), status_code=code,
                        media_type="application/x-protobuf")

    return Starlette(routes=[Route("/v1/metrics", metrics, methods=["POST"])])


def _serve(kind: str) -> None:
    from otel_ml.evaluator._http_serving import ConnectionLimits
    from otel_ml.evaluator._otlp_http import OtlpHttpServer
    from otel_ml.evaluator._receiver import Receiver

    receiver = Receiver(_NullSink(), max_body_bytes=LIMIT)
    if kind == "stdlib":
        limits = ConnectionLimits(MAX_CONNECTIONS, IDLE_TIMEOUT, IDLE_TIMEOUT)
        srv = OtlpHttpServer(_NullSink(), "127.0.0.1", 0, receiver=receiver, limits=limits)
        srv.start()
        print(srv.port, flush=True)
        threading.Event().wait()
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    http_impl = kind.split("-", 1)[1]  # uvicorn-h11 | uvicorn-httptools
    config = uvicorn.Config(
        _starlette_app(receiver), http=http_impl, loop="asyncio", log_level="error",
        limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=int(IDLE_TIMEOUT),
        backlog=1024,
    )
    uvicorn.Server(config).run(sockets=[sock])


@contextlib.contextmanager
def _server(kind: str) -> Iterator[tuple[int, int]]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        for _ in range(100):  # wait until it accepts
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.05)
        yield port, proc.pid
    finally:
        proc.kill()
        proc.wait()


# ---- clients ---------------------------------------------------------------------------
def _throughput(port: int, body: bytes, clients: int, seconds: float, chunked: bool) -> float:
    """Requests/s over ``clients`` keep-alive connections."""
    counts = [0] * clients
    failures: list[object] = []
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/x-protobuf"}
        try:
            while time.monotonic() < stop:
                if chunked:
                    pieces = (body[k : k + 65536] for k in range(0, len(body), 65536))
                    conn.request("POST", "/v1/metrics", body=pieces, headers=headers,
                                 encode_chunked=True)
                else:
                    conn.request("POST", "/v1/metrics", body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    failures.append(resp.status)
                    return
                counts[i] += 1
        except OSError as exc:
            failures.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        return float("nan")
    return sum(counts) / (time.monotonic() - start)


def _proc(pid: int) -> tuple[int, int]:
    """(threads, RSS MiB) of ``pid``."""
    threads = len(os.listdir(f"/proc/{pid}/task"))
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) // 1024
    return threads, rss


def _slow_clients(port: int, pid: int, body: bytes, seconds: float) -> dict[str, Any]:
    idle = [socket.create_connection(("127.0.0.1", port), 5) for _ in range(150)]
    slow = [socket.create_connection(("127.0.0.1", port), 5) for _ in range(50)]
    stop = threading.Event()

    def trickle() -> None:
        head = b"POST /v1/metrics HTTP/1.1\r\n" + b"X-Slow: y\r\n" * 500
        i = 0
        while not stop.wait(0.2) and i < len(head):
            for s in slow:
                with contextlib.suppress(OSError):
                    s.send(head[i : i + 1])
            i += 1

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    time.sleep(0.5)
    threads, rss = _proc(pid)  # all 200 open
    rate = _throughput(port, body, 8, seconds, chunked=False)
    stop.set()
    closed = 0
    with selectors.DefaultSelector() as sel:
        for s in idle + slow:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        for key, _ in sel.select(timeout=0.5):
            with contextlib.suppress(BlockingIOError):
                try:
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                except OSError:
                    data = b""
                closed += data == b"" or data.startswith(b"HTTP/1.1 503")
    for s in idle + slow:
        s.close()
    return {"rate": rate, "threads": threads, "rss": rss, "closed": closed}


def _raw(port: int, data: bytes, wait: float = 3.0) -> str:
    """The status line answered to ``data`` (all of it sent at once), or what happened."""
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(data)
        s.settimeout(wait)
        got = b""
        try:
            while b"\r\n" not in got:
                piece = s.recv(4096)
                if not piece:
                    return "closed, no answer" if not got else got.decode(errors="replace")
                got += piece
        except TimeoutError:
            return f"no answer in {wait:g} s"
        except ConnectionResetError:
            return "reset"
        return got.split(b"\r\n", 1)[0].decode().replace("HTTP/1.1 ", "")


def _cases(body: bytes) -> list[tuple[str, bytes]]:
    head = (b"POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n")
    te = head + b"Transfer-Encoding: chunked\r\n\r\n"
    one = f"{len(body):x}".encode()
    req = te + one + b";ext=1\r\n" + body + b"\r\n0\r\nX-Trailer: 1\r\n\r\n"
    return [
        ("chunk extensions and trailers", req),
        ("two chunked requests, one connection", req + req),
        ("chunk announced over the limit, no data",
         te + f"{LIMIT + 1:x}".encode() + b"\r\n"),
        ("malformed chunk size", te + b"zz\r\n"),
        ("Content-Length and chunked", head + f"Content-Length: {len(body)}\r\n".encode()
         + b"Transfer-Encoding: chunked\r\n\r\n" + one + b"\r\n" + body + b"\r\n0\r\n\r\n"),
        ("Transfer-Encoding: gzip, chunked", head + b"Transfer-Encoding: gzip, chunked\r\n\r\n"
         + b"0\r\n\r\n"),
    ]


def _second_answer(port: int, data: bytes) -> str:
    """Status lines of both answers on one kept-alive connection."""
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(data)
        s.settimeout(5)
        got = b""
        with contextlib.suppress(TimeoutError):
            while got.count(b"HTTP/1.1 ") < 2:
                piece = s.recv(65536)
                if not piece:
                    break
                got += piece
        codes = [line.split(b" ")[1].decode() for line in got.split(b"\r\n")
                 if line.startswith(b"HTTP/1.1 ")]
        return " + ".join(codes) or "no answer"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--kinds", default="stdlib,uvicorn-h11,uvicorn-httptools",
                        help="servers to measure (uvicorn-httptools needs httptools)")
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve)
        return
    kinds = args.kinds.split(",")
    try:
        import httptools  # noqa: F401
    except ImportError:
        kinds = [k for k in kinds if k != "uvicorn-httptools"]
    body = encode_metrics(_request(args.models, args.features)).SerializeToString()
    small = encode_metrics(_request(1, 5)).SerializeToString()
    n_points = args.models * (args.features + 1)
    perf: dict[str, dict[str, Any]] = {}
    correct: dict[str, list[str]] = {}
    for kind in kinds:
        with _server(kind) as (port, pid):
            r: dict[str, Any] = {}
            _throughput(port, small, 1, 0.5, chunked=False)  # warm up
            r["1 client"] = _throughput(port, body, 1, args.seconds, chunked=False)
            r["8 clients"] = _throughput(port, body, 8, args.seconds, chunked=False)
            r["8 clients, chunked"] = _throughput(port, body, 8, args.seconds, chunked=True)
            r["8 clients, small requests"] = _throughput(port, small, 8, args.seconds, False)
            r["slow"] = _slow_clients(port, pid, body, 2 * args.seconds)
            perf[kind] = r
            answers = []
            for name, data in _cases(small):
                if name.startswith("two"):
                    answers.append(_second_answer(port, data))
                else:
                    answers.append(_raw(port, data))
            correct[kind] = answers
    print(f"request: {n_points} points, {len(body) / 1024:.0f} KiB protobuf; small request: "
          f"{len(small)} bytes; {args.seconds:g} s per measurement, server in a subprocess")
    print()
    print("| requests/s | " + " | ".join(kinds) + " |")
    print("|---|" + "---:|" * len(kinds))
    for row in ("1 client", "8 clients", "8 clients, chunked", "8 clients, small requests"):
        print(f"| {row} | " + " | ".join(f"{perf[k][row]:,.1f}" for k in kinds) + " |")
    print("| 8 clients while 150 idle + 50 slow connections are open | "
          + " | ".join(f"{perf[k]['slow']['rate']:,.1f}" for k in kinds) + " |")
    print("| server threads / RSS MiB with those 200 open | "
          + " | ".join(f"{perf[k]['slow']['threads']} / {perf[k]['slow']['rss']}" for k in kinds)
          + " |")
    print("| of those 200, closed by the server by then | "
          + " | ".join(str(perf[k]["slow"]["closed"]) for k in kinds) + " |")
    print()
    print("| case | " + " | ".join(kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for i, (name, _) in enumerate(_cases(small)):
        print(f"| {name} | " + " | ".join(correct[k][i] for k in kinds) + " |")
    print()
    print(json.dumps({"points_per_request": n_points}))


if __name__ == "__main__":
    main()
