"""alertmanager.yml and its templates, checked with amtool and a real Alertmanager.

The end-to-end test runs the Debian `prometheus-alertmanager` with the shipped routing
tree, receivers and templates; only endpoints, secrets and wait times are swapped for
local stand-ins: an HTTP server playing Slack and PagerDuty, and a real SMTP server
(aiosmtpd). Alerts of each severity are posted to its API v2 and the test checks who
received what, and that the rendered messages read well.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alertmanager_harness import (
    ALERTMANAGER,
    Inbox,
    post_alerts,
    receivers,
    running_alertmanager,
)

ROOT = Path(__file__).resolve().parents[2]
AM_DIR = ROOT / "collector-config" / "alertmanager"
CONFIG = AM_DIR / "alertmanager.yml"
TEMPLATES = AM_DIR / "templates"

AMTOOL = shutil.which("amtool")
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


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with receivers() as box:
        yield box


def test_real_alertmanager_routes_and_renders(inbox: Inbox, tmp_path: Path) -> None:
    with running_alertmanager(inbox, tmp_path) as port:
        post_alerts(port, [LATENCY_ALERT, ACCURACY_ALERT, INFO_ALERT])
        inbox.wait(slack=2, pager=1, mails=2)
    slack, pager, mails = inbox.slack(), inbox.pagerduty(), inbox.emails()

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


def test_evaluator_alert_inhibits_its_prometheus_twin(inbox: Inbox, tmp_path: Path) -> None:
    with running_alertmanager(inbox, tmp_path) as port:
        post_alerts(port, [EVALUATOR_ACCURACY_ALERT])
        inbox.wait(slack=1, pager=1, mails=1)
        post_alerts(port, [ACCURACY_ALERT, EVALUATOR_ACCURACY_ALERT])
        # give a second group (the twin's) time to be flushed if it were not inhibited
        inbox.wait(slack=2, pager=2, mails=2, timeout=4)
    slack, pager = inbox.slack(), inbox.pagerduty()
    titles = [b["attachments"][0]["title"] for b in slack]
    assert titles and all("accuracy_low" in t for t in titles), titles
    assert all(e["payload"]["summary"].endswith("accuracy_low · model churn") for e in pager)


def test_templates_render_evaluator_alerts(tmp_path: Path) -> None:
    """Alerts from the evaluator's notifier: no runbook_url, version and window in the
    annotations, example trace ids to turn into Jaeger links."""
    alert = {
        "labels": {"alertname": "feature_drift", "severity": "warning", "ml_model_name": "credit",
                   "alert_id": "x1", "ml_alert_kind": "feature_drift",
                   "ml_feature_name": "debt_ratio"},
        "annotations": {"summary": "credit: debt_ratio drifted", "description": "PSI 0.9.",
                        "value": "0.9", "threshold": "0.2", "comparison": "above",
                        "window_start": "2026-11-27T10:00:00Z",
                        "window_end": "2026-11-27T10:01:00Z", "n_rows": "400",
                        "ml_model_version": "1",
                        "trace_ids": "0123456789abcdef0123456789abcdef,"
                                     "fedcba9876543210fedcba9876543210"},
    }
    lines = _render("otel_ml.slack.text", _template_data("firing", alert), tmp_path).splitlines()
    assert "Model:    credit (version 1)" in lines
    assert "Feature:  debt_ratio" in lines
    assert "Value:    0.9 (above threshold 0.2)" in lines
    assert "Window:   2026-11-27T10:00:00Z to 2026-11-27T10:01:00Z (400 rows)" in lines
    assert ("Runbook:  https://github.com/your-org/otel_ml/blob/main/"
            "docs/runbooks.md#mlfeaturedrifthigh") in lines
    assert ("Traces:   http://localhost:16686/trace/0123456789abcdef0123456789abcdef "
            "http://localhost:16686/trace/fedcba9876543210fedcba9876543210") in lines
    html = _render("otel_ml.email.html", _template_data("firing", alert), tmp_path)
    assert "<td>credit (version 1)</td>" in html
    assert 'docs/runbooks.md#mlfeaturedrifthigh">Runbook</a>' in html


def test_evaluator_estimated_performance_alert_links_its_runbook(tmp_path: Path) -> None:
    """An estimated_* alert of the evaluator (no runbook_url) links the runbook of
    MLModelEstimatedAccuracyLow through its ml_alert_kind."""
    alert = {
        "labels": {"alertname": "estimated_accuracy_low", "severity": "critical",
                   "ml_model_name": "credit", "alert_id": "x2",
                   "ml_alert_kind": "estimated_performance"},
        "annotations": {"summary": "credit: estimated accuracy 0.8", "description": "CBPE.",
                        "value": "0.8", "threshold": "0.85", "comparison": "below"},
    }
    lines = _render("otel_ml.slack.text", _template_data("firing", alert), tmp_path).splitlines()
    assert ("Runbook:  https://github.com/your-org/otel_ml/blob/main/"
            "docs/runbooks.md#mlmodelestimatedaccuracylow") in lines
