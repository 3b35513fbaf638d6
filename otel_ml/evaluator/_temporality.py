"""Cumulative metric streams to deltas, per stream, with reset detection.

The evaluator adds points up per window, so it wants DELTA points. otel_ml's own
sketches already travel as DELTA; but the SDK's ordinary instruments
(``ml.predict.calls``, ``ml.predict.duration``, ...) are CUMULATIVE under the OTLP
exporter's default temporality preference, and a Collector may forward either.

A *stream* is (metric, attributes, service.name, service.instance.id, start time).
Keying on the start time keeps apart replicas that share a resource identity and
makes a restarted process (new start time) a new stream. For each cumulative point:

- first point of a stream that started after the converter (``start_time_unix_nano >=
  started_at``): the whole value is new, emitted as one delta;
- first point of an older stream (or one without a start time): kept as the baseline
  only, nothing emitted (as the Collector's ``cumulativetodelta`` processor does). The
  evaluator persists each stream's latest point with the batch (``IngestBatch.stream_state``)
  and its first start time, and restores both after a restart (:meth:`CumulativeToDelta.restore`),
  so a restart neither loses an interval nor counts one twice;
- next points: the difference from the previous point (``start = previous time``);
  a point not newer than the previous one (a late retry) is dropped; a decrease
  (a reset without a new start time) emits the new value whole;
- exponential histograms of different scales are brought to the coarser scale
  before subtracting; a delta's min/max are exact when the cumulative min/max moved
  in the interval, else the edges of its outermost non-empty buckets;
- zero deltas are not emitted.

Memory is bounded: at most ``max_streams`` streams are remembered (least recently
seen forgotten first). DELTA points pass through untouched; deltas from several
replicas of a service simply add up downstream.

The converter's state advances only once the converted batch is stored, so a refused
batch is converted again, identically, when the client retries it. The evaluator's
writer thread converts the batches of one group commit in queue order with
:meth:`CumulativeToDelta.convert_batch` (each continuing the streams where the one
before left them) and commits the state with the transaction; :class:`DeltaSink` does
the same for one batch at a time in front of any other :class:`IngestSink`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import TypeVar

from otel_ml.evaluator._records import (
    CounterPoint,
    ExplicitBuckets,
    HistogramPoint,
    IngestBatch,
    IngestSink,
    SubmitResult,
    Temporality,
)
from otel_ml.sketch import ExponentialBuckets, exponential_extremes

__all__ = [
    "DEFAULT_MAX_STREAMS",
    "CumulativeToDelta",
    "DeltaSink",
    "has_cumulative",
    "subtract_exponential",
]

#: Streams remembered by default (100 models x 50 features x 4 replicas).
DEFAULT_MAX_STREAMS = 20_000

_P = TypeVar("_P", HistogramPoint, CounterPoint)
_StreamKey = tuple[object, ...]


class _Reset(Exception):
    """The cumulative value went down: the stream restarted."""


def _dense(offset: int, counts: Iterable[int], shift: int) -> dict[int, int]:
    out: dict[int, int] = {}
    for i, c in enumerate(counts):
        if c:
            idx = (offset + i) >> shift
            out[idx] = out.get(idx, 0) + c
    return out


def _minus(cur: dict[int, int], prev: dict[int, int]) -> tuple[int, tuple[int, ...]]:
    diff = {i: cur.get(i, 0) - prev.get(i, 0) for i in cur.keys() | prev.keys()}
    if any(v < 0 for v in diff.values()):
        raise _Reset
    nz = [i for i, v in diff.items() if v]
    if not nz:
        return 0, ()
    lo, hi = min(nz), max(nz)
    return lo, tuple(diff.get(i, 0) for i in range(lo, hi + 1))


def subtract_exponential(cur: ExponentialBuckets, prev: ExponentialBuckets) -> ExponentialBuckets:
    """``cur - prev`` for two cumulative exponential histograms of one stream.

    Raises ``ValueError`` when a count went down (a reset).

    >>> from otel_ml.sketch import NumericSketch
    >>> a = NumericSketch(); a.update([1.0, 2.0])
    >>> b = a.copy(); b.update([4.0, 0.5])
    >>> d = subtract_exponential(b.to_exponential(), a.to_exponential())
    >>> d.count, d.sum, d.min, d.max
    (2, 4.5, 0.5, 4.0)
    """
    scale = min(cur.scale, prev.scale)
    dc, dp = cur.scale - scale, prev.scale - scale
    try:
        pos_off, pos = _minus(
            _dense(cur.positive_offset, cur.positive_counts, dc),
            _dense(prev.positive_offset, prev.positive_counts, dp),
        )
        neg_off, neg = _minus(
            _dense(cur.negative_offset, cur.negative_counts, dc),
            _dense(prev.negative_offset, prev.negative_counts, dp),
        )
    except _Reset:
        raise ValueError("cumulative bucket count decreased") from None
    zero = cur.zero_count - prev.zero_count
    count = cur.count - prev.count
    if zero < 0 or count < 0:
        raise ValueError("cumulative count decreased")
    delta = ExponentialBuckets(
        scale=scale, zero_count=zero, positive_offset=pos_off, positive_counts=pos,
        negative_offset=neg_off, negative_counts=neg, count=count,
        sum=cur.sum - prev.sum, min=cur.min, max=cur.max,
    )
    lo, hi = exponential_extremes(delta)
    return dataclasses.replace(
        delta,
        min=cur.min if cur.min < prev.min else max(lo, cur.min),
        max=cur.max if cur.max > prev.max else min(hi, cur.max),
    )


def _subtract_explicit(cur: ExplicitBuckets, prev: ExplicitBuckets) -> ExplicitBuckets:
    if cur.bounds != prev.bounds:
        raise ValueError("bucket bounds changed")
    counts = tuple(a - b for a, b in zip(cur.counts, prev.counts, strict=True))
    if any(c < 0 for c in counts) or cur.count < prev.count:
        raise ValueError("cumulative bucket count decreased")

    def moved(a: float | None, b: float | None, lower: bool) -> float | None:
        if a is None or b is None:
            return None
        return a if (a < b if lower else a > b) else None

    return ExplicitBuckets(
        bounds=cur.bounds, counts=counts, count=cur.count - prev.count, sum=cur.sum - prev.sum,
        min=moved(cur.min, prev.min, True), max=moved(cur.max, prev.max, False),
    )


def _is_zero(p: HistogramPoint | CounterPoint) -> bool:
    return p.value == 0 if isinstance(p, CounterPoint) else p.buckets.count == 0


class CumulativeToDelta:
    """Differencing state for cumulative streams (see the module rules). Not thread-safe."""

    def __init__(
        self, *, started_at_unix_nano: int | None = None, max_streams: int = DEFAULT_MAX_STREAMS
    ) -> None:
        self.started_at_unix_nano = (
            time.time_ns() if started_at_unix_nano is None else started_at_unix_nano
        )
        self.max_streams = max_streams
        self._last: OrderedDict[_StreamKey, HistogramPoint | CounterPoint] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    @staticmethod
    def _key(p: HistogramPoint | CounterPoint) -> _StreamKey:
        return (type(p).__name__, p.metric, p.attributes, p.resource, p.start_time_unix_nano)

    def convert(
        self,
        points: Iterable[_P],
        pending: dict[_StreamKey, HistogramPoint | CounterPoint] | None = None,
    ) -> tuple[list[_P], dict[_StreamKey, HistogramPoint | CounterPoint]]:
        """Deltas for ``points`` and the state update to :meth:`commit` once they are stored.

        ``pending`` holds updates of batches converted before these points but not
        committed yet (earlier batches of the same group commit): a stream continues from
        there.
        """
        out: list[_P] = []
        updates: dict[_StreamKey, HistogramPoint | CounterPoint] = {}
        for p in points:
            if p.temporality is Temporality.DELTA:
                out.append(p)
                continue
            key = self._key(p)
            prev = updates.get(key) or (pending or {}).get(key) or self._last.get(key)
            delta = self._delta(p, prev)
            if prev is not None and p.time_unix_nano <= prev.time_unix_nano:
                continue  # late duplicate: already covered by a newer cumulative point
            updates[key] = p
            if delta is not None and not _is_zero(delta):
                out.append(delta)
        return out, updates

    def _delta(self, p: _P, prev: HistogramPoint | CounterPoint | None) -> _P | None:
        whole = dataclasses.replace(p, temporality=Temporality.DELTA)
        if prev is None:
            new = p.start_time_unix_nano and p.start_time_unix_nano >= self.started_at_unix_nano
            return whole if new else None
        if p.time_unix_nano <= prev.time_unix_nano:
            return None
        try:
            if isinstance(p, CounterPoint):
                assert isinstance(prev, CounterPoint)
                if p.value < prev.value:
                    raise ValueError("counter decreased")
                diff: _P = dataclasses.replace(whole, value=p.value - prev.value)
            else:
                assert isinstance(prev, HistogramPoint)
                if isinstance(p.buckets, ExponentialBuckets) and isinstance(
                    prev.buckets, ExponentialBuckets
                ):
                    buckets: ExponentialBuckets | ExplicitBuckets = subtract_exponential(
                        p.buckets, prev.buckets
                    )
                elif isinstance(p.buckets, ExplicitBuckets) and isinstance(
                    prev.buckets, ExplicitBuckets
                ):
                    buckets = _subtract_explicit(p.buckets, prev.buckets)
                else:
                    raise ValueError("histogram kind changed")
                diff = dataclasses.replace(whole, buckets=buckets)
        except ValueError:
            return whole  # a reset: everything since the stream's start is new
        return dataclasses.replace(diff, start_time_unix_nano=prev.time_unix_nano)

    def convert_batch(
        self, batch: IngestBatch, pending: dict[_StreamKey, HistogramPoint | CounterPoint]
    ) -> IngestBatch:
        """``batch`` with its cumulative points turned into deltas (``batch`` itself when it
        has none) and their streams' latest points as its ``stream_state``; the state
        update goes into ``pending``, to :meth:`commit` once the batch is stored.

        Batches converted one after the other into the same ``pending`` chain: the second
        one's deltas start where the first one's stream points left off.
        """
        if not has_cumulative(batch):
            return batch
        histograms, h_updates = self.convert(batch.histograms, pending)
        pending.update(h_updates)
        counters, c_updates = self.convert(batch.counters, pending)
        pending.update(c_updates)
        return dataclasses.replace(
            batch,
            histograms=tuple(histograms),
            counters=tuple(counters),
            stream_state=(*h_updates.values(), *c_updates.values()),
        )

    def restore(self, points: Iterable[HistogramPoint | CounterPoint]) -> None:
        """Start from stored cumulative points (oldest first), e.g. after a restart."""
        self.commit({self._key(p): p for p in points})

    def commit(self, updates: dict[_StreamKey, HistogramPoint | CounterPoint]) -> None:
        """Remember the cumulative points of a stored batch; forget the oldest streams."""
        for key, p in updates.items():
            self._last[key] = p
            self._last.move_to_end(key)
        while len(self._last) > self.max_streams:
            self._last.popitem(last=False)


def has_cumulative(batch: IngestBatch) -> bool:
    """Whether any metric point of ``batch`` is CUMULATIVE."""
    return any(h.temporality is Temporality.CUMULATIVE for h in batch.histograms) or any(
        c.temporality is Temporality.CUMULATIVE for c in batch.counters
    )


class DeltaSink:
    """An :class:`IngestSink` that turns cumulative points into deltas for ``inner``.

    Batches without cumulative points go straight through (concurrently); batches
    with some are converted and submitted one at a time, and the converter advances
    only when ``inner`` accepted. (The evaluator does not use it: its
    :class:`~otel_ml.evaluator._service.EvaluatorService` converts in its writer thread,
    so batches with cumulative points share group commits too.)
    """

    def __init__(self, inner: IngestSink, converter: CumulativeToDelta | None = None) -> None:
        self.inner = inner
        self.converter = converter if converter is not None else CumulativeToDelta()
        self._lock = threading.Lock()

    def submit(self, batch: IngestBatch) -> SubmitResult:
        if not has_cumulative(batch):
            return self.inner.submit(batch)
        with self._lock:
            pending: dict[_StreamKey, HistogramPoint | CounterPoint] = {}
            converted = self.converter.convert_batch(batch, pending)
            result = (
                self.inner.submit(converted) if converted.n_records else SubmitResult.ok()
            )
            if result.accepted:
                self.converter.commit(pending)
            return result
