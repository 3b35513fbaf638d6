"""Real loopback peers for the alerting tests: HTTP receivers, SMTP, Alertmanager.

``HttpReceiver`` records JSON posts and answers like the service it stands in
for (``validate`` returns an HTTP status and body, e.g. PagerDuty's 202 or 400).
``SmtpServer`` is aiosmtpd (optionally with STARTTLS and AUTH, or deferring the
first messages with 451).
``Alertmanager`` runs the real ``prometheus-alertmanager`` binary.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Validator = Callable[[str, Any], tuple[int, Any]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any
    status: int


@dataclass
class HttpReceiver:
    """A JSON-over-HTTP endpoint on 127.0.0.1 that records what it accepted."""

    validate: Validator = lambda path, body: (200, {"ok": True})
    port: int = 0
    requests: list[Request] = field(default_factory=list)
    down: bool = False  # answer 503 to everything
    delay: float = 0.0  # seconds to wait before answering

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if receiver.delay:
                    time.sleep(receiver.delay)
                try:
                    body = json.loads(raw)
                except ValueError:
                    status, answer = 400, {"error": "invalid JSON"}
                    body = raw
                else:
                    if receiver.down:
                        status, answer = 503, {"error": "down"}
                    else:
                        status, answer = receiver.validate(self.path, body)
                with receiver.lock:
                    receiver.requests.append(
                        Request(self.path, dict(self.headers.items()), body, status)
                    )
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def accepted(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpServer:
    """aiosmtpd on 127.0.0.1, keeping every message it receives."""

    def __init__(
        self,
        *,
        tls_context: Any = None,
        credentials: tuple[str, str] | None = None,
        defer: int = 0,
    ) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        self.messages: list[tuple[str, list[str], bytes]] = []
        self.deferred: list[bytes] = []  # answered 451 (try again later): the first `defer`
        self.logins: list[str] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if len(outer.deferred) < defer:
                    outer.deferred.append(bytes(envelope.content))
                    return "451 4.3.0 try again later"
                outer.messages.append(
                    (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
                )
                return "250 OK"

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                          auth_data: Any) -> AuthResult:
            ok = (
                credentials is not None
                and isinstance(auth_data, LoginPassword)
                and (auth_data.login.decode(), auth_data.password.decode()) == credentials
            )
            if ok:
                outer.logins.append(auth_data.login.decode())
            return AuthResult(success=ok)

        kwargs: dict[str, Any] = {}
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        if credentials is not None:
            kwargs.update(authenticator=authenticator, auth_required=True,
                          auth_require_tls=tls_context is not None)
        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


ALERTMANAGER_CONFIG = """
route:
  receiver: hook
  group_by: [alert_id]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {hook_url}
        send_resolved: true
"""


class Alertmanager:
    """The real Alertmanager on 127.0.0.1, clustering off, forwarding to ``hook_url``."""

    BINARY = "prometheus-alertmanager"

    def __init__(self, workdir: Path, hook_url: str) -> None:
        binary = shutil.which(self.BINARY)
        if binary is None:
            raise RuntimeError(
                "prometheus-alertmanager is not installed; run ./dev setup (Debian package "
                "prometheus-alertmanager)"
            )
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "alertmanager.yml"
        config.write_text(ALERTMANAGER_CONFIG.format(hook_url=hook_url))
        self.log = (workdir / "alertmanager.log").open("wb")
        # The binary cannot take port 0 and report it: pick a free port, and pick another if
        # something else took it in between (Alertmanager then exits at once).
        for _attempt in range(3):
            self.port = free_port()
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.path={workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",
                    "--log.level=debug",
                ],
                stdout=self.log,
                stderr=subprocess.STDOUT,
            )
            try:
                if wait_for(self._ready, timeout=20.0, interval=0.1):
                    return
            except RuntimeError:  # it exited during start-up: try another port
                continue
            self.stop()  # alive but never ready
            raise RuntimeError(f"alertmanager did not become ready; see {workdir}/alertmanager.log")
        self.log.close()
        raise RuntimeError(f"alertmanager kept exiting at start-up; see {workdir}/alertmanager.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"alertmanager exited with {self.process.returncode}")
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts?active=true", timeout=5) as r:
            return list(json.loads(r.read()))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.log.close()
