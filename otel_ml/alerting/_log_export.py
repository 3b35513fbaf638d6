"""A logger provider that ships ``ml.alert`` events with the standard OTLP log exporter.

The evaluator passes it to :class:`~otel_ml.alerting.AlertEngine` (its
``logger_provider``) when it exports to a Collector, so alert events reach any
OTel logs backend next to its derived metrics.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter
from opentelemetry.sdk.resources import Resource

from otel_ml import semconv
from otel_ml._errors import ConfigurationError
from otel_ml._otlp_exporters import otlp_exporter

__all__ = ["otlp_logger_provider"]


def otlp_logger_provider(
    endpoint: str,
    *,
    protocol: str = "http",
    headers: Mapping[str, str] | None = None,
    service_name: str = "otel-ml-evaluator",
) -> LoggerProvider:
    """An SDK ``LoggerProvider`` exporting over OTLP to ``endpoint``.

    Parameters
    ----------
    endpoint
        ``http://collector:4318`` (``/v1/logs`` is appended for HTTP) or
        ``collector:4317`` / ``http://collector:4317`` for gRPC (plaintext).
    protocol
        ``"http"`` (protobuf) or ``"grpc"``.
    headers
        Extra request headers (e.g. an authorization token).
    service_name
        The ``service.name`` resource attribute.

    Examples
    --------
    >>> provider = otlp_logger_provider("http://127.0.0.1:4318")
    >>> provider.resource.attributes["service.name"]
    'otel-ml-evaluator'
    >>> provider.shutdown()
    """
    if protocol not in ("grpc", "http"):
        raise ConfigurationError(f"protocol: {protocol!r} is unknown; use http or grpc")
    exporter: LogRecordExporter = otlp_exporter(
        "logs", protocol, endpoint, dict(headers or {}), insecure=True
    )
    provider = LoggerProvider(
        resource=Resource.create({semconv.SERVICE_NAME: service_name}), shutdown_on_exit=False
    )
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    return provider
