"""What the store and the statistics can carry: bounds checked on every decoded record.

OTLP's types allow values the evaluator cannot hold: a ``uint64`` bucket count past
the ``int64`` sketches, a ``double`` sum that overflows once added to another, a start
time after the point's time, a timestamp in the year 2200. Such a record is *rejected*
with a reason (an OTLP partial success, counted on
``otel_ml.evaluator.points.rejected``); the other records of the request are stored.

Per record (:func:`bound_batch`, applied by the receiver right after decoding, before
cumulative streams are differenced):

- a histogram's ``count`` and a counter's value are at most :data:`MAX_COUNT`
  (``2**53``: exact in a float64, far inside the ``int64`` bucket arrays);
- a histogram's ``|sum|`` is at most :data:`MAX_ABS_SUM` (``1e300``);
- ``start_time_unix_nano`` is not after ``time_unix_nano`` (OTLP requires it; ``0``
  means unknown);
- the time is within the evaluator's clock ``- max_past`` .. ``+ max_future``
  (:class:`TimeBounds`): metric points and prediction events open windows at their
  time, so a point from years ago would open a window in that past, and one from the
  year 2200 a window that is never closed, evaluated or expired. Outcome (label)
  events, which open no window, are bounded by the label TTL in the past.

Across merges the same two bounds hold for every stored window: the store refuses a
point whose count or sum would take its window's running total past them
(:func:`merge_rejection`), with a reason, keeping the batch's other points.

Examples
--------
>>> merge_rejection(MAX_COUNT - 1, 0.0, 1, 1.0) is None
True
>>> merge_rejection(MAX_COUNT, 0.0, 1, 1.0)
'count of the window would exceed 2**53'
>>> merge_rejection(5, 1e300, 1, 1e300)
'sum of the window would exceed 1e300 in magnitude'
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from otel_ml.evaluator._records import (
    CounterPoint,
    HistogramPoint,
    IngestBatch,
    OutcomeEvent,
    PredictionEvent,
    Rejection,
)

__all__ = [
    "MAX_ABS_SUM",
    "MAX_COUNT",
    "TimeBounds",
    "bound_batch",
    "merge_rejection",
]

#: Largest count of one point, and of one window after merging (rows, bucket counts, calls).
MAX_COUNT = 2**53
#: Largest magnitude of a histogram's sum, of one point and of one merged window.
MAX_ABS_SUM = 1e300

R_COUNT = "count above 2**53"
R_SUM = "sum above 1e300 in magnitude"
R_START = "start_time_unix_nano after time_unix_nano"
R_PAST = "timestamp older than limits.max_past"
R_FUTURE = "timestamp later than limits.max_future ahead of the evaluator's clock"
R_LABEL_PAST = "outcome timestamp older than labels.ttl"
R_MERGE_COUNT = "count of the window would exceed 2**53"
R_MERGE_SUM = "sum of the window would exceed 1e300 in magnitude"

_NS = 1_000_000_000
_R = TypeVar("_R", HistogramPoint, CounterPoint, PredictionEvent, OutcomeEvent)


@dataclass(frozen=True)
class TimeBounds:
    """Records are accepted from ``max_past`` seconds before the evaluator's clock to
    ``max_future`` seconds after it; outcome events from ``label_ttl`` seconds before."""

    max_past: float = 86400.0
    max_future: float = 600.0
    label_ttl: float = 7 * 86400.0


def merge_rejection(count: int, total: float, add_count: int, add_sum: float) -> str | None:
    """Why ``add_count`` values summing to ``add_sum`` cannot join a window holding ``count``
    values summing to ``total`` (``None``: they can)."""
    if count + add_count > MAX_COUNT:
        return R_MERGE_COUNT
    merged = total + add_sum
    if not math.isfinite(merged) or abs(merged) > MAX_ABS_SUM:
        return R_MERGE_SUM
    return None


def _point_rejection(p: HistogramPoint | CounterPoint, lo: int, hi: int) -> str | None:
    if isinstance(p, CounterPoint):
        if p.value > MAX_COUNT:
            return R_COUNT
    else:
        if p.buckets.count > MAX_COUNT:
            return R_COUNT
        if abs(p.buckets.sum) > MAX_ABS_SUM:
            return R_SUM
    if p.start_time_unix_nano > p.time_unix_nano:
        return R_START
    return _time_rejection(p.time_unix_nano, lo, hi, R_PAST)


def _time_rejection(t: int, lo: int, hi: int, past: str) -> str | None:
    if t < lo:
        return past
    if t > hi:
        return R_FUTURE
    return None


def _keep(
    records: tuple[_R, ...], reason_of: Callable[[_R], str | None], rejected: Counter[str]
) -> tuple[_R, ...]:
    out = []
    for r in records:
        reason = reason_of(r)
        if reason is None:
            out.append(r)
        else:
            rejected[reason] += 1
    return tuple(out)


def bound_batch(
    batch: IngestBatch, *, now_unix_nano: int, bounds: TimeBounds | None
) -> IngestBatch:
    """``batch`` without the records outside the bounds (see the module docstring); those
    are added to ``batch.rejected`` by reason. Returns ``batch`` itself when all fit.

    ``bounds=None`` checks counts, sums and start times only (a receiver used without
    an evaluator clock policy).
    """
    if bounds is None:
        lo = label_lo = 0
        hi = 2**64
    else:
        lo = now_unix_nano - int(bounds.max_past * _NS)
        hi = now_unix_nano + int(bounds.max_future * _NS)
        label_lo = now_unix_nano - int(bounds.label_ttl * _NS)
    rejected: Counter[str] = Counter()
    histograms = _keep(batch.histograms, lambda p: _point_rejection(p, lo, hi), rejected)
    counters = _keep(batch.counters, lambda p: _point_rejection(p, lo, hi), rejected)
    predictions = _keep(
        batch.predictions, lambda e: _time_rejection(e.time_unix_nano, lo, hi, R_PAST), rejected
    )
    outcomes = _keep(
        batch.outcomes,
        lambda e: _time_rejection(e.time_unix_nano, label_lo, hi, R_LABEL_PAST),
        rejected,
    )
    if not rejected:
        return batch
    for r in batch.rejected:
        rejected[r.reason] += r.count
    return dataclasses.replace(
        batch,
        histograms=histograms,
        counters=counters,
        predictions=predictions,
        outcomes=outcomes,
        rejected=tuple(Rejection(r, n) for r, n in sorted(rejected.items())),
    )
