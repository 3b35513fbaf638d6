"""Sketches as OTLP metric points and back: the encoding and the decoding side by side.

A :class:`~otel_ml.sketch.NumericSketch` travels as one OTLP ``ExponentialHistogram``
data point (``ml.feature.values``, ``ml.prediction.values``); a
:class:`~otel_ml.sketch.CategoricalSketch` as one monotonic ``Sum`` point per tracked
value plus one for the overflow bucket (``ml.feature.categories``, ``ml.feature.value``
= the value or :data:`~otel_ml.semconv.OVERFLOW_CATEGORY`).

Encoding (the SDK's export bridge, tests, benchmarks):

- :func:`exponential_data_point` -- a sketch as the OpenTelemetry SDK's
  ``ExponentialHistogramDataPoint`` (what ``OTLPMetricExporter`` encodes);
- :func:`category_counts` -- the ``(value, count)`` pairs of a categorical sketch.

Decoding (the evaluator's receiver and store):

- :func:`exponential_buckets` -- a protobuf ``ExponentialHistogramDataPoint`` checked and
  turned into :class:`~otel_ml.sketch.ExponentialBuckets` (``NumericSketch.from_exponential``
  rebuilds the sketch); a point that cannot be used raises :class:`InvalidPoint` whose
  message is the reason the receiver reports;
- :func:`categorical_sketch` -- the per-value counts of one feature back into a sketch.

The OpenTelemetry SDK is imported only when :func:`exponential_data_point` runs (its
metrics export module costs about as much to import as numpy), so the evaluator and
``import otel_ml.sketch`` do not pay for it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from otel_ml import semconv
from otel_ml._errors import SketchError
from otel_ml.sketch._categorical import DEFAULT_MAX_CATEGORIES, CategoricalSketch
from otel_ml.sketch._exponential_layout import MAX_SCALE, MIN_SCALE, ExponentialBuckets
from otel_ml.sketch._numeric import NumericSketch

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics.export import ExponentialHistogramDataPoint

__all__ = [
    "MAX_POINT_BUCKETS",
    "R_COUNTS",
    "R_NON_FINITE",
    "R_SCALE",
    "R_TOO_MANY",
    "InvalidPoint",
    "categorical_sketch",
    "category_counts",
    "exponential_buckets",
    "exponential_data_point",
    "exponential_extremes",
]

#: Largest number of buckets (per sign, or explicit bounds) accepted in one point.
MAX_POINT_BUCKETS = 4096

R_COUNTS = "bucket counts do not add up to count"
R_SCALE = f"exponential histogram scale outside [{MIN_SCALE}, {MAX_SCALE}]"
R_TOO_MANY = f"more than {MAX_POINT_BUCKETS} buckets"
R_NON_FINITE = "non-finite sum, min, max or value"


class InvalidPoint(SketchError):
    """An OTLP point that cannot become a sketch; the message is the reason."""


# ---- encoding ---------------------------------------------------------------------------


def exponential_data_point(
    sketch: NumericSketch, attributes: Mapping[str, Any], start: int, end: int
) -> ExponentialHistogramDataPoint:
    """``sketch`` as the SDK ``ExponentialHistogramDataPoint`` otel_ml exports (DELTA from
    ``start`` to ``end``, in ns): buckets, count, sum, min and max, losslessly.

    >>> s = NumericSketch(); s.update([-2.0, 0.0, 0.5, 8.0])
    >>> p = exponential_data_point(s, {"ml.feature.name": "age"}, 1, 2)
    >>> p.count, p.zero_count, p.min, p.max
    (4, 1, -2.0, 8.0)
    """
    from opentelemetry.sdk.metrics.export import Buckets
    from opentelemetry.sdk.metrics.export import ExponentialHistogramDataPoint as Point

    e = sketch.to_exponential()
    return Point(
        attributes=dict(attributes),
        start_time_unix_nano=start,
        time_unix_nano=end,
        count=e.count,
        sum=e.sum,
        scale=e.scale,
        zero_count=e.zero_count,
        positive=Buckets(offset=e.positive_offset, bucket_counts=list(e.positive_counts)),
        negative=Buckets(offset=e.negative_offset, bucket_counts=list(e.negative_counts)),
        flags=0,
        min=e.min,
        max=e.max,
    )


def category_counts(sketch: CategoricalSketch) -> Iterator[tuple[str, int]]:
    """The ``(ml.feature.value, count)`` pairs of ``sketch``: each tracked value, then the
    overflow as :data:`~otel_ml.semconv.OVERFLOW_CATEGORY` when it is not empty.

    >>> s = CategoricalSketch(max_categories=1); s.update(["a", "a", "b"])
    >>> list(category_counts(s))
    [('a', 2), ('__other__', 1)]
    """
    yield from sketch.counts.items()
    if sketch.overflow:
        yield semconv.OVERFLOW_CATEGORY, sketch.overflow


# ---- decoding ---------------------------------------------------------------------------


def categorical_sketch(counts: Mapping[str, int]) -> CategoricalSketch:
    """The categorical sketch of per-value counts as :func:`category_counts` encodes them
    (the overflow under :data:`~otel_ml.semconv.OVERFLOW_CATEGORY`; zero and negative
    counts dropped).

    >>> categorical_sketch({"a": 2, "__other__": 1, "b": 0}).to_dict()["counts"]
    {'a': 2}
    """
    kept = {k: int(v) for k, v in counts.items() if k != semconv.OVERFLOW_CATEGORY and v > 0}
    overflow = max(int(counts.get(semconv.OVERFLOW_CATEGORY, 0)), 0)
    return CategoricalSketch(
        max_categories=max(len(kept), DEFAULT_MAX_CATEGORIES), counts=kept, overflow=overflow
    )


def _bound(scale: int, index: int) -> float:
    """Lower edge of exponential bucket ``index`` at ``scale``: ``2 ** (index / 2**scale)``."""
    try:
        return float(2.0 ** math.ldexp(index, -scale))
    except OverflowError:
        return math.inf


def exponential_extremes(b: ExponentialBuckets) -> tuple[float, float]:
    """min/max estimated from the outermost non-empty buckets (a point without min/max).

    >>> b = ExponentialBuckets(0, 0, 1, (1, 0, 1), 0, (), 2, 10.0, math.inf, -math.inf)
    >>> exponential_extremes(b)
    (2.0, 16.0)
    """
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


def _sum_estimate(p: Any) -> float:
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


def bucket_counts(buckets: Any) -> tuple[int, ...]:
    """The counts of a protobuf ``ExponentialHistogramDataPoint.Buckets`` as a tuple.

    When every count is below 128 the packed field holds one byte per count: it is read
    from the serialized message in one step (a few times faster than reading the
    repeated field element by element, which it otherwise does).

    >>> from opentelemetry.proto.metrics.v1.metrics_pb2 import ExponentialHistogramDataPoint
    >>> B = ExponentialHistogramDataPoint.Buckets
    >>> bucket_counts(B(offset=-3, bucket_counts=[1, 0, 127]))
    (1, 0, 127)
    >>> bucket_counts(B(bucket_counts=[128, 5]))
    (128, 5)
    """
    n = len(buckets.bucket_counts)
    if n == 0:
        return ()
    raw = buckets.SerializeToString()
    i = 0
    if raw[0] == 0x08:  # field 1, offset (varint)
        i = 1
        while raw[i] & 0x80:
            i += 1
        i += 1
    if raw[i] == 0x12:  # field 2, bucket_counts (packed): its length, then the counts
        j, length, shift = i + 1, 0, 0
        while True:
            x = raw[j]
            j += 1
            length |= (x & 0x7F) << shift
            shift += 7
            if x < 0x80:
                break
        if length == n and j + n == len(raw):  # n counts in n bytes: one byte each
            return tuple(raw[j:])
    return tuple(buckets.bucket_counts)


def exponential_buckets(p: Any) -> ExponentialBuckets:
    """The fields of a protobuf ``ExponentialHistogramDataPoint``, checked: scale in
    ``[-10, 20]``, at most :data:`MAX_POINT_BUCKETS` buckets per sign, buckets adding up
    to ``count``, finite sum/min/max. Empty buckets at either end are trimmed; a missing
    sum, min or max is estimated from the buckets.

    Raises :class:`InvalidPoint` (the message is the reason) otherwise.
    """
    scale = p.scale
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise InvalidPoint(R_SCALE)
    positive, negative = p.positive, p.negative
    pos = bucket_counts(positive)
    neg = bucket_counts(negative)
    if len(pos) > MAX_POINT_BUCKETS or len(neg) > MAX_POINT_BUCKETS:
        raise InvalidPoint(R_TOO_MANY)
    count = p.count
    if p.zero_count + sum(pos) + sum(neg) != count:
        raise InvalidPoint(R_COUNTS)
    total = float(p.sum) if p.HasField("sum") else _sum_estimate(p)
    has_min, has_max = p.HasField("min"), p.HasField("max")
    mn = float(p.min) if has_min else math.inf
    mx = float(p.max) if has_max else -math.inf
    isfinite = math.isfinite
    if not (isfinite(total) and (isfinite(mn) or not has_min) and (isfinite(mx) or not has_max)):
        raise InvalidPoint(R_NON_FINITE)
    pos_offset = positive.offset
    if pos and not (pos[0] and pos[-1]):
        pos_offset, pos = _trimmed(pos_offset, pos)
    neg_offset = negative.offset
    if neg and not (neg[0] and neg[-1]):
        neg_offset, neg = _trimmed(neg_offset, neg)
    elif not neg:
        neg_offset = 0
    if not pos:
        pos_offset = 0
    fields = ExponentialBuckets(
        scale, p.zero_count, pos_offset, pos, neg_offset, neg, count, total, mn, mx
    )
    if has_min and has_max:
        return fields
    lo, hi = exponential_extremes(fields)
    return dataclasses.replace(fields, min=mn if has_min else lo, max=mx if has_max else hi)
