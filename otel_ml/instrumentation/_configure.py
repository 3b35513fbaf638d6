"""``otel_ml.configure()``: optional one-call OpenTelemetry set-up for a model service.

It installs tracer, meter and logger providers exporting over OTLP, wraps the
OTLP metric exporter in :class:`SketchMetricExporter` (so feature sketches go
out as real histograms), and can serve a Prometheus scrape endpoint. It:

- never replaces a provider the application already installed (that signal is
  left alone and reported in :class:`Configuration`);
- is idempotent: later calls return the first :class:`Configuration`;
- honours the standard variables: ``OTEL_SDK_DISABLED``, ``OTEL_SERVICE_NAME``,
  ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``_HEADERS`` /
  ``_PROTOCOL`` (``grpc`` or ``http/protobuf``, also per signal),
  ``OTEL_METRIC_EXPORT_INTERVAL``, ``OTEL_{TRACES,METRICS,LOGS}_EXPORTER``
  (``otlp``, ``console``, ``none``; ``prometheus`` for metrics) and
  ``OTEL_EXPORTER_PROMETHEUS_HOST`` / ``_PORT``; explicit arguments win;
- sizes the span and log batch queues for a model service (one span and one
  ``ml.prediction`` event per call; :data:`QUEUE_DEFAULTS`), unless the standard
  ``OTEL_BSP_*`` / ``OTEL_BLRP_*`` variables say otherwise, and counts every span
  or log record those processors drop on ``otel_ml.internal.errors``
  (``otel_ml.stage=export``, ``error.type`` ``span_queue_full``,
  ``log_queue_full``, ``span_already_shutdown``, ``log_already_shutdown``);
- flushes everything on :meth:`Configuration.shutdown` and at interpreter exit.

Without ``configure``, otel_ml uses whatever global providers exist, like any
OpenTelemetry instrumentation; wrap your own OTLP metric exporter in
``SketchMetricExporter`` to get the feature histograms.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import _logs, trace
from opentelemetry import metrics as otel_metrics
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogRecordExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

from otel_ml._errors import ConfigurationError
from otel_ml._otlp_exporters import Signal, otlp_exporter
from otel_ml.instrumentation import _internal_errors as stages
from otel_ml.instrumentation._internal_errors import InternalErrors
from otel_ml.instrumentation._otlp_bridge import SketchMetricExporter
from otel_ml.instrumentation._runtime import Runtime, default_runtime

if TYPE_CHECKING:  # prometheus_client loads only when Prometheus is asked for
    from prometheus_client.registry import CollectorRegistry

__all__ = ["QUEUE_DEFAULTS", "Configuration", "configure"]

_logger = logging.getLogger("otel_ml")

PROTOCOLS = ("grpc", "http/protobuf")

#: What configure() gives the batch span (``BSP``) and log record (``BLRP``) processors
#: when the ``OTEL_<prefix>_<VARIABLE>`` variable is unset: a model service emits one span
#: and one ``ml.prediction`` event per call, thousands per second; the SDK's defaults
#: (2,048 queued, 512 per export every 5 s) drop the excess of a burst.
QUEUE_DEFAULTS: Mapping[str, int] = {
    "MAX_QUEUE_SIZE": 65_536,
    "MAX_EXPORT_BATCH_SIZE": 4_096,
    "SCHEDULE_DELAY": 1_000,
}
_PROCESSOR_ARGS = {
    "MAX_QUEUE_SIZE": "max_queue_size",
    "MAX_EXPORT_BATCH_SIZE": "max_export_batch_size",
    "SCHEDULE_DELAY": "schedule_delay_millis",
}


@dataclass(frozen=True)
class Configuration:
    """What :func:`configure` installed. ``None`` for a provider the app had already set."""

    tracer_provider: TracerProvider | None
    meter_provider: MeterProvider | None
    logger_provider: LoggerProvider | None
    protocol: str
    prometheus_address: tuple[str, int] | None = None
    prometheus_registry: CollectorRegistry | None = None
    _closers: list[Any] = field(default_factory=list, repr=False, compare=False)
    _done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    _runtime: Runtime | None = field(default=None, repr=False, compare=False)
    _pid: int = field(default_factory=os.getpid, repr=False, compare=False)

    def flush(self, timeout_millis: int = 30_000) -> None:
        """Process buffered calls and export everything now; the providers stay usable."""
        (self._runtime or default_runtime()).flush()
        for p in (self.tracer_provider, self.logger_provider, self.meter_provider):
            if p is not None:
                p.force_flush(timeout_millis)

    def shutdown(self) -> None:
        """Flush buffered calls, export everything, stop servers (idempotent).

        In a worker process — forked after :func:`configure` (a gunicorn worker) or
        any multiprocessing child — it only flushes: a reused pool worker's next task
        still exports, and the servers and providers are the parent's to stop (or
        stop with the process).
        """
        if os.getpid() != self._pid or _in_multiprocessing_child():
            self.flush()
            return
        if self._done.is_set():
            return
        self._done.set()
        (self._runtime or default_runtime()).flush()
        for close in self._closers:
            try:
                close()
            except Exception:
                _logger.warning("otel_ml: error while shutting down telemetry", exc_info=True)


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def _protocol(signal: str, protocol: str | None) -> str:
    p = (
        protocol
        or _env(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or _env("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if p not in PROTOCOLS:
        source = "protocol" if protocol else "OTEL_EXPORTER_OTLP_PROTOCOL"
        raise ConfigurationError(
            f"{source}={p!r} is not supported; use 'grpc' or 'http/protobuf' "
            "(the Python OTLP exporters have no http/json)"
        )
    return p


def _exporter_kind(signal: str) -> list[str]:
    value = _env(f"OTEL_{signal.upper()}_EXPORTER") or "otlp"
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    valid = {"otlp", "console", "none"} | ({"prometheus"} if signal == "metrics" else set())
    bad = [k for k in kinds if k not in valid]
    if bad:
        raise ConfigurationError(
            f"OTEL_{signal.upper()}_EXPORTER={value!r}: {bad} not supported; use one of "
            f"{sorted(valid)}"
        )
    return [k for k in kinds if k != "none"]


def _is_set(provider: object) -> bool:
    """Whether the application installed a real provider (not the API's proxy / no-op)."""
    name = type(provider).__name__
    return not name.startswith(("_Proxy", "Proxy", "NoOp"))


def _queue_args(prefix: str) -> dict[str, int]:
    """Our queue sizes for the variables ``OTEL_{prefix}_*`` that are unset (the SDK reads the
    others itself)."""
    return {
        arg: QUEUE_DEFAULTS[var]
        for var, arg in _PROCESSOR_ARGS.items()
        if _env(f"OTEL_{prefix}_{var}") is None
        # a queue sized by the variable decides the batch size too (which must fit in it)
        and not (var != "MAX_QUEUE_SIZE" and _env(f"OTEL_{prefix}_MAX_QUEUE_SIZE") is not None)
    }


class _CountedDrops:
    """The batch processor's own metrics object, plus a count of its other drops on ours.

    ``BatchProcessor.emit`` reports each span or record it refuses through ``drop_items``;
    a full queue is counted by :class:`_CountingQueue` instead, because the processor's
    own check (``len(queue) == max`` then ``appendleft``) races between threads: two
    callers can both see room and one item then falls off the deque uncounted.
    """

    def __init__(self, inner: Any, errors: InternalErrors, item: str) -> None:
        self._inner, self._errors, self._item = inner, errors, item

    def register_queue_size(self, get_queue_size: Callable[[], int]) -> None:
        self._inner.register_queue_size(get_queue_size)

    def finish_items(self, count: int) -> None:
        self._inner.finish_items(count)

    def drop_items(self, count: int, error_type: str = "queue_full") -> None:
        self._inner.drop_items(count, error_type)
        if error_type != "queue_full":  # the queue counts those exactly
            self._errors.count(stages.STAGE_EXPORT, f"{self._item}_{error_type}", count)


class _CountingQueue(collections.deque[Any]):
    """The batch processor's bounded deque, counting every item it pushes out.

    The processor adds on the left and takes from the right; a full deque drops its
    rightmost (oldest) item on ``appendleft``. Adding and taking share one lock, so
    "was it full" and the add are one step and every dropped item is counted once.
    """

    def __init__(self, maxlen: int, on_drop: Callable[[], None]) -> None:
        super().__init__((), maxlen)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._on_drop = on_drop

    def _locked(self) -> threading.Lock:
        if self._pid != os.getpid():  # a forked child: another thread may have held it
            self._lock, self._pid = threading.Lock(), os.getpid()
        return self._lock

    def appendleft(self, item: Any) -> None:
        with self._locked():
            full = len(self) == self.maxlen
            super().appendleft(item)
        if full:
            self._on_drop()

    def pop(self) -> Any:  # type: ignore[override]  # deque.pop takes no index
        with self._locked():
            return super().pop()


def _count_drops(processor: Any, errors: InternalErrors, item: str) -> Any:
    inner = getattr(processor, "_batch_processor", None)
    queue = getattr(inner, "_queue", None)
    if (
        inner is None
        or not hasattr(inner, "_metrics")
        or type(queue) is not collections.deque
        or queue.maxlen is None
    ):
        _logger.warning(
            "otel_ml.configure: this opentelemetry-sdk's %s batch processor cannot be observed; "
            "its drops are not counted on otel_ml.internal.errors",
            item,
        )
        return processor
    inner._metrics = _CountedDrops(inner._metrics, errors, item)

    def dropped() -> None:
        errors.count(stages.STAGE_EXPORT, f"{item}_queue_full", 1)

    counting = _CountingQueue(queue.maxlen, dropped)
    counting.extend(queue)  # empty when just built; same order otherwise
    inner._queue = counting
    return processor


@dataclass(frozen=True)
class _Setup:
    """What one signal's provider is built from."""

    resource: Resource
    protocol: str | None
    endpoint: str | None
    headers: Mapping[str, str] | None
    runtime: Runtime

    def exporter(self, signal: Signal, kind: str, console: Callable[[], Any]) -> Any:
        if kind == "console":
            return console()
        return otlp_exporter(signal, _protocol(signal, self.protocol), self.endpoint, self.headers)


@dataclass(frozen=True)
class _Batching:
    """How a signal's records are batched: the span and log rows of the table."""

    provider: Callable[..., Any]  # TracerProvider / LoggerProvider
    add: Callable[[Any, Any], None]  # its add_*_processor
    processor: Callable[..., Any]  # BatchSpanProcessor / BatchLogRecordProcessor
    prefix: str  # of its OTEL_<prefix>_* variables
    item: str  # the dropped record, in error.type


@dataclass(frozen=True)
class _SignalTable:
    """One row per signal: how configure() finds, builds and installs its provider."""

    name: Signal
    get_global: Callable[[], object]
    set_global: Callable[[Any], None]
    kept: str  # logged when the application's own provider is kept
    console: Callable[[], Any]
    batching: _Batching | None = None  # None: metrics, built by configure() itself

    def batched_provider(self, setup: _Setup, kinds: list[str]) -> Any:
        b = self.batching
        assert b is not None
        provider = b.provider(resource=setup.resource, shutdown_on_exit=False)
        for kind in kinds:
            exporter = setup.exporter(self.name, kind, self.console)
            processor = b.processor(exporter, **_queue_args(b.prefix))
            b.add(provider, _count_drops(processor, setup.runtime.errors, b.item))
        return provider


_SIGNALS = (
    _SignalTable(
        "traces",
        trace.get_tracer_provider,
        trace.set_tracer_provider,
        "keeping the application's tracer provider",
        ConsoleSpanExporter,
        _Batching(
            TracerProvider, TracerProvider.add_span_processor, BatchSpanProcessor, "BSP", "span"
        ),
    ),
    _SignalTable(
        "logs",
        _logs.get_logger_provider,
        _logs.set_logger_provider,
        "keeping the application's logger provider",
        ConsoleLogRecordExporter,
        _Batching(
            LoggerProvider,
            LoggerProvider.add_log_record_processor,
            BatchLogRecordProcessor,
            "BLRP",
            "log",
        ),
    ),
    _SignalTable(
        "metrics",
        otel_metrics.get_meter_provider,
        otel_metrics.set_meter_provider,
        "the application set its own meter provider; feature histograms reach it only if "
        "its metric exporter is wrapped in otel_ml.instrumentation.SketchMetricExporter",
        ConsoleMetricExporter,
    ),
)


def configure(
    *,
    service_name: str | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | None = None,
    export_interval: float | None = None,
    traces: bool = True,
    metrics: bool = True,
    logs: bool = True,
    prometheus_port: int | None = None,
    prometheus_host: str | None = None,
    prometheus_registry: CollectorRegistry | None = None,
    runtime: Runtime | None = None,
) -> Configuration:
    """Set up OpenTelemetry for a model service (optional; see the module docstring).

    Parameters
    ----------
    service_name
        ``service.name`` (else ``OTEL_SERVICE_NAME``).
    resource_attributes
        Extra resource attributes (merged over ``OTEL_RESOURCE_ATTRIBUTES``).
    endpoint
        OTLP endpoint base (``http://collector:4318`` for HTTP,
        ``http://collector:4317`` for gRPC); else the ``OTEL_EXPORTER_OTLP_*``
        variables or the exporters' defaults.
    protocol
        ``"grpc"`` or ``"http/protobuf"`` (else ``OTEL_EXPORTER_OTLP_PROTOCOL``).
    headers
        OTLP headers (else ``OTEL_EXPORTER_OTLP_HEADERS``).
    export_interval
        Seconds between metric exports (else ``OTEL_METRIC_EXPORT_INTERVAL``, 60 s).
    traces, metrics, logs
        Set up this signal at all.
    prometheus_port, prometheus_host
        Serve a Prometheus scrape endpoint (port ``0`` picks a free one; host
        defaults to ``OTEL_EXPORTER_PROMETHEUS_HOST`` or ``127.0.0.1``).
    prometheus_registry
        Registry to expose (default: a fresh one).
    runtime
        The runtime whose worker the shutdown drains and whose error counter counts
        dropped telemetry (default: the process's).

    Returns
    -------
    Configuration
        What was installed; call :meth:`Configuration.shutdown` to flush and stop.
    """
    rt = runtime if runtime is not None else default_runtime()
    with rt.configure_lock:
        if isinstance(rt.configuration, Configuration):
            return rt.configuration
        config = _configure(
            rt,
            service_name=service_name,
            resource_attributes=resource_attributes,
            endpoint=endpoint,
            protocol=protocol,
            headers=headers,
            export_interval=export_interval,
            wanted={"traces": traces, "metrics": metrics, "logs": logs},
            prometheus_port=prometheus_port,
            prometheus_host=prometheus_host,
            registry=prometheus_registry,
        )
        rt.configuration = config
        return config


def _configure(
    runtime: Runtime,
    *,
    service_name: str | None,
    resource_attributes: Mapping[str, str] | None,
    endpoint: str | None,
    protocol: str | None,
    headers: Mapping[str, str] | None,
    export_interval: float | None,
    wanted: Mapping[str, bool],
    prometheus_port: int | None,
    prometheus_host: str | None,
    registry: CollectorRegistry | None,
) -> Configuration:
    if export_interval is not None and export_interval <= 0:
        raise ConfigurationError(f"export_interval must be > 0 seconds, got {export_interval}")
    if (_env("OTEL_SDK_DISABLED") or "").lower() == "true":
        return Configuration(None, None, None, protocol or "http/protobuf", _runtime=runtime)
    attrs: dict[str, str] = dict(resource_attributes or {})
    if service_name is not None:
        attrs[SERVICE_NAME] = service_name
    setup = _Setup(Resource.create(attrs), protocol, endpoint, headers, runtime)
    used_protocol = _protocol("traces", protocol)
    kinds = {s.name: _exporter_kind(s.name) if wanted[s.name] else [] for s in _SIGNALS}
    if prometheus_port is None and "prometheus" in kinds["metrics"]:
        prometheus_port = int(_env("OTEL_EXPORTER_PROMETHEUS_PORT") or "9464")
    if prometheus_port is not None and registry is None:
        from prometheus_client.registry import CollectorRegistry

        registry = CollectorRegistry()

    def meter_provider(signal: _SignalTable, kinds: list[str]) -> MeterProvider:
        interval_ms = None if export_interval is None else export_interval * 1000.0
        readers: list[MetricReader] = [
            PeriodicExportingMetricReader(
                SketchMetricExporter(
                    setup.exporter("metrics", kind, signal.console),
                    resource=setup.resource,
                ),
                export_interval_millis=interval_ms,
            )
            for kind in kinds
            if kind != "prometheus"
        ]
        reg = registry
        if prometheus_port is not None and reg is not None:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader

            readers.append(PrometheusMetricReader(registry=reg))
        return MeterProvider(
            metric_readers=readers, resource=setup.resource, shutdown_on_exit=False
        )

    installed: dict[str, Any] = {}
    for signal in _SIGNALS:
        if not wanted[signal.name]:
            continue
        if _is_set(signal.get_global()):
            log = _logger.warning if signal.name == "metrics" else _logger.info
            log("otel_ml.configure: %s", signal.kept)
            continue
        if signal.batching is not None:
            provider = signal.batched_provider(setup, kinds[signal.name])
        else:
            provider = meter_provider(signal, kinds[signal.name])
        installed[signal.name] = provider
        signal.set_global(provider)
    closers: list[Any] = []
    prom_address = None
    if prometheus_port is not None:
        assert registry is not None
        prom_address, stop_server = _serve_prometheus(registry, prometheus_port, prometheus_host)
        closers.append(stop_server)
    # Shutdown order: the worker is drained first (Configuration.shutdown), then the
    # providers flush; metrics last, so their final export carries every call.
    closers += [installed[s].shutdown for s in ("traces", "logs", "metrics") if s in installed]
    config = Configuration(
        tracer_provider=installed.get("traces"),
        meter_provider=installed.get("metrics"),
        logger_provider=installed.get("logs"),
        protocol=used_protocol,
        prometheus_address=prom_address,
        prometheus_registry=registry,
        _closers=closers,
        _runtime=runtime,
    )
    atexit.register(config.shutdown)
    _flush_at_worker_exit(config)
    return config


def _in_multiprocessing_child() -> bool:
    mp = sys.modules.get("multiprocessing")
    return mp is not None and mp.parent_process() is not None


def _flush_at_worker_exit(config: Configuration) -> None:
    """Flush at the end of every multiprocessing child (fork, spawn and forkserver).

    Such a child ends with ``os._exit``: no ``atexit`` handler runs, only
    multiprocessing's own finalizers. One is registered in each child: through
    ``register_after_fork`` (run by every child multiprocessing starts, whatever the
    start method, including the spawned ones that configure while importing the main
    module) and directly when configure() runs inside a child (a Pool initializer).
    """
    import multiprocessing
    from multiprocessing import util

    util.register_after_fork(config, _arm_exit_flush)
    if multiprocessing.parent_process() is not None:
        _arm_exit_flush(config)


def _arm_exit_flush(config: Configuration) -> None:
    from multiprocessing import util

    # Priority >= 0: run in the first round of finalizers, before multiprocessing
    # tears down its queues and children.
    util.Finalize(config, config.flush, exitpriority=100)


def _serve_prometheus(
    registry: CollectorRegistry, port: int, host: str | None
) -> tuple[tuple[str, int], Callable[[], None]]:
    from prometheus_client import start_http_server

    from otel_ml.instrumentation._prometheus import SketchCollector

    collector = SketchCollector().register(registry)
    host = host or _env("OTEL_EXPORTER_PROMETHEUS_HOST") or "127.0.0.1"
    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop_server() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)
        collector.unregister()

    return (host, int(server.server_port)), stop_server
