"""Fixtures for the alerting tests: OTel SDK providers with in-memory exporters,
a fake clock, loopback HTTP receivers standing in for Slack / PagerDuty / a
webhook, and a real SMTP server (the shared pieces are in alerting_support.py)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from alerting_support import PD_KEY, SLACK_PATH, FakeClock, Otel
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from servers import HttpReceiver, SmtpServer
from service_shapes import pagerduty_answer, slack_answer


@pytest.fixture
def otel() -> Iterator[Otel]:
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Otel(logger_provider, logs, meter_provider, reader)
    logger_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rng() -> random.Random:
    return random.Random(7)


@pytest.fixture
def slack() -> Iterator[HttpReceiver]:
    server = HttpReceiver(validate=slack_answer)
    yield server
    server.stop()


@pytest.fixture
def pagerduty() -> Iterator[HttpReceiver]:
    server = HttpReceiver(validate=pagerduty_answer)
    yield server
    server.stop()


@pytest.fixture
def webhook() -> Iterator[HttpReceiver]:
    server = HttpReceiver()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch, slack: HttpReceiver) -> dict[str, str]:
    values = {
        "TEST_SLACK_WEBHOOK_URL": f"{slack.url}{SLACK_PATH}",
        "TEST_PD_ROUTING_KEY": PD_KEY,
        "TEST_HOOK_TOKEN": "Bearer hook-token-123",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


