"""The demo's moving parts: the app's OpenTelemetry set-up and the embedded evaluator.

The app side is what a model service does: ``otel_ml.configure`` for traces, logs
and the Prometheus scrape endpoint, plus a ``MeterProvider`` whose OTLP metric
exporter is wrapped in :class:`~otel_ml.instrumentation.SketchMetricExporter`
(the demo keeps the reader's handle so it can export at the end of each simulated
step; flushing the whole provider would also flush its Prometheus reader, and the
next scrape would repeat its ``HELP`` lines). Everything goes over real OTLP/HTTP.

The evaluator side is a complete :class:`~otel_ml.evaluator.EvaluatorApp`
(OTLP/HTTP receiver on 127.0.0.1, SQLite state, alert engine, HTTP API with
``/metrics`` and the HTML page), built from the same YAML the demo writes for a
stand-alone ``otel-ml evaluator``, driven by the simulated clock.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from otel_ml._errors import ConfigurationError
from otel_ml.alerting import AlertTransition, Observation
from otel_ml.demo._scenario import Scenario

__all__ = ["AppTelemetry", "EmbeddedEvaluator", "evaluator_settings"]

SERVICE_NAME = "otel-ml-demo"
STATE_DIR = "evaluator-state"
#: Breaching windows before an alert fires, clear windows before it resolves.
FOR_WINDOWS = 2


def evaluator_settings(
    scenario: Scenario, reference: str, *, http_port: int, api_port: int
) -> dict[str, Any]:
    """The evaluator configuration of the demo (the YAML mapping)."""
    w = scenario.window_seconds
    return {
        "state_dir": STATE_DIR,
        "receivers": {"http": {"port": http_port}, "grpc": {"enabled": False}},
        "api": {"port": api_port},
        "windows": {
            "size": f"{w:g}s",
            "grace": f"{scenario.grace_seconds:g}s",
            "min_rows": 100,
        },
        "references": [{"model": "breast_cancer", "version": "1", "path": reference}],
        # The built-in rules as they are (accuracy < 0.85, PSI > 0.2, ...): two breaching
        # windows to fire, two clear ones to resolve.
        "alerts": {"defaults": {"for_windows": FOR_WINDOWS, "resolve_after_windows": FOR_WINDOWS}},
    }


def write_evaluator_yaml(path: Path, settings: dict[str, Any]) -> None:
    header = (
        "# The demo's evaluator, to run on its own:  otel-ml evaluator --config "
        f"{path.name}\n# then:  otel-ml demo --evaluator-endpoint http://127.0.0.1:4318\n"
    )
    path.write_text(header + yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")


@dataclass
class EmbeddedEvaluator:
    """An evaluator in this process, on 127.0.0.1, ticking on the simulated clock."""

    app: Any
    transitions: list[AlertTransition] = field(default_factory=list)
    on_alert: Callable[[AlertTransition], None] | None = None

    @classmethod
    def start(
        cls,
        out: Path,
        settings: dict[str, Any],
        clock: Callable[[], float],
        on_alert: Callable[[AlertTransition], None] | None = None,
    ) -> EmbeddedEvaluator:
        from otel_ml.evaluator import EvaluatorApp, parse_config

        # A fresh state each run: an old run's windows and alerts would mix with this one.
        shutil.rmtree(out / STATE_DIR, ignore_errors=True)
        config = parse_config(settings, base_dir=out)
        try:
            app = EvaluatorApp.from_config(config, clock=clock)
        except OSError as exc:
            port = settings["api"]["port"]
            raise ConfigurationError(
                f"--api-port {port}: cannot listen ({exc.strerror or exc}); pick another port "
                "or 0 for any free one"
            ) from exc
        self = cls(app, on_alert=on_alert)
        engine = app.alert_engine
        if engine is not None:
            # The service hands each evaluation's observations to the engine; keep (and
            # print) the transitions it returns.
            def observe(observations: Sequence[Observation], now: float) -> object:
                out = engine.observe(observations, now)
                for t in out:
                    self.transitions.append(t)
                    if self.on_alert is not None:
                        self.on_alert(t)
                return out

            app.service.alerts = observe
        # The window loop never runs on its own: the demo ticks on simulated time.
        app.start(tick_interval=86400.0)
        return self

    @property
    def otlp_url(self) -> str:
        return str(self.app.http.url)

    @property
    def api_url(self) -> str:
        return str(self.app.api.url)

    def tick(self, now: float) -> None:
        self.app.service.tick(now)

    def reports(self, model: str) -> list[Any]:
        """The latest report of every evaluated window, oldest first."""
        import json

        from otel_ml.evaluator import ModelReport

        rows = self.app.store.reports(model, limit=10_000)
        reports = [ModelReport.from_dict(json.loads(text)) for _, text in rows]
        return sorted(reports, key=lambda r: r.window_start)

    def window(self, report: Any) -> Any:
        """The stored sketches of ``report``'s window (``WindowData``)."""
        from otel_ml.evaluator import WindowKey

        key = WindowKey(report.model, report.version, report.window_start, report.window_end)
        return self.app.store.load_window(key)

    def stop(self) -> None:
        self.app.stop()


@dataclass
class AppTelemetry:
    """The model service's OpenTelemetry: OTLP/HTTP to ``endpoint`` and a scrape endpoint."""

    configuration: Any
    meter_provider: Any
    otlp_reader: Any
    prometheus_url: str

    @classmethod
    def start(cls, endpoint: str, *, prometheus_port: int) -> AppTelemetry:
        from opentelemetry import metrics
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from prometheus_client.registry import CollectorRegistry

        import otel_ml
        from otel_ml.instrumentation import SketchMetricExporter

        base = endpoint.rstrip("/")
        resource = Resource.create({"service.name": SERVICE_NAME})
        registry = CollectorRegistry()
        exporter = SketchMetricExporter(
            OTLPMetricExporter(endpoint=f"{base}/v1/metrics"), resource=resource
        )
        # Exports happen when the simulation says (force_flush), not on a real-time timer.
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        provider = MeterProvider(
            metric_readers=[reader, PrometheusMetricReader(registry=registry)],
            resource=resource,
            shutdown_on_exit=False,
        )
        metrics.set_meter_provider(provider)
        try:
            configuration = otel_ml.configure(
                service_name=SERVICE_NAME,
                endpoint=base,
                protocol="http/protobuf",
                metrics=False,  # the meter provider above
                prometheus_port=prometheus_port,
                prometheus_registry=registry,
            )
        except OSError as exc:
            provider.shutdown()
            raise ConfigurationError(
                f"--prometheus-port {prometheus_port}: cannot listen ({exc.strerror or exc}); "
                "pick another port or 0 for any free one"
            ) from exc
        address = configuration.prometheus_address
        url = f"http://{address[0]}:{address[1]}/metrics" if address else ""
        return cls(configuration, provider, reader, url)

    def export(self) -> None:
        """Send everything recorded so far (sketches, counters, events) and wait for it."""
        self.otlp_reader.force_flush()  # drains the SDK's worker first: events are queued
        logs = self.configuration.logger_provider
        if logs is not None:
            logs.force_flush()

    def shutdown(self) -> None:
        self.export()
        self.configuration.shutdown()
        self.meter_provider.shutdown()
