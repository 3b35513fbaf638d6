"""Model and feature names come from whoever can reach the receiver: each channel gets them
as inert text, and a name that breaks one channel's format cannot stall its delivery.

Through the real loopback receivers (Slack / PagerDuty / webhook stand-ins checking the
documented shapes, aiosmtpd for SMTP).
"""

from __future__ import annotations

import email
import email.policy
import json
import random
import re
from typing import Any

from alerting_support import FakeClock, Otel, drift_obs, notifiers_section, window_end
from servers import HttpReceiver, SmtpServer

from otel_ml.alerting import AlertEngine, parse_alerting_config

MODEL = (
    "churn <!channel> <https://evil.example/fix|Click here to fix> & co\r\n"
    "Bcc: victim@example.org \u043c\u043e\u0434\u0435\u043b\u044c"
)
FEATURE = "age\n<@U0123ABC> <!here>"
DRIFT = [0.02, 0.35, 0.41, 0.38, 0.33, 0.04, 0.03, 0.02, 0.01]
JAEGER_LINK = re.compile(r"<http://jaeger:16686/trace/[0-9a-f]{32}\|trace [0-9a-f]{8}>")


def _run(notifiers: dict[str, Any], clock: FakeClock, otel: Otel) -> list[str]:
    config = parse_alerting_config({
        "alerts": {"jaeger_url": "http://jaeger:16686",
                   "defaults": {"for_windows": 2, "resolve_after_windows": 2}},
        "notifiers": notifiers,
    })
    engine = AlertEngine(config, clock=clock, rng=random.Random(1),
                         logger_provider=otel.logger_provider, meter_provider=otel.meter_provider)
    states = []
    for i, psi in enumerate(DRIFT):
        clock.now = window_end(i) + 1
        obs = drift_obs(i, psi, model=MODEL, feature=FEATURE)
        states += [t.state.value for t in engine.observe([obs], now=clock.now)]
        engine.deliver_pending(clock.now)
    assert engine.pending_notifications() == 0  # nothing left to retry
    engine.close()
    return states


def _mrkdwn(message: dict[str, Any]) -> list[str]:
    texts = [message["text"]]
    for block in message["blocks"]:
        if block["type"] == "section":
            texts += [block["text"]["text"]] if "text" in block else []
            texts += [f["text"] for f in block.get("fields", [])]
        elif block["type"] == "context":
            texts += [e["text"] for e in block["elements"]]
    return texts


def test_slack_shows_hostile_names_as_text(
    otel: Otel, clock: FakeClock, slack: HttpReceiver, secrets_env: dict[str, str]
) -> None:
    assert _run(notifiers_section(slack=slack), clock, otel) == ["firing", "resolved"]
    assert [r.status for r in slack.requests] == [200, 200]
    for request in slack.requests:
        texts = _mrkdwn(request.body)
        joined = "\n".join(texts)
        # no mention and no disguised link survive; the names are shown escaped
        assert "<!channel>" not in joined and "<!here>" not in joined
        assert "<@U0123ABC>" not in joined and "<https://evil.example" not in joined
        assert "&lt;!channel&gt; &lt;https://evil.example/fix|Click here to fix&gt; &amp; co" in (
            request.body["text"])
        # the only markup left is ours: the Jaeger trace links
        for text in texts:
            assert JAEGER_LINK.sub("", text).count("<") == 0, text
    assert otel.notifications() == {("slack", "delivered"): 2}


def test_email_with_crlf_and_non_ascii_in_a_name_is_delivered_once(
    otel: Otel, clock: FakeClock, smtp: SmtpServer
) -> None:
    assert _run(notifiers_section(smtp=smtp), clock, otel) == ["firing", "resolved"]
    assert otel.notifications() == {("email", "delivered"): 2}  # not retried forever
    assert len(smtp.messages) == 2
    for _, recipients, raw in smtp.messages:
        assert recipients == ["ml-team@example.org", "oncall@example.org"]  # no injected Bcc
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert parsed["Bcc"] is None
        subject = str(parsed["Subject"])
        assert "\r" not in subject and "\n" not in subject
        assert "churn <!channel>" in subject and "& co Bcc: victim@example.org" in subject
        assert "\u043c\u043e\u0434\u0435\u043b\u044c" in subject  # encoded on the wire, intact
        assert raw.isascii()


def test_pagerduty_and_webhook_carry_names_as_data(
    otel: Otel, clock: FakeClock, pagerduty: HttpReceiver, webhook: HttpReceiver,
    secrets_env: dict[str, str],
) -> None:
    states = _run(notifiers_section(pagerduty=pagerduty, webhook=webhook), clock, otel)
    assert states == ["firing", "resolved"]
    assert [r.status for r in pagerduty.requests] == [202, 202]
    trigger = pagerduty.requests[0].body
    assert trigger["payload"]["component"] == MODEL
    assert trigger["payload"]["custom_details"]["feature"] == FEATURE
    assert [r.status for r in webhook.requests] == [200, 200]
    for request in webhook.requests:
        labels = request.body["alerts"][0]["labels"]
        assert (labels["ml_model_name"], labels["ml_feature_name"]) == (MODEL, FEATURE)
        assert json.loads(json.dumps(request.body)) == request.body
