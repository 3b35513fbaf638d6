"""The ``ml.prediction`` event (one log record per call) and the ``ml.outcome`` event.

Both are OpenTelemetry log records with ``event_name`` set (the Events API was
folded into ``Logger.emit(event_name=...)`` in SDK 1.44). The prediction event is
emitted in the context of the predict span, so it carries its trace and span id.
Attributes (names from :mod:`otel_ml.semconv`):

- ``ml.model.name``, ``ml.model.version``;
- ``ml.prediction.ids``: list of strings, one per row;
- ``ml.prediction.values``: list of floats (positive-class probability for a
  binary probability matrix, the score or regression value for a 1-D output);
- ``ml.prediction.labels``: list of strings (predicted classes);
- ``ml.feature.captured``: JSON rows, only when ``capture_raw_inputs=True``.

A call with more than ``max_event_rows`` rows is split into several events.
No body.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.trace import NonRecordingSpan, SpanContext

from otel_ml import semconv
from otel_ml.instrumentation._ids import PredictionIds
from otel_ml.instrumentation._outputs import Outputs

__all__ = ["emit_outcome", "emit_prediction"]

_AttrValue = str | list[str] | list[float]


def emit_prediction(
    logger: Logger,
    *,
    model: str,
    version: str,
    ids: PredictionIds,
    outputs: Outputs | None,
    span_context: SpanContext | None,
    time_unix_nano: int,
    max_rows: int,
    raw_rows: str | None = None,
) -> int:
    """Emit the prediction event(s) of one call; returns how many records were emitted."""
    n = len(ids)
    values = labels = None
    if outputs is not None:
        if outputs.values is not None and len(outputs.values) == n:
            values = outputs.values
        if outputs.labels is not None and len(outputs.labels) == n:
            labels = outputs.labels
    ctx = None
    if span_context is not None and span_context.is_valid:
        ctx = trace.set_span_in_context(NonRecordingSpan(span_context))
    emitted = 0
    for start in range(0, max(n, 1), max_rows):
        stop = min(start + max_rows, n)
        attrs: dict[str, _AttrValue] = {
            semconv.ML_MODEL_NAME: model,
            semconv.ML_MODEL_VERSION: version,
            semconv.ML_PREDICTION_IDS: ids.slice(start, stop),
        }
        if values is not None:
            attrs[semconv.ML_PREDICTION_VALUES] = values[start:stop].tolist()
        if labels is not None:
            attrs[semconv.ML_PREDICTION_LABELS] = labels[start:stop].tolist()
        if raw_rows is not None and start == 0:
            attrs[semconv.ML_FEATURE_VALUES_CAPTURED] = raw_rows
        logger.emit(
            timestamp=time_unix_nano,
            observed_timestamp=time_unix_nano,
            context=ctx,
            severity_number=SeverityNumber.INFO,
            event_name=semconv.EVENT_PREDICTION,
            attributes=attrs,
        )
        emitted += 1
    return emitted


def emit_outcome(
    logger: Logger,
    *,
    model: str,
    version: str | None,
    ids: Sequence[str],
    actuals: list[str] | list[float],
    time_unix_nano: int,
) -> None:
    """Emit one ``ml.outcome`` event (ground truth for predictions made earlier)."""
    attrs: dict[str, _AttrValue] = {
        semconv.ML_MODEL_NAME: model,
        semconv.ML_PREDICTION_IDS: list(ids),
        semconv.ML_OUTCOME_VALUES: actuals,
    }
    if version is not None:
        attrs[semconv.ML_MODEL_VERSION] = version
    logger.emit(
        timestamp=time_unix_nano,
        observed_timestamp=time_unix_nano,
        severity_number=SeverityNumber.INFO,
        event_name=semconv.EVENT_OUTCOME,
        attributes=attrs,
    )
