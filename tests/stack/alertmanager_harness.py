"""A real Alertmanager running the shipped configuration, with local receivers.

Used by test_alertmanager_config.py and test_stack_integration.py. :func:`receivers` starts an
HTTP server that plays Slack (``/slack``) and PagerDuty (``/pagerduty``) and a real SMTP
server (aiosmtpd); :func:`running_alertmanager` starts the Debian
``prometheus-alertmanager`` with ``collector-config/alertmanager/alertmanager.yml`` in
which only endpoints, secrets and wait times are replaced (:func:`local_config`): the
routing tree, receivers, inhibition rules and templates are the shipped ones.
"""

from __future__ import annotations

import copy
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[2]
AM_DIR = ROOT / "collector-config" / "alertmanager"
CONFIG = AM_DIR / "alertmanager.yml"
TEMPLATES = AM_DIR / "templates"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Inbox:
    """What the stand-ins received."""

    http_port: int = 0
    smtp_port: int = 0
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    mails: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def slack(self) -> list[dict[str, Any]]:
        with self.lock:
            return [b for p, b in self.requests if p == "/slack"]

    def pagerduty(self) -> list[dict[str, Any]]:
        with self.lock:
            return [b for p, b in self.requests if p == "/pagerduty"]

    def emails(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.mails)

    def wait(self, *, slack: int = 0, pager: int = 0, mails: int = 0,
             timeout: float = 30) -> None:
        """Until at least that many of each arrived, or ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (len(self.slack()) >= slack and len(self.pagerduty()) >= pager
                    and len(self.emails()) >= mails):
                return
            time.sleep(0.2)


@contextmanager
def receivers() -> Iterator[Inbox]:
    box = Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with box.lock:
                box.requests.append((self.path, json.loads(body)))
            self.send_response(202 if self.path.startswith("/pagerduty") else 200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()

    class Smtp:
        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
            msg = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            with box.lock:
                box.mails.append(msg)
            return "250 OK"

    box.http_port = http.server_address[1]
    box.smtp_port = free_port()
    smtp = Controller(Smtp(), hostname="127.0.0.1", port=box.smtp_port)
    smtp.start()
    try:
        yield box
    finally:
        smtp.stop()
        http.shutdown()
        http.server_close()


def local_config(http_port: int, smtp_port: int) -> dict[str, Any]:
    """The shipped config with local endpoints, inline test secrets and short waits."""
    cfg: dict[str, Any] = copy.deepcopy(yaml.safe_load(CONFIG.read_text()))
    g = cfg["global"]
    for key in ("smtp_auth_username", "smtp_auth_password_file", "slack_api_url_file"):
        g.pop(key)
    g.update(smtp_smarthost=f"127.0.0.1:{smtp_port}", smtp_require_tls=False,
             slack_api_url=f"http://127.0.0.1:{http_port}/slack")
    for receiver in cfg["receivers"]:
        for pd in receiver.get("pagerduty_configs", []):
            pd.pop("routing_key_file")
            pd.update(routing_key="test-routing-key",
                      url=f"http://127.0.0.1:{http_port}/pagerduty")
    cfg["templates"] = [str(TEMPLATES / "*.tmpl")]

    def fast(route: dict[str, Any]) -> None:
        for key in ("group_wait", "group_interval"):
            if key in route:
                route[key] = "1s"
        for child in route.get("routes", []):
            fast(child)

    cfg["route"]["group_wait"] = "1s"
    fast(cfg["route"])
    return cfg


def post_alerts(port: int, alerts: list[dict[str, Any]]) -> None:
    body = json.dumps([{**a, "generatorURL": "http://prometheus:9090/graph"} for a in alerts])
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/alerts", data=body.encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"alertmanager exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"alertmanager not ready: {log.read_text()[-2000:]}")


@contextmanager
def running_alertmanager(box: Inbox, workdir: Path) -> Iterator[int]:
    """A real Alertmanager on a free loopback port; yields the port."""
    if ALERTMANAGER is None:  # pragma: no cover - ./dev setup installs it
        raise RuntimeError("alertmanager not found: run ./dev setup")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(yaml.safe_dump(local_config(box.http_port, box.smtp_port)))
    log = workdir / "alertmanager.log"
    for attempt in range(3):  # another free port if the one picked was taken in between
        port = free_port()
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [ALERTMANAGER, f"--config.file={config}", f"--storage.path={workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port, proc, log)
            break
        except AssertionError:
            proc.kill()
            proc.wait(timeout=10)
            if attempt == 2 or "address already in use" not in log.read_text(errors="replace"):
                raise
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # never leave an Alertmanager behind
            proc.kill()
            proc.wait(timeout=10)
