"""The SDK exponential-histogram point of a ``NumericSketch``, as otel_ml's SDK bridge
emits it: what the evaluator and OTLP receiver benchmarks send (not a benchmark)."""

from __future__ import annotations

from opentelemetry.sdk.metrics.export import Buckets, ExponentialHistogramDataPoint

from otel_ml.stats import NumericSketch


def exp_data_point(
    sketch: NumericSketch, attributes: dict[str, str], start: int, time: int
) -> ExponentialHistogramDataPoint:
    """``sketch`` as an SDK ``ExponentialHistogramDataPoint`` (offsets, counts, min/max)."""
    e = sketch.to_exponential()
    return ExponentialHistogramDataPoint(
        attributes=attributes,
        start_time_unix_nano=start,
        time_unix_nano=time,
        count=e.count,
        sum=e.sum,
        scale=e.scale,
        zero_count=e.zero_count,
        positive=Buckets(e.positive_offset, list(e.positive_counts)),
        negative=Buckets(e.negative_offset, list(e.negative_counts)),
        flags=0,
        min=e.min,
        max=e.max,
    )
