"""Process-wide SDK state: the background worker, its queue records, the self-metrics.

One :class:`~otel_ml.instrumentation._worker.Worker` serves every monitor of the
process; :func:`flush` drains it (every export does, before collecting). The
``otel_ml.queue.size`` gauge is registered once per meter provider: besides
showing the backlog, it is the SDK instrument that always has a point, so a
``PeriodicExportingMetricReader`` never skips an export (the bridge rides on it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanContext

from otel_ml import semconv
from otel_ml._version import __version__
from otel_ml.instrumentation import _internal_errors as stages
from otel_ml.instrumentation._ids import PredictionIds
from otel_ml.instrumentation._inputs import Snapshot
from otel_ml.instrumentation._internal_errors import InternalErrors
from otel_ml.instrumentation._outputs import Outputs
from otel_ml.instrumentation._worker import Worker

if TYPE_CHECKING:
    from otel_ml.instrumentation._monitor import ModelMonitor

__all__ = ["Pending", "flush", "internal_errors", "register_queue_gauge", "worker"]


@dataclass(slots=True)
class Pending:
    """One monitored call waiting for the worker (sketches and its prediction event)."""

    monitor: ModelMonitor
    inputs: Snapshot | None
    result: Outputs | np.ndarray[Any, Any] | None
    ids: PredictionIds
    span_context: SpanContext | None
    end_ns: int
    raw_rows: str | None
    counted: bool  # outputs already added to the aggregator (bigger calls)


_ERRORS: InternalErrors | None = None
_ERRORS_LOCK = threading.Lock()


def internal_errors() -> InternalErrors:
    """The process-wide counter of otel_ml's own failures."""
    global _ERRORS
    with _ERRORS_LOCK:
        if _ERRORS is None:
            _ERRORS = InternalErrors()
        return _ERRORS


def _process_pending(items: list[Pending]) -> None:
    by_monitor: dict[int, list[Pending]] = {}
    for it in items:
        by_monitor.setdefault(id(it.monitor), []).append(it)
    items.clear()  # the groups hold the records now; each monitor lets them go one by one
    for group in by_monitor.values():
        try:
            group[0].monitor._process_batch(group)
        except Exception as exc:  # noqa: BLE001 - counted; the worker thread must live on
            internal_errors().report(stages.STAGE_WORKER, exc)


_WORKER: Worker[Pending] | None = None


def worker() -> Worker[Pending]:
    """The process's worker (created on first use)."""
    global _WORKER
    with _ERRORS_LOCK:
        if _WORKER is None:
            _WORKER = Worker(_process_pending, on_drop=_count_drop)
        return _WORKER


def _count_drop() -> None:
    internal_errors().report(stages.STAGE_WORKER, _QueueFullError("worker queue full"))


class _QueueFullError(RuntimeError):
    """The worker queue was full while another thread was draining it: a call was dropped."""


def flush() -> None:
    """Process every buffered call now (sketches merged, events handed to the log SDK)."""
    w = _WORKER
    if w is not None:
        w.drain()


_GAUGE_LOCK = threading.Lock()
_GAUGE_REGISTERED: set[int] = set()


def register_queue_gauge(meter_provider: metrics.MeterProvider | None) -> None:
    # An SDK instrument that always has a point: PeriodicExportingMetricReader skips
    # export() when the SDK has none, and the bridge would never run.
    key = id(meter_provider)
    with _GAUGE_LOCK:
        if key in _GAUGE_REGISTERED:
            return
        _GAUGE_REGISTERED.add(key)
    meter = metrics.get_meter(semconv.SCOPE_NAME, __version__, meter_provider)

    def observe(_: CallbackOptions) -> list[Observation]:
        return [Observation(len(_WORKER) if _WORKER is not None else 0)]

    meter.create_observable_gauge(
        semconv.METRIC_INTERNAL_QUEUE,
        [observe],
        unit=semconv.UNIT_CALLS,
        description="Monitored calls buffered for the background worker.",
    )
