"""Fixtures: SDK providers wired to in-memory exporters, a fresh aggregator and runtime per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sdk_support import Telemetry

from otel_ml.instrumentation import Aggregator, Runtime


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    se = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(se))
    le = InMemoryLogRecordExporter()
    lp = LoggerProvider()
    lp.add_log_record_processor(SimpleLogRecordProcessor(le))
    agg = Aggregator()
    runtime = Runtime()
    yield Telemetry(tp, lp, se, le, agg, agg.register(), runtime)
    runtime.close()
    tp.shutdown()
    lp.shutdown()
