"""Delivery is at-least-once; every notification carries an idempotency key that a retry
(after a failure, across a restart) repeats and the next notification does not."""

from __future__ import annotations

import email
import email.policy
import random
from pathlib import Path
from typing import Any

from alerting_support import FakeClock, Otel, drift_obs, notifiers_section, window_end
from servers import HttpReceiver, SmtpServer

from otel_ml.alerting import AlertEngine, parse_alerting_config

DRIFT = [0.02, 0.35, 0.41, 0.38, 0.33, 0.04, 0.03, 0.02, 0.01]


def _engine(notifiers: dict[str, Any], clock: FakeClock, otel: Otel, state: Path) -> AlertEngine:
    config = parse_alerting_config({
        "alerts": {"defaults": {"for_windows": 2, "resolve_after_windows": 2}},
        "notifiers": notifiers,
    })
    return AlertEngine(config, state_dir=state, clock=clock, rng=random.Random(1),
                       meter_provider=otel.meter_provider)


def _feed(engine: AlertEngine, clock: FakeClock, windows: range) -> None:
    for i in windows:
        clock.now = window_end(i) + 1
        engine.observe([drift_obs(i, DRIFT[i])], now=clock.now)
        engine.deliver_pending(clock.now)


def _keys(body: dict[str, Any], headers: dict[str, str], kind: str) -> tuple[str, ...]:
    if kind == "slack":
        (context,) = [b for b in body["blocks"] if b["type"] == "context"]
        return (context["block_id"], headers["Idempotency-Key"])
    if kind == "pagerduty":
        details = body.get("payload", {}).get("custom_details", {})
        return (body["dedup_key"], details.get("notification_id", ""), headers["Idempotency-Key"])
    return (body["notificationId"], headers["Idempotency-Key"])


def test_a_retried_delivery_carries_the_same_key_across_a_restart(
    tmp_path: Path, otel: Otel, clock: FakeClock, slack: HttpReceiver, pagerduty: HttpReceiver,
    webhook: HttpReceiver, secrets_env: dict[str, str],
) -> None:
    smtp = SmtpServer(defer=1)
    receivers = {"slack": slack, "pagerduty": pagerduty, "webhook": webhook}
    notifiers = notifiers_section(slack=slack, pagerduty=pagerduty, webhook=webhook, smtp=smtp)
    try:
        for receiver in receivers.values():
            receiver.down = True  # 503: retry later
        engine = _engine(notifiers, clock, otel, tmp_path)
        _feed(engine, clock, range(3))  # fires at window 2; every first attempt fails
        assert engine.pending_notifications() == 4
        engine.close()
        for receiver in receivers.values():
            receiver.down = False
        engine = _engine(notifiers, clock, otel, tmp_path)  # a restart
        clock.now += 120.0
        assert engine.deliver_pending(clock.now) == 4
        _feed(engine, clock, range(3, len(DRIFT)))  # resolves: a second notification
        engine.close()
    finally:
        smtp.stop()

    for kind, receiver in receivers.items():
        keys = [_keys(r.body, r.headers, kind) for r in receiver.requests]
        assert [r.status for r in receiver.requests][0] == 503, kind
        failed, retried, resolved = keys
        assert failed == retried, kind  # the same notification, the same key
        assert resolved[-1] != retried[-1], kind  # the resolution is another notification
    pd_trigger, _, pd_resolve = (r.body for r in pagerduty.requests)
    assert pd_trigger["dedup_key"] == pd_resolve["dedup_key"]  # PagerDuty: one incident

    (deferred,) = smtp.deferred
    first = email.message_from_bytes(deferred, policy=email.policy.default)
    delivered, resolution = (
        email.message_from_bytes(m[2], policy=email.policy.default) for m in smtp.messages
    )
    assert first["Message-ID"] == delivered["Message-ID"]
    assert first["X-Otel-Ml-Notification-Id"] == delivered["X-Otel-Ml-Notification-Id"]
    assert resolution["Message-ID"] != delivered["Message-ID"]
    assert resolution["In-Reply-To"] == delivered["Message-ID"]  # threaded under the firing
