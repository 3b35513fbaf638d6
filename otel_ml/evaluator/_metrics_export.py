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
``ml.label.coverage`` / ``ml.label.delay``  labelled share, median label delay (s)
``ml.window.rows``                     rows in the window
``ml.predict.latency.p95`` / ``ml.predict.error_rate``
``otel_ml.evaluator.*``                health: batches stored / duplicate / throttled,
                                       queue depth, window lag, pending predictions,
                                       quarantined windows
                                       (points received / rejected come from the
                                       receivers, on the same meter provider)
=====================================  ===========================================

Drift of a prediction output carries ``ml.prediction.output`` instead of
``ml.feature.name``. Every model gauge carries ``ml.model.name`` and
``ml.model.version``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
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

__all__ = ["DRIFT_SCORE_METHODS", "SERVICE_NAME", "DerivedMetrics", "HealthSnapshot"]

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


def _ok(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


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
        self._reports: dict[tuple[str, str], ModelReport] = {}
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
                )
            )
        self.provider = MeterProvider(
            metric_readers=all_readers,
            resource=Resource.create({"service.name": SERVICE_NAME}),
        )
        meter = self.provider.get_meter(sc.EVALUATOR_SCOPE_NAME, __version__)
        g = meter.create_observable_gauge
        g(sc.METRIC_DRIFT_SCORE, [self._drift_score], unit="1",
          description="Drift statistic of a feature or prediction output in the latest window")
        g(sc.METRIC_DRIFT_DETECTED, [self._drift_detected], unit="1",
          description="Drift verdict of the policy in the latest window (1 drifted, 0 not)")
        g(sc.METRIC_DRIFT_P_VALUE, [self._drift_p], unit="1",
          description="P-value of the drift test in the latest window")
        g(sc.METRIC_DATA_QUALITY_RATE, [self._quality], unit="1",
          description="Share of rows with a data-quality issue in the latest window")
        g(sc.METRIC_PERFORMANCE, [self._performance], unit="1",
          description="Model performance from joined labels in the latest window")
        g(sc.METRIC_LABEL_COVERAGE, [self._coverage], unit="1",
          description="Share of the window's predictions that have their label")
        g(sc.METRIC_LABEL_DELAY, [self._delay], unit=sc.UNIT_SECONDS,
          description="Median delay between a prediction and its label in the latest window")
        g(sc.METRIC_WINDOW_ROWS, [self._rows], unit=sc.UNIT_ROWS,
          description="Rows predicted in the latest window")
        g(sc.METRIC_LATENCY_P95, [self._latency], unit=sc.UNIT_SECONDS,
          description="95th percentile of predict call duration in the latest window")
        g(sc.METRIC_ERROR_RATE, [self._error_rate], unit="1",
          description="Share of predict calls that failed in the latest window")
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

    # ---- state ------------------------------------------------------------------------
    def watch_health(self, health: Callable[[], HealthSnapshot]) -> None:
        """Read the health gauges from ``health`` (the service, built after the metrics)."""
        self._health = health

    def update(self, report: ModelReport) -> None:
        """Publish ``report`` unless a later window of the same model version is shown."""
        key = (report.model, report.version)
        with self._lock:
            cur = self._reports.get(key)
            if cur is None or report.window_start >= cur.window_start:
                self._reports[key] = report

    def prune(self, older_than: float) -> None:
        """Stop showing model versions whose latest window ended before ``older_than``."""
        with self._lock:
            for key in [k for k, r in self._reports.items() if r.window_end < older_than]:
                del self._reports[key]

    def latest(self) -> list[ModelReport]:
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

        return bytes(generate_latest(_WithoutEmptyLabels(self.registry)))

    def shutdown(self) -> None:
        self.provider.shutdown()

    # ---- callbacks --------------------------------------------------------------------
    @staticmethod
    def _attrs(r: ModelReport, **extra: str) -> dict[str, str]:
        return {sc.ML_MODEL_NAME: r.model, sc.ML_MODEL_VERSION: r.version, **extra}

    def _drifts(self) -> Iterable[tuple[ModelReport, FeatureReport, dict[str, str]]]:
        for r in self.latest():
            for f in r.features:
                yield r, f, self._attrs(r, **{sc.ML_FEATURE_NAME: f.name})
            for f in r.predictions:
                yield r, f, self._attrs(r, **{sc.ML_PREDICTION_OUTPUT: f.name})

    def _drift_score(self, _: CallbackOptions) -> Iterable[Observation]:
        for _r, f, a in self._drifts():
            if f.drift is None:
                continue
            for method, value in f.drift.statistics.items():
                if method in DRIFT_SCORE_METHODS and _ok(value):
                    yield Observation(value, {**a, sc.ML_DRIFT_METHOD: method})

    def _drift_detected(self, _: CallbackOptions) -> Iterable[Observation]:
        for _r, f, a in self._drifts():
            if f.drift is not None:
                yield Observation(int(f.drift.drifted), {**a, sc.ML_DRIFT_METHOD: f.drift.method})

    def _drift_p(self, _: CallbackOptions) -> Iterable[Observation]:
        for _r, f, a in self._drifts():
            if f.drift is not None and _ok(f.drift.p_value):
                yield Observation(f.drift.p_value, {**a, sc.ML_DRIFT_METHOD: f.drift.method})

    def _quality(self, _: CallbackOptions) -> Iterable[Observation]:
        for r in self.latest():
            for q in r.quality:
                attrs = self._attrs(r, **{sc.ML_DATA_QUALITY_ISSUE: q.issue})
                if q.feature:
                    attrs[sc.ML_FEATURE_NAME] = q.feature
                yield Observation(q.rate, attrs)

    def _performance(self, _: CallbackOptions) -> Iterable[Observation]:
        for r in self.latest():
            if r.performance is not None:
                for name, v in r.performance.values().items():
                    if _ok(v):
                        yield Observation(v, self._attrs(r, **{sc.ML_PERFORMANCE_METRIC: name}))

    def _coverage(self, _: CallbackOptions) -> Iterable[Observation]:
        for r in self.latest():
            if r.performance is not None:
                yield Observation(r.performance.coverage, self._attrs(r))

    def _delay(self, _: CallbackOptions) -> Iterable[Observation]:
        for r in self.latest():
            p = r.performance
            if p is not None and _ok(p.delay_p50):
                yield Observation(p.delay_p50 or 0.0, self._attrs(r))

    def _rows(self, _: CallbackOptions) -> Iterable[Observation]:
        for r in self.latest():
            yield Observation(r.n_rows, self._attrs(r))

    def _latency(self, _: CallbackOptions) -> Iterable[Observation]:
        for r in self.latest():
            if _ok(r.operations.latency_p95):
                yield Observation(r.operations.latency_p95 or 0.0, self._attrs(r))

    def _error_rate(self, _: CallbackOptions) -> Iterable[Observation]:
        for r in self.latest():
            if _ok(r.operations.error_rate):
                yield Observation(r.operations.error_rate or 0.0, self._attrs(r))

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
