"""Hand-built ingest records for the evaluator tests (what the OTLP decoder produces)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence

import numpy as np

from otel_ml import semconv as sc
from otel_ml.evaluator._records import (
    CounterPoint,
    DroppedPredictions,
    ExplicitBuckets,
    HistogramPoint,
    IngestBatch,
    OutcomeEvent,
    PredictionEvent,
    ResourceIdentity,
    Signal,
    Temporality,
)
from otel_ml.sketch import NumericSketch

NS = 1_000_000_000
RES = ResourceIdentity("svc", "pod-1")
_ids = itertools.count()


def feature_point(
    model: str,
    feature: str,
    values: Sequence[float] | np.ndarray,
    t: float,
    version: str = "1",
    *,
    metric: str = sc.METRIC_FEATURE_VALUES,
    output: str | None = None,
) -> HistogramPoint:
    s = NumericSketch()
    s.update(np.asarray(values, dtype=float))
    attrs: list[tuple[str, str]] = [(sc.ML_MODEL_NAME, model), (sc.ML_MODEL_VERSION, version)]
    if metric == sc.METRIC_FEATURE_VALUES:
        attrs.append((sc.ML_FEATURE_NAME, feature))
    if output is not None:
        attrs.append((sc.ML_PREDICTION_OUTPUT, output))
    return HistogramPoint(
        metric=metric,
        model=model,
        version=version,
        feature=feature if metric == sc.METRIC_FEATURE_VALUES else None,
        attributes=tuple(sorted(attrs)),
        resource=RES,
        start_time_unix_nano=int((t - 1) * NS),
        time_unix_nano=int(t * NS),
        temporality=Temporality.DELTA,
        buckets=s.to_exponential(),
    )


def counter(
    model: str,
    metric: str,
    value: float,
    t: float,
    version: str = "1",
    feature: str | None = None,
    **attrs: str,
) -> CounterPoint:
    """:func:`attr_counter` with attributes as keywords (``error_type=`` for ``error.type``)."""
    named = {k.replace("_", "."): v for k, v in attrs.items()}
    return attr_counter(model, metric, value, t, named, version, feature)


def attr_counter(
    model: str,
    metric: str,
    value: float,
    t: float,
    attrs: dict[str, str],
    version: str = "1",
    feature: str | None = None,
) -> CounterPoint:
    a = [(sc.ML_MODEL_NAME, model), (sc.ML_MODEL_VERSION, version), *attrs.items()]
    if feature is not None:
        a.append((sc.ML_FEATURE_NAME, feature))
    return CounterPoint(
        metric=metric,
        model=model,
        version=version,
        feature=feature,
        attributes=tuple(sorted(a)),
        resource=RES,
        start_time_unix_nano=int((t - 1) * NS),
        time_unix_nano=int(t * NS),
        temporality=Temporality.DELTA,
        value=float(value),
    )


def duration_point(
    model: str, durations: Sequence[float], t: float, version: str = "1"
) -> HistogramPoint:
    bounds = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
    counts = [0] * (len(bounds) + 1)
    for d in durations:
        counts[int(np.searchsorted(bounds, d, side="left"))] += 1
    return HistogramPoint(
        metric=sc.METRIC_PREDICT_DURATION,
        model=model,
        version=version,
        feature=None,
        attributes=((sc.ML_MODEL_NAME, model), (sc.ML_MODEL_VERSION, version)),
        resource=RES,
        start_time_unix_nano=int((t - 1) * NS),
        time_unix_nano=int(t * NS),
        temporality=Temporality.DELTA,
        buckets=ExplicitBuckets(
            bounds=bounds,
            counts=tuple(counts),
            count=len(durations),
            sum=float(sum(durations)),
            min=min(durations),
            max=max(durations),
        ),
    )


def prediction(
    model: str,
    ids: Sequence[str],
    t: float,
    *,
    scores: Sequence[float] | None = None,
    labels: Sequence[str] | None = None,
    version: str = "1",
    trace_id: str = "",
) -> PredictionEvent:
    return PredictionEvent(
        model=model,
        version=version,
        ids=tuple(ids),
        values=None if scores is None else tuple(float(s) for s in scores),
        labels=None if labels is None else tuple(labels),
        time_unix_nano=int(t * NS),
        observed_time_unix_nano=int(t * NS),
        trace_id=trace_id,
        span_id="",
    )


def outcome(
    model: str, ids: Sequence[str], actuals: Sequence[str] | Sequence[float], t: float
) -> OutcomeEvent:
    return OutcomeEvent(
        model=model,
        version=None,
        ids=tuple(ids),
        actuals=tuple(actuals),  # type: ignore[arg-type]
        time_unix_nano=int(t * NS),
    )


def batch(*records: object, batch_id: str | None = None) -> IngestBatch:
    hist = tuple(r for r in records if isinstance(r, HistogramPoint))
    ctr = tuple(r for r in records if isinstance(r, CounterPoint))
    pred = tuple(r for r in records if isinstance(r, PredictionEvent))
    out = tuple(r for r in records if isinstance(r, OutcomeEvent))
    dropped = tuple(r for r in records if isinstance(r, DroppedPredictions))
    bid = batch_id or hashlib.sha256(f"{next(_ids)}:{records!r}".encode()).hexdigest()
    return IngestBatch(
        batch_id=bid,
        signal=Signal.LOGS if (pred or out or dropped) else Signal.METRICS,
        histograms=hist,
        counters=ctr,
        predictions=pred,
        outcomes=out,
        dropped=dropped,
    )
