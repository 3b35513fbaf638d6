"""Build a complete evaluator from its configuration: store, references, service, derived
metrics, alerting, window sinks (MLflow), OTLP receivers (HTTP and gRPC) and the API — and
start/stop it.

Everything that can be wrong in the configuration is checked before anything
listens (:class:`~otel_ml.ConfigurationError`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource

from otel_ml import semconv as sc
from otel_ml._errors import ConfigurationError
from otel_ml._otlp_exporters import otlp_exporter
from otel_ml._version import __version__
from otel_ml.alerting import AlertEngine
from otel_ml.evaluator._api import ApiServer
from otel_ml.evaluator._cardinality import CardinalityLimits
from otel_ml.evaluator._config_options import EvaluatorConfig, ListenOptions
from otel_ml.evaluator._http_serving import ConnectionLimits
from otel_ml.evaluator._ingest_bounds import TimeBounds
from otel_ml.evaluator._metrics_export import SERVICE_NAME, DerivedMetrics
from otel_ml.evaluator._mlflow_sink import MlflowSink
from otel_ml.evaluator._otlp_grpc import OtlpGrpcServer
from otel_ml.evaluator._otlp_http import OtlpHttpServer
from otel_ml.evaluator._receiver import Receiver
from otel_ml.evaluator._references import ReferenceSet
from otel_ml.evaluator._service import EvaluatorService
from otel_ml.evaluator._store import Store
from otel_ml.evaluator._temporality import CumulativeToDelta
from otel_ml.evaluator._windows import Windowing
from otel_ml.mlflow import ENV_CACHE_DIR

__all__ = ["STATE_FILE", "EvaluatorApp"]

_log = logging.getLogger(__name__)

STATE_FILE = "evaluator.sqlite3"
#: Store meta key: when the evaluator first started on this state (the cut between cumulative
#: streams it saw start and older ones; kept across restarts).
_CUMULATIVE_SINCE = "cumulative_started_at_unix_nano"


@dataclass
class EvaluatorApp:
    """A configured evaluator; :meth:`start` makes it listen, :meth:`stop` shuts it down."""

    config: EvaluatorConfig
    store: Store
    service: EvaluatorService
    metrics: DerivedMetrics
    alert_engine: AlertEngine | None
    receiver: Receiver
    http: OtlpHttpServer | None
    grpc: OtlpGrpcServer | None
    api: ApiServer | None
    logs: LoggerProvider | None = None
    mlflow_sink: MlflowSink | None = None

    @classmethod
    def from_config(
        cls,
        config: EvaluatorConfig,
        *,
        clock: Callable[[], float] = time.time,
        metric_readers: Sequence[MetricReader] = (),
    ) -> EvaluatorApp:
        ssl_context = config.tls.ssl_context() if config.tls is not None else None
        try:
            config.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigurationError(
                f"state_dir: cannot create {config.state_dir} ({exc}); choose a writable directory"
            ) from None
        w = config.windows
        store = Store(
            config.state_dir / STATE_FILE,
            Windowing(w.size, w.grace),
            label_ttl=config.labels.ttl,
            max_pending=config.labels.max_pending,
            max_pending_unknown=config.labels.max_pending_unknown,
            limits=CardinalityLimits(
                models=config.limits.models,
                features_per_model=config.limits.features_per_model,
                categories_per_feature=config.limits.categories_per_feature,
            ),
        )
        references = ReferenceSet(
            config.references,
            on_change=lambda spec, sha: store.set_meta(
                f"reference:{spec.model}@{spec.version or ''}", f"{spec.source} sha256={sha}"
            ),
            cache_dir=_profile_cache(config),
        )
        metrics = DerivedMetrics(
            otlp_endpoint=config.export.otlp_endpoint,
            otlp_protocol=config.export.otlp_protocol,
            otlp_interval=config.export.otlp_interval,
            prometheus=config.export.prometheus,
            readers=metric_readers,
        )
        engine = None
        logs = None
        if config.alerting is not None:
            logs = _logger_provider(config)
            engine = AlertEngine(
                config.alerting,
                state_dir=config.state_dir / "alerts",
                meter_provider=metrics.provider,
                logger_provider=logs,
                clock=clock,
            )
        # cumulative streams (a Collector's or the Prometheus-style SDK default) become deltas
        # in the service's writer (group-committed like the rest), resuming after a restart
        # from the stored stream state and the first start time
        started = store.get_meta(_CUMULATIVE_SINCE)
        if started is None:
            started = str(time.time_ns())
            store.set_meta(_CUMULATIVE_SINCE, started)
        converter = CumulativeToDelta(started_at_unix_nano=int(started))
        converter.restore(store.stream_state(converter.max_streams))
        mlflow_sink = None
        if config.sinks.mlflow is not None:
            mlflow_sink = MlflowSink(
                config.sinks.mlflow,
                state_dir=config.state_dir,
                meter_provider=metrics.provider,
                clock=clock,
                poll_interval=min(5.0, config.sinks.mlflow.retry.max_backoff),
            )
            mlflow_sink.catch_up(
                lambda at, limit: store.reports_saved_after(at, limit=limit), clock()
            )
        service = EvaluatorService(
            config,
            store=store,
            references=references,
            policy=config.drift,
            metrics=metrics,
            alerts=engine.observe if engine is not None else None,
            sinks=() if mlflow_sink is None else (mlflow_sink,),
            clock=clock,
            converter=converter,
        )
        metrics.watch_health(service.health)
        meter = metrics.provider.get_meter(sc.EVALUATOR_SCOPE_NAME, __version__)
        rec = config.receivers
        sink = service
        lim = config.limits
        receiver = Receiver(
            sink,
            auth=config.auth,
            max_body_bytes=rec.max_body_bytes,
            meter=meter,
            time_bounds=TimeBounds(lim.max_past, lim.max_future, config.labels.ttl),
        )
        http = None
        if rec.http.enabled:
            http = OtlpHttpServer(
                sink, rec.http.host, rec.http.port, tls=config.tls, receiver=receiver,
                limits=_limits(rec.http),
            )
        grpc = None
        if rec.grpc.enabled:
            grpc = OtlpGrpcServer(
                sink, rec.grpc.host, rec.grpc.port, tls=config.tls, receiver=receiver,
                limits=_limits(rec.grpc),
            )
        api = None
        if config.api.enabled:
            api = ApiServer(
                service,
                config.api.host,
                config.api.port,
                auth=config.auth,
                ssl_context=ssl_context,
                alerts=(lambda model: _firing(engine, model)) if engine is not None else None,
                limits=_limits(config.api),
                meter=meter,
            )
        return cls(
            config, store, service, metrics, engine, receiver, http, grpc, api, logs, mlflow_sink
        )

    def start(self, *, tick_interval: float | None = None) -> None:
        _ensure_file_limit(self.config)
        self.service.start(tick_interval=tick_interval)
        self.service.references.start()
        if self.alert_engine is not None:
            self.alert_engine.start()
        if self.mlflow_sink is not None:
            self.mlflow_sink.start()
        for server in (self.http, self.grpc, self.api):
            if server is not None:
                server.start()

    def stop(self) -> None:
        """Stop listening first, then drain the ingest queue, then close the state."""
        for server in (self.http, self.grpc, self.api):
            if server is not None:
                server.stop()
        self.service.references.stop()
        self.service.stop()
        if self.alert_engine is not None:
            self.alert_engine.close()
        if self.mlflow_sink is not None:
            self.mlflow_sink.close()
        if self.logs is not None:
            self.logs.shutdown()
        self.metrics.shutdown()
        self.store.close()

    def endpoints(self) -> dict[str, str]:
        out = {}
        if self.http is not None:
            out["otlp_http"] = self.http.url
        if self.grpc is not None:
            out["otlp_grpc"] = f"{self.config.receivers.grpc.host}:{self.grpc.port}"
        if self.api is not None:
            out["api"] = self.api.url
        return out


def _profile_cache(config: EvaluatorConfig) -> Path:
    """Where MLflow reference profiles are cached: ``$OTEL_ML_CACHE_DIR``, else the state
    directory's ``profile-cache`` (which a restart of the evaluator finds again)."""
    explicit = os.environ.get(ENV_CACHE_DIR)
    return Path(explicit) if explicit else config.state_dir / "profile-cache"


def _limits(o: ListenOptions) -> ConnectionLimits:
    return ConnectionLimits(o.max_connections, o.idle_timeout, o.read_timeout)


#: File descriptors kept beyond the connection caps: SQLite (database, WAL, shared
#: memory), the listening sockets, exporters, logs, gRPC's own.
FD_RESERVE = 128


def _ensure_file_limit(config: EvaluatorConfig) -> None:
    """Raise the soft open-file limit to what the connection caps need (up to the hard
    limit); warn, naming the keys, when even the hard limit is too low."""
    try:
        import resource
    except ImportError:  # not a Unix: nothing to raise
        return
    caps = [(f"receivers.{n}.max_connections", o.max_connections)
            for n, o in (("http", config.receivers.http), ("grpc", config.receivers.grpc))
            if o.enabled]
    if config.api.enabled:
        caps.append(("api.max_connections", config.api.max_connections))
    need = sum(n for _, n in caps) + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        if target > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError) as exc:
                _log.debug("cannot raise the open-file limit: %s", exc)
    if soft != resource.RLIM_INFINITY and soft < need:
        _log.warning(
            "the open-file limit (%d) is below what the connection caps need (%s, + %d): "
            "a flood of connections could exhaust it; lower those caps or raise the limit "
            "(ulimit -n)", soft, " + ".join(f"{k} {n}" for k, n in caps), FD_RESERVE,
        )


def _logger_provider(config: EvaluatorConfig) -> LoggerProvider | None:
    """Alert log events (``ml.alert``) go out with the standard OTLP log exporter, to the
    same endpoint as the derived metrics; none without an endpoint."""
    ex = config.export
    if ex.otlp_endpoint is None:
        return None
    exporter: LogRecordExporter = otlp_exporter(
        "logs", ex.otlp_protocol, ex.otlp_endpoint, insecure=True
    )
    provider = LoggerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    return provider


def _firing(engine: AlertEngine | None, model: str) -> list[dict[str, Any]]:
    import json

    if engine is None:
        return []
    return [json.loads(t.to_json()) for t in engine.firing() if t.model == model]
