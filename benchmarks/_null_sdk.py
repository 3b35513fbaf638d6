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
