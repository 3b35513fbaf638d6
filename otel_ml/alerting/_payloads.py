"""The bodies each notifier sends, built from an :class:`AlertTransition`.

Pure functions, so the shapes are testable on their own: Alertmanager API v2
``postableAlerts``, the Alertmanager webhook (version 4) shape for generic
webhooks, a Slack incoming-webhook message (``text`` + Block Kit ``blocks``),
a PagerDuty Events API v2 event, and an email message.

Model, version, feature and reference names come from whoever can reach the
evaluator's receivers, so each channel gets them as inert text: Slack ``mrkdwn``
has ``&``, ``<`` and ``>`` escaped (``<!channel>`` or ``<https://x|Click here>``
in a name shows as typed, never as a mention or a link); email header values
have control characters (CR, LF) replaced by spaces and non-ASCII text encoded
(RFC 2047) by the ``email`` package; JSON bodies (Alertmanager, webhook,
PagerDuty) carry them as JSON strings, which is data by construction.
"""

from __future__ import annotations

import datetime
import re
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from otel_ml.alerting._transition import AlertState, AlertTransition, _iso

__all__ = [
    "alertmanager_alert",
    "email_message",
    "header_text",
    "pagerduty_event",
    "slack_escape",
    "slack_message",
    "webhook_payload",
]

JsonObject = dict[str, Any]

_PD_SEVERITY = {"info": "info", "warning": "warning", "critical": "critical"}
_SLACK_EMOJI = {
    "info": ":information_source:",
    "warning": ":warning:",
    "critical": ":rotating_light:",
}


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+")


def slack_escape(text: str) -> str:
    """Text made inert for Slack ``mrkdwn``: ``&``, ``<`` and ``>`` as entities.

    Examples
    --------
    >>> slack_escape("<!channel> & <https://evil.example|Click here>")
    '&lt;!channel&gt; &amp; &lt;https://evil.example|Click here&gt;'
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def header_text(text: str) -> str:
    """An email header value on one line: control characters (CR, LF, ...) become a space.

    Examples
    --------
    >>> header_text("churn\\r\\nBcc: victim@example.org")
    'churn Bcc: victim@example.org'
    """
    return _CONTROL.sub(" ", text)


def _labels(t: AlertTransition) -> dict[str, str]:
    labels = {
        "alertname": t.rule,
        "severity": t.severity.value,
        "ml_model_name": t.model,
        "alert_id": t.alert_id,
        "ml_alert_kind": t.kind.value,
    }
    if t.feature:
        labels["ml_feature_name"] = t.feature
    if t.metric:
        labels["ml_alert_metric"] = t.metric
    return labels


def _annotations(t: AlertTransition) -> dict[str, str]:
    notes = {
        "summary": t.summary,
        "description": t.description,
        "value": f"{t.value:.6g}",
        "threshold": "verdict" if t.threshold is None else f"{t.threshold:g}",
        "comparison": t.comparison.value,
        "window_start": _iso(t.window_start),
        "window_end": _iso(t.window_end),
        "n_rows": str(t.n_rows),
    }
    if t.version:
        notes["ml_model_version"] = t.version
    if t.reference:
        notes["reference"] = t.reference
    if t.trace_ids:
        notes["trace_ids"] = ",".join(t.trace_ids)
    return notes


def alertmanager_alert(t: AlertTransition, *, now: float, valid_for: float) -> JsonObject:
    """One element of the ``POST /api/v2/alerts`` body.

    A firing alert gets ``endsAt`` = ``now + valid_for`` (re-posted before that
    by the notifier); a resolution gets its resolution time, which tells
    Alertmanager it is over.

    Examples
    --------
    >>> from otel_ml.alerting._transition import _example
    >>> a = alertmanager_alert(_example(), now=1_700_000_100.0, valid_for=240.0)
    >>> a["labels"]["alertname"], a["startsAt"], a["endsAt"]
    ('accuracy_low', '2023-11-14T22:13:20Z', '2023-11-14T22:19:00Z')
    """
    resolved = t.state is AlertState.RESOLVED and t.ends_at is not None
    ends = t.ends_at if resolved and t.ends_at is not None else now + valid_for
    alert: JsonObject = {
        "labels": _labels(t),
        "annotations": _annotations(t),
        "startsAt": _iso(t.starts_at),
        "endsAt": _iso(ends),
    }
    if t.jaeger_links:
        alert["generatorURL"] = t.jaeger_links[0]
    return alert


def webhook_payload(t: AlertTransition, *, receiver: str) -> JsonObject:
    """The generic webhook body: the Alertmanager webhook shape (version 4), one alert.

    Examples
    --------
    >>> from otel_ml.alerting._transition import _example
    >>> p = webhook_payload(_example(), receiver="ops")
    >>> p["version"], p["status"], p["alerts"][0]["fingerprint"], p["groupKey"]
    ('4', 'firing', '0123456789abcdef', '0123456789abcdef')
    """
    resolved = t.state is AlertState.RESOLVED
    alert = {
        "status": t.state.value,
        "labels": _labels(t),
        "annotations": _annotations(t),
        "startsAt": _iso(t.starts_at),
        "endsAt": _iso(t.ends_at) if resolved and t.ends_at is not None else "0001-01-01T00:00:00Z",
        "generatorURL": t.jaeger_links[0] if t.jaeger_links else "",
        "fingerprint": t.alert_id,
    }
    return {
        "version": "4",
        "notificationId": t.notification_id,
        "groupKey": t.alert_id,
        "truncatedAlerts": 0,
        "status": t.state.value,
        "receiver": receiver,
        "groupLabels": {"alertname": t.rule},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "",
        "alerts": [alert],
    }


def slack_message(t: AlertTransition) -> JsonObject:
    """A Slack incoming-webhook message: ``text`` (fallback) and ``blocks``.

    Examples
    --------
    >>> from otel_ml.alerting._transition import _example
    >>> m = slack_message(_example())
    >>> m["text"]
    'FIRING [critical] churn accuracy_low: accuracy 0.7812 below 0.85'
    >>> [b["type"] for b in m["blocks"]]
    ['header', 'section', 'section', 'context']
    """
    resolved = t.state is AlertState.RESOLVED
    emoji = ":white_check_mark:" if resolved else _SLACK_EMOJI[t.severity.value]
    header = f"{'Resolved' if resolved else 'Firing'}: {t.model} {t.rule}"  # plain_text: inert
    esc = slack_escape
    summary = esc(t.summary)
    fields = [
        f"*Rule*\n{esc(t.rule)}",
        f"*Severity*\n{t.severity.value}",
        f"*Observed*\n{t.value:.6g} ({t.n_rows} rows)",
        "*Threshold*\n"
        + ("evaluator verdict" if t.threshold is None else f"{t.comparison.value} {t.threshold:g}"),
        f"*Window*\n{_iso(t.window_start)} – {_iso(t.window_end)}",
        f"*Reference*\n{esc(t.reference or 'none')}",
    ]
    if t.feature:
        fields.append(f"*Feature*\n{esc(t.feature)}")
    if t.version:
        fields.append(f"*Model version*\n{esc(t.version)}")
    pairs = zip(t.jaeger_links, t.trace_ids, strict=False)
    traces = [f"<{esc(link).replace('|', '%7C')}|trace {esc(tid[:8])}>" for link, tid in pairs]
    if not traces:
        traces = [f"`{esc(tid)}`" for tid in t.trace_ids]
    context = f"alert id `{t.alert_id}`"
    if traces:
        context += " · example traces: " + " ".join(traces)
    return {
        "text": summary,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{emoji} {summary}"[:3000]}},
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f[:2000]} for f in fields[:10]],
            },
            {
                "type": "context",
                "block_id": f"otel-ml-{t.notification_id}",
                "elements": [{"type": "mrkdwn", "text": context[:3000]}],
            },
        ],
    }


def pagerduty_event(t: AlertTransition, *, routing_key: str, source: str) -> JsonObject:
    """A PagerDuty Events API v2 event: ``trigger`` or ``resolve``, ``dedup_key`` = alert id.

    Examples
    --------
    >>> from otel_ml.alerting._transition import _example
    >>> e = pagerduty_event(_example(), routing_key="R" * 32, source="otel-ml")
    >>> e["event_action"], e["dedup_key"], e["payload"]["severity"], e["payload"]["source"]
    ('trigger', '0123456789abcdef', 'critical', 'otel-ml')
    """
    if t.state is AlertState.RESOLVED:
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": t.alert_id}
    custom: JsonObject = {
        "rule": t.rule,
        "kind": t.kind.value,
        "metric": t.metric,
        "feature": t.feature,
        "value": t.value,
        "threshold": t.threshold,
        "comparison": t.comparison.value,
        "window_start": _iso(t.window_start),
        "window_end": _iso(t.window_end),
        "n_rows": t.n_rows,
        "model_version": t.version,
        "reference": t.reference,
        "trace_ids": list(t.trace_ids),
        "notification_id": t.notification_id,
    }
    custom.update(dict(t.details))
    event: JsonObject = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": t.alert_id,
        "payload": {
            "summary": t.summary[:1024],
            "source": source,
            "severity": _PD_SEVERITY[t.severity.value],
            "timestamp": _iso(t.at),
            "component": t.model,
            "group": t.rule,
            "class": t.kind.value,
            "custom_details": {k: v for k, v in custom.items() if v is not None},
        },
    }
    if t.jaeger_links:
        event["links"] = [
            {"href": link, "text": f"Jaeger trace {tid}"}
            for link, tid in zip(t.jaeger_links, t.trace_ids, strict=False)
        ]
    return event


def email_message(
    t: AlertTransition, *, from_addr: str, to: tuple[str, ...], subject_prefix: str
) -> EmailMessage:
    """A plain-text email; reminders and the resolution thread under the firing.

    ``Message-ID`` is stable across retries: the firing's is the episode's thread
    (alert id and episode start, so a later episode of the same alert is a new
    message, not a duplicate a mail system would drop); a reminder's or a
    resolution's is its :attr:`~AlertTransition.notification_id`.

    Examples
    --------
    >>> from otel_ml.alerting._transition import _example
    >>> m = email_message(_example(), from_addr="a@x.org", to=("b@x.org",), subject_prefix="[ml]")
    >>> m["Subject"]
    '[ml] FIRING [critical] churn accuracy_low: accuracy 0.7812 below 0.85'
    >>> m["X-Otel-Ml-Alert-Id"]
    '0123456789abcdef'
    """
    msg = EmailMessage()
    msg["Subject"] = header_text(f"{subject_prefix} {t.summary}".strip())
    msg["From"] = from_addr
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(datetime.datetime.fromtimestamp(t.at, tz=datetime.timezone.utc))
    thread = f"<{t.alert_id}.{t.starts_at:.0f}.otel-ml@alerts>"
    if t.state is AlertState.RESOLVED or t.repeat:
        msg["Message-ID"] = f"<{t.notification_id}.otel-ml@alerts>"
        msg["In-Reply-To"] = thread
        msg["References"] = thread
    else:
        msg["Message-ID"] = thread
    msg["X-Otel-Ml-Alert-Id"] = t.alert_id
    msg["X-Otel-Ml-Notification-Id"] = t.notification_id
    msg["X-Otel-Ml-Alert-State"] = t.state.value
    msg.set_content(t.description + "\n")
    return msg
