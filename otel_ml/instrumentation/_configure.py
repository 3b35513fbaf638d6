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
- flushes everything on :meth:`Configuration.shutdown` and at interpreter exit.

Without ``configure``, otel_ml uses whatever global providers exist, like any
OpenTelemetry instrumentation; wrap your own OTLP metric exporter in
``SketchMetricExporter`` to get the feature histograms.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import _logs, trace
from opentelemetry import metrics as otel_metrics
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    ConsoleLogRecordExporter,
    LogRecordExporter,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from otel_ml._errors import ConfigurationError
from otel_ml.instrumentation._monitor import flush
from otel_ml.instrumentation._otlp_bridge import SketchMetricExporter

if TYPE_CHECKING:  # prometheus_client loads only when Prometheus is asked for
    from prometheus_client.registry import CollectorRegistry

__all__ = ["Configuration", "configure"]

_logger = logging.getLogger("otel_ml")

PROTOCOLS = ("grpc", "http/protobuf")
_SIGNAL_PATHS = {"traces": "v1/traces", "metrics": "v1/metrics", "logs": "v1/logs"}


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

    def shutdown(self) -> None:
        """Flush buffered calls, export everything, stop servers (idempotent)."""
        if self._done.is_set():
            return
        self._done.set()
        flush()
        for close in self._closers:
            try:
                close()
            except Exception:  # noqa: BLE001 - shutting down: report and go on
                _logger.warning("otel_ml: error while shutting down telemetry", exc_info=True)


_LOCK = threading.Lock()
_CONFIGURED: Configuration | None = None


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


def _otlp(
    signal: str, protocol: str, endpoint: str | None, headers: Mapping[str, str] | None
) -> Any:
    kwargs: dict[str, Any] = {}
    if headers is not None:
        kwargs["headers"] = dict(headers)
    if endpoint is not None:
        if protocol == "http/protobuf":
            kwargs["endpoint"] = f"{endpoint.rstrip('/')}/{_SIGNAL_PATHS[signal]}"
        else:
            kwargs["endpoint"] = endpoint
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc import (
            _log_exporter as grpc_logs,
        )
        from opentelemetry.exporter.otlp.proto.grpc import (
            metric_exporter as grpc_metrics,
        )
        from opentelemetry.exporter.otlp.proto.grpc import (
            trace_exporter as grpc_traces,
        )

        cls: Any = {
            "traces": grpc_traces.OTLPSpanExporter,
            "metrics": grpc_metrics.OTLPMetricExporter,
            "logs": grpc_logs.OTLPLogExporter,
        }[signal]
    else:
        from opentelemetry.exporter.otlp.proto.http import (
            _log_exporter as http_logs,
        )
        from opentelemetry.exporter.otlp.proto.http import (
            metric_exporter as http_metrics,
        )
        from opentelemetry.exporter.otlp.proto.http import (
            trace_exporter as http_traces,
        )

        cls = {
            "traces": http_traces.OTLPSpanExporter,
            "metrics": http_metrics.OTLPMetricExporter,
            "logs": http_logs.OTLPLogExporter,
        }[signal]
    return cls(**kwargs)


def _is_set(provider: object) -> bool:
    """Whether the application installed a real provider (not the API's proxy / no-op)."""
    name = type(provider).__name__
    return not name.startswith(("_Proxy", "Proxy", "NoOp"))


def configure(  # noqa: PLR0912, PLR0915 - one linear set-up procedure
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

    Returns
    -------
    Configuration
        What was installed; call :meth:`Configuration.shutdown` to flush and stop.
    """
    global _CONFIGURED
    with _LOCK:
        if _CONFIGURED is not None:
            return _CONFIGURED
        if export_interval is not None and export_interval <= 0:
            raise ConfigurationError(f"export_interval must be > 0 seconds, got {export_interval}")
        if (_env("OTEL_SDK_DISABLED") or "").lower() == "true":
            _CONFIGURED = Configuration(None, None, None, protocol or "http/protobuf")
            return _CONFIGURED
        attrs: dict[str, str] = dict(resource_attributes or {})
        if service_name is not None:
            attrs[SERVICE_NAME] = service_name
        resource = Resource.create(attrs)
        closers: list[Any] = []
        tp = mp = lp = None
        used_protocol = _protocol("traces", protocol)

        if traces and not _is_set(trace.get_tracer_provider()):
            kinds = _exporter_kind("traces")
            tp = TracerProvider(resource=resource, shutdown_on_exit=False)
            for kind in kinds:
                span_exp: SpanExporter = (
                    _otlp("traces", _protocol("traces", protocol), endpoint, headers)
                    if kind == "otlp"
                    else ConsoleSpanExporter()
                )
                tp.add_span_processor(BatchSpanProcessor(span_exp))
            trace.set_tracer_provider(tp)
        elif traces:
            _logger.info("otel_ml.configure: keeping the application's tracer provider")

        if logs and not _is_set(_logs.get_logger_provider()):
            lp = LoggerProvider(resource=resource, shutdown_on_exit=False)
            for kind in _exporter_kind("logs"):
                log_exp: LogRecordExporter = (
                    _otlp("logs", _protocol("logs", protocol), endpoint, headers)
                    if kind == "otlp"
                    else ConsoleLogRecordExporter()
                )
                lp.add_log_record_processor(BatchLogRecordProcessor(log_exp))
            _logs.set_logger_provider(lp)
        elif logs:
            _logger.info("otel_ml.configure: keeping the application's logger provider")

        prom_address = None
        registry = prometheus_registry
        metric_kinds = _exporter_kind("metrics") if metrics else []
        if prometheus_port is None and "prometheus" in metric_kinds:
            prometheus_port = int(_env("OTEL_EXPORTER_PROMETHEUS_PORT") or "9464")
        if metrics and not _is_set(otel_metrics.get_meter_provider()):
            readers: list[MetricReader] = []
            interval_ms = None if export_interval is None else export_interval * 1000.0
            for kind in metric_kinds:
                if kind == "prometheus":
                    continue
                metric_exp: MetricExporter = (
                    _otlp("metrics", _protocol("metrics", protocol), endpoint, headers)
                    if kind == "otlp"
                    else ConsoleMetricExporter()
                )
                readers.append(
                    PeriodicExportingMetricReader(
                        SketchMetricExporter(metric_exp, resource=resource),
                        export_interval_millis=interval_ms,
                    )
                )
            if prometheus_port is not None:
                from opentelemetry.exporter.prometheus import PrometheusMetricReader
                from prometheus_client.registry import CollectorRegistry

                registry = registry if registry is not None else CollectorRegistry()
                readers.append(PrometheusMetricReader(registry=registry))
            mp = MeterProvider(metric_readers=readers, resource=resource, shutdown_on_exit=False)
            otel_metrics.set_meter_provider(mp)
        elif metrics:
            _logger.warning(
                "otel_ml.configure: the application set its own meter provider; feature "
                "histograms reach it only if its metric exporter is wrapped in "
                "otel_ml.instrumentation.SketchMetricExporter"
            )
        if prometheus_port is not None:
            from prometheus_client import start_http_server
            from prometheus_client.registry import CollectorRegistry

            from otel_ml.instrumentation._prometheus import SketchCollector

            registry = registry if registry is not None else CollectorRegistry()
            collector = SketchCollector().register(registry)
            host = prometheus_host or _env("OTEL_EXPORTER_PROMETHEUS_HOST") or "127.0.0.1"
            server, thread = start_http_server(prometheus_port, addr=host, registry=registry)
            prom_address = (host, int(server.server_port))

            def stop_server() -> None:
                server.shutdown()
                server.server_close()
                thread.join(5)
                collector.unregister()

            closers.append(stop_server)
        # Shutdown order: the worker is drained first (Configuration.shutdown), then the
        # providers flush; metrics last, so their final export carries every call.
        closers += [p.shutdown for p in (tp, lp, mp) if p is not None]
        config = Configuration(
            tracer_provider=tp,
            meter_provider=mp,
            logger_provider=lp,
            protocol=used_protocol,
            prometheus_address=prom_address,
            prometheus_registry=registry,
            _closers=closers,
        )
        atexit.register(config.shutdown)
        _CONFIGURED = config
        return config


def _reset_for_tests() -> None:
    """Forget the configuration (tests only: the global providers stay as they are)."""
    global _CONFIGURED
    with _LOCK:
        if _CONFIGURED is not None:
            _CONFIGURED.shutdown()
        _CONFIGURED = None
