"""The OTLP export bridge: aggregator deltas as real OTLP metric points.

The Python SDK has no ``MetricProducer``, and ``Histogram.record`` costs ~10 µs
per value and drops negative ones, so per-feature distributions cannot go
through SDK instruments. Instead :class:`SketchMetricExporter` wraps the real
``MetricExporter`` (OTLP over gRPC or HTTP, or any other): each time the
reader exports, it collects what the aggregator gathered since the previous
export and adds it, under the ``otel_ml`` scope, to the *existing*
``ResourceMetrics`` (a second ``ResourceMetrics`` with an equal resource would
be silently overwritten by the OTLP encoder), as DELTA points:

- ``ml.feature.values`` / ``ml.prediction.values``: ``ExponentialHistogram``
  (one point per model, version and feature / output, encoded by the sketch layer's
  ``exponential_data_point``);
- ``ml.predict.duration``: ``Histogram`` with explicit bounds in seconds;
- ``ml.predict.calls`` / ``rows`` / ``errors``, ``ml.feature.categories``,
  ``ml.prediction.classes``, ``ml.data_quality.issues``: monotonic ``Sum``.

The predict path never waits for this: the export runs on the reader's thread.
If the wrapped exporter fails, that interval's points are lost like any DELTA
point the SDK fails to send (the OTLP exporters retry first).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Histogram,
    HistogramDataPoint,
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_ml import semconv
from otel_ml._version import __version__
from otel_ml.instrumentation import _internal_errors as stages
from otel_ml.instrumentation._aggregator import Aggregator, Delta, default_aggregator
from otel_ml.instrumentation._monitor import internal_errors
from otel_ml.instrumentation._window import DURATION_BOUNDS, ModelKey
from otel_ml.sketch import category_counts, exponential_data_point

__all__ = [
    "SketchMetricExporter",
    "delta_to_metrics",
    "inject_metrics",
]

_DELTA = AggregationTemporality.DELTA
_Attrs = dict[str, str]

#: Descriptions of the bridged metrics (name -> (unit, description)).
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    semconv.METRIC_PREDICT_CALLS: (semconv.UNIT_CALLS, "Monitored predict calls."),
    semconv.METRIC_PREDICT_ROWS: (semconv.UNIT_ROWS, "Rows predicted by successful calls."),
    semconv.METRIC_PREDICT_ERRORS: (
        semconv.UNIT_ERRORS,
        "Predict calls that raised, by error.type.",
    ),
    semconv.METRIC_PREDICT_DURATION: (semconv.UNIT_SECONDS, "Duration of predict calls."),
    semconv.METRIC_FEATURE_VALUES: (semconv.UNIT_NONE, "Distribution of a numeric feature."),
    semconv.METRIC_FEATURE_CATEGORIES: (
        semconv.UNIT_ROWS,
        "Rows per value of a categorical feature.",
    ),
    semconv.METRIC_PREDICTION_VALUES: (semconv.UNIT_NONE, "Distribution of predicted scores."),
    semconv.METRIC_PREDICTION_CLASSES: (semconv.UNIT_ROWS, "Rows per predicted class."),
    semconv.METRIC_DATA_QUALITY_ISSUES: (
        semconv.UNIT_VALUES,
        "Input values with a data-quality issue.",
    ),
}


def _model_attrs(key: ModelKey) -> _Attrs:
    return {semconv.ML_MODEL_NAME: key.model, semconv.ML_MODEL_VERSION: key.version}


def _metric(name: str, data: Any) -> Metric:
    unit, description = DESCRIPTIONS[name]
    return Metric(name=name, description=description, unit=unit, data=data)


def _sum(name: str, points: list[NumberDataPoint]) -> Metric:
    return _metric(name, Sum(data_points=points, aggregation_temporality=_DELTA, is_monotonic=True))


def delta_to_metrics(delta: Delta) -> list[Metric]:
    """The OTLP metrics of one aggregator delta (empty when nothing happened)."""
    s, t = delta.start_time_unix_nano, delta.time_unix_nano
    sums: dict[str, list[NumberDataPoint]] = {}
    duration: list[HistogramDataPoint] = []
    features: list[ExponentialHistogramDataPoint] = []
    predictions: list[ExponentialHistogramDataPoint] = []

    def add(name: str, attrs: _Attrs, value: int) -> None:
        sums.setdefault(name, []).append(NumberDataPoint(attrs, s, t, value))

    for key, w in delta.windows.items():
        base = _model_attrs(key)
        if w.calls:
            add(semconv.METRIC_PREDICT_CALLS, base, w.calls)
            add(semconv.METRIC_PREDICT_ROWS, base, w.rows)
            # error.type only on failed calls (as the OTel HTTP / GenAI conventions do)
            failed = ((d, {**base, semconv.ERROR_TYPE: et}) for et, d in w.failed_durations.items())
            for d, attrs in ((w.duration, base), *failed):
                if d.count:
                    duration.append(
                        HistogramDataPoint(
                            attributes=attrs,
                            start_time_unix_nano=s,
                            time_unix_nano=t,
                            count=d.count,
                            sum=d.sum,
                            bucket_counts=list(d.counts),
                            explicit_bounds=list(DURATION_BOUNDS),
                            min=d.min,
                            max=d.max,
                        )
                    )
        for error_type, n in w.errors.items():
            add(semconv.METRIC_PREDICT_ERRORS, {**base, semconv.ERROR_TYPE: error_type}, n)
        for feature, sk in w.numeric.items():
            if sk.count:
                attrs = {**base, semconv.ML_FEATURE_NAME: feature}
                features.append(exponential_data_point(sk, attrs, s, t))
        for output, sk in w.predictions.items():
            if sk.count:
                attrs = {**base, semconv.ML_PREDICTION_OUTPUT: output}
                predictions.append(exponential_data_point(sk, attrs, s, t))
        for feature, cat in w.categorical.items():
            fattrs = {**base, semconv.ML_FEATURE_NAME: feature}
            for value, n in category_counts(cat):
                add(
                    semconv.METRIC_FEATURE_CATEGORIES,
                    {**fattrs, semconv.ML_FEATURE_VALUE: value},
                    n,
                )
        for cls, n in w.classes.items():
            add(semconv.METRIC_PREDICTION_CLASSES, {**base, semconv.ML_PREDICTION_CLASS: cls}, n)
        for (feature, issue), n in w.quality.items():
            qattrs = {**base, semconv.ML_DATA_QUALITY_ISSUE: issue}
            if feature:
                qattrs[semconv.ML_FEATURE_NAME] = feature
            add(semconv.METRIC_DATA_QUALITY_ISSUES, qattrs, n)
    out = [_sum(name, points) for name, points in sums.items()]
    if duration:
        hist = Histogram(data_points=duration, aggregation_temporality=_DELTA)
        out.append(_metric(semconv.METRIC_PREDICT_DURATION, hist))
    for name, points in (
        (semconv.METRIC_FEATURE_VALUES, features),
        (semconv.METRIC_PREDICTION_VALUES, predictions),
    ):
        if points:
            exp = ExponentialHistogram(data_points=points, aggregation_temporality=_DELTA)
            out.append(_metric(name, exp))
    return out


_SCOPE = InstrumentationScope(semconv.SCOPE_NAME, __version__)


def inject_metrics(
    data: MetricsData, metrics: Iterable[Metric], *, resource: Resource | None = None
) -> MetricsData:
    """``data`` with ``metrics`` added under the ``otel_ml`` scope of its first resource."""
    extra = list(metrics)
    if not extra:
        return data
    rms = list(data.resource_metrics)
    if not rms:
        rms = [
            ResourceMetrics(resource=resource or Resource.create(), scope_metrics=[], schema_url="")
        ]
    rm = rms[0]
    scopes = list(rm.scope_metrics)
    for i, sm in enumerate(scopes):
        if sm.scope == _SCOPE:
            scopes[i] = ScopeMetrics(
                scope=sm.scope, metrics=[*sm.metrics, *extra], schema_url=sm.schema_url
            )
            break
    else:
        scopes.append(ScopeMetrics(scope=_SCOPE, metrics=extra, schema_url=""))
    rms[0] = ResourceMetrics(resource=rm.resource, scope_metrics=scopes, schema_url=rm.schema_url)
    return MetricsData(resource_metrics=rms)


class SketchMetricExporter(MetricExporter):
    """Wraps a ``MetricExporter``, adding otel_ml's aggregated points to each export.

    Parameters
    ----------
    exporter
        The real exporter (``OTLPMetricExporter`` over gRPC or HTTP, ...). Its
        preferred temporality and aggregation are kept for the SDK's own metrics.
    aggregator
        The aggregator to read (default: the process one every monitor writes to).
    resource
        Resource used when an export carries no SDK metrics at all.

    Examples
    --------
    >>> from opentelemetry.sdk.metrics import MeterProvider
    >>> from opentelemetry.sdk.metrics.export import (
    ...     ConsoleMetricExporter, PeriodicExportingMetricReader)
    >>> exporter = SketchMetricExporter(ConsoleMetricExporter())
    >>> provider = MeterProvider(metric_readers=[
    ...     PeriodicExportingMetricReader(exporter, export_interval_millis=60_000)])
    >>> provider.shutdown()
    """

    def __init__(
        self,
        exporter: MetricExporter,
        *,
        aggregator: Aggregator | None = None,
        resource: Resource | None = None,
    ) -> None:
        super().__init__(
            preferred_temporality=exporter._preferred_temporality,
            preferred_aggregation=exporter._preferred_aggregation,
        )
        self.exporter = exporter
        self._consumer = (aggregator if aggregator is not None else default_aggregator()).register()
        self._resource = resource

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        try:
            extra = delta_to_metrics(self._consumer.collect())
            metrics_data = inject_metrics(metrics_data, extra, resource=self._resource)
        except Exception as exc:  # noqa: BLE001 - counted; the SDK's own points still go out
            internal_errors().report(stages.STAGE_EXPORT, exc)
        return self.exporter.export(metrics_data, timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.exporter.force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._consumer.close()
        self.exporter.shutdown(timeout_millis=timeout_millis, **kwargs)
