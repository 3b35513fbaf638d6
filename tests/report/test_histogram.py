"""Display binning of sketches, checked against numpy on the raw samples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_ml.report import category_bars, numeric_bins
from otel_ml.semconv import OVERFLOW_CATEGORY
from otel_ml.sketch import CategoricalSketch, NumericSketch


def _sketch(values: np.ndarray) -> NumericSketch:
    s = NumericSketch()
    s.update(values)
    return s


RNG = np.random.default_rng(7)
CASES = {
    "normal": (RNG.normal(0, 1, 100_000), RNG.normal(0.3, 1.2, 50_000)),
    "lognormal": (RNG.lognormal(3, 1, 100_000), RNG.lognormal(3.2, 1, 50_000)),
    "large offset": (RNG.normal(1000, 5, 100_000), RNG.normal(1001, 5, 50_000)),
    "mostly negative": (RNG.uniform(-50, 10, 100_000), RNG.uniform(-40, 10, 50_000)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_display_bins_match_numpy_histogram_of_raw_values(case: str) -> None:
    ref_raw, cur_raw = CASES[case]
    h = numeric_bins(_sketch(ref_raw), _sketch(cur_raw))
    edges = np.array(h.edges)
    assert len(h.reference) == len(h.current) == 40
    assert np.allclose(np.diff(edges), edges[1] - edges[0])
    for raw, shares, (below, above) in (
        (ref_raw, h.reference, h.reference_outside),
        (cur_raw, h.current, h.current_outside),
    ):
        expected = np.histogram(raw, edges)[0] / raw.size
        total_variation = 0.5 * np.abs(expected - np.array(shares)).sum()
        assert total_variation < 0.02, total_variation
        assert below == pytest.approx(np.mean(raw < edges[0]), abs=0.002)
        assert above == pytest.approx(np.mean(raw > edges[-1]), abs=0.002)


def test_heavy_tailed_positive_values_get_log_bins_matching_numpy() -> None:
    """Spanning four decades, a linear axis would put ~90 % of the mass in its first bin."""
    ref_raw, cur_raw = RNG.lognormal(3, 2, 100_000), RNG.lognormal(3.5, 2, 50_000)
    h = numeric_bins(_sketch(ref_raw), _sketch(cur_raw))
    edges = np.array(h.edges)
    assert h.log and np.allclose(np.diff(np.log10(edges)), np.log10(edges[1] / edges[0]))
    assert max(h.reference) < 0.1  # the mass is spread out, not piled in one bin
    for raw, shares in ((ref_raw, h.reference), (cur_raw, h.current)):
        expected = np.histogram(raw, edges)[0] / raw.size
        assert 0.5 * np.abs(expected - np.array(shares)).sum() < 0.02
    # Narrower positive data, or data reaching zero, keep the linear axis.
    assert not numeric_bins(*map(_sketch, CASES["lognormal"])).log
    with_zero = np.concatenate([ref_raw, np.zeros(10)])
    assert not numeric_bins(_sketch(with_zero), _sketch(cur_raw)).log


def test_robust_range_leaves_out_extreme_tails_and_reports_them() -> None:
    raw = np.concatenate([RNG.normal(0, 1, 10_000), [1e6]])
    h = numeric_bins(_sketch(raw), _sketch(raw))
    assert h.edges[-1] < 10  # one huge outlier does not squash the plot
    assert h.reference_outside[1] > 0


def test_tail_zero_shows_everything() -> None:
    raw = np.concatenate([RNG.normal(0, 1, 10_000), [50.0]])
    h = numeric_bins(_sketch(raw), NumericSketch(), tail=0.0)
    assert h.edges[0] <= raw.min() and h.edges[-1] >= 50.0
    assert h.reference_outside == (0.0, 0.0)
    assert sum(h.current) == 0.0


def test_constant_and_empty_sketches() -> None:
    h = numeric_bins(_sketch(np.full(100, 7.0)), _sketch(np.full(10, 7.0)))
    assert sum(h.reference) == pytest.approx(1.0)
    assert h.edges[0] < 7.0 < h.edges[-1]
    empty = numeric_bins(NumericSketch(), NumericSketch())
    assert sum(empty.reference) == sum(empty.current) == 0.0


def test_zero_bucket_is_a_point_mass() -> None:
    raw = np.array([0.0] * 50 + [1.0] * 25 + [-1.0] * 25)
    h = numeric_bins(_sketch(raw), NumericSketch(), bins=20, tail=0.0)
    zero_bin = int(np.searchsorted(h.edges, 0.0, side="right")) - 1
    assert h.reference[zero_bin] == pytest.approx(0.5)


def test_count_feature_gets_one_bar_per_integer() -> None:
    ref, cur = RNG.poisson(2, 20_000), RNG.poisson(3, 5_000)
    h = numeric_bins(_sketch(ref), _sketch(cur), tail=0.0)
    edges = np.array(h.edges)
    assert np.allclose(np.diff(edges), 1.0) and edges[0] == ref.min() - 0.5
    expected = np.histogram(ref, edges)[0] / ref.size
    np.testing.assert_allclose(h.reference, expected, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=300),
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=0, max_size=300),
    st.sampled_from([0.0, 0.005, 0.1]),
    st.integers(min_value=1, max_value=60),
)
def test_every_value_is_inside_or_reported_outside(
    a: list[float], b: list[float], tail: float, bins: int
) -> None:
    h = numeric_bins(_sketch(np.array(a)), _sketch(np.array(b)), bins=bins, tail=tail)
    assert all(v >= -1e-12 for v in (*h.reference, *h.current))
    assert sum(h.reference) + sum(h.reference_outside) == pytest.approx(1.0)
    expected_cur = 1.0 if b else 0.0
    assert sum(h.current) + sum(h.current_outside) == pytest.approx(expected_cur, abs=1e-9)
    assert list(h.edges) == sorted(h.edges)


def test_category_bars_fold_the_rest_into_other() -> None:
    ref, cur = CategoricalSketch(), CategoricalSketch()
    ref.update([f"c{i}" for i in range(20) for _ in range(20 - i)] + [None] * 10)
    cur.update(["c0"] * 50 + ["new"] * 50)
    bars = category_bars(ref, cur, top=5)
    assert bars.labels[-1] == OVERFLOW_CATEGORY and len(bars.labels) == 6
    assert sum(bars.reference) == pytest.approx(1.0)  # missing values are not a category
    assert sum(bars.current) == pytest.approx(1.0)
    assert bars.labels[:2] == ("c0", "new")  # ranked by the larger share of the two
    assert bars.current[bars.labels.index("new")] == pytest.approx(0.5)


def test_category_bars_count_the_sketch_overflow_as_other() -> None:
    ref = CategoricalSketch(max_categories=3)
    ref.update(["a"] * 10 + ["b"] * 5 + ["c"] * 3 + [f"rare{i}" for i in range(12)])
    bars = category_bars(ref, CategoricalSketch(max_categories=3), top=10)
    other = bars.reference[bars.labels.index(OVERFLOW_CATEGORY)]
    assert other == pytest.approx(12 / 30)
    assert sum(bars.current) == 0.0


def test_values_spanning_the_whole_float_range_do_not_overflow() -> None:
    s = _sketch(np.array([1e308, -1e308, 0.0, 5e-324, 1.0]))
    h = numeric_bins(s, s, tail=0.0)
    assert all(np.isfinite(h.edges)) and h.edges[0] == -1e308 and h.edges[-1] == 1e308
    assert sum(h.reference) == pytest.approx(1.0)
    top = _sketch(np.array([1.7e308, 1.79e308]))
    assert all(np.isfinite(numeric_bins(top, top).edges))
