"""Delivery to real loopback peers: Slack and PagerDuty stand-ins that check the
documented payload shapes, a generic webhook, a real SMTP server. Scenarios: a
drift that comes and goes, a notifier down for a while, a restart while firing."""

from __future__ import annotations

import email
import email.policy
import logging
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alerting_support import (
    PD_KEY,
    SLACK_PATH,
    FakeClock,
    Otel,
    drift_obs,
    notifiers_section,
    window_end,
)
from servers import HttpReceiver, SmtpServer, free_port, wait_for

from otel_ml.alerting import AlertEngine, parse_alerting_config

# drift: clean, 4 drifting windows, then clean again
DRIFT = [0.02, 0.35, 0.41, 0.38, 0.33, 0.04, 0.03, 0.02, 0.01]


def make_engine(
    notifiers: dict[str, Any], clock: FakeClock, otel: Otel | None = None,
    rules: dict[str, Any] | None = None, **kwargs: Any,
) -> AlertEngine:
    config = parse_alerting_config({
        "alerts": {"jaeger_url": "http://jaeger:16686",
                   "defaults": {"for_windows": 2, "resolve_after_windows": 2},
                   "rules": rules or {}},
        "notifiers": notifiers,
    })
    return AlertEngine(
        config,
        clock=clock,
        rng=random.Random(1),
        logger_provider=otel.logger_provider if otel else None,
        meter_provider=otel.meter_provider if otel else None,
        **kwargs,
    )


def feed(engine: AlertEngine, clock: FakeClock, values: list[float], start: int = 0) -> list[str]:
    """One window per value; deliver after each; return the transitions."""
    out = []
    for i, psi in enumerate(values, start):
        clock.now = window_end(i) + 1
        out += [t.state.value for t in engine.observe([drift_obs(i, psi)], now=clock.now)]
        engine.deliver_pending(clock.now)
    return out


def statuses(receiver: HttpReceiver, field: str) -> list[Any]:
    return [r.body[field] for r in receiver.accepted()]


def test_drift_appears_and_goes_away_once_per_notifier(
    otel: Otel, clock: FakeClock, slack: HttpReceiver, pagerduty: HttpReceiver,
    webhook: HttpReceiver, smtp: SmtpServer, secrets_env: dict[str, str],
) -> None:
    engine = make_engine(
        notifiers_section(slack=slack, pagerduty=pagerduty, webhook=webhook, smtp=smtp),
        clock, otel,
    )
    assert feed(engine, clock, DRIFT) == ["firing", "resolved"]
    assert engine.pending_notifications() == 0
    # PagerDuty: a trigger and a resolve with the same dedup key, both accepted (202)
    assert [r.status for r in pagerduty.requests] == [202, 202]
    trigger, resolve = (r.body for r in pagerduty.requests)
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"]
    assert trigger["routing_key"] == PD_KEY and trigger["payload"]["severity"] == "warning"
    assert trigger["payload"]["custom_details"]["feature"] == "age"
    assert trigger["links"][0]["href"].startswith("http://jaeger:16686/trace/")
    # Slack: two messages accepted by the shape check, on the secret webhook path
    assert [r.status for r in slack.requests] == [200, 200]
    assert {r.path for r in slack.requests} == {SLACK_PATH}
    texts = statuses(slack, "text")
    assert texts[0].startswith("FIRING [warning] churn feature_drift: age psi 0.41")
    assert texts[1].startswith("RESOLVED [warning] churn feature_drift")
    # generic webhook: Alertmanager webhook shape, token header from the environment
    assert statuses(webhook, "status") == ["firing", "resolved"]
    assert {r.headers["Authorization"] for r in webhook.requests} == {"Bearer hook-token-123"}
    assert len({r.body["groupKey"] for r in webhook.requests}) == 1
    alert = webhook.requests[0].body["alerts"][0]
    assert alert["labels"]["alertname"] == "feature_drift"
    assert alert["annotations"]["reference"] == "churn@3 (train.json)"
    # email: one firing, one resolution threaded under it, to both recipients
    assert len(smtp.messages) == 2
    parsed = [email.message_from_bytes(m[2], policy=email.policy.default) for m in smtp.messages]
    subjects = [str(p["Subject"]).strip() for p in parsed]
    assert subjects[0].startswith("[otel-ml] FIRING [warning] churn feature_drift")
    assert subjects[1].startswith("[otel-ml] RESOLVED")
    assert parsed[1]["In-Reply-To"] == parsed[0]["Message-ID"]
    assert smtp.messages[0][1] == ["ml-team@example.org", "oncall@example.org"]
    body = parsed[0].get_content()
    assert "threshold: above 0.2" in body and "example trace: http://jaeger:16686/trace/" in body
    # counted: two deliveries per notifier, nothing else
    counts = otel.notifications()
    assert counts == {(n, "delivered"): 2 for n in ("slack", "pagerduty", "hook", "email")}
    # and two OTel log events
    assert [dict(e.attributes)["ml.alert.state"] for e in otel.alert_events()] == [
        "firing", "resolved"]
    engine.close()


def test_flapping_signal_is_one_alert_not_a_storm(
    otel: Otel, clock: FakeClock, slack: HttpReceiver, pagerduty: HttpReceiver,
    webhook: HttpReceiver, secrets_env: dict[str, str],
) -> None:
    engine = make_engine(notifiers_section(slack=slack, pagerduty=pagerduty, webhook=webhook),
                         clock, otel)
    # hovering around the threshold: drifting, then alternating for 30 windows, then calm
    values = [0.3, 0.3] + [0.1, 0.25] * 15 + [0.1, 0.1, 0.1]
    assert feed(engine, clock, values) == ["firing", "resolved"]
    assert [r.body["event_action"] for r in pagerduty.accepted()] == ["trigger", "resolve"]
    assert [t.split(" ")[0] for t in statuses(slack, "text")] == ["FIRING", "RESOLVED"]
    assert statuses(webhook, "status") == ["firing", "resolved"]
    assert len(otel.alert_events()) == 2
    engine.close()


def test_info_alerts_are_not_routed_to_pagerduty(
    clock: FakeClock, slack: HttpReceiver, pagerduty: HttpReceiver, secrets_env: dict[str, str]
) -> None:
    engine = make_engine(notifiers_section(slack=slack, pagerduty=pagerduty), clock,
                         rules={"label_coverage_low": {"enabled": True}})
    from otel_ml.alerting import Observation

    low = Observation("churn", "3", "label_coverage", 0.1, 0, 60, 100)  # info severity
    engine.observe([low], now=61)
    engine.observe([Observation("churn", "3", "label_coverage", 0.1, 60, 120, 100)], now=121)
    engine.deliver_pending(121)
    assert len(slack.accepted()) == 1 and pagerduty.requests == []
    engine.close()


def test_notifier_down_for_a_while(
    otel: Otel, clock: FakeClock, slack: HttpReceiver, pagerduty: HttpReceiver,
    secrets_env: dict[str, str], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="otel_ml")
    engine = make_engine(notifiers_section(slack=slack, pagerduty=pagerduty), clock, otel)
    pagerduty.down = True
    # the whole episode happens while PagerDuty answers 503
    assert feed(engine, clock, DRIFT) == ["firing", "resolved"]
    assert statuses(slack, "text")[0].startswith("FIRING")  # Slack is not held up
    assert len(slack.accepted()) == 2
    assert engine.pending_notifications("pagerduty") == 2
    for _ in range(8):  # more failed attempts, at the backoff schedule
        due = engine.next_delivery_due()
        assert due is not None and 0 < due - clock.now <= 30.0
        clock.now = due
        engine.deliver_pending(clock.now)
    assert all(r.body["event_action"] == "trigger" for r in pagerduty.requests)  # order kept
    # back up: the trigger, then the resolve, once each
    pagerduty.down = False
    clock.now += 31
    engine.deliver_pending(clock.now)
    clock.now += 1
    engine.deliver_pending(clock.now)
    assert [r.body["event_action"] for r in pagerduty.accepted()] == ["trigger", "resolve"]
    assert engine.pending_notifications() == 0
    counts = otel.notifications()
    assert counts[("pagerduty", "delivered")] == 2 and counts[("pagerduty", "retried")] >= 8
    assert counts[("slack", "delivered")] == 2 and ("slack", "retried") not in counts
    # the failure was logged, once per cause, without secrets
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "pagerduty delivery failed (HTTP 503" in text
    assert text.count("pagerduty delivery failed") == 1
    assert PD_KEY not in text and SLACK_PATH not in text
    engine.close()


def test_backoff_is_exponential_with_jitter_and_bounded(
    clock: FakeClock, webhook: HttpReceiver
) -> None:
    webhook.down = True
    notifiers = {"hook": {"type": "webhook", "url": webhook.url,
                          "retry": {"initial_backoff": "1s", "max_backoff": "20s",
                                    "jitter": 0.5}}}
    engine = make_engine(notifiers, clock)
    feed(engine, clock, DRIFT[:3])  # fires in the last window: one failed attempt so far
    gaps = []
    for _ in range(8):
        due = engine.next_delivery_due()
        assert due is not None
        gaps.append(due - clock.now)
        clock.now = due
        engine.deliver_pending(clock.now)
    nominal = [1, 2, 4, 8, 16, 20, 20, 20]
    assert all(0.5 * n <= g <= n for g, n in zip(gaps, nominal, strict=True)), gaps
    assert len(set(gaps)) == len(gaps)  # jittered
    assert len(webhook.requests) == 9
    engine.close()


def test_connection_refused_until_the_receiver_starts(
    clock: FakeClock, secrets_env: dict[str, str]
) -> None:
    port = free_port()
    notifiers = {"hook": {"type": "webhook", "url": f"http://127.0.0.1:{port}/x",
                          "retry": {"initial_backoff": "1s"}}}
    engine = make_engine(notifiers, clock)
    feed(engine, clock, DRIFT[:3])
    assert engine.pending_notifications("hook") == 1
    receiver = HttpReceiver(port=port)
    try:
        clock.now += 5
        engine.deliver_pending(clock.now)
        assert statuses(receiver, "status") == ["firing"]
    finally:
        receiver.stop()
        engine.close()


def test_rejected_notification_is_not_retried(
    otel: Otel, clock: FakeClock, pagerduty: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BAD_PD_KEY", "too-short")  # PagerDuty answers 400 invalid event
    notifiers = {"pd": {"type": "pagerduty", "routing_key": {"env": "BAD_PD_KEY"},
                        "url": f"{pagerduty.url}/v2/enqueue"}}
    engine = make_engine(notifiers, clock, otel)
    feed(engine, clock, DRIFT[:3])
    assert [r.status for r in pagerduty.requests] == [400]
    assert engine.pending_notifications() == 0
    assert otel.notifications() == {("pd", "failed"): 1}
    engine.close()


def test_gives_up_after_max_age(otel: Otel, clock: FakeClock, webhook: HttpReceiver) -> None:
    webhook.down = True
    notifiers = {"hook": {"type": "webhook", "url": webhook.url,
                          "retry": {"initial_backoff": "1s", "max_backoff": "10s",
                                    "max_age": "1m"}}}
    engine = make_engine(notifiers, clock, otel)
    feed(engine, clock, DRIFT[:3])
    for _ in range(30):
        clock.now += 10
        engine.deliver_pending(clock.now)
    assert engine.pending_notifications() == 0
    counts = otel.notifications()
    assert counts[("hook", "dropped")] == 1 and ("hook", "delivered") not in counts
    engine.close()


def test_restart_while_firing_loses_no_resolution(
    tmp_path: Path, clock: FakeClock, slack: HttpReceiver, pagerduty: HttpReceiver,
    secrets_env: dict[str, str],
) -> None:
    notifiers = notifiers_section(slack=slack, pagerduty=pagerduty)
    engine = make_engine(notifiers, clock, state_dir=tmp_path)
    assert feed(engine, clock, DRIFT[:4]) == ["firing"]
    engine.close()  # restart while firing
    engine = make_engine(notifiers, clock, state_dir=tmp_path)
    assert [t.rule for t in engine.firing()] == ["feature_drift"]
    pagerduty.down = True
    assert feed(engine, clock, DRIFT[4:7], start=4) == ["resolved"]
    assert engine.pending_notifications("pagerduty") == 1
    engine.close()  # and again, with the resolution still queued for PagerDuty
    pagerduty.down = False
    engine = make_engine(notifiers, clock, state_dir=tmp_path)
    clock.now += 60
    engine.deliver_pending(clock.now)
    assert [r.body["event_action"] for r in pagerduty.accepted()] == ["trigger", "resolve"]
    assert [t.split(" ")[0] for t in statuses(slack, "text")] == ["FIRING", "RESOLVED"]
    assert engine.firing() == [] and engine.pending_notifications() == 0
    engine.close()


_KILLED_CHILD = """
import sys, time
from otel_ml.alerting import AlertEngine, Observation, parse_alerting_config
cfg = parse_alerting_config({"alerts": {"defaults": {"for_windows": 1}},
                             "notifiers": {"hook": {"type": "webhook", "url": sys.argv[2]}}})
engine = AlertEngine(cfg, state_dir=sys.argv[1])
now = float(sys.argv[3])
obs = Observation("churn", "3", "error_rate", 0.5, now - 61, now - 1, 100)
print(len(engine.observe([obs], now=now)), flush=True)
time.sleep(60)  # killed here, before any delivery
"""


def test_sigkill_after_observe_keeps_the_notification(
    tmp_path: Path, clock: FakeClock, webhook: HttpReceiver
) -> None:
    url = f"{webhook.url}/hook"
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, str(tmp_path), url, repr(clock.now)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "1"
    finally:
        child.kill()
        child.wait()
    assert webhook.requests == []
    engine = make_engine({"hook": {"type": "webhook", "url": url}}, clock, state_dir=tmp_path)
    engine.deliver_pending(clock.now)
    assert statuses(webhook, "status") == ["firing"]
    assert webhook.requests[0].body["commonLabels"]["alertname"] == "error_rate_high"
    engine.close()


def test_slow_notifier_does_not_block_the_others(
    slack: HttpReceiver, webhook: HttpReceiver, secrets_env: dict[str, str]
) -> None:
    import time

    # The webhook answers after 6 s and its notifier gives up after 5 s. While it hangs,
    # Slack must deliver two alerts raised one after the other: were deliveries serial,
    # one of them would wait for the webhook's timeout, whichever notifier went first.
    webhook.delay = 6.0
    notifiers = notifiers_section(slack=slack, webhook=webhook,
                                  retry={"initial_backoff": "0.2s", "max_backoff": "0.5s"})
    notifiers["hook"]["timeout"] = 5.0
    config = parse_alerting_config({"alerts": {"defaults": {"for_windows": 1}},
                                    "notifiers": notifiers})
    engine = AlertEngine(config, poll_interval=0.2)
    engine.start()
    try:
        now = time.time()
        engine.observe([drift_obs(0, 0.5, t0=now - 60)], now=now)
        assert wait_for(lambda: len(slack.accepted()) == 1, timeout=3)
        engine.observe([drift_obs(0, 0.5, t0=now - 60, feature="income")], now=time.time())
        assert wait_for(lambda: len(slack.accepted()) == 2, timeout=3)
        assert webhook.requests == []  # still stuck in its first attempt
        webhook.delay = 0.0
        assert wait_for(lambda: engine.pending_notifications() == 0, timeout=15)
    finally:
        engine.close()
    assert len(slack.accepted()) == 2
    delivered = {r.body["alerts"][0]["labels"]["ml_feature_name"]
                 for r in webhook.requests if r.status == 200}
    assert delivered == {"age", "income"}


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def test_email_with_starttls_and_authentication(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = SmtpServer(tls_context=context, credentials=("alerts", "s3cret-pass"))
    monkeypatch.setenv("T_SMTP_PASSWORD", "s3cret-pass")
    try:
        notifiers = {"mail": {"type": "email", "host": "127.0.0.1", "port": server.port,
                              "starttls": True, "tls_ca_file": str(cert),
                              "username": "alerts", "password": {"env": "T_SMTP_PASSWORD"},
                              "from": "otel-ml@example.org", "to": ["team@example.org"]}}
        engine = make_engine(notifiers, clock)
        assert feed(engine, clock, DRIFT) == ["firing", "resolved"]
        assert len(server.messages) == 2 and server.logins == ["alerts", "alerts"]
        engine.close()
    finally:
        server.stop()


def test_queue_of_a_removed_notifier_is_dropped_and_counted(
    tmp_path: Path, otel: Otel, clock: FakeClock, webhook: HttpReceiver
) -> None:
    webhook.down = True
    engine = make_engine({"hook": {"type": "webhook", "url": webhook.url}}, clock,
                         state_dir=tmp_path)
    feed(engine, clock, DRIFT[:3])
    assert engine.pending_notifications("hook") == 1
    engine.close()
    other = HttpReceiver()
    try:
        engine = make_engine({"other": {"type": "webhook", "url": other.url}}, clock, otel,
                             state_dir=tmp_path)
        assert engine.pending_notifications() == 0
        assert otel.notifications() == {("hook", "dropped"): 1}
        engine.close()
    finally:
        other.stop()


def test_unexpected_sender_failure_is_masked_and_retried(
    otel: Otel, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import urllib.request

    monkeypatch.setenv("T_HOOK_URL", "http://127.0.0.1:9/hook?token=sup3rs3cret")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("cannot reach http://127.0.0.1:9/hook?token=sup3rs3cret")

    monkeypatch.setattr(urllib.request, "urlopen", broken)
    engine = make_engine({"hook": {"type": "webhook", "url": {"env": "T_HOOK_URL"}}}, clock, otel)
    feed(engine, clock, DRIFT[:3])
    assert otel.notifications() == {("hook", "retried"): 1}
    assert engine.pending_notifications() == 1
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "RuntimeError" in text and "sup3rs3cret" not in text
    engine.close()
