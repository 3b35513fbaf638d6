"""``ExportMetricsServiceRequest`` to :class:`HistogramPoint` / :class:`CounterPoint` records.

Rules (documented in the package docstring of :mod:`otel_ml.evaluator._records`):

- a point is *ours* when its metric name is in the ``ml.`` namespace and it carries
  ``ml.model.name`` (point attribute, or else resource attribute); other points are
  counted as ignored;
- ours and decoded: exponential histograms (empty buckets at either end trimmed),
  explicit-bucket histograms and monotonic sums; gauges, summaries and non-monotonic
  sums are ignored, as are points flagged "no recorded value" (staleness markers);
- ours but rejected (with a reason): unspecified temporality, missing timestamp,
  bucket counts that do not add up to ``count``, a scale outside ``[-10, 20]``,
  more than :data:`MAX_BUCKETS` buckets, non-increasing bounds, non-finite or
  negative values where OTLP forbids them.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from otel_ml import semconv
from otel_ml.evaluator._otlp_attributes import attributes, resource_identity
from otel_ml.evaluator._records import (
    Attributes,
    CounterPoint,
    ExplicitBuckets,
    HistogramPoint,
    IngestBatch,
    Rejection,
    ResourceIdentity,
    Signal,
    Temporality,
    attribute,
)
from otel_ml.sketch import MAX_SCALE, MIN_SCALE, ExponentialBuckets

__all__ = ["MAX_BUCKETS", "ML_NAMESPACE", "decode_metrics", "exponential_extremes"]

#: Metric names otel_ml reads start with this prefix.
ML_NAMESPACE = "ml."
#: Largest number of buckets (per sign, or explicit bounds) accepted in one point.
MAX_BUCKETS = 4096

_TEMPORALITY = {1: Temporality.DELTA, 2: Temporality.CUMULATIVE}
_FLAG_NO_RECORDED_VALUE = 1

R_TEMPORALITY = "unspecified aggregation temporality"
R_NO_TIME = "data point without time_unix_nano"
R_COUNTS = "bucket counts do not add up to count"
R_SCALE = f"exponential histogram scale outside [{MIN_SCALE}, {MAX_SCALE}]"
R_TOO_MANY = f"more than {MAX_BUCKETS} buckets"
R_BOUNDS = "explicit bounds not strictly increasing or not finite"
R_BUCKET_LEN = "bucket_counts must have len(explicit_bounds) + 1 entries"
R_NON_FINITE = "non-finite sum, min, max or value"
R_NEGATIVE = "negative value in a monotonic sum"
R_NO_VALUE = "sum data point without a value"


class _Reject(Exception):
    """A point of ours that cannot be used; the message is the reason."""


def _bound(scale: int, index: int) -> float:
    """Lower edge of exponential bucket ``index`` at ``scale``: ``2 ** (index / 2**scale)``."""
    try:
        return float(2.0 ** math.ldexp(index, -scale))
    except OverflowError:
        return math.inf


def exponential_extremes(b: ExponentialBuckets) -> tuple[float, float]:
    """min/max estimated from the outermost non-empty buckets (point without min/max)."""
    pos = [i for i, c in enumerate(b.positive_counts) if c]
    neg = [i for i, c in enumerate(b.negative_counts) if c]
    if neg:
        lo = -_bound(b.scale, b.negative_offset + neg[-1] + 1)
    elif b.zero_count:
        lo = 0.0
    elif pos:
        lo = _bound(b.scale, b.positive_offset + pos[0])
    else:
        return math.inf, -math.inf
    if pos:
        hi = _bound(b.scale, b.positive_offset + pos[-1] + 1)
    elif b.zero_count:
        hi = 0.0
    else:
        hi = -_bound(b.scale, b.negative_offset + neg[0])
    return lo, hi


def _exp_sum_estimate(p: Any) -> float:
    total = 0.0
    for sign, buckets in ((1.0, p.positive), (-1.0, p.negative)):
        for i, c in enumerate(buckets.bucket_counts):
            if c:
                lo = _bound(p.scale, buckets.offset + i)
                hi = _bound(p.scale, buckets.offset + i + 1)
                total += sign * c * (lo + hi) / 2.0
    return total


def _trimmed(offset: int, counts: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """Drop empty buckets at both ends (SDKs pad to their maximum size)."""
    lo, hi = 0, len(counts)
    while lo < hi and not counts[lo]:
        lo += 1
    while hi > lo and not counts[hi - 1]:
        hi -= 1
    return (offset + lo, counts[lo:hi]) if lo < hi else (0, ())


def _finite(*values: float | None) -> None:
    for v in values:
        if v is not None and not math.isfinite(v):
            raise _Reject(R_NON_FINITE)


def _exponential(p: Any) -> ExponentialBuckets:
    if not MIN_SCALE <= p.scale <= MAX_SCALE:
        raise _Reject(R_SCALE)
    pos = tuple(p.positive.bucket_counts)
    neg = tuple(p.negative.bucket_counts)
    if len(pos) > MAX_BUCKETS or len(neg) > MAX_BUCKETS:
        raise _Reject(R_TOO_MANY)
    if p.zero_count + sum(pos) + sum(neg) != p.count:
        raise _Reject(R_COUNTS)
    total = p.sum if p.HasField("sum") else _exp_sum_estimate(p)
    has_min, has_max = p.HasField("min"), p.HasField("max")
    mn = float(p.min) if has_min else math.inf
    mx = float(p.max) if has_max else -math.inf
    _finite(total, mn if has_min else None, mx if has_max else None)
    pos_offset, pos = _trimmed(p.positive.offset, pos)
    neg_offset, neg = _trimmed(p.negative.offset, neg)
    fields = ExponentialBuckets(
        scale=p.scale,
        zero_count=p.zero_count,
        positive_offset=pos_offset,
        positive_counts=pos,
        negative_offset=neg_offset,
        negative_counts=neg,
        count=p.count,
        sum=float(total),
        min=mn,
        max=mx,
    )
    if has_min and has_max:
        return fields
    lo, hi = exponential_extremes(fields)
    return dataclasses.replace(fields, min=mn if has_min else lo, max=mx if has_max else hi)


def _explicit(p: Any) -> ExplicitBuckets:
    bounds = tuple(float(b) for b in p.explicit_bounds)
    counts = tuple(p.bucket_counts)
    if len(bounds) > MAX_BUCKETS:
        raise _Reject(R_TOO_MANY)
    if any(not math.isfinite(b) for b in bounds) or any(
        a >= b for a, b in zip(bounds, bounds[1:], strict=False)
    ):
        raise _Reject(R_BOUNDS)
    if not counts and p.count == 0:
        counts = (0,) * (len(bounds) + 1)
    if len(counts) != len(bounds) + 1:
        raise _Reject(R_BUCKET_LEN)
    if sum(counts) != p.count:
        raise _Reject(R_COUNTS)
    mn = float(p.min) if p.HasField("min") else None
    mx = float(p.max) if p.HasField("max") else None
    if p.HasField("sum"):
        total = float(p.sum)
    else:  # midpoints; the open-ended buckets count at their finite edge
        edges = (bounds[0] if bounds else 0.0,) + bounds + (bounds[-1] if bounds else 0.0,)
        total = sum(c * (edges[i] + edges[i + 1]) / 2.0 for i, c in enumerate(counts) if c)
    _finite(total, mn, mx)
    return ExplicitBuckets(bounds=bounds, counts=counts, count=p.count, sum=total, min=mn, max=mx)


def _counter_value(p: Any) -> float:
    kind = p.WhichOneof("value")
    if kind is None:
        raise _Reject(R_NO_VALUE)
    value = float(getattr(p, kind))
    _finite(value)
    if value < 0:
        raise _Reject(R_NEGATIVE)
    return value


class _MetricsDecoder:
    def __init__(self) -> None:
        self.histograms: list[HistogramPoint] = []
        self.counters: list[CounterPoint] = []
        self.rejected: Counter[str] = Counter()
        self.ignored = 0

    def metric(self, metric: Any, resource_attrs: Attributes, resource: ResourceIdentity) -> None:
        kind = metric.WhichOneof("data")
        data = getattr(metric, kind) if kind else None
        points = list(data.data_points) if data is not None else []
        ours = metric.name.startswith(ML_NAMESPACE) and (
            kind in ("histogram", "exponential_histogram")
            or (kind == "sum" and data is not None and data.is_monotonic)
        )
        if data is None or not ours:
            self.ignored += len(points)
            return
        temporality = _TEMPORALITY.get(data.aggregation_temporality)
        for p in points:
            attrs = attributes(p.attributes)
            model = attribute(attrs, semconv.ML_MODEL_NAME) or attribute(
                resource_attrs, semconv.ML_MODEL_NAME
            )
            if not isinstance(model, str) or not model or p.flags & _FLAG_NO_RECORDED_VALUE:
                self.ignored += 1
                continue
            version = attribute(attrs, semconv.ML_MODEL_VERSION)
            if version is None:
                version = attribute(resource_attrs, semconv.ML_MODEL_VERSION)
            feature = attribute(attrs, semconv.ML_FEATURE_NAME)
            try:
                if temporality is None:
                    raise _Reject(R_TEMPORALITY)
                if not p.time_unix_nano:
                    raise _Reject(R_NO_TIME)
                common = {
                    "metric": metric.name,
                    "model": model,
                    "version": None if version is None else str(version),
                    "feature": None if feature is None else str(feature),
                    "attributes": attrs,
                    "resource": resource,
                    "start_time_unix_nano": p.start_time_unix_nano,
                    "time_unix_nano": p.time_unix_nano,
                    "temporality": temporality,
                }
                if kind == "sum":
                    self.counters.append(CounterPoint(**common, value=_counter_value(p)))
                else:
                    buckets = _exponential(p) if kind == "exponential_histogram" else _explicit(p)
                    self.histograms.append(HistogramPoint(**common, buckets=buckets))
            except _Reject as reason:
                self.rejected[str(reason)] += 1


def decode_metrics(
    request: ExportMetricsServiceRequest, *, batch_id: str, received_time_unix_nano: int
) -> IngestBatch:
    """Decode otel_ml's metric points from a parsed request (see the module rules)."""
    dec = _MetricsDecoder()
    for rm in request.resource_metrics:
        resource_attrs = attributes(rm.resource.attributes)
        resource = resource_identity(resource_attrs)
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                dec.metric(metric, resource_attrs, resource)
    return IngestBatch(
        batch_id=batch_id,
        signal=Signal.METRICS,
        histograms=tuple(dec.histograms),
        counters=tuple(dec.counters),
        rejected=tuple(Rejection(r, n) for r, n in sorted(dec.rejected.items())),
        ignored=dec.ignored,
        received_time_unix_nano=received_time_unix_nano,
    )
