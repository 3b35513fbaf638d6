"""NumericSketch: exactness, bounds, merge algebra, OTLP layout and round trips."""

from __future__ import annotations

import json
import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from opentelemetry.sdk.metrics._internal.exponential_histogram.mapping.exponent_mapping import (
    ExponentMapping,
)
from opentelemetry.sdk.metrics._internal.exponential_histogram.mapping.logarithm_mapping import (
    LogarithmMapping,
)

from otel_ml import SketchError
from otel_ml.sketch import MAX_SCALE, MIN_SCALE, ExponentialBuckets, NumericSketch

# Floats of every kind: tiny, huge, negative, zero, NaN, ±inf.
any_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
float_arrays = hnp.arrays(np.float64, st.integers(0, 300), elements=any_floats)
finite_arrays = hnp.arrays(
    np.float64, st.integers(1, 300), elements=st.floats(allow_nan=False, allow_infinity=False)
)


def sketch_of(*columns: np.ndarray, max_size: int = 160) -> NumericSketch:
    s = NumericSketch(max_size=max_size)
    for c in columns:
        s.update(c)
    return s


def assert_same(a: NumericSketch, b: NumericSketch) -> None:
    """Equal in every field; ``sum`` up to float rounding (addition order differs)."""
    da, db = a.to_dict(), b.to_dict()
    sa, sb = da.pop("sum"), db.pop("sum")
    assert da == db
    if math.isinf(sa) or math.isinf(sb) or math.isnan(sa):
        return  # overflowed sums: order decides between inf and a huge finite value
    # Float addition is not associative. Any order of n additions errs by at most
    # (n - 1) * eps * sum(|x|) (Higham, Accuracy and Stability, 4.2), and
    # sum(|x|) <= n * max(|x|): two orders differ by at most twice that.
    magnitude = max(abs(a.min), abs(a.max)) if a.count else 0.0
    n = a.count
    assert abs(sa - sb) <= 2 * np.finfo(float).eps * max(n - 1, 1) * n * magnitude


def test_exact_counts_and_extremes() -> None:
    x = np.array([-2.5, 0.0, 0.0, 3.0, np.nan, np.inf, -np.inf, np.inf, 1e-300, 7.0])
    s = sketch_of(x)
    assert (s.count, s.zero_count, s.nan_count, s.posinf_count, s.neginf_count) == (6, 2, 1, 2, 1)
    assert s.total == x.size
    assert s.min == -2.5 and s.max == 7.0
    assert s.sum == pytest.approx(-2.5 + 3.0 + 1e-300 + 7.0)
    assert int(s.buckets()[2].sum()) == s.count


@pytest.mark.parametrize(
    "dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64, np.float32, np.bool_]
)
def test_integer_float_and_bool_dtypes(dtype: type) -> None:
    x = (np.arange(50) % 7).astype(dtype)
    s = sketch_of(x)
    ref = x.astype(np.float64)
    assert s.count == 50 and s.zero_count == int(np.count_nonzero(ref == 0))
    assert s.sum == ref.sum() and s.min == ref.min() and s.max == ref.max()


def test_integer_extremes_and_constant_column() -> None:
    ints = np.array([np.iinfo(np.int64).min, -1, 0, 1, np.iinfo(np.int64).max])
    s = sketch_of(ints)
    assert s.count == 5 and s.min == float(ints[0]) and s.max == float(ints[-1])
    c = sketch_of(np.full(1000, 42.0))
    assert c.scale == MAX_SCALE and c.positive_counts.tolist() == [1000]
    assert c.quantile(0.5) == 42.0


def test_empty_and_non_numeric() -> None:
    s = sketch_of(np.array([], dtype=float))
    assert s.count == 0 and math.isnan(s.quantile(0.5))
    with pytest.raises(SketchError, match="numeric"):
        s.update(np.array(["a", "b"]))


@given(float_arrays)
@settings(max_examples=200, deadline=None)
def test_every_value_is_counted_once_and_size_is_bounded(x: np.ndarray) -> None:
    s = sketch_of(x, max_size=20)
    finite = x[np.isfinite(x)]
    assert s.count == finite.size
    assert s.nan_count == int(np.isnan(x).sum())
    assert s.posinf_count == int((x == np.inf).sum())
    assert s.neginf_count == int((x == -np.inf).sum())
    assert s.positive_counts.size <= 20 and s.negative_counts.size <= 20
    assert int(s.positive_counts.sum()) == int((finite > 0).sum())
    assert int(s.negative_counts.sum()) == int((finite < 0).sum())
    assert MIN_SCALE <= s.scale <= MAX_SCALE


@given(finite_arrays)
@settings(max_examples=200, deadline=None)
def test_bucket_bounds_contain_their_values(x: np.ndarray) -> None:
    """Counting the raw values between the reported bounds gives the bucket counts."""
    s = sketch_of(x)
    lower, upper, counts = s.buckets()
    for lo, hi, n in zip(lower, upper, counts, strict=True):
        if lo == hi == 0.0:
            inside = x == 0.0
        elif lo > 0:
            inside = (x > lo) & (x <= hi)
        else:
            inside = (x >= lo) & (x < hi)
        # Bounds are exp2 of exact multiples of 2**-scale: exact for scale <= 0 and
        # within one ulp otherwise, so only values on a boundary may disagree.
        with np.errstate(over="ignore", invalid="ignore"):
            near = np.isclose(x, lo, rtol=1e-12, atol=0) | np.isclose(x, hi, rtol=1e-12, atol=0)
        assert abs(int(inside.sum()) - int(n)) <= int(near.sum())


@example(np.array([-7.02223881505101e305, -1.61086271e-232, -2.743062034396953e303]), 0.5)
@given(finite_arrays, st.floats(0.0, 1.0))
@settings(max_examples=300, deadline=None)
def test_quantile_within_documented_relative_error(x: np.ndarray, q: float) -> None:
    s = sketch_of(x)
    est = s.quantile(q)
    true = np.sort(x)[int(math.floor(q * (x.size - 1)))]
    if q in (0.0, 1.0):
        assert est == (x.min() if q == 0.0 else x.max())
    else:
        with np.errstate(over="ignore"):
            assert abs(est - true) <= s.relative_error * abs(true) * (1 + 1e-9) + 1e-300


def test_quantiles_match_numpy_on_a_normal_sample() -> None:
    x = np.random.default_rng(7).normal(10.0, 2.0, 100_000)
    s = sketch_of(x)
    for q in (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99):
        assert s.quantile(q) == pytest.approx(np.quantile(x, q), rel=s.relative_error)


@given(st.lists(float_arrays, min_size=1, max_size=4), st.randoms())
@settings(max_examples=150, deadline=None)
def test_update_in_parts_equals_merge_in_any_order(parts: list[np.ndarray], rnd: object) -> None:
    whole = sketch_of(np.concatenate(parts), max_size=24)
    sequential = sketch_of(*parts, max_size=24)
    singles = [sketch_of(p, max_size=24) for p in parts]
    order = list(range(len(singles)))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    merged = NumericSketch(max_size=24)
    for i in order:
        merged.merge(singles[i])
    assert_same(whole, sequential)
    assert_same(whole, merged)


@given(float_arrays, float_arrays, float_arrays)
@settings(max_examples=150, deadline=None)
def test_merge_is_associative_and_commutative(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> None:
    a, b, c = (sketch_of(v, max_size=16) for v in (x, y, z))
    left = a.copy()
    left.merge(b)
    left.merge(c)
    bc = b.copy()
    bc.merge(c)
    right = a.copy()
    right.merge(bc)
    assert_same(left, right)
    ab, ba = a.copy(), b.copy()
    ab.merge(b)
    ba.merge(a)
    assert_same(ab, ba)


def test_merge_does_not_mutate_the_argument() -> None:
    a, b = sketch_of(np.array([1.0, 2.0])), sketch_of(np.array([1e9, -1e-9]))
    before = b.to_dict()
    a.merge(b)
    assert b.to_dict() == before


@pytest.mark.parametrize("value", [2.0, 1e3, 1e-200, -1e200])
def test_merging_a_side_without_buckets_allocates_nothing(value: float) -> None:
    """An empty bucket run's offset (0) is no position: spanning from it to the held
    buckets (index ~ log2(value) * 2**20 at scale 20) allocated up to GBs per merge."""
    a = sketch_of(np.full(10, value))
    before = a.to_dict()
    tracemalloc.start()
    a.merge(NumericSketch())
    a.merge(sketch_of(np.zeros(5), np.array([np.nan])))  # zeros only: no buckets either side
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 100_000
    assert a.count == 15 and a.zero_count == 5 and a.nan_count == 1
    assert a.positive_counts.tolist() == before["positive"]["counts"]
    assert a.negative_counts.tolist() == before["negative"]["counts"]


def test_merge_rejects_different_max_size() -> None:
    with pytest.raises(SketchError, match="max_size"):
        NumericSketch(max_size=160).merge(NumericSketch(max_size=80))


@pytest.mark.parametrize("scale", [-10, -3, -1, 0, 1, 3, 8, 20])
def test_bucket_indices_match_the_opentelemetry_sdk_mapping(scale: int) -> None:
    """Our layout is the OTLP one: same index as the OTel SDK's own mapping."""
    rng = np.random.default_rng(scale + 100)
    values = np.concatenate(
        [
            np.exp2(rng.uniform(-60, 60, 2000)),
            np.exp2(np.arange(-20, 21, dtype=float)),  # exact powers of two: boundaries
            [1.0, 3.0, 1e-300, 1e300],  # (subnormals: the SDK clamps them, we do not)
        ]
    )
    mapping = LogarithmMapping(scale) if scale > 0 else ExponentMapping(scale)
    for v in values:
        s = NumericSketch(scale=scale)
        s.update(np.array([v, -v]))
        assert s.scale == scale
        assert s.positive_offset == mapping.map_to_index(float(v)), v
        assert s.negative_offset == mapping.map_to_index(float(v)), v


def test_otlp_fields_round_trip_and_json_round_trip() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.lognormal(0, 3, 5000), -rng.exponential(2, 300), np.zeros(17)])
    s = sketch_of(x, np.array([np.nan, np.inf]))
    fields = s.to_exponential()
    assert fields.count == fields.zero_count + sum(fields.positive_counts) + sum(
        fields.negative_counts
    )
    back = NumericSketch.from_exponential(
        fields, nan_count=s.nan_count, posinf_count=s.posinf_count, neginf_count=s.neginf_count
    )
    assert back == s
    assert NumericSketch.from_dict(json.loads(json.dumps(s.to_dict()))) == s


def test_from_exponential_rejects_inconsistent_points() -> None:
    good = sketch_of(np.array([1.0, 2.0, -3.0])).to_exponential()
    bad_count = ExponentialBuckets(**{**good.__dict__, "count": good.count + 1})
    with pytest.raises(SketchError, match="add up"):
        NumericSketch.from_exponential(bad_count)
    bad_scale = ExponentialBuckets(**{**good.__dict__, "scale": 21})
    with pytest.raises(SketchError, match="scale"):
        NumericSketch.from_exponential(bad_scale)
    negative = ExponentialBuckets(**{**good.__dict__, "positive_counts": (-1, 3)})
    with pytest.raises(SketchError):
        NumericSketch.from_exponential(negative)
    with pytest.raises(SketchError, match="bad numeric sketch"):
        NumericSketch.from_dict({"scale": 1})


def test_from_exponential_downscales_an_oversized_point() -> None:
    """A point from another SDK (max_size 320) is folded into our 160 buckets."""
    big = sketch_of(np.exp2(np.linspace(-40, 40, 10_000)), max_size=320).to_exponential()
    s = NumericSketch.from_exponential(big, max_size=160)
    assert s.positive_counts.size <= 160 and s.count == big.count


def test_values_spanning_many_orders_of_magnitude_keep_everything() -> None:
    x = np.array([1e-300, 1e-100, 1.0, 1e100, 1e300, -1e-300, -1e300])
    s = sketch_of(x)
    assert s.count == 7 and s.scale < 0
    assert s.positive_counts.sum() == 5 and s.negative_counts.sum() == 2


def test_quantile_reads_the_bucket_that_buckets_lists() -> None:
    """quantile computes the edges of the one bucket holding the rank: the same bucket and
    the same edges as the full ``buckets()`` listing, for every sign layout."""
    rng = np.random.default_rng(12)
    for x in (rng.normal(0, 1, 999), -rng.lognormal(0, 2, 500), rng.lognormal(0, 2, 500),
              np.zeros(10), np.r_[np.zeros(50), rng.normal(0, 1e-3, 50)],
              np.r_[-1e300, 1e-300, 1e300, 5.0]):
        s = NumericSketch()
        s.update(x)
        lower, upper, counts = s.buckets()
        for q in (0.01, 0.25, 0.5, 0.9, 0.999):
            i = min(int(np.searchsorted(np.cumsum(counts), q * (s.count - 1), side="right")),
                    counts.size - 1)
            lo, hi = float(lower[i]), float(upper[i])
            mid = 0.0 if lo == hi == 0.0 else math.copysign(
                math.sqrt(abs(lo)) * math.sqrt(abs(hi)), hi if hi != 0.0 else lo)
            # the log-midpoint, up to the rounding of computing it from the edges
            assert s.quantile(q) == pytest.approx(min(max(mid, s.min), s.max), rel=1e-12)
