"""``merge_points`` gives what merging the points one by one gives, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_ml import SketchError
from otel_ml.sketch import ExponentialBuckets, NumericSketch
from otel_ml.sketch._bulk_merge import merge_points


def _one_by_one(
    held: NumericSketch | None, points: list[ExponentialBuckets]
) -> NumericSketch:
    out = held.copy() if held is not None else None
    for p in points:
        sk = NumericSketch.from_exponential(p)
        if out is None:
            out = sk
        else:
            out.merge(sk)
    assert out is not None
    return out


def _sketch(rng: np.random.Generator, kind: int, n: int, max_size: int = 160) -> NumericSketch:
    s = NumericSketch(max_size=max_size)
    if kind == 0:
        values = rng.normal(rng.uniform(-5, 5), rng.uniform(0.01, 10), n)
    elif kind == 1:
        values = rng.lognormal(rng.uniform(-20, 20), rng.uniform(0.1, 5), n)
    elif kind == 2:
        values = rng.integers(-3, 4, n).astype(float)  # zeros, both signs, few buckets
    elif kind == 3:
        values = -rng.exponential(rng.uniform(1e-6, 1e6), n)
    else:
        values = np.full(n, rng.uniform(-1e3, 1e3))
    if n:
        s.update(values)
    return s


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    groups=st.lists(
        st.tuples(
            st.booleans(),  # held sketch?
            st.lists(st.tuples(st.integers(0, 4), st.integers(0, 300)), min_size=1, max_size=6),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_same_sketch_as_merging_one_by_one(
    seed: int, groups: list[tuple[bool, list[tuple[int, int]]]]
) -> None:
    rng = np.random.default_rng(seed)
    work = []
    for has_held, specs in groups:
        held = _sketch(rng, int(rng.integers(0, 5)), 500) if has_held else None
        work.append((held, [_sketch(rng, k, n).to_exponential() for k, n in specs]))
    before = [h.to_dict() if h is not None else None for h, _ in work]
    merged = merge_points(work)
    for (held, points), got, was in zip(work, merged, before, strict=True):
        want = _one_by_one(held, points)
        assert got.to_dict() == want.to_dict()
        assert (held.to_dict() if held is not None else None) == was  # held untouched


def test_points_needing_a_lower_scale_together() -> None:
    # each point fits 160 buckets alone; their union does not, at either point's scale
    a, b = NumericSketch(), NumericSketch()
    a.update(np.geomspace(1e-3, 1e-1, 1000))
    b.update(np.geomspace(1e2, 1e4, 1000))
    pts = [a.to_exponential(), b.to_exponential()]
    (got,) = merge_points([(None, pts)])
    assert got.to_dict() == _one_by_one(None, pts).to_dict()
    assert got.scale < min(a.scale, b.scale)


def test_an_untrimmed_point_and_an_empty_one() -> None:
    s = NumericSketch(scale=3)
    s.update([1.0, 2.0, 5.0])
    e = s.to_exponential()
    padded = ExponentialBuckets(
        e.scale, e.zero_count, e.positive_offset - 2, (0, 0, *e.positive_counts, 0),
        0, (), e.count, e.sum, e.min, e.max,
    )
    empty = ExponentialBuckets(1, 0, 0, (), 0, (), 0, 0.0, float("inf"), float("-inf"))
    (got,) = merge_points([(None, [padded, empty])])
    assert got.to_dict() == _one_by_one(None, [padded, empty]).to_dict()


def test_inconsistent_points_raise_as_from_exponential() -> None:
    bad = ExponentialBuckets(0, 0, 0, (1, 2), 0, (), 5, 3.0, 1.0, 2.0)
    with pytest.raises(SketchError, match="add up to 3, but count is 5"):
        merge_points([(None, [bad])])
    with pytest.raises(SketchError, match="scale 21"):
        merge_points([(None, [ExponentialBuckets(21, 0, 0, (), 0, (), 0, 0.0, 0.0, 0.0)])])


@pytest.mark.parametrize("n", [255, 256, 10**6])
def test_counts_below_and_past_one_byte(n: int) -> None:
    a, b = NumericSketch(), NumericSketch()
    a.update(np.full(n, 3.0))
    b.update(np.linspace(1.0, 9.0, 200))
    pts = [a.to_exponential(), b.to_exponential()]
    (got,) = merge_points([(None, pts)])
    assert got.to_dict() == _one_by_one(None, pts).to_dict()
    assert got.count == n + 200
