"""Shared pieces of the SklearnInstrumentor tests: SDK providers on in-memory exporters, data.

Test modules turn the ``*_fixture`` functions into fixtures with
``pytest.fixture(name=...)`` (a conftest here belongs to the SDK tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sdk_support import prediction_calls

from otel_ml import semconv
from otel_ml.instrumentation._aggregator import Consumer, default_aggregator
from otel_ml.instrumentation._monitor import flush
from otel_ml.instrumentation.sklearn import SklearnInstrumentor

FEATURES = ["age", "income", "debt", "tenure"]


@dataclass
class Telemetry:
    spans: InMemorySpanExporter
    logs: InMemoryLogRecordExporter
    consumer: Consumer
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    meter_provider: MeterProvider

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def events(self) -> list[dict[str, Any]]:
        """Each call's rows of the ``ml.prediction`` records (batched or not), in order."""
        flush()
        return prediction_calls(
            (dict(lr.attributes or {}), lr.trace_id, lr.span_id)
            for lr in (rec.log_record for rec in self.logs.get_finished_logs())
            if lr.event_name == semconv.EVENT_PREDICTION
        )


def telemetry_fixture() -> Iterator[Telemetry]:
    """SDK providers on in-memory exporters, and a consumer of the process aggregator."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    flush()
    consumer = default_aggregator().register()
    # Not the global meter provider: instrument() bridges the periodic readers it is given.
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    yield Telemetry(spans, logs, consumer, tracer_provider, logger_provider, meter_provider)
    meter_provider.shutdown()
    consumer.close()


def instrument_fixture_for(cls: type) -> Callable[[Telemetry], Iterator[Callable[..., Any]]]:
    """A fixture body for any instrumentor: ``instrument(**options)`` with the test
    providers, returning the instrumentor; uninstrumented afterwards."""

    def fixture(telemetry: Telemetry) -> Iterator[Callable[..., Any]]:
        instrumentor = cls()

        def start(**kwargs: object) -> Any:
            instrumentor.instrument(
                tracer_provider=telemetry.tracer_provider,
                logger_provider=telemetry.logger_provider,
                meter_provider=telemetry.meter_provider,
                **kwargs,
            )
            return instrumentor

        yield start
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()

    return fixture


instrument_fixture = instrument_fixture_for(SklearnInstrumentor)


def data_fixture() -> tuple[pd.DataFrame, np.ndarray]:
    """300 rows of four named features and a binary label."""
    rng = np.random.default_rng(7)
    X = pd.DataFrame(rng.normal(size=(300, 4)), columns=FEATURES)
    y = (X["age"] + 0.5 * X["income"] > 0).astype(int).to_numpy()
    return X, y


def only_span(telemetry: Telemetry) -> ReadableSpan:
    spans = telemetry.finished()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]
