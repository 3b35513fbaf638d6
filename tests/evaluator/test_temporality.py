"""Cumulative -> delta per stream: real SDK cumulative streams, resets, replicas, retries."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import Counter as CounterInstrument
from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from otlp_samples import CUMULATIVE, MODEL, RecordingSink

from otel_ml import semconv
from otel_ml.evaluator._decode import decode_body
from otel_ml.evaluator._records import (
    CounterPoint,
    ExplicitBuckets,
    HistogramPoint,
    IngestBatch,
    ResourceIdentity,
    Signal,
    Temporality,
)
from otel_ml.evaluator._temporality import CumulativeToDelta, DeltaSink, subtract_exponential
from otel_ml.sketch import ExponentialBuckets, NumericSketch

ATTRS = ((semconv.ML_FEATURE_NAME, "x"), (semconv.ML_MODEL_NAME, "m"))


def _hist(buckets: ExponentialBuckets | ExplicitBuckets, *, start: int, time: int,
          instance: str = "a") -> HistogramPoint:
    return HistogramPoint(
        metric=semconv.METRIC_FEATURE_VALUES, model="m", version=None, feature="x",
        attributes=ATTRS, resource=ResourceIdentity("svc", instance),
        start_time_unix_nano=start, time_unix_nano=time,
        temporality=Temporality.CUMULATIVE, buckets=buckets,
    )


def _counter(value: float, *, start: int, time: int, instance: str = "a") -> CounterPoint:
    return CounterPoint(
        metric=semconv.METRIC_PREDICT_CALLS, model="m", version=None, feature=None,
        attributes=ATTRS[1:], resource=ResourceIdentity("svc", instance),
        start_time_unix_nano=start, time_unix_nano=time,
        temporality=Temporality.CUMULATIVE, value=value,
    )


def _sketch(values: list[float] | np.ndarray) -> NumericSketch:
    s = NumericSketch()
    s.update(values)
    return s


def test_real_sdk_cumulative_exponential_and_counter_streams() -> None:
    """Three collections of a real cumulative SDK pipeline; the third forces a downscale."""
    converter = CumulativeToDelta(started_at_unix_nano=0)
    sink = RecordingSink()
    delta_sink = DeltaSink(sink, converter)
    reader = InMemoryMetricReader(
        preferred_temporality={HistogramInstrument: CUMULATIVE, CounterInstrument: CUMULATIVE}
    )
    provider = MeterProvider(
        resource=Resource({"service.name": "api", "service.instance.id": "p1"}),
        metric_readers=[reader],
        views=[View(instrument_name=semconv.METRIC_FEATURE_VALUES,
                    aggregation=ExponentialBucketHistogramAggregation(max_size=160))],
    )
    meter = provider.get_meter("otel_ml")
    hist = meter.create_histogram(semconv.METRIC_FEATURE_VALUES)
    calls = meter.create_counter(semconv.METRIC_PREDICT_CALLS)
    attrs = {**MODEL, semconv.ML_FEATURE_NAME: "x"}
    rng = np.random.default_rng(5)
    batches = [rng.uniform(1, 2, 300), rng.uniform(1, 2, 200), rng.uniform(0.001, 1000, 100)]
    for i, values in enumerate(batches):
        for v in values:
            hist.record(float(v), attrs)
        calls.add(i + 1, MODEL)
        data = reader.get_metrics_data()
        assert data is not None
        body = encode_metrics(data).SerializeToString()
        result = delta_sink.submit(decode_body(Signal.METRICS, body, json=False))
        assert result.accepted
    provider.shutdown()
    deltas = sink.histograms()
    assert len(deltas) == 3 and all(d.temporality is Temporality.DELTA for d in deltas)
    assert deltas[1].start_time_unix_nano == deltas[0].time_unix_nano
    for delta, values in zip(deltas, batches, strict=True):
        b = delta.buckets
        assert isinstance(b, ExponentialBuckets)
        assert b.count == len(values) and b.sum == pytest.approx(values.sum())
        # each delta holds exactly that interval's values, at the delta's scale
        expected = _sketch(values).downscaled(b.scale).to_exponential()
        assert (b.positive_offset, b.positive_counts) == (
            expected.positive_offset, expected.positive_counts
        )
    assert deltas[2].buckets.scale < deltas[0].buckets.scale  # type: ignore[union-attr]
    assert [c.value for c in sink.counters()] == [1.0, 2.0, 3.0]


def test_streams_older_than_the_converter_start_are_a_baseline() -> None:
    conv = CumulativeToDelta(started_at_unix_nano=1_000)
    first, _ = conv.convert([_counter(50, start=500, time=2_000)])
    assert first == []  # may have been counted before a restart: baseline only
    conv.commit(_)
    out, updates = conv.convert([_counter(58, start=500, time=3_000)])
    assert [(c.value, c.start_time_unix_nano, c.time_unix_nano) for c in out] == [
        (8.0, 2_000, 3_000)
    ]
    no_start, _ = conv.convert([_counter(5, start=0, time=3_000, instance="b")])
    assert no_start == []
    new, _ = conv.convert([_counter(5, start=1_500, time=3_000, instance="c")])
    assert [c.value for c in new] == [5.0]


def test_resets_late_points_and_zero_deltas() -> None:
    conv = CumulativeToDelta(started_at_unix_nano=0)

    def step(point: CounterPoint) -> list[float]:
        out, updates = conv.convert([point])
        conv.commit(updates)
        return [c.value for c in out]

    assert step(_counter(10, start=100, time=200)) == [10.0]
    assert step(_counter(10, start=100, time=300)) == []  # nothing new
    assert step(_counter(4, start=100, time=400)) == [4.0]  # went down: a reset
    assert step(_counter(3, start=100, time=350)) == []  # older than the last point
    assert step(_counter(2, start=450, time=500)) == [2.0]  # restarted process
    assert step(_counter(7, start=100, time=600)) == [3.0]  # the old stream is still known


def test_replicas_with_the_same_identity_stay_apart_by_start_time() -> None:
    conv = CumulativeToDelta(started_at_unix_nano=0)
    total = 0.0
    for t in range(1, 4):
        out, updates = conv.convert(
            [_counter(10 * t, start=100, time=1000 * t), _counter(7 * t, start=150, time=1000 * t)]
        )
        conv.commit(updates)
        total += sum(c.value for c in out)
    assert total == 30 + 21


def test_explicit_histograms() -> None:
    conv = CumulativeToDelta(started_at_unix_nano=0)
    a = ExplicitBuckets((1.0, 2.0), (1, 2, 0), 3, 4.0, 0.5, 1.9)
    b = ExplicitBuckets((1.0, 2.0), (1, 4, 1), 6, 12.0, 0.5, 7.0)
    out, updates = conv.convert([_hist(a, start=10, time=20)])
    conv.commit(updates)
    out, updates = conv.convert([_hist(b, start=10, time=30)])
    (d,) = out
    assert d.buckets == ExplicitBuckets((1.0, 2.0), (0, 2, 1), 3, 8.0, None, 7.0)
    changed = ExplicitBuckets((5.0,), (3, 4), 7, 20.0)
    conv.commit(updates)
    (whole,), _ = conv.convert([_hist(changed, start=10, time=40)])
    assert whole.buckets == changed  # bounds changed: treated as a reset


def test_refused_batch_does_not_advance_the_state() -> None:
    sink = RecordingSink(refuse=1)
    delta_sink = DeltaSink(sink, CumulativeToDelta(started_at_unix_nano=0))
    first = IngestBatch("b1", Signal.METRICS, counters=(_counter(5, start=1, time=10),))
    second = IngestBatch("b2", Signal.METRICS, counters=(_counter(9, start=1, time=20),))
    assert not delta_sink.submit(first).accepted  # refused: state unchanged
    assert delta_sink.submit(first).accepted  # the client's retry
    assert delta_sink.submit(second).accepted
    assert delta_sink.submit(second).accepted  # a duplicate: no new delta, nothing submitted
    assert [c.value for c in sink.counters()] == [5.0, 4.0]
    assert [b.batch_id for b in sink.batches] == ["b1", "b2"]


def test_delta_points_pass_through_and_memory_is_bounded() -> None:
    conv = CumulativeToDelta(started_at_unix_nano=0, max_streams=10)
    delta = dataclasses.replace(_counter(3, start=1, time=2), temporality=Temporality.DELTA)
    out, updates = conv.convert([delta])
    assert out == [delta] and updates == {}
    for i in range(50):
        _, updates = conv.convert([_counter(1, start=1, time=2, instance=str(i))])
        conv.commit(updates)
    assert len(conv) == 10


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False), max_size=30),
        min_size=1, max_size=6,
    )
)
def test_deltas_add_back_up_to_the_cumulative_stream(steps: list[list[float]]) -> None:
    conv = CumulativeToDelta(started_at_unix_nano=0)
    cumulative = NumericSketch()
    merged = NumericSketch()
    for t, values in enumerate(steps, start=1):
        cumulative.update(values)
        out, updates = conv.convert([_hist(cumulative.to_exponential(), start=1, time=t * 10)])
        conv.commit(updates)
        for d in out:
            assert isinstance(d.buckets, ExponentialBuckets) and d.buckets.count > 0
            assert d.buckets.count == len(values)
            merged.merge(NumericSketch.from_exponential(d.buckets))
    final, got = cumulative.to_exponential(), merged.to_exponential()
    if final.count == 0:
        assert got.count == 0
        return
    got = merged.downscaled(final.scale).to_exponential()
    assert dataclasses.replace(got, sum=0.0) == dataclasses.replace(final, sum=0.0)
    assert got.sum == pytest.approx(final.sum, rel=1e-9, abs=1e-6)


def test_subtract_exponential_detects_a_decrease() -> None:
    small, big = _sketch([1.0]).to_exponential(), _sketch([1.0, 2.0]).to_exponential()
    with pytest.raises(ValueError):
        subtract_exponential(small, big)


def test_stream_state_is_stored_with_the_batch_and_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exponential, explicit and counter streams resume from the store after a restart
    (a new converter started later, with the stored state): no interval lost or repeated."""
    from otel_ml.evaluator._store import Store
    from otel_ml.evaluator._windows import Windowing

    exp1 = _sketch([1.0, 2.0, -3.0]).to_exponential()
    exp2 = _sketch([1.0, 2.0, -3.0, 5.0, 0.0]).to_exponential()
    expl1 = ExplicitBuckets((1.0, 2.0), (1, 2, 0), 3, 4.0, 0.5, 1.9)
    expl2 = ExplicitBuckets((1.0, 2.0), (1, 4, 1), 6, 12.0, 0.5, 7.0)
    store = Store(tmp_path / "s.db", Windowing(60.0, 5.0))
    sink = DeltaSink(_StoreSink(store), CumulativeToDelta(started_at_unix_nano=0))
    first = (_hist(exp1, start=5, time=10), _hist(expl1, start=5, time=10, instance="b"))
    assert sink.submit(IngestBatch("b1", Signal.METRICS, histograms=first,
                                   counters=(_counter(4, start=5, time=10),))).accepted
    store.close()

    store = Store(tmp_path / "s.db", Windowing(60.0, 5.0))
    restored = store.stream_state(100)
    assert set(restored) == {*first, _counter(4, start=5, time=10)}
    conv = CumulativeToDelta(started_at_unix_nano=1_000)  # the streams look old to it
    conv.restore(restored)
    out, _ = conv.convert([_hist(exp2, start=5, time=20), _hist(expl2, start=5, time=20,
                                                                 instance="b")])
    by_kind = {type(p.buckets).__name__: p.buckets for p in out}
    assert NumericSketch.from_exponential(by_kind["ExponentialBuckets"]).count == 2
    assert by_kind["ExplicitBuckets"].counts == (0, 2, 1)
    (calls,), _ = conv.convert([_counter(9, start=5, time=20)])
    assert calls.value == 5.0
    # bounded: housekeeping and loading keep the most recent streams only
    monkeypatch.setattr("otel_ml.evaluator._store.DEFAULT_MAX_STREAMS", 2)
    store.housekeep(0.0, retention=1e9)
    assert len(store.stream_state(100)) == 2
    assert store.stream_state(1) == [restored[-1]]
    store.close()


class _StoreSink:
    def __init__(self, store: Any) -> None:
        self.store = store

    def submit(self, batch: IngestBatch) -> Any:
        from otel_ml.evaluator._records import SubmitResult

        self.store.write([batch], now=0.0)
        return SubmitResult.ok()
