"""alertmanager.yml and its templates, checked with amtool and a real Alertmanager.

The end-to-end test runs the Debian `prometheus-alertmanager` with the shipped routing
tree, receivers and templates; only endpoints, secrets and wait times are swapped for
local stand-ins: an HTTP server playing Slack and PagerDuty, and a real SMTP server
(aiosmtpd). Alerts of each severity are posted to its API v2 and the test checks who
received what, and that the rendered messages read well.
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

import pytest
import yaml
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[2]
AM_DIR = ROOT / "collector-config" / "alertmanager"
CONFIG = AM_DIR / "alertmanager.yml"
TEMPLATES = AM_DIR / "templates"

AMTOOL = shutil.which("amtool")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
if AMTOOL is None or ALERTMANAGER is None:  # pragma: no cover - ./dev setup installs them
    raise RuntimeError("amtool/alertmanager not found: run ./dev setup")

LATENCY_ALERT: dict[str, Any] = {
    "labels": {"alertname": "MLModelLatencyP95High", "severity": "warning",
               "component": "model", "ml_model_name": "churn", "ml_model_version": "3"},
    "annotations": {
        "summary": "churn v3: p95 predict latency 242.5ms",
        "description": "The 95th percentile of predict-call duration for model churn "
                       "version 3 has been above 100 ms for 5 minutes (now 242.5ms).",
        "runbook_url": "docs/runbooks.md#mlmodellatencyp95high",
        "traces_url": "http://localhost:16686/search?tags=%7B%22ml.model.name%22%3A%22churn%22%7D",
    },
}
ACCURACY_ALERT: dict[str, Any] = {
    "labels": {"alertname": "MLModelAccuracyLow", "severity": "critical", "component": "model",
               "ml_model_name": "churn", "ml_model_version": "3",
               "ml_alert_kind": "performance"},
    "annotations": {"summary": "churn v3: accuracy 80%",
                    "description": "Accuracy of model churn version 3 is 80%, below 85 %.",
                    "runbook_url": "docs/runbooks.md#mlmodelaccuracylow"},
}
# The same condition raised by the evaluator's own notifier (it adds alert_id): its
# Prometheus twin ACCURACY_ALERT must be inhibited.
EVALUATOR_ACCURACY_ALERT: dict[str, Any] = {
    "labels": {"alertname": "accuracy_low", "severity": "critical", "ml_model_name": "churn",
               "alert_id": "a1b2c3", "ml_alert_kind": "performance",
               "ml_alert_metric": "accuracy"},
    "annotations": {"summary": "churn: accuracy 0.8 below 0.85",
                    "description": "From the evaluator.",
                    "runbook_url": "docs/runbooks.md#mlmodelaccuracylow"},
}
INFO_ALERT: dict[str, Any] = {
    "labels": {"alertname": "MLModelRetrainSuggested", "severity": "info",
               "ml_model_name": "fraud"},
    "annotations": {"summary": "fraud: consider retraining",
                    "description": "Drift persisted for a week."},
}


def _amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(AMTOOL), *args], capture_output=True, text=True, timeout=60,
                          cwd=AM_DIR)


def test_amtool_check_config() -> None:
    result = _amtool("check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert " - 4 receivers" in result.stdout and " - 1 templates" in result.stdout
    assert " - 3 inhibit rules" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=critical", "alertname=MLModelAccuracyLow"],
         "pagerduty-ml-oncall,email-ml-owners,slack-ml-alerts"),
        (["severity=warning", "alertname=MLFeatureDriftHigh"], "slack-ml-alerts"),
        (["severity=info"], "email-ml-digest"),
        (["alertname=SomethingWithoutSeverity"], "slack-ml-alerts"),
    ],
)
def test_routing_by_severity(labels: list[str], receivers: str) -> None:
    result = _amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receivers


def _template_data(status: str, *alerts: dict[str, Any]) -> dict[str, Any]:
    full = [
        {"status": status, "labels": a["labels"], "annotations": a["annotations"],
         "startsAt": "2026-11-27T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": "f"}
        for a in alerts
    ]
    common = dict(set.intersection(*(set(a["labels"].items()) for a in alerts)))
    return {"receiver": "slack-ml-alerts", "status": status, "alerts": full,
            "groupLabels": {"alertname": common.get("alertname", "")},
            "commonLabels": common, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093"}


def _render(name: str, data: dict[str, Any], tmp_path: Path) -> str:
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data))
    result = _amtool("template", "render", f"--template.glob={TEMPLATES}/*.tmpl",
                     f"--template.data={path}", f'--template.text={{{{ template "{name}" . }}}}')
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_templates_render_readable_messages(tmp_path: Path) -> None:
    firing = _template_data("firing", LATENCY_ALERT)
    assert _render("otel_ml.title", firing, tmp_path).strip() == (
        "[FIRING:1] WARNING MLModelLatencyP95High · model churn")
    text = _render("otel_ml.slack.text", firing, tmp_path)
    lines = text.splitlines()
    assert lines[0] == ":red_circle: *churn v3: p95 predict latency 242.5ms*"
    assert "Model:    churn (version 3)" in lines
    assert "Since:    2026-11-27 10:00:00 UTC" in lines
    assert ("Runbook:  https://github.com/your-org/otel_ml/blob/main/"
            "docs/runbooks.md#mlmodellatencyp95high") in lines
    assert any(line.startswith("Traces:   http://localhost:16686/search?") for line in lines)
    assert "Feature:" not in text  # facts that do not exist are left out
    assert _render("otel_ml.slack.color", firing, tmp_path).strip() == "warning"
    html = _render("otel_ml.email.html", firing, tmp_path)
    assert "<strong>churn v3: p95 predict latency 242.5ms</strong>" in html
    assert 'href="https://github.com/your-org/otel_ml/blob/main/docs/runbooks.md#' in html

    resolved = _template_data("resolved", ACCURACY_ALERT)
    assert _render("otel_ml.title", resolved, tmp_path).strip() == (
        "[RESOLVED] CRITICAL MLModelAccuracyLow · model churn")
    assert _render("otel_ml.slack.color", resolved, tmp_path).strip() == "good"
    assert _render("otel_ml.text", resolved, tmp_path).startswith(
        "RESOLVED MLModelAccuracyLow (critical)\nchurn v3: accuracy 80%\n")


# --- a real Alertmanager --------------------------------------------------------------


@dataclass
class _Inbox:
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    mails: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def inbox() -> Iterator[tuple[_Inbox, int, int]]:
    box = _Inbox()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
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
        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
            msg = message_from_bytes(envelope.content, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            with box.lock:
                box.mails.append(msg)
            return "250 OK"

    smtp_port = _free_port()
    smtp = Controller(Smtp(), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        yield box, http.server_address[1], smtp_port
    finally:
        smtp.stop()
        http.shutdown()
        http.server_close()


def _local_config(http_port: int, smtp_port: int) -> dict[str, Any]:
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


def _post_alerts(port: int, alerts: list[dict[str, Any]]) -> None:
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
def _alertmanager(http_port: int, smtp_port: int, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(_local_config(http_port, smtp_port)))
    port = _free_port()
    log = tmp_path / "alertmanager.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(ALERTMANAGER), f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(port, proc, log)
        yield port, log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _collect(box: _Inbox, *, slack: int, pager: int, mails: int, timeout: float = 30,
             settle: float = 0.0) -> tuple[list[Any], list[Any], list[EmailMessage]]:
    """Wait until at least the given numbers arrived (then ``settle`` s more)."""
    deadline = time.monotonic() + timeout
    while True:
        with box.lock:
            got_slack = [b for p, b in box.requests if p == "/slack"]
            got_pager = [b for p, b in box.requests if p == "/pagerduty"]
            got_mails = list(box.mails)
        done = len(got_slack) >= slack and len(got_pager) >= pager and len(got_mails) >= mails
        if done and settle <= 0:
            return got_slack, got_pager, got_mails
        if done:
            time.sleep(settle)
            settle = 0.0
            continue
        if time.monotonic() > deadline:
            return got_slack, got_pager, got_mails
        time.sleep(0.2)


def test_real_alertmanager_routes_and_renders(inbox: tuple[_Inbox, int, int],
                                              tmp_path: Path) -> None:
    box, http_port, smtp_port = inbox
    with _alertmanager(http_port, smtp_port, tmp_path) as (port, log):
        _post_alerts(port, [LATENCY_ALERT, ACCURACY_ALERT, INFO_ALERT])
        slack, pager, mails = _collect(box, slack=2, pager=1, mails=2)

    # Slack: the warning and the critical, each in its own group
    titles = sorted(b["attachments"][0]["title"] for b in slack)
    assert titles == ["[FIRING:1] CRITICAL MLModelAccuracyLow · model churn",
                      "[FIRING:1] WARNING MLModelLatencyP95High · model churn"]
    by_title = {b["attachments"][0]["title"]: b["attachments"][0] for b in slack}
    warning = by_title["[FIRING:1] WARNING MLModelLatencyP95High · model churn"]
    assert warning["color"] == "warning"
    assert "*churn v3: p95 predict latency 242.5ms*" in warning["text"]
    assert "docs/runbooks.md#mlmodellatencyp95high" in warning["text"]
    assert all(b.get("channel") == "#ml-alerts" for b in slack)
    # PagerDuty: only the critical one
    assert len(pager) == 1
    event = pager[0]
    assert event["routing_key"] == "test-routing-key"
    assert event["event_action"] == "trigger"
    assert event["payload"]["summary"] == "[FIRING:1] CRITICAL MLModelAccuracyLow · model churn"
    assert event["payload"]["severity"] == "critical"
    assert event["payload"]["custom_details"]["runbook"].endswith(
        "docs/runbooks.md#mlmodelaccuracylow")
    # email: the critical to the owners, the info to the digest list
    by_to = {m["To"]: m for m in mails}
    assert set(by_to) == {"ml-owners@example.com", "ml-team@example.com"}
    owners = by_to["ml-owners@example.com"]
    assert owners["Subject"] == "[FIRING:1] CRITICAL MLModelAccuracyLow · model churn"
    html_part = owners.get_body(preferencelist=("html",))
    text_part = owners.get_body(preferencelist=("plain",))
    assert html_part is not None and text_part is not None
    assert "<strong>churn v3: accuracy 80%</strong>" in html_part.get_content()
    assert text_part.get_content().startswith("FIRING MLModelAccuracyLow (critical)")
    assert by_to["ml-team@example.com"]["Subject"] == (
        "[FIRING:1] INFO MLModelRetrainSuggested · model fraud")


def test_evaluator_alert_inhibits_its_prometheus_twin(inbox: tuple[_Inbox, int, int],
                                                     tmp_path: Path) -> None:
    box, http_port, smtp_port = inbox
    with _alertmanager(http_port, smtp_port, tmp_path) as (port, _log):
        _post_alerts(port, [EVALUATOR_ACCURACY_ALERT])
        _collect(box, slack=1, pager=1, mails=1)
        _post_alerts(port, [ACCURACY_ALERT, EVALUATOR_ACCURACY_ALERT])
        # give a second group (the twin's) time to be flushed if it were not inhibited
        slack, pager, _mails = _collect(box, slack=2, pager=2, mails=2, timeout=4)
    titles = [b["attachments"][0]["title"] for b in slack]
    assert titles and all("accuracy_low" in t for t in titles), titles
    assert all(e["payload"]["summary"].endswith("accuracy_low · model churn") for e in pager)
