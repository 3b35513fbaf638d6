"""The evaluator's derived metrics, as OpenTelemetry observable gauges.

One ``MeterProvider`` with two readers: a ``PrometheusMetricReader`` on a private
``prometheus_client`` registry (served at the API's ``/metrics``) and, when an
endpoint is configured, a ``PeriodicExportingMetricReader`` with the standard OTLP
exporter (HTTP or gRPC) back to the Collector. The gauges read the latest report
of each model version at collection time:

=====================================  ===========================================
``ml.drift.score``                     the drift statistics (psi, ks, wasserstein...),
                                       attr ``ml.drift.method``
``ml.drift.detected``                  the policy verdict (0/1), method = ``policy``
``ml.drift.p_value``                   the test's p-value
``ml.data_quality.rate``               issue rate, attrs feature + ``ml.data_quality.issue``
``ml.performance.value``               attr ``ml.performance.metric`` (accuracy, f1, rmse...)
``ml.estimated_performance.value``     the same attr: estimated without labels (CBPE), with
``.lower`` / ``.upper``                the bounds of its band
``ml.label.coverage`` / ``ml.label.delay``  labelled share, median label delay (s)
``ml.window.rows``                     rows in the window
``ml.predict.duration.quantile{ml.quantile="0.95"}`` / ``ml.predict.error_rate``
``otel_ml.evaluator.*``                health: batches stored / duplicate / throttled,
                                       queue depth, window lag, pending predictions,
                                       quarantined windows
                                       (points received / rejected come from the
                                       receivers, on the same meter provider)
=====================================  ===========================================

Drift of a prediction output carries ``ml.prediction.output`` instead of
``ml.feature.name``. Every model gauge carries ``ml.model.name`` and
``ml.model.version``.

Scrapes
-------
A report's series are computed once, at the first collection after it is published,
and kept with it. The Prometheus text of the model gauges is written from them directly
(each report's lines rendered once, then joined per metric family), not through the
OTel SDK and its Prometheus reader: that path cost ~0.2 ms per series on every scrape
(1.9 s for 8,000 series) and, like every OTel metric stream, stopped at 2,000 series
per instrument. The exposition is the one the reader writes (same names, labels,
``otel_scope_*`` labels, help text and number format; a test compares the two). The
health gauges, alert gauges and the receivers' counters still go through the reader,
and every gauge still goes to the OTLP reader, whose streams are allowed
:data:`MAX_SERIES_PER_GAUGE` series.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider, ObservableGauge
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource

from otel_ml import semconv as sc
from otel_ml._otlp_exporters import otlp_exporter
from otel_ml._version import __version__
from otel_ml.evaluator._report import FeatureReport, ModelReport

__all__ = [
    "DRIFT_SCORE_METHODS",
    "MAX_SERIES_PER_GAUGE",
    "SERVICE_NAME",
    "DerivedMetrics",
    "HealthSnapshot",
]

#: The drift statistics exported on ``ml.drift.score`` (error bounds, p-values and
#: counts stay in the report, to keep the number of series down).
DRIFT_SCORE_METHODS = frozenset(
    {
        "psi",
        "ks",
        "wasserstein",
        "wasserstein_normalised",
        "jensen_shannon",
        "hellinger",
        "total_variation",
        "chi2",
        "g",
    }
)

#: ``service.name`` of the evaluator's own telemetry.
SERVICE_NAME = "otel-ml-evaluator"

#: Series one gauge may hold in the OTLP export (the SDK's default, 2,000, is reached
#: by 40 models of 50 features: the rest went to one overflow series).
MAX_SERIES_PER_GAUGE = 1_000_000


@dataclass(frozen=True)
class HealthSnapshot:
    """The evaluator's own state, read at each collection."""

    points_received: float = 0.0
    points_rejected: Mapping[str, float] = field(default_factory=dict)
    batches: Mapping[str, float] = field(default_factory=dict)
    queue_depth: int = 0
    window_lag: float = 0.0
    pending_predictions: int = 0
    evaluation_seconds: float = 0.0
    pending_labels_unknown_model: int = 0  # labels of models without a window (a pool apart)
    evicted_labels_unknown_model: int = 0
    store_error: str = ""  # why the last store write failed; "" when the last one succeeded
    predictions_dropped: int = 0  # rows SDKs reported dropped (never sent)
    labels_of_dropped_predictions: int = 0  # labels that met one of them
    windows_quarantined: int = 0
    reference_poll_failures: int = 0  # MLflow alias checks that failed (the old profile stays)


def _ok(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


Series = list[tuple[dict[str, str], float]]


def _attrs(r: ModelReport, **extra: str) -> dict[str, str]:
    return {sc.ML_MODEL_NAME: r.model, sc.ML_MODEL_VERSION: r.version, **extra}


def _drifts(r: ModelReport) -> Iterator[tuple[FeatureReport, dict[str, str]]]:
    for f in r.features:
        yield f, _attrs(r, **{sc.ML_FEATURE_NAME: f.name})
    for f in r.predictions:
        yield f, _attrs(r, **{sc.ML_PREDICTION_OUTPUT: f.name})


def _drift_score(r: ModelReport) -> Series:
    return [
        ({**a, sc.ML_DRIFT_METHOD: method}, value)
        for f, a in _drifts(r)
        if f.drift is not None
        for method, value in f.drift.statistics.items()
        if method in DRIFT_SCORE_METHODS and _ok(value)
    ]


def _drift_detected(r: ModelReport) -> Series:
    return [
        ({**a, sc.ML_DRIFT_METHOD: f.drift.method}, int(f.drift.drifted))
        for f, a in _drifts(r)
        if f.drift is not None
    ]


def _drift_grade(r: ModelReport) -> Series:
    return [
        ({**a, sc.ML_DRIFT_METHOD: f.drift.method}, f.drift.verdict.level)
        for f, a in _drifts(r)
        if f.drift is not None
    ]


def _drift_p(r: ModelReport) -> Series:
    return [
        ({**a, sc.ML_DRIFT_METHOD: f.drift.method}, f.drift.p_value)
        for f, a in _drifts(r)
        if f.drift is not None and _ok(f.drift.p_value)
    ]


def _multivariate_detected(r: ModelReport) -> Series:
    mv = r.multivariate
    return [] if mv is None else [(_attrs(r, **{sc.ML_DRIFT_METHOD: mv.method}), int(mv.drifted))]


def _multivariate_score(r: ModelReport) -> Series:
    mv = r.multivariate
    if mv is None or not _ok(mv.statistic):
        return []
    return [(_attrs(r, **{sc.ML_DRIFT_METHOD: mv.effect}), mv.statistic)]


def _multivariate_error(r: ModelReport) -> Series:
    mv = r.multivariate
    if mv is None or not _ok(mv.mean_error):
        return []
    return [(_attrs(r, **{sc.ML_DRIFT_METHOD: mv.method}), mv.mean_error)]


def _quality(r: ModelReport) -> Series:
    out: Series = []
    for q in r.quality:
        attrs = _attrs(r, **{sc.ML_DATA_QUALITY_ISSUE: q.issue})
        if q.feature:
            attrs[sc.ML_FEATURE_NAME] = q.feature
        out.append((attrs, q.rate))
    return out


def _performance(r: ModelReport) -> Series:
    if r.performance is None:
        return []
    return [
        (_attrs(r, **{sc.ML_PERFORMANCE_METRIC: name}), v)
        for name, v in r.performance.values().items()
        if _ok(v)
    ]


def _estimated(part: str) -> Callable[[ModelReport], Series]:
    """The estimated metrics' values (``part="value"``) or band bounds."""

    def series(r: ModelReport) -> Series:
        if r.estimated is None:
            return []
        out: Series = []
        for name, m in r.estimated.metrics().items():
            v = getattr(m, part)
            if _ok(v):
                out.append((_attrs(r, **{sc.ML_PERFORMANCE_METRIC: name}), v))
        return out

    return series


def _coverage(r: ModelReport) -> Series:
    return [] if r.performance is None else [(_attrs(r), r.performance.coverage)]


def _delay(r: ModelReport) -> Series:
    p = r.performance
    return [(_attrs(r), p.delay_p50 or 0.0)] if p is not None and _ok(p.delay_p50) else []


def _rows(r: ModelReport) -> Series:
    return [(_attrs(r), r.n_rows)]


def _latency(r: ModelReport) -> Series:
    v = r.operations.latency_p95
    return [({**_attrs(r), sc.ML_QUANTILE: "0.95"}, v or 0.0)] if _ok(v) else []


def _error_rate(r: ModelReport) -> Series:
    v = r.operations.error_rate
    return [(_attrs(r), v or 0.0)] if _ok(v) else []


@dataclass(frozen=True)
class _Gauge:
    """A gauge computed from each model's latest report."""

    name: str
    unit: str
    description: str
    series: Callable[[ModelReport], Series]

    @property
    def prometheus_name(self) -> str:
        """The name the OTel Prometheus reader gives it (unit ``s`` adds ``_seconds``)."""
        base = self.name.replace(".", "_")
        return base + "_seconds" if self.unit == sc.UNIT_SECONDS else base


_MODEL_GAUGES = (
    _Gauge(sc.METRIC_DRIFT_SCORE, "1",
           "Drift statistic of a feature or prediction output in the latest window",
           _drift_score),
    _Gauge(sc.METRIC_DRIFT_DETECTED, "1",
           "Drift verdict of the policy in the latest window (1 drifted, 0 not)",
           _drift_detected),
    _Gauge(sc.METRIC_DRIFT_P_VALUE, "1", "P-value of the drift test in the latest window",
           _drift_p),
    _Gauge(sc.METRIC_DRIFT_MULTIVARIATE_DETECTED, "1",
           "Multivariate drift verdict (PCA reconstruction error) in the latest window "
           "(1 drifted, 0 not)", _multivariate_detected),
    _Gauge(sc.METRIC_DRIFT_MULTIVARIATE_SCORE, "1",
           "Effect size of the multivariate drift check in the latest window",
           _multivariate_score),
    _Gauge(sc.METRIC_DRIFT_MULTIVARIATE_ERROR, "1",
           "Mean PCA reconstruction error of the rows of the latest window",
           _multivariate_error),
    _Gauge(sc.METRIC_DRIFT_GRADE, "1",
           "Graded drift verdict in the latest window (2 drift, 1 minor: significant but "
           "below the effect threshold, 0 none or too few rows)", _drift_grade),
    _Gauge(sc.METRIC_DATA_QUALITY_RATE, "1",
           "Share of rows with a data-quality issue in the latest window", _quality),
    _Gauge(sc.METRIC_PERFORMANCE, "1",
           "Model performance from joined labels in the latest window", _performance),
    _Gauge(sc.METRIC_ESTIMATED_PERFORMANCE, "1",
           "Model performance estimated from the scores without labels (CBPE) in the latest "
           "window", _estimated("value")),
    _Gauge(sc.METRIC_ESTIMATED_PERFORMANCE_LOWER, "1",
           "Lower bound of the estimated performance's band in the latest window",
           _estimated("lower")),
    _Gauge(sc.METRIC_ESTIMATED_PERFORMANCE_UPPER, "1",
           "Upper bound of the estimated performance's band in the latest window",
           _estimated("upper")),
    _Gauge(sc.METRIC_LABEL_COVERAGE, "1",
           "Share of the window's predictions that have their label", _coverage),
    _Gauge(sc.METRIC_LABEL_DELAY, sc.UNIT_SECONDS,
           "Median delay between a prediction and its label in the latest window", _delay),
    _Gauge(sc.METRIC_WINDOW_ROWS, sc.UNIT_ROWS, "Rows predicted in the latest window", _rows),
    _Gauge(sc.METRIC_PREDICT_DURATION_QUANTILE, sc.UNIT_SECONDS,
           "Quantiles of predict call duration in the latest window", _latency),
    _Gauge(sc.METRIC_ERROR_RATE, "1", "Share of predict calls that failed in the latest window",
           _error_rate),
)

_SCOPE_LABELS = {"otel_scope_name": sc.EVALUATOR_SCOPE_NAME, "otel_scope_version": __version__}


def _label_value(v: str) -> str:
    return v.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')


class _Published:
    """A published report and its series per gauge, computed once when first asked for.

    Two threads asking at once compute the same thing twice; either result is kept.
    """

    def __init__(self, report: ModelReport) -> None:
        self.report = report
        self._series: dict[str, Series] = {}
        self._text: dict[str, str] = {}

    def series(self, gauge: _Gauge) -> Series:
        got = self._series.get(gauge.name)
        if got is None:
            got = self._series[gauge.name] = gauge.series(self.report)
        return got

    def text(self, gauge: _Gauge) -> str:
        """The exposition lines of ``gauge`` for this report (empty labels left out)."""
        got = self._text.get(gauge.name)
        if got is None:
            from prometheus_client import utils

            number: Callable[[float], str] = utils.floatToGoString  # as prometheus_client
            name = gauge.prometheus_name
            lines = []
            for attrs, value in self.series(gauge):
                labels = {k.replace(".", "_"): v for k, v in attrs.items() if v != ""}
                labels.update(_SCOPE_LABELS)
                body = ",".join(f'{k}="{_label_value(labels[k])}"' for k in sorted(labels))
                lines.append(f"{name}{{{body}}} {number(value)}\n")
            got = self._text[gauge.name] = "".join(lines)
        return got


class _Collecting(threading.local):
    prometheus = False  # this thread is writing the Prometheus text


class DerivedMetrics:
    """Holds the latest report per model version and exposes it as OTel gauges.

    Parameters
    ----------
    health
        Called at each collection for the health gauges (an empty snapshot until
        :meth:`watch_health` names the service's).
    otlp_endpoint, otlp_protocol, otlp_interval
        Where and how often to push over OTLP (``None``: no OTLP export).
    prometheus
        Keep a Prometheus registry for :meth:`prometheus_text`.
    readers
        Extra metric readers (tests pass an ``InMemoryMetricReader``).
    """

    def __init__(
        self,
        health: Callable[[], HealthSnapshot] = HealthSnapshot,
        *,
        otlp_endpoint: str | None = None,
        otlp_protocol: str = "http",
        otlp_interval: float = 60.0,
        otlp_headers: Mapping[str, str] | None = None,
        prometheus: bool = True,
        readers: Iterable[MetricReader] = (),
    ) -> None:
        self._health = health
        self._lock = threading.Lock()
        self._reports: dict[tuple[str, str], _Published] = {}
        self._collecting = _Collecting()
        all_readers = list(readers)
        self.registry = None
        if prometheus:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import CollectorRegistry

            self.registry = CollectorRegistry(auto_describe=True)
            all_readers.append(PrometheusMetricReader(registry=self.registry))
        if otlp_endpoint:
            all_readers.append(
                PeriodicExportingMetricReader(
                    _otlp_exporter(otlp_endpoint, otlp_protocol, otlp_headers),
                    export_interval_millis=otlp_interval * 1000,
                    cardinality_limits={ObservableGauge: MAX_SERIES_PER_GAUGE},
                )
            )
        self.provider = MeterProvider(
            metric_readers=all_readers,
            resource=Resource.create({"service.name": SERVICE_NAME}),
        )
        meter = self.provider.get_meter(sc.EVALUATOR_SCOPE_NAME, __version__)
        g = meter.create_observable_gauge
        for gauge in _MODEL_GAUGES:
            g(gauge.name, [self._observe(gauge)], unit=gauge.unit, description=gauge.description)
        c = meter.create_observable_counter
        c(sc.METRIC_EVAL_BATCHES, [self._batches], unit="{batch}",
          description="Ingest batches by outcome (stored, duplicate, refused)")
        c(sc.METRIC_EVAL_PREDICTIONS_DROPPED, [self._dropped], unit=sc.UNIT_ROWS,
          description="Prediction rows SDKs reported dropped (their event byte budget spent)")
        c(sc.METRIC_EVAL_LABELS_DROPPED, [self._labels_dropped], unit="{label}",
          description="Labels whose prediction an SDK reported dropped")
        g(sc.METRIC_EVAL_QUEUE_DEPTH, [self._queue], unit="{batch}",
          description="Batches waiting for the store writer")
        g(sc.METRIC_EVAL_WINDOW_LAG, [self._lag], unit=sc.UNIT_SECONDS,
          description="How long the oldest closed window has waited for evaluation")
        g(sc.METRIC_EVAL_PENDING_PREDICTIONS, [self._pending], unit=sc.UNIT_ROWS,
          description="Predictions waiting for their label")
        g(sc.METRIC_EVAL_EVALUATION_DURATION, [self._eval_s], unit=sc.UNIT_SECONDS,
          description="Duration of the last evaluation pass")
        g(
            sc.METRIC_EVAL_WINDOWS_QUARANTINED,
            [self._quarantined],
            unit="{window}",
            description="Windows set aside because their evaluation failed",
        )
        c(sc.METRIC_EVAL_REFERENCE_POLL_FAILURES, [self._poll_failures], unit="{poll}",
          description="MLflow alias checks of reference profiles that failed (kept the last)")

    # ---- state ------------------------------------------------------------------------
    def watch_health(self, health: Callable[[], HealthSnapshot]) -> None:
        """Read the health gauges from ``health`` (the service, built after the metrics)."""
        self._health = health

    def update(self, report: ModelReport) -> None:
        """Publish ``report`` unless a later window of the same model version is shown."""
        key = (report.model, report.version)
        with self._lock:
            cur = self._reports.get(key)
            if cur is None or report.window_start >= cur.report.window_start:
                self._reports[key] = _Published(report)

    def prune(self, older_than: float) -> None:
        """Stop showing model versions whose latest window ended before ``older_than``."""
        with self._lock:
            for key in [
                k for k, p in self._reports.items() if p.report.window_end < older_than
            ]:
                del self._reports[key]

    def latest(self) -> list[ModelReport]:
        with self._lock:
            return [p.report for p in self._reports.values()]

    def _published(self) -> list[_Published]:
        with self._lock:
            return list(self._reports.values())

    def prometheus_text(self) -> bytes:
        """The Prometheus exposition of every metric (``b""`` without Prometheus).

        Labels whose value is empty are left out: the OTel Prometheus reader gives every
        point of a metric the union of its attribute keys (``error_type=""`` on accepted
        requests), and in Prometheus an empty label is the same as none.
        """
        if self.registry is None:
            return b""
        from prometheus_client import generate_latest

        self._collecting.prometheus = True  # the model gauges are written below instead
        try:
            parts = [bytes(generate_latest(_WithoutEmptyLabels(self.registry))).decode()]
        finally:
            self._collecting.prometheus = False
        published = self._published()
        for gauge in _MODEL_GAUGES:
            lines = [p.text(gauge) for p in published]
            if any(lines):
                help_text = gauge.description.replace("\\", r"\\").replace("\n", r"\n")
                name = gauge.prometheus_name
                parts.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")
                parts.extend(lines)
        return "".join(parts).encode()

    def shutdown(self) -> None:
        self.provider.shutdown()

    # ---- callbacks --------------------------------------------------------------------
    def _observe(self, gauge: _Gauge) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def callback(_: CallbackOptions) -> Iterable[Observation]:
            if self._collecting.prometheus:
                return
            for p in self._published():
                for attrs, value in p.series(gauge):
                    yield Observation(value, attrs)

        return callback

    def _batches(self, _: CallbackOptions) -> Iterable[Observation]:
        for outcome, n in self._health().batches.items():
            yield Observation(n, {sc.OUTCOME: outcome})

    def _queue(self, _: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self._health().queue_depth)

    def _lag(self, _: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self._health().window_lag)

    def _pending(self, _: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self._health().pending_predictions)

    def _eval_s(self, _: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self._health().evaluation_seconds)

    def _dropped(self, _: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self._health().predictions_dropped)

    def _labels_dropped(self, _: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self._health().labels_of_dropped_predictions)

    def _quarantined(self, _: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self._health().windows_quarantined)

    def _poll_failures(self, _: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self._health().reference_poll_failures)


class _WithoutEmptyLabels:
    """A registry view whose samples carry no empty-valued labels."""

    def __init__(self, registry: Any) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Any]:
        for family in self._registry.collect():
            family.samples = [
                s._replace(labels={k: v for k, v in s.labels.items() if v != ""})
                for s in family.samples
            ]
            yield family


def _otlp_exporter(
    endpoint: str, protocol: str, headers: Mapping[str, str] | None
) -> MetricExporter:
    exporter: MetricExporter = otlp_exporter(
        "metrics", protocol, endpoint, dict(headers or {}), insecure=True
    )
    return exporter
