"""Every alert transition as an OTel log event (``event_name="ml.alert"``).

Emitted through the OTel logs API, so whatever ``LoggerProvider`` the
evaluator configured (an OTLP log exporter to the Collector, typically) carries
it to any OTel logs backend. The severity number follows the alert severity
(info → INFO, warning → WARN, critical → ERROR) and the record carries the trace
context of the first example trace, so a logs backend links it to Jaeger.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry._logs import Logger, LoggerProvider, get_logger_provider
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.util.types import AnyValue

from otel_ml import semconv
from otel_ml._version import __version__
from otel_ml.alerting._transition import AlertTransition, _iso

__all__ = ["AlertLogEmitter", "alert_attributes", "trace_context"]


def alert_attributes(t: AlertTransition) -> dict[str, AnyValue]:
    """The ``ml.alert.*`` (and model/feature) attributes of a transition.

    Examples
    --------
    >>> from otel_ml.alerting._transition import _example
    >>> attrs = alert_attributes(_example())
    >>> attrs["ml.alert.rule"], attrs["ml.alert.severity"], attrs["ml.alert.threshold"]
    ('accuracy_low', 'critical', 0.85)
    """
    attrs: dict[str, AnyValue] = {
        semconv.ML_MODEL_NAME: t.model,
        semconv.ML_ALERT_ID: t.alert_id,
        semconv.ML_ALERT_RULE: t.rule,
        semconv.ML_ALERT_KIND: t.kind.value,
        semconv.ML_ALERT_SEVERITY: t.severity.value,
        semconv.ML_ALERT_STATE: t.state.value,
        semconv.ML_ALERT_REPEAT: t.repeat,
        semconv.ML_ALERT_VALUE: t.value,
        semconv.ML_ALERT_COMPARISON: t.comparison.value,
        semconv.ML_ALERT_WINDOW_START: _iso(t.window_start),
        semconv.ML_ALERT_WINDOW_END: _iso(t.window_end),
        semconv.ML_ALERT_STARTS_AT: _iso(t.starts_at),
        semconv.ML_ALERT_SUMMARY: t.summary,
    }
    optional: dict[str, AnyValue] = {
        semconv.ML_MODEL_VERSION: t.version,
        semconv.ML_FEATURE_NAME: t.feature,
        semconv.ML_ALERT_METRIC: t.metric,
        semconv.ML_ALERT_THRESHOLD: t.threshold,
        semconv.ML_ALERT_REFERENCE: t.reference,
        semconv.ML_ALERT_TRACE_IDS: list(t.trace_ids) or None,
        semconv.ML_ALERT_LINKS: list(t.jaeger_links) or None,
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    return attrs


def trace_context(t: AlertTransition) -> Context | None:
    """A context holding the first example trace (and span, when known), or ``None``.

    Examples
    --------
    >>> from otel_ml.alerting._transition import _example
    >>> ctx = trace_context(_example())
    >>> f"{trace.get_current_span(ctx).get_span_context().trace_id:032x}"
    '0af7651916cd43dd8448eb211c80319c'
    """
    if not t.trace_ids:
        return None
    try:
        trace_id = int(t.trace_ids[0], 16)
        span_id = int(t.span_ids[0], 16) if t.span_ids else 0
    except ValueError:
        return None
    if not 0 < trace_id < 2**128 or not 0 <= span_id < 2**64:
        return None
    span_context = SpanContext(
        trace_id=trace_id, span_id=span_id, is_remote=True, trace_flags=TraceFlags(1)
    )
    return trace.set_span_in_context(NonRecordingSpan(span_context))


class AlertLogEmitter:
    """Emits each transition as an ``ml.alert`` log event.

    Parameters
    ----------
    logger_provider
        The provider to use; the global one by default.
    """

    def __init__(self, logger_provider: LoggerProvider | None = None) -> None:
        provider = logger_provider or get_logger_provider()
        self._logger: Logger = provider.get_logger(
            semconv.EVALUATOR_SCOPE_NAME, __version__
        )

    def emit(self, t: AlertTransition) -> None:
        """Emit one transition (never raises: the SDK's processors own export errors)."""
        self._logger.emit(
            timestamp=int(t.at * 1e9),
            context=trace_context(t),
            severity_number=t.severity.severity_number,
            severity_text=t.severity.value.upper(),
            body=t.description,
            attributes=alert_attributes(t),
            event_name=semconv.EVENT_ALERT,
        )
