"""The one OTLP exporter factory: the SDK's ``configure()``, the evaluator and alerting use it.

:func:`otlp_exporter` builds the standard OpenTelemetry exporter of one signal
(``traces``, ``metrics``, ``logs``) for one protocol (``grpc``; anything else is
HTTP/protobuf), importing only that exporter's module. Arguments left ``None``
are not passed, so the exporter reads its own ``OTEL_EXPORTER_OTLP_*`` variables.

Examples
--------
>>> exporter = otlp_exporter("logs", "http/protobuf", "http://127.0.0.1:4318")
>>> exporter._endpoint
'http://127.0.0.1:4318/v1/logs'
>>> exporter.shutdown()
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["SIGNALS", "Signal", "otlp_exporter"]

Signal = Literal["traces", "metrics", "logs"]
SIGNALS: tuple[Signal, ...] = ("traces", "metrics", "logs")

#: (signal, transport) -> "module:class" under opentelemetry.exporter.otlp.proto (the targets
#: of the SDK's exporter entry points)
_CLASSES: dict[tuple[str, str], str] = {
    ("traces", "grpc"): "grpc.trace_exporter:OTLPSpanExporter",
    ("metrics", "grpc"): "grpc.metric_exporter:OTLPMetricExporter",
    ("logs", "grpc"): "grpc._log_exporter:OTLPLogExporter",
    ("traces", "http"): "http.trace_exporter:OTLPSpanExporter",
    ("metrics", "http"): "http.metric_exporter:OTLPMetricExporter",
    ("logs", "http"): "http._log_exporter:OTLPLogExporter",
}


def otlp_exporter(
    signal: Signal,
    protocol: str,
    endpoint: str | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    insecure: bool | None = None,
) -> Any:
    """The OTLP exporter of ``signal`` over ``protocol``.

    Parameters
    ----------
    signal
        ``"traces"``, ``"metrics"`` or ``"logs"``.
    protocol
        ``"grpc"``; any other value (``"http/protobuf"``, ``"http"``) is OTLP/HTTP.
    endpoint
        For HTTP the base URL (``http://collector:4318``; ``/v1/<signal>`` is added
        unless already there); for gRPC ``http(s)://host:port`` or ``host:port``.
    headers
        Headers (metadata) sent with every export.
    insecure
        gRPC only: ``True`` sends in plain text whatever the endpoint's scheme.
    """
    transport = "grpc" if protocol == "grpc" else "http"
    module, _, name = _CLASSES[(signal, transport)].partition(":")
    cls = getattr(importlib.import_module(f"opentelemetry.exporter.otlp.proto.{module}"), name)
    kwargs: dict[str, Any] = {}
    if headers is not None:
        kwargs["headers"] = dict(headers)
    if endpoint is not None:
        if transport == "http":
            url, path = endpoint.rstrip("/"), f"/v1/{signal}"
            kwargs["endpoint"] = url if url.endswith(path) else url + path
        elif insecure:
            kwargs["endpoint"] = endpoint.split("://", 1)[-1]
        else:
            kwargs["endpoint"] = endpoint
    if insecure is not None and transport == "grpc":
        kwargs["insecure"] = insecure
    return cls(**kwargs)
