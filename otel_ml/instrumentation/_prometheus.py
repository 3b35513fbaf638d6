"""The Prometheus side of the bridge: a ``prometheus_client`` collector of cumulative histograms.

The SDK's Prometheus exporter cannot expose exponential histograms (one in the
SDK breaks the whole scrape), so :class:`SketchCollector` is registered on the
same ``CollectorRegistry`` as ``PrometheusMetricReader`` and exposes, from its
own cumulative copy of the aggregator's deltas:

- ``ml_feature_values`` / ``ml_prediction_values``: classic histograms whose
  ``le`` bounds are the exponential bucket boundaries (downscaled to at most
  ``max_buckets`` per sign, so series stay few; the scale only ever decreases,
  and every coarser boundary is also a finer one, so ``le`` series stay
  consistent across scrapes). ``_count`` / ``_sum`` are written even with
  negative bounds (``prometheus_client`` omits them there);
- ``ml_predict_duration_seconds``: classic histogram with the explicit bounds;
- ``ml_predict_calls_total``, ``ml_predict_rows_total``,
  ``ml_predict_errors_total``, ``ml_feature_categories_total``,
  ``ml_prediction_classes_total``, ``ml_data_quality_issues_total``.

Labels are the OTel attribute names with dots as underscores
(``ml_model_name``), as the SDK's Prometheus exporter writes them. A scrape
never blocks a predict call: it drains the worker and merges under the
aggregator's lock only briefly.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import numpy as np
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample

from otel_ml import semconv
from otel_ml.instrumentation._aggregator import Aggregator, Consumer, default_aggregator
from otel_ml.instrumentation._otlp_bridge import DESCRIPTIONS
from otel_ml.instrumentation._window import (
    DURATION_BOUNDS,
    DurationHistogram,
    ModelKey,
    ModelWindow,
)
from otel_ml.sketch import NumericSketch, category_counts

__all__ = ["SketchCollector", "prometheus_name"]


def prometheus_name(name: str) -> str:
    """The Prometheus form of an OTel name or attribute key.

    >>> prometheus_name("ml.model.name")
    'ml_model_name'
    """
    return name.replace(".", "_")


_MODEL_LABELS = [prometheus_name(semconv.ML_MODEL_NAME), prometheus_name(semconv.ML_MODEL_VERSION)]


def _le(x: float) -> str:
    return "+Inf" if x == math.inf else repr(float(x))


def _sketch_buckets(sketch: NumericSketch, max_buckets: int) -> list[tuple[str, float]]:
    """Cumulative ``(le, count)`` pairs of a sketch, ending with ``+Inf``."""
    s = sketch
    if s.positive_counts.size > max_buckets or s.negative_counts.size > max_buckets:
        target = s.scale
        while target > -10:
            shift = s.scale - target
            pos = (s.positive_offset + s.positive_counts.size - 1 >> shift) - (
                s.positive_offset >> shift
            )
            neg = (s.negative_offset + s.negative_counts.size - 1 >> shift) - (
                s.negative_offset >> shift
            )
            if pos < max_buckets and neg < max_buckets:
                break
            target -= 1
        s = s.downscaled(target)
    _, upper, counts = s.buckets()
    cum = np.cumsum(counts)
    pairs = [(_le(u), float(c)) for u, c in zip(upper.tolist(), cum.tolist(), strict=True)]
    pairs.append(("+Inf", float(s.count)))
    return pairs


def _histogram(name: str, labels: list[str], doc: str, unit: str = "") -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, labels=labels, unit=unit)


def _add_histogram(
    fam: HistogramMetricFamily, values: list[str], buckets: list[tuple[str, float]], total: float
) -> None:
    fam.add_metric(values, buckets, total)
    if float(buckets[0][0]) < 0:  # prometheus_client leaves out _count/_sum here
        lbl = dict(zip(fam._labelnames, values, strict=True))
        fam.samples.append(Sample(fam.name + "_count", lbl, buckets[-1][1], None, None))
        fam.samples.append(Sample(fam.name + "_sum", lbl, total, None, None))


def _add_duration(fam: HistogramMetricFamily, labels: dict[str, str], d: DurationHistogram) -> None:
    """One duration series; its labels may add ``error_type`` to the family's (failed calls)."""
    cum = np.cumsum(d.counts).tolist()
    for b, c in zip([*DURATION_BOUNDS, math.inf], cum, strict=True):
        le = "+Inf" if b == math.inf else _le(b)
        fam.samples.append(Sample(fam.name + "_bucket", {**labels, "le": le}, float(c), None, None))
    fam.samples.append(Sample(fam.name + "_count", labels, float(d.count), None, None))
    fam.samples.append(Sample(fam.name + "_sum", labels, d.sum, None, None))


class SketchCollector(Collector):
    """Exposes the aggregator's cumulative state on a ``prometheus_client`` registry.

    Parameters
    ----------
    aggregator
        Default: the process aggregator every monitor writes to.
    max_buckets
        Most ``le`` buckets per sign per feature histogram.

    Examples
    --------
    >>> from prometheus_client import CollectorRegistry, generate_latest
    >>> from otel_ml.instrumentation import Aggregator, ModelKey
    >>> agg = Aggregator(); registry = CollectorRegistry()
    >>> collector = SketchCollector(agg).register(registry)
    >>> agg.record_call(ModelKey("m", "1"), 0.003, rows=2, error_type=None)
    >>> text = generate_latest(registry).decode()
    >>> 'ml_predict_rows_total{ml_model_name="m",ml_model_version="1"} 2.0' in text
    True
    """

    def __init__(self, aggregator: Aggregator | None = None, *, max_buckets: int = 40) -> None:
        self._aggregator = aggregator if aggregator is not None else default_aggregator()
        self._consumer: Consumer | None = None
        self._max_buckets = max_buckets
        self._lock = threading.Lock()
        self._cumulative: dict[ModelKey, ModelWindow] = {}
        self._registry: CollectorRegistry | None = None

    def register(self, registry: CollectorRegistry) -> SketchCollector:
        self._consumer = self._aggregator.register()
        registry.register(self)
        self._registry = registry
        return self

    def unregister(self) -> None:
        if self._registry is not None:
            self._registry.unregister(self)
            self._registry = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def describe(self) -> list[Metric]:
        return []  # no fixed names to reserve; collect() is called per scrape

    def collect(self) -> Iterator[Metric]:
        if self._consumer is None:
            return
        delta = self._consumer.collect()
        with self._lock:
            for key, w in delta.windows.items():
                mine = self._cumulative.setdefault(key, ModelWindow())
                mine.merge(w, max_features=self._aggregator.max_features)
            yield from self._families()

    def _families(self) -> Iterator[Metric]:
        p = prometheus_name
        feat, out_l = p(semconv.ML_FEATURE_NAME), p(semconv.ML_PREDICTION_OUTPUT)

        def counter(name: str, extra: list[str]) -> CounterMetricFamily:
            return CounterMetricFamily(p(name), DESCRIPTIONS[name][1], labels=_MODEL_LABELS + extra)

        calls = counter(semconv.METRIC_PREDICT_CALLS, [])
        rows = counter(semconv.METRIC_PREDICT_ROWS, [])
        errors = counter(semconv.METRIC_PREDICT_ERRORS, [p(semconv.ERROR_TYPE)])
        cats = counter(semconv.METRIC_FEATURE_CATEGORIES, [feat, p(semconv.ML_FEATURE_VALUE)])
        classes = counter(semconv.METRIC_PREDICTION_CLASSES, [p(semconv.ML_PREDICTION_CLASS)])
        quality = counter(
            semconv.METRIC_DATA_QUALITY_ISSUES, [feat, p(semconv.ML_DATA_QUALITY_ISSUE)]
        )
        duration = _histogram(
            p(semconv.METRIC_PREDICT_DURATION),
            _MODEL_LABELS,
            DESCRIPTIONS[semconv.METRIC_PREDICT_DURATION][1],
            unit="seconds",
        )
        features = _histogram(
            p(semconv.METRIC_FEATURE_VALUES),
            _MODEL_LABELS + [feat],
            DESCRIPTIONS[semconv.METRIC_FEATURE_VALUES][1],
        )
        predictions = _histogram(
            p(semconv.METRIC_PREDICTION_VALUES),
            _MODEL_LABELS + [out_l],
            DESCRIPTIONS[semconv.METRIC_PREDICTION_VALUES][1],
        )
        for key, w in self._cumulative.items():
            m = [key.model, key.version]
            if w.calls:
                calls.add_metric(m, w.calls)
                rows.add_metric(m, w.rows)
                if w.duration.count or not w.failed_durations:
                    _add_duration(duration, dict(zip(_MODEL_LABELS, m, strict=True)), w.duration)
                for et, d in w.failed_durations.items():
                    lbl = dict(zip(_MODEL_LABELS, m, strict=True))
                    _add_duration(duration, {**lbl, p(semconv.ERROR_TYPE): et}, d)
            for et, n in w.errors.items():
                errors.add_metric([*m, et], n)
            for name, sk in w.numeric.items():
                if sk.count:
                    _add_histogram(
                        features, [*m, name], _sketch_buckets(sk, self._max_buckets), sk.sum
                    )
            for name, sk in w.predictions.items():
                if sk.count:
                    _add_histogram(
                        predictions, [*m, name], _sketch_buckets(sk, self._max_buckets), sk.sum
                    )
            for name, cat in w.categorical.items():
                for value, n in category_counts(cat):
                    cats.add_metric([*m, name, value], n)
            for cls, n in w.classes.items():
                classes.add_metric([*m, cls], n)
            for (name, issue), n in w.quality.items():
                quality.add_metric([*m, name, issue], n)
        for fam in (calls, rows, errors, cats, classes, quality, duration, features, predictions):
            if fam.samples:
                yield fam
