"""The standard-library HTTP serving shared by the OTLP/HTTP receiver and the API.

:class:`LimitedHttpServer` is a ``ThreadingHTTPServer`` (one thread per connection)
that cannot be exhausted by connections that do nothing:

- at most ``max_connections`` open connections; one more is answered ``503`` with
  ``Retry-After`` (plain HTTP) and closed at once, so it costs no thread;
- a connection waiting for a request (the first one, TLS handshake included, or
  the next one on a kept-alive connection) is closed after ``idle_timeout``;
- a request must arrive whole (request line, headers, body) within
  ``read_timeout`` of its request line, however slowly it trickles in;
- reads and writes also time out singly after ``max(idle_timeout, read_timeout)``;
- the listen backlog is 1,024 (socketserver's 5 made bursts of connections wait 1 s).

Deadlines are enforced by the accept loop (``service_actions``, every poll
interval), which shuts the socket down under the blocked handler thread. Every
connection closed this way is counted on
``otel_ml.evaluator.connections.closed{otel_ml.listener, otel_ml.reason}`` and
logged (at most once a minute per listener and reason). TLS handshakes run in the
connection's own thread.

:class:`BackgroundHttpServer` runs a bound server in a daemon thread: port, base
URL, start, stop and ``with``.

Examples
--------
>>> from http.server import BaseHTTPRequestHandler
>>> server = LimitedHttpServer(("127.0.0.1", 0), TimedHandler, ConnectionLimits(),
...                            listener="example")
>>> srv = BackgroundHttpServer(server, "127.0.0.1", secure=False, thread_name="example",
...                            poll_interval=0.1)
>>> with srv:
...     srv.url == f"http://127.0.0.1:{srv.port}"
True
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from opentelemetry.metrics import Meter, NoOpMeter

from otel_ml import semconv
from otel_ml.evaluator._log_throttle import ThrottledLog

__all__ = ["BackgroundHttpServer", "ConnectionLimits", "LimitedHttpServer", "TimedHandler"]

_logger = logging.getLogger(__name__)

_S = TypeVar("_S", bound="BackgroundHttpServer")

_CONNECTIONS_FULL = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)
FULL = "connections_full"
IDLE = "idle_timeout"
READ = "read_timeout"


@dataclass(frozen=True)
class ConnectionLimits:
    """How many connections a listener keeps open, and for how long they may do nothing.

    >>> ConnectionLimits(max_connections=0)
    Traceback (most recent call last):
    ...
    ValueError: max_connections must be at least 1, got 0
    """

    max_connections: int = 256
    idle_timeout: float = 30.0
    read_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {self.max_connections}")
        for name in ("idle_timeout", "read_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


class _Connection:
    """One open connection: its socket (TLS once wrapped) and when it must be done."""

    __slots__ = ("deadline", "reason", "sock")

    def __init__(self, sock: socket.socket, deadline: float | None, reason: str) -> None:
        self.sock = sock
        self.deadline = deadline
        self.reason = reason


class LimitedHttpServer(ThreadingHTTPServer):
    """A threading HTTP server with a connection cap and idle / read deadlines.

    Parameters
    ----------
    address, handler
        As for ``ThreadingHTTPServer``; ``handler`` should derive from
        :class:`TimedHandler` (which moves the deadlines along a request).
    limits
        The cap and the timeouts.
    listener
        Its name on the self-metric and in the log (``otlp_http``, ``api``).
    ssl_context
        Serve TLS (the handshake runs in the connection's thread).
    meter
        For ``otel_ml.evaluator.connections.closed`` (none when omitted).
    """

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a burst of new connections then waits
    # 1 s per SYN the kernel drops (300 connects took 44 s); the kernel caps this at
    # net.core.somaxconn. Connections waiting here hold no file descriptor of ours.
    request_queue_size = 1024

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        limits: ConnectionLimits,
        *,
        listener: str,
        ssl_context: ssl.SSLContext | None = None,
        meter: Meter | None = None,
    ) -> None:
        super().__init__(address, handler)
        self.limits = limits
        self.listener = listener
        self.ssl_context = ssl_context
        self._lock = threading.Lock()
        self._open: dict[socket.socket, _Connection] = {}
        self._local = threading.local()
        self._log = ThrottledLog(_logger)
        m = meter if meter is not None else NoOpMeter(semconv.EVALUATOR_SCOPE_NAME)
        self._closed = m.create_counter(
            semconv.METRIC_EVAL_CONNECTIONS_CLOSED,
            unit="{connection}",
            description="Connections the evaluator closed: over the cap, idle, or too slow",
        )

    @property
    def open_connections(self) -> int:
        """How many connections are open now."""
        with self._lock:
            return len(self._open)

    # ---- accept: the cap ----------------------------------------------------------------
    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            full = len(self._open) >= self.limits.max_connections
            if not full:
                deadline = time.monotonic() + self.limits.idle_timeout
                self._open[request] = _Connection(request, deadline, IDLE)
        if full:
            self._count_closed(FULL, client_address)
            try:
                if self.ssl_context is None:
                    request.sendall(_CONNECTIONS_FULL)
            except OSError:
                pass  # the client is gone already; nothing to answer
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._lock:
            conn = self._open[request]
        self._local.conn = conn
        sock = request
        try:
            sock.settimeout(max(self.limits.idle_timeout, self.limits.read_timeout))
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(request, server_side=True)
                with self._lock:
                    conn.sock = sock
            self.finish_request(sock, client_address)
        except (OSError, ssl.SSLError) as exc:
            _logger.debug("%s: connection from %s ended: %r", self.listener, client_address, exc)
        except Exception:  # a handler bug: log it, keep serving
            _logger.exception("%s: request from %s failed", self.listener, client_address)
        finally:
            self.shutdown_request(sock)
            with self._lock:
                self._open.pop(request, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        _logger.debug("%s: connection error from %s", self.listener, client_address,
                      exc_info=True)

    # ---- deadlines (called by the handler of the connection's thread) -------------------
    def set_deadline(self, reason: str | None) -> None:
        """From now on, the current connection must be done within ``idle_timeout``
        (``IDLE``) or ``read_timeout`` (``READ``); ``None``: no deadline (serving)."""
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            return
        if reason is None:
            deadline = None
        else:
            timeout = self.limits.idle_timeout if reason == IDLE else self.limits.read_timeout
            deadline = time.monotonic() + timeout
        with self._lock:
            conn.deadline, conn.reason = deadline, reason or ""

    def service_actions(self) -> None:
        """Close the connections past their deadline (runs in the accept loop)."""
        now = time.monotonic()
        with self._lock:
            late = [c for c in self._open.values() if c.deadline is not None and c.deadline <= now]
            for c in late:
                c.deadline = None  # once
        for c in late:
            self._count_closed(c.reason, None)  # first: the client sees the close after
            _shutdown(c.sock)

    def _count_closed(self, reason: str, client: Any) -> None:
        self._closed.add(1, {semconv.OTEL_ML_LISTENER: self.listener,
                             semconv.OTEL_ML_REASON: reason})
        self._log.warning(
            f"{self.listener}:{reason}",
            "%s: closed a connection (%s; at most %d connections, idle timeout %g s, "
            "read timeout %g s)",
            self.listener, reason, self.limits.max_connections, self.limits.idle_timeout,
            self.limits.read_timeout,
        )

    def close_all(self) -> None:
        """Shut down every open connection (on stop)."""
        with self._lock:
            socks = [c.sock for c in self._open.values()]
        for s in socks:
            _shutdown(s)


def _shutdown(sock: socket.socket) -> None:
    # socket.socket's own shutdown, also for an SSLSocket: wakes the thread blocked on it
    # without touching the TLS object that thread is using.
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the peer


class TimedHandler(BaseHTTPRequestHandler):
    """A handler that moves its connection's deadline along each request.

    Waiting for a request: idle deadline; request line received: read deadline
    (headers and body); :meth:`serving` once the request is read: none.
    """

    server: LimitedHttpServer
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: the headers and the body of an answer are two writes; with Nagle's
    # algorithm the second waits for the client's delayed ACK (up to 40 ms per request)
    disable_nagle_algorithm = True

    def handle_one_request(self) -> None:
        self.server.set_deadline(IDLE)
        super().handle_one_request()

    def parse_request(self) -> bool:
        self.server.set_deadline(READ)
        return super().parse_request()

    def serving(self) -> None:
        """The request is read: no deadline while it is handled."""
        self.server.set_deadline(None)


class BackgroundHttpServer:
    """Serves ``server`` (already bound) in a daemon thread between :meth:`start`
    and :meth:`stop`.

    Parameters
    ----------
    server
        The bound server.
    host
        The host of :attr:`url`.
    secure
        Whether connections are TLS (``https`` in :attr:`url`).
    thread_name, poll_interval
        Of the serving thread (``poll_interval``: how fast :meth:`stop` is noticed
        and how often deadlines are checked).
    """

    def __init__(
        self,
        server: ThreadingHTTPServer,
        host: str,
        *,
        secure: bool,
        thread_name: str,
        poll_interval: float,
    ) -> None:
        self._server = server
        self._host = host
        self._secure = secure
        self._thread_name = thread_name
        self._poll_interval = poll_interval
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (useful with ``port=0``)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:4318``."""
        scheme = "https" if self._secure else "http"
        return f"{scheme}://{self._host}:{self.port}"

    def start(self) -> None:
        """Serve in a background thread (a second call does nothing)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": self._poll_interval},
            name=self._thread_name,
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close the open connections, release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        if isinstance(self._server, LimitedHttpServer):
            self._server.close_all()
        self._server.server_close()

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
