"""Shared test support of the SDK tests: in-memory OTel providers + a fresh aggregator."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_ml import semconv
from otel_ml.instrumentation import Aggregator, Consumer, Runtime, flush


@dataclass
class Telemetry:
    """In-memory providers, a consumer of a fresh aggregator and a fresh runtime."""

    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    spans_exporter: InMemorySpanExporter
    logs_exporter: InMemoryLogRecordExporter
    aggregator: Aggregator
    consumer: Consumer
    runtime: Runtime

    def kwargs(self) -> dict[str, object]:
        return {
            "aggregator": self.aggregator,
            "tracer_provider": self.tracer_provider,
            "logger_provider": self.logger_provider,
            "runtime": self.runtime,
        }

    def spans(self) -> tuple[ReadableSpan, ...]:
        return tuple(self.spans_exporter.get_finished_spans())

    def events(self, name: str = semconv.EVENT_PREDICTION) -> list[ReadableLogRecord]:
        flush()
        logs = self.logs_exporter.get_finished_logs()
        return [r for r in logs if r.log_record.event_name == name]
