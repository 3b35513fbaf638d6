"""The real Alertmanager (Debian prometheus-alertmanager) receives our alerts over
API v2 and forwards them to a webhook: firing, kept alive by re-posts (also across a
restart of the engine), then resolved — one notification each."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from alerting_support import Otel, drift_obs
from servers import Alertmanager, HttpReceiver, wait_for

from otel_ml.alerting import AlertEngine, parse_alerting_config


@pytest.fixture
def am_hook() -> Iterator[HttpReceiver]:
    server = HttpReceiver()
    yield server
    server.stop()


@pytest.fixture
def alertmanager(tmp_path: Path, am_hook: HttpReceiver) -> Iterator[Alertmanager]:
    am = Alertmanager(tmp_path / "alertmanager", f"{am_hook.url}/am")
    yield am
    am.stop()


def _unix(rfc3339: str) -> float:
    """Alertmanager's timestamps (RFC 3339, up to nanoseconds) as Unix seconds."""
    m = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", rfc3339)
    assert m is not None, rfc3339
    zone = "+00:00" if m[3] == "Z" else m[3]
    return datetime.fromisoformat(m[1] + zone).timestamp() + float(f"0.{m[2] or 0}")


def notifications(hook: HttpReceiver) -> list[tuple[str, str]]:
    """(status, alertname) of every alert Alertmanager forwarded."""
    return [(a["status"], a["labels"]["alertname"]) for r in hook.requests
            for a in r.body["alerts"]]


def test_alertmanager_fires_then_resolves_once(
    tmp_path: Path, otel: Otel, alertmanager: Alertmanager, am_hook: HttpReceiver
) -> None:
    config = parse_alerting_config({
        "alerts": {"defaults": {"for_windows": 2, "resolve_after_windows": 2}},
        "notifiers": {"am": {"type": "alertmanager", "url": alertmanager.url,
                             "resend_interval": "1s",
                             "retry": {"initial_backoff": "0.2s", "max_backoff": "1s"}}},
    })
    def start_engine() -> AlertEngine:
        engine = AlertEngine(config, state_dir=tmp_path / "state", poll_interval=0.2,
                             logger_provider=otel.logger_provider,
                             meter_provider=otel.meter_provider)
        engine.start()
        return engine

    engine = start_engine()
    t0 = time.time() - 600.0
    try:
        for i, psi in enumerate([0.4, 0.5]):
            engine.observe([drift_obs(i, psi, t0=t0)], now=time.time())
        assert wait_for(lambda: ("firing", "feature_drift") in notifications(am_hook), timeout=15)
        (active,) = alertmanager.alerts()
        assert active["labels"]["ml_model_name"] == "churn"
        assert active["labels"]["ml_feature_name"] == "age"
        assert active["labels"]["severity"] == "warning"
        assert active["annotations"]["summary"].startswith("FIRING [warning] churn feature_drift")
        assert active["status"]["state"] == "active"
        # kept alive: re-posted every resend_interval, no new notification from Alertmanager
        assert wait_for(lambda: otel.notifications().get(("am", "delivered"), 0) >= 3, timeout=10)
        assert len(alertmanager.alerts()) == 1
        # restart while firing: the new process keeps re-posting, then resolves
        engine.close()
        delivered = otel.notifications()[("am", "delivered")]
        engine = start_engine()
        assert wait_for(lambda: otel.notifications()[("am", "delivered")] > delivered + 1,
                        timeout=10)
        engine.observe([drift_obs(2, 0.01, t0=t0)], now=time.time())
        resolved_at = time.time()
        engine.observe([drift_obs(3, 0.01, t0=t0)], now=resolved_at)
        assert wait_for(lambda: ("resolved", "feature_drift") in notifications(am_hook),
                        timeout=15)
        # resolved by the posted endsAt (the resolution time), not by letting the last
        # keep-alive expire (that would end it 4 x resend_interval = 4 s later)
        (ends_at,) = [_unix(a["endsAt"]) for r in am_hook.requests for a in r.body["alerts"]
                      if a["status"] == "resolved"]
        assert abs(ends_at - resolved_at) < 1.5, ends_at - resolved_at
        assert wait_for(lambda: alertmanager.alerts() == [], timeout=5)
        time.sleep(2.5)  # a couple of group intervals: nothing more should arrive
        assert notifications(am_hook) == [("firing", "feature_drift"),
                                          ("resolved", "feature_drift")]
    finally:
        engine.close()
