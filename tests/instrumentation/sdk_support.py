"""Shared test support of the SDK tests: in-memory OTel providers + a fresh aggregator."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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

    def calls(self) -> list[dict[str, Any]]:
        """Every call's rows in the ``ml.prediction`` records (see :func:`prediction_calls`)."""
        return prediction_calls(
            (dict(r.log_record.attributes or {}), r.log_record.trace_id, r.log_record.span_id)
            for r in self.events()
        )

    def events(self, name: str = semconv.EVENT_PREDICTION) -> list[ReadableLogRecord]:
        flush()
        logs = self.logs_exporter.get_finished_logs()
        return [r for r in logs if r.log_record.event_name == name]


def prediction_calls(
    records: Iterable[tuple[Mapping[str, Any], int, int]],
) -> list[dict[str, Any]]:
    """The calls held by ``ml.prediction`` records, batched or per call, in order.

    Each record is ``(attributes, trace_id, span_id)``; each call a dict of its
    ``ids``, ``values`` and ``labels`` (lists; the latter two only when sent),
    ``trace_id``/``span_id`` (ints, 0 outside a span), the record's other
    attributes, and ``record`` (the record's index). The parts of a call split
    over several records are joined.
    """
    out: list[dict[str, Any]] = []
    for index, (attrs, trace_id, span_id) in enumerate(records):
        ids = list(attrs[semconv.ML_PREDICTION_IDS])
        values = attrs.get(semconv.ML_PREDICTION_VALUES)
        labels = attrs.get(semconv.ML_PREDICTION_LABELS)
        offsets = attrs.get(semconv.ML_PREDICTION_CALL_OFFSETS)
        base = {
            k: v
            for k, v in attrs.items()
            if k
            not in (
                semconv.ML_PREDICTION_IDS,
                semconv.ML_PREDICTION_VALUES,
                semconv.ML_PREDICTION_LABELS,
            )
            and not k.startswith("ml.prediction.call.")
        }
        if offsets is None:
            parts = [(0, len(ids), trace_id, span_id)]
        else:
            ends = [*list(offsets)[1:], len(ids)]
            parts = [
                (lo, hi, int(t, 16) if t else 0, int(s, 16) if s else 0)
                for lo, hi, t, s in zip(
                    offsets,
                    ends,
                    attrs[semconv.ML_PREDICTION_CALL_TRACE_IDS],
                    attrs[semconv.ML_PREDICTION_CALL_SPAN_IDS],
                    strict=True,
                )
            ]
        for lo, hi, t, s in parts:
            call = {**base, semconv.ML_PREDICTION_IDS: ids[lo:hi]}
            if values is not None:
                call[semconv.ML_PREDICTION_VALUES] = list(values[lo:hi])
            if labels is not None:
                call[semconv.ML_PREDICTION_LABELS] = list(labels[lo:hi])
            call.update(trace_id=t, span_id=s, record=index)
            prev = out[-1] if out else None
            if (
                offsets is not None
                and prev is not None
                and t
                and (prev["trace_id"], prev["span_id"]) == (t, s)
            ):
                for k in (semconv.ML_PREDICTION_IDS, semconv.ML_PREDICTION_VALUES,
                          semconv.ML_PREDICTION_LABELS):
                    if k in prev:
                        prev[k].extend(call[k])
                continue
            out.append(call)
    return out
