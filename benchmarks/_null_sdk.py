"""OTel SDK exporters that drop everything, and a CPU-time-per-call timer.

Shared by the overhead benchmarks: providers are wired like a service (batch span
and log processors, a periodic metric reader) to these exporters, so the SDK does its
real work up to the wire and nothing leaves the process.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class NullSpans(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class NullLogs(LogRecordExporter):
    def export(self, batch: Any) -> Any:
        return None

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 0) -> bool:
        return True


class NullMetrics(MetricExporter):
    def export(self, metrics_data: Any, timeout_millis: float = 0, **kwargs: Any) -> Any:
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 0) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 0, **kwargs: Any) -> None:
        pass


def per_call(
    fn: Callable[[], Any],
    n: int,
    repeat: int,
    after: Callable[[], None],
    summary: Callable[[Sequence[float]], float] = min,
) -> float:
    """Process CPU time per call (seconds) over ``repeat`` runs of ``n`` calls, ``after``
    included, summarised by ``summary`` (the least by default: on a shared machine other
    processes only ever add to a run).

    Process CPU time (all threads: the caller, otel_ml's worker, the SDK's batch
    processors) rather than wall time: it counts deferred work too, and other
    processes on a shared machine do not inflate it.
    """
    times = []
    for _ in range(repeat):
        after()
        t0 = time.process_time()
        for _ in range(n):
            fn()
        after()
        times.append((time.process_time() - t0) / n)
    return summary(times)


class NullService:
    """Tracer, logger and meter providers wired like a model service to the null exporters.

    ``providers`` are the keywords ``@monitor`` takes; :meth:`bare` wraps a call in the
    baseline the overhead benchmarks compare with (one span + one counter add);
    :meth:`settle` finishes deferred work (the SDK's worker and the batch processors) so it
    is charged to the run that caused it.
    """

    def __init__(self) -> None:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.tp = TracerProvider()
        self.tp.add_span_processor(BatchSpanProcessor(NullSpans(), max_queue_size=1 << 16))
        self.lp = LoggerProvider()
        self.lp.add_log_record_processor(
            BatchLogRecordProcessor(NullLogs(), max_queue_size=1 << 16)
        )
        reader = PeriodicExportingMetricReader(NullMetrics(), export_interval_millis=1000)
        self.mp = MeterProvider(metric_readers=[reader])
        self.tracer = self.tp.get_tracer("bench")
        self.counter = self.mp.get_meter("bench").create_counter("bench.calls")
        self.providers = {
            "tracer_provider": self.tp,
            "logger_provider": self.lp,
            "meter_provider": self.mp,
        }

    def settle(self) -> None:
        from otel_ml.instrumentation import flush

        flush()
        self.tp.force_flush()
        self.lp.force_flush()

    def bare(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        def call() -> Any:
            with self.tracer.start_as_current_span("predict"):
                out = fn()
                self.counter.add(1)
                return out

        return call
