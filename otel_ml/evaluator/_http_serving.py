"""A standard-library HTTP server run in a background thread.

What the OTLP/HTTP receiver (:class:`~otel_ml.evaluator.OtlpHttpServer`) and the
API (:class:`~otel_ml.evaluator.ApiServer`) share: the bound port, the base URL,
start, stop and ``with``. Each builds its own ``ThreadingHTTPServer`` (handler,
TLS, connection limits) and hands it over.

Examples
--------
>>> from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
>>> srv = BackgroundHttpServer(
...     ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler),
...     "127.0.0.1", secure=False, thread_name="example", poll_interval=0.1,
... )
>>> with srv:
...     srv.url == f"http://127.0.0.1:{srv.port}"
True
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import TypeVar

__all__ = ["BackgroundHttpServer"]

_S = TypeVar("_S", bound="BackgroundHttpServer")


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
        Of the serving thread (``poll_interval``: how fast :meth:`stop` is noticed).
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
        """Stop accepting, close what :meth:`_close_connections` closes, release the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._close_connections()
        self._server.server_close()

    def _close_connections(self) -> None:
        """Close open connections before the listening socket (nothing by default)."""

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
