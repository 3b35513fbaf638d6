"""What the alerting tests share: a fake clock, OTel SDK providers with in-memory
exporters (Otel), the notifiers section of a config pointing at the loopback receivers,
and observations of a drifting feature. The fixtures are in conftest.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from servers import HttpReceiver, SmtpServer

from otel_ml import semconv
from otel_ml.alerting import Observation

T0 = 1_790_000_000.0  # a fixed start time for windows
WINDOW = 60.0
PD_KEY = "R0UT1NGK3Y0123456789abcdefABCDEF"  # 32 characters, like a PagerDuty integration key
SLACK_PATH = "/services/T000/B000/XXXXSECRETXXXX"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Otel:
    logger_provider: LoggerProvider
    logs: InMemoryLogRecordExporter
    meter_provider: MeterProvider
    metrics: InMemoryMetricReader

    def alert_events(self) -> list[Any]:
        return [
            r.log_record
            for r in self.logs.get_finished_logs()
            if r.log_record.event_name == semconv.EVENT_ALERT
        ]

    def notifications(self) -> dict[tuple[str, str], int]:
        """otel_ml.notifications by (notifier, outcome)."""
        out: dict[tuple[str, str], int] = {}
        data = self.metrics.get_metrics_data()
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name != semconv.METRIC_NOTIFICATIONS:
                        continue
                    for point in metric.data.data_points:
                        attrs = point.attributes or {}
                        key = (str(attrs[semconv.NOTIFIER]), str(attrs[semconv.OUTCOME]))
                        out[key] = int(point.value)
        return out


def notifiers_section(
    *,
    slack: HttpReceiver | None = None,
    pagerduty: HttpReceiver | None = None,
    webhook: HttpReceiver | None = None,
    smtp: SmtpServer | None = None,
    alertmanager_url: str | None = None,
    retry: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``notifiers:`` section pointing at the given loopback peers."""
    retry = retry or {"initial_backoff": "1s", "max_backoff": "30s", "jitter": 0.5}
    out: dict[str, Any] = {}
    if alertmanager_url:
        out["am"] = {"type": "alertmanager", "url": alertmanager_url, "resend_interval": "2s",
                     "retry": retry}
    if slack:
        out["slack"] = {"type": "slack", "webhook_url": {"env": "TEST_SLACK_WEBHOOK_URL"},
                        "retry": retry}
    if pagerduty:
        out["pagerduty"] = {
            "type": "pagerduty",
            "routing_key": {"env": "TEST_PD_ROUTING_KEY"},
            "url": f"{pagerduty.url}/v2/enqueue",
            "route": {"min_severity": "warning"},
            "retry": retry,
        }
    if webhook:
        out["hook"] = {
            "type": "webhook",
            "url": f"{webhook.url}/alerts",
            "headers": {"Authorization": {"env": "TEST_HOOK_TOKEN"}},
            "retry": retry,
        }
    if smtp:
        out["email"] = {
            "type": "email",
            "host": "127.0.0.1",
            "port": smtp.port,
            "starttls": False,
            "from": "otel-ml@example.org",
            "to": ["ml-team@example.org", "oncall@example.org"],
            "retry": retry,
        }
    return out


def drift_obs(i: int, psi: float, *, model: str = "churn", feature: str = "age",
              t0: float = T0) -> Observation:
    """Feature-drift observation of window ``i`` (PSI as the statistic)."""
    return Observation(
        model=model,
        version="3",
        kind="feature_drift",
        value=psi,
        window_start=t0 + WINDOW * i,
        window_end=t0 + WINDOW * (i + 1),
        n_rows=1000,
        metric="psi",
        feature=feature,
        reference="churn@3 (train.json)",
        trace_ids=(f"{i + 1:032x}",),
        span_ids=(f"{i + 1:016x}",),
        p_value=0.001,
        details={"ks": 0.2},
    )


def window_end(i: int, t0: float = T0) -> float:
    return t0 + WINDOW * (i + 1)
