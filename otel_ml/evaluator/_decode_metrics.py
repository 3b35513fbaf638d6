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

Exponential histogram points are checked and decoded by the sketch layer
(:func:`otel_ml.sketch.exponential_buckets`, next to the encoding the SDK exports).
"""

from __future__ import annotations

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
from otel_ml.sketch import (
    MAX_POINT_BUCKETS,
    R_COUNTS,
    R_NON_FINITE,
    R_SCALE,
    R_TOO_MANY,
    InvalidPoint,
    exponential_buckets,
)

__all__ = [
    "MAX_BUCKETS",
    "ML_NAMESPACE",
    "R_COUNTS",
    "R_NON_FINITE",
    "R_SCALE",
    "R_TOO_MANY",
    "decode_metrics",
]

#: Metric names otel_ml reads start with this prefix.
ML_NAMESPACE = "ml."
#: Largest number of buckets (per sign, or explicit bounds) accepted in one point.
MAX_BUCKETS = MAX_POINT_BUCKETS

_TEMPORALITY = {1: Temporality.DELTA, 2: Temporality.CUMULATIVE}
_FLAG_NO_RECORDED_VALUE = 1

R_TEMPORALITY = "unspecified aggregation temporality"
R_NO_TIME = "data point without time_unix_nano"
R_BOUNDS = "explicit bounds not strictly increasing or not finite"
R_BUCKET_LEN = "bucket_counts must have len(explicit_bounds) + 1 entries"
R_NEGATIVE = "negative value in a monotonic sum"
R_NO_VALUE = "sum data point without a value"


#: A point of ours that cannot be used; the message is the reason (the sketch layer's
#: exponential-point checks raise the same exception).
_Reject = InvalidPoint


def _finite(*values: float | None) -> None:
    for v in values:
        if v is not None and not math.isfinite(v):
            raise _Reject(R_NON_FINITE)


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
        name = metric.name
        resource_model = attribute(resource_attrs, semconv.ML_MODEL_NAME)
        resource_version = attribute(resource_attrs, semconv.ML_MODEL_VERSION)
        counters = kind == "sum"
        exponential = kind == "exponential_histogram"
        for p in points:
            attrs = attributes(p.attributes)
            found = dict(attrs)
            model = found.get(semconv.ML_MODEL_NAME) or resource_model
            if not isinstance(model, str) or not model or p.flags & _FLAG_NO_RECORDED_VALUE:
                self.ignored += 1
                continue
            version = found.get(semconv.ML_MODEL_VERSION, resource_version)
            feature = found.get(semconv.ML_FEATURE_NAME)
            try:
                if temporality is None:
                    raise _Reject(R_TEMPORALITY)
                t = p.time_unix_nano
                if not t:
                    raise _Reject(R_NO_TIME)
                common = (
                    name,
                    model,
                    None if version is None else str(version),
                    None if feature is None else str(feature),
                    attrs,
                    resource,
                    p.start_time_unix_nano,
                    t,
                    temporality,
                )
                if counters:
                    self.counters.append(CounterPoint(*common, _counter_value(p)))
                else:
                    buckets = exponential_buckets(p) if exponential else _explicit(p)
                    self.histograms.append(HistogramPoint(*common, buckets))
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
