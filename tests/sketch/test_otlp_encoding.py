"""The sketch layer's OTLP encoding and decoding: what the SDK exports is what the
evaluator rebuilds (through the SDK's own OTLP encoder and protobuf bytes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    ExponentialHistogram,
    ExponentialHistogramDataPoint,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_ml import semconv
from otel_ml.sketch import (
    R_COUNTS,
    R_NON_FINITE,
    R_SCALE,
    CategoricalSketch,
    InvalidPoint,
    NumericSketch,
    categorical_sketch,
    category_counts,
    exponential_buckets,
    exponential_data_point,
)


def _on_the_wire(point: ExponentialHistogramDataPoint) -> Any:
    """``point`` encoded by the SDK's OTLP encoder, serialized, parsed back (protobuf)."""
    metric = Metric(
        semconv.METRIC_FEATURE_VALUES,
        "",
        "1",
        ExponentialHistogram([point], AggregationTemporality.DELTA),
    )
    data = MetricsData(
        [ResourceMetrics(Resource({}), [ScopeMetrics(InstrumentationScope("t"), [metric], "")], "")]
    )
    request = ExportMetricsServiceRequest.FromString(encode_metrics(data).SerializeToString())
    (metric_pb,) = request.resource_metrics[0].scope_metrics[0].metrics
    return metric_pb.exponential_histogram.data_points[0]


def test_a_numeric_sketch_survives_the_sdk_encoder_and_protobuf() -> None:
    rng = np.random.default_rng(3)
    sketch = NumericSketch()
    sketch.update(np.concatenate([rng.normal(0, 50, 5_000), np.zeros(7)]))
    point = exponential_data_point(sketch, {semconv.ML_FEATURE_NAME: "age"}, 10, 20)
    assert (point.start_time_unix_nano, point.time_unix_nano) == (10, 20)
    assert point.attributes == {semconv.ML_FEATURE_NAME: "age"}
    back = NumericSketch.from_exponential(exponential_buckets(_on_the_wire(point)))
    assert back == sketch


def test_the_decoder_estimates_missing_extremes_and_rejects_with_a_reason() -> None:
    sketch = NumericSketch()
    sketch.update([0.5, 3.0, 100.0])
    wire = _on_the_wire(exponential_data_point(sketch, {}, 1, 2))
    wire.ClearField("min")
    wire.ClearField("max")
    b = exponential_buckets(wire)
    assert b.min <= 0.5 and b.max >= 100.0 and b.count == 3

    for field, value, reason in (
        ("count", 4, R_COUNTS),
        ("scale", 21, R_SCALE),
        ("sum", float("nan"), R_NON_FINITE),
    ):
        bad = _on_the_wire(exponential_data_point(sketch, {}, 1, 2))
        setattr(bad, field, value)
        with pytest.raises(InvalidPoint, match=reason.replace("[", r"\[")):
            exponential_buckets(bad)


def test_categorical_counts_round_trip_with_the_overflow_bucket() -> None:
    sketch = CategoricalSketch(max_categories=2)
    sketch.update(["a"] * 5 + ["b"] * 3 + ["c", "d"])
    pairs = dict(category_counts(sketch))
    assert pairs == {"a": 5, "b": 3, semconv.OVERFLOW_CATEGORY: 2}
    back = categorical_sketch(pairs)
    assert (back.counts, back.overflow, back.count) == ({"a": 5, "b": 3}, 2, 10)


@settings(max_examples=300, deadline=None)
@given(
    offset=st.integers(-(2**31), 2**31 - 1),
    counts=st.one_of(  # all below 128 (one byte each), or any
        st.lists(st.integers(0, 127), max_size=200),
        st.lists(st.integers(0, 2**53), max_size=200),
    ),
)
def test_bucket_counts_read_from_the_packed_bytes_as_from_the_field(
    offset: int, counts: list[int]
) -> None:
    from opentelemetry.proto.metrics.v1.metrics_pb2 import ExponentialHistogramDataPoint

    from otel_ml.sketch._otlp import bucket_counts

    b = ExponentialHistogramDataPoint.Buckets(offset=offset, bucket_counts=counts)
    assert bucket_counts(b) == tuple(counts)
    again = ExponentialHistogramDataPoint.Buckets.FromString(b.SerializeToString())
    assert bucket_counts(again) == tuple(counts)
