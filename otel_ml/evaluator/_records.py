"""What the OTLP receiver hands to the evaluator: typed records decoded from OTLP.

The receiver (``_otlp_http``, ``_otlp_grpc``) decodes each request into one
:class:`IngestBatch` and passes it to an :class:`IngestSink`; it answers the
client with success only after :meth:`IngestSink.submit` returned an accepted
:class:`SubmitResult` (the sink has made the batch durable). A sink that cannot
keep up returns :meth:`SubmitResult.overloaded` and the client is told to retry
after ``retry_after`` seconds (HTTP 503 + ``Retry-After``, gRPC ``UNAVAILABLE``
+ ``RetryInfo``).

Only data that belongs to otel_ml is decoded: metric points that carry
``ml.model.name`` (on the point, or else on the resource) and log records whose
event name is ``ml.prediction`` or ``ml.outcome``. Everything else is *ignored*
(counted in :attr:`IngestBatch.ignored`, not an error: a Collector may forward a
whole pipeline). Data that is ours but unusable (a histogram whose buckets do
not add up to its count, an event without ids, ...) is *rejected*: counted in
:attr:`IngestBatch.rejected` with a reason, and reported to the client as an
OTLP partial success.

Points arrive with the temporality the client chose. Wrap the sink in
:class:`otel_ml.evaluator.DeltaSink` (``_temporality``) to receive DELTA points
only: cumulative streams are differenced per stream, with reset detection.

Examples
--------
>>> from otel_ml.sketch import NumericSketch
>>> sketch = NumericSketch(); sketch.update([0.5, 1.5, 2.5])
>>> point = HistogramPoint(
...     metric="ml.feature.values", model="churn", version="3", feature="age",
...     attributes=(("ml.feature.name", "age"), ("ml.model.name", "churn"),
...                 ("ml.model.version", "3")),
...     resource=ResourceIdentity("scoring-api", "pod-1"),
...     start_time_unix_nano=0, time_unix_nano=60_000_000_000,
...     temporality=Temporality.DELTA, buckets=sketch.to_exponential())
>>> point.buckets.count
3
>>> batch = IngestBatch(batch_id="b1", signal=Signal.METRICS, histograms=(point,))
>>> batch.n_records, batch.n_rejected
(1, 0)
>>> SubmitResult.overloaded(2.0).accepted
False
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from otel_ml.sketch import ExponentialBuckets

__all__ = [
    "AttributeValue",
    "Attributes",
    "CounterPoint",
    "DroppedPredictions",
    "ExplicitBuckets",
    "HistogramPoint",
    "IngestBatch",
    "IngestSink",
    "OutcomeEvent",
    "PredictionEvent",
    "Rejection",
    "ResourceIdentity",
    "Signal",
    "SubmitResult",
    "Temporality",
    "attribute",
]

#: An OTLP attribute value as decoded: scalars, or a tuple for an array value.
AttributeValue = str | bool | int | float | bytes | tuple[str | bool | int | float, ...]
#: Point attributes, sorted by key (hashable, usable as part of a stream key).
Attributes = tuple[tuple[str, AttributeValue], ...]


def attribute(attributes: Attributes, key: str) -> AttributeValue | None:
    """The value of ``key`` in sorted ``attributes``, or ``None``.

    >>> attribute((("a", 1), ("b", "x")), "b")
    'x'
    >>> attribute((("a", 1),), "z") is None
    True
    """
    for k, v in attributes:
        if k == key:
            return v
    return None


class Signal(enum.Enum):
    """The OTLP signal a request carried."""

    METRICS = "metrics"
    LOGS = "logs"
    TRACES = "traces"


class Temporality(enum.Enum):
    """Aggregation temporality of a metric point (OTLP ``AggregationTemporality``)."""

    DELTA = "delta"
    CUMULATIVE = "cumulative"


@dataclass(frozen=True, slots=True)
class ResourceIdentity:
    """Who sent a point: the resource's ``service.name`` and ``service.instance.id``.

    Either may be ``""`` when the resource does not carry it. Points from several
    replicas of one service differ only here; their deltas add up.
    """

    service_name: str
    service_instance_id: str = ""


@dataclass(frozen=True, slots=True)
class ExplicitBuckets:
    """The fields of an OTLP explicit-bucket ``HistogramDataPoint`` (e.g. ``ml.predict.duration``).

    ``counts`` has ``len(bounds) + 1`` entries (the last is the overflow bucket
    ``(bounds[-1], +inf)``); ``count == sum(counts)``. ``min``/``max`` are ``None``
    when the point did not carry them.
    """

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    sum: float
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True, slots=True)
class HistogramPoint:
    """One histogram data point of a model signal.

    ``buckets`` is :class:`~otel_ml.stats.ExponentialBuckets` for an OTLP
    ``ExponentialHistogram`` (``ml.feature.values``, ``ml.prediction.values``;
    rebuild with ``NumericSketch.from_exponential(point.buckets)``) and
    :class:`ExplicitBuckets` for a classic ``Histogram`` (``ml.predict.duration``).
    An exponential point without min/max gets the edges of its outermost
    non-empty buckets; an empty one gets ``min=inf, max=-inf`` (as an empty
    ``NumericSketch``).

    ``attributes`` holds all the point's attributes (including ``ml.model.name``
    and friends), sorted; ``model``/``version``/``feature`` are copied out of
    them for convenience (``version``/``feature`` are ``None`` when absent).
    """

    metric: str
    model: str
    version: str | None
    feature: str | None
    attributes: Attributes
    resource: ResourceIdentity
    start_time_unix_nano: int
    time_unix_nano: int
    temporality: Temporality
    buckets: ExponentialBuckets | ExplicitBuckets


@dataclass(frozen=True, slots=True)
class CounterPoint:
    """One monotonic Sum data point of a model signal (``ml.predict.calls``, ...).

    ``value`` is a float even for an integer sum (``as_int`` in OTLP).
    Non-monotonic sums and gauges are not model signals and are ignored.
    """

    metric: str
    model: str
    version: str | None
    feature: str | None
    attributes: Attributes
    resource: ResourceIdentity
    start_time_unix_nano: int
    time_unix_nano: int
    temporality: Temporality
    value: float


@dataclass(frozen=True, slots=True)
class PredictionEvent:
    """An ``ml.prediction`` log event: the ids, scores and/or labels of one predict call.

    ``values`` (scores or regression values) and ``labels`` (predicted classes),
    when present, have one entry per id. ``time_unix_nano`` is the record's time
    (its observed time when the record had none). ``trace_id``/``span_id`` are
    lower-case hex (``""`` when the record was not emitted inside a span).
    """

    model: str
    version: str | None
    ids: tuple[str, ...]
    values: tuple[float, ...] | None
    labels: tuple[str, ...] | None
    time_unix_nano: int
    observed_time_unix_nano: int
    trace_id: str
    span_id: str
    resource: ResourceIdentity = ResourceIdentity("")


@dataclass(frozen=True, slots=True)
class DroppedPredictions:
    """An ``ml.prediction.dropped`` log event: rows an SDK did not send (byte budget spent).

    ``rows`` counts them all; ``ranges`` lists the generated ids among them as
    ``(prefix, first, last)``: the ids ``<prefix>-<first>`` ... ``<prefix>-<last>``.
    The other ``rows - sum(last - first + 1)`` were user-given ids, only counted.
    """

    model: str
    version: str | None
    rows: int
    ranges: tuple[tuple[str, int, int], ...]
    time_unix_nano: int
    resource: ResourceIdentity = ResourceIdentity("")


@dataclass(frozen=True, slots=True)
class OutcomeEvent:
    """An ``ml.outcome`` log event: ground truth for earlier predictions, one actual per id.

    ``actuals`` are strings for classes and floats for regression values.
    """

    model: str
    version: str | None
    ids: tuple[str, ...]
    actuals: tuple[str, ...] | tuple[float, ...]
    time_unix_nano: int
    resource: ResourceIdentity = ResourceIdentity("")


@dataclass(frozen=True, slots=True)
class Rejection:
    """``count`` points or log records rejected for one ``reason``."""

    reason: str
    count: int


@dataclass(frozen=True, slots=True)
class IngestBatch:
    """Everything decoded from one OTLP request.

    ``batch_id`` identifies the request content (a SHA-256 of the signal and the
    decompressed body): an exporter that retries a request sends the same body,
    so a sink can drop a batch it has already stored (idempotent ingestion).
    ``ignored`` counts points/records that are not otel_ml's; ``rejected`` lists
    ours that could not be used, by reason. ``stream_state`` holds the latest
    cumulative point of each stream the batch's deltas were computed from; the store
    keeps them with the batch, so the differencing survives a restart.
    """

    batch_id: str
    signal: Signal
    histograms: tuple[HistogramPoint, ...] = ()
    counters: tuple[CounterPoint, ...] = ()
    predictions: tuple[PredictionEvent, ...] = ()
    outcomes: tuple[OutcomeEvent, ...] = ()
    #: ``ml.prediction.dropped`` reports (rows an SDK did not send)
    dropped: tuple[DroppedPredictions, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    ignored: int = 0
    received_time_unix_nano: int = 0
    stream_state: tuple[HistogramPoint | CounterPoint, ...] = ()

    @property
    def n_records(self) -> int:
        """Number of decoded points and events (what the sink stores)."""
        return (
            len(self.histograms)
            + len(self.counters)
            + len(self.predictions)
            + len(self.outcomes)
            + len(self.dropped)
        )

    @property
    def n_rejected(self) -> int:
        """Number of rejected points/records, all reasons together."""
        return sum(r.count for r in self.rejected)

    def rejection_counts(self) -> Mapping[str, int]:
        """Rejected counts by reason.

        >>> IngestBatch("x", Signal.LOGS, rejected=(Rejection("no ids", 2),)).rejection_counts()
        {'no ids': 2}
        """
        out: dict[str, int] = {}
        for r in self.rejected:
            out[r.reason] = out.get(r.reason, 0) + r.count
        return out


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """What a sink answers to :meth:`IngestSink.submit`.

    ``accepted`` means the batch is durable (or was already stored: a duplicate
    ``batch_id``). Otherwise the sink is overloaded and the client should retry
    after ``retry_after`` seconds; ``reason`` is logged and counted, not sent.

    An accepted batch may still have had records the sink could not use
    (``rejected``: e.g. labels that do not fit their model's task; counted as
    rejected in the OTLP partial success) or entries it ignored (``ignored``:
    e.g. a second label for an already labelled id; named in the partial
    success message only, since their records were used).
    """

    accepted: bool
    retry_after: float = 0.0
    reason: str = ""
    rejected: tuple[Rejection, ...] = ()
    ignored: tuple[Rejection, ...] = ()

    @classmethod
    def ok(
        cls, *, rejected: tuple[Rejection, ...] = (), ignored: tuple[Rejection, ...] = ()
    ) -> SubmitResult:
        """The batch is stored (``rejected``/``ignored``: what of it could not be used)."""
        return cls(accepted=True, rejected=rejected, ignored=ignored)

    @classmethod
    def overloaded(cls, retry_after: float = 1.0, reason: str = "overloaded") -> SubmitResult:
        """The sink cannot take the batch now; retry after ``retry_after`` seconds."""
        return cls(accepted=False, retry_after=retry_after, reason=reason)


@runtime_checkable
class IngestSink(Protocol):
    """Where the receiver delivers decoded batches (the evaluator's store).

    ``submit`` is called from the receivers' worker threads, possibly
    concurrently; it must be thread-safe, return quickly (shed load with
    :meth:`SubmitResult.overloaded` instead of blocking for long) and return an
    accepted result only once the batch is durable. It is never called with a
    batch that has no records. An exception from ``submit`` is logged, counted
    and answered as "unavailable, retry later".
    """

    def submit(self, batch: IngestBatch) -> SubmitResult: ...

