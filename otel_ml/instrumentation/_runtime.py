"""The SDK's runtime: the background worker (and its queue) and the self-metrics, as one object.

A :class:`Runtime` is what every :class:`~otel_ml.instrumentation.ModelMonitor`
and :func:`~otel_ml.configure` hand their deferred work and their own failures
to. The process has a default one (:func:`default_runtime`, created on first
use), which is what users get; tests and embedders pass their own
(``ModelMonitor(..., runtime=Runtime())``) and get a fresh queue and error
counter.

:func:`flush` drains every live runtime of the process (every export does, before
collecting). The ``otel_ml.queue.size`` gauge is registered once per meter
provider: besides showing the backlog, it is the SDK instrument that always has a
point, so a ``PeriodicExportingMetricReader`` never skips an export (the bridge
rides on it).
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Protocol

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from otel_ml import semconv
from otel_ml._version import __version__
from otel_ml.instrumentation import _internal_errors as stages
from otel_ml.instrumentation._events import DEFAULT_BUDGET_BYTES, EventBudget
from otel_ml.instrumentation._internal_errors import InternalErrors
from otel_ml.instrumentation._worker import Worker

if TYPE_CHECKING:
    from otel_ml.instrumentation._batch import Pending

__all__ = ["Runtime", "default_runtime", "flush", "internal_errors"]


class _QueueFullError(RuntimeError):
    """The worker queue was full while another thread was draining it: a call was dropped."""


class _Closable(Protocol):
    def shutdown(self) -> None: ...


class Runtime:
    """The worker, its queue and the error counter shared by the monitors handed it.

    Parameters
    ----------
    errors
        Where otel_ml's own failures are counted (default: a new
        :class:`InternalErrors` on the global meter provider).
    capacity, wake_at, interval
        The worker queue's bound (calls), the backlog that wakes the worker, and
        its period in seconds (see :class:`~otel_ml.instrumentation._worker.Worker`).
    event_budget_bytes
        The byte budget of ``ml.prediction`` records waiting to be sent or recently
        handed to the log SDK (:class:`~otel_ml.instrumentation._events.EventBudget`);
        rows beyond it are dropped and counted on ``otel_ml.predictions.dropped``.
    """

    def __init__(
        self,
        *,
        errors: InternalErrors | None = None,
        capacity: int = 20_000,
        wake_at: int = 2048,
        interval: float = 0.5,
        event_budget_bytes: int = DEFAULT_BUDGET_BYTES,
    ) -> None:
        self.errors = errors if errors is not None else InternalErrors()
        #: the prediction records' byte budget and their open batches
        self.events = EventBudget(event_budget_bytes)
        self.worker: Worker[Pending] = Worker(
            self._process,
            on_drop=self._count_drop,
            after_drain=self._send_events,
            capacity=capacity,
            wake_at=wake_at,
            interval=interval,
        )
        #: what :func:`~otel_ml.configure` installed with this runtime (set once)
        self.configuration: _Closable | None = None
        self.configure_lock = threading.Lock()
        _LIVE.add(self)

    def submit(self, item: Pending) -> None:
        """Hot path: queue one call for the worker (never raises)."""
        self.worker.submit(item)

    def flush(self) -> None:
        """Process every buffered call now (sketches merged, open prediction records and
        the report of dropped rows handed to the log SDK)."""
        self.worker.drain()

    def close(self) -> None:
        """Drain and stop the worker thread (it restarts on the next call)."""
        self.worker.stop()

    def __len__(self) -> int:
        return len(self.worker)

    def _process(self, items: list[Pending]) -> None:
        by_builder: dict[int, list[Pending]] = {}
        for it in items:
            by_builder.setdefault(id(it.builder), []).append(it)
        items.clear()  # the groups hold the records now; each builder lets them go one by one
        for group in by_builder.values():
            try:
                group[0].builder.process(group)
            except Exception as exc:  # noqa: BLE001 - counted; the worker thread must live on
                self.errors.report(stages.STAGE_WORKER, exc)

    def _send_events(self, force: bool) -> None:
        try:
            self.events.flush(force=force)
        except Exception as exc:  # noqa: BLE001 - counted; the worker thread must live on
            self.errors.report(stages.STAGE_EVENTS, exc)

    def _count_drop(self) -> None:
        self.errors.report(stages.STAGE_WORKER, _QueueFullError("worker queue full"))


_LIVE: weakref.WeakSet[Runtime] = weakref.WeakSet()
_DEFAULT: Runtime | None = None
_DEFAULT_LOCK = threading.Lock()


def default_runtime() -> Runtime:
    """The process's runtime (created on first use): what monitors use unless given one."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Runtime()
        return _DEFAULT


def internal_errors() -> InternalErrors:
    """The default runtime's counter of otel_ml's own failures."""
    return default_runtime().errors


def flush() -> None:
    """Process every buffered call of every runtime now (events handed to the log SDK)."""
    for runtime in list(_LIVE):
        runtime.flush()


_GAUGE_LOCK = threading.Lock()
_GAUGE_REGISTERED: set[int] = set()


def register_queue_gauge(meter_provider: metrics.MeterProvider | None) -> None:
    """The ``otel_ml.queue.size`` gauge on ``meter_provider`` (once per provider)."""
    # An SDK instrument that always has a point: PeriodicExportingMetricReader skips
    # export() when the SDK has none, and the bridge would never run.
    key = id(meter_provider)
    with _GAUGE_LOCK:
        if key in _GAUGE_REGISTERED:
            return
        _GAUGE_REGISTERED.add(key)
    meter = metrics.get_meter(semconv.SCOPE_NAME, __version__, meter_provider)

    def observe(_: CallbackOptions) -> list[Observation]:
        return [Observation(sum(len(r) for r in list(_LIVE)))]

    meter.create_observable_gauge(
        semconv.METRIC_INTERNAL_QUEUE,
        [observe],
        unit=semconv.UNIT_CALLS,
        description="Monitored calls buffered for the background worker.",
    )

    def observe_events(_: CallbackOptions) -> list[Observation]:
        return [Observation(sum(r.events.used() for r in list(_LIVE)))]

    meter.create_observable_gauge(
        semconv.METRIC_EVENTS_BUFFERED,
        [observe_events],
        unit=semconv.UNIT_BYTES,
        description="Estimated bytes of ml.prediction records waiting in the worker or "
        "handed to the log SDK in the last seconds (what the event byte budget counts).",
    )
