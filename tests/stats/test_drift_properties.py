"""Hypothesis invariants of the drift statistics (on counts and on sketches)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_ml.sketch import CategoricalSketch, NumericSketch
from otel_ml.stats import (
    chi_square_test,
    g_test,
    hellinger_distance,
    jensen_shannon_distance,
    population_stability_index,
    total_variation_distance,
)
from otel_ml.stats._drift import categorical_statistics, numeric_statistics

counts = st.lists(st.integers(0, 1000), min_size=2, max_size=30).filter(lambda c: sum(c) > 0)


@st.composite
def count_pairs(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    a = draw(counts)
    b = draw(st.lists(st.integers(0, 1000), min_size=len(a), max_size=len(a)))
    if sum(b) == 0:
        b[0] = 1
    return a, b


@given(count_pairs())
def test_divergences_are_bounded_symmetric_non_negative(pair: tuple[list[int], list[int]]) -> None:
    a, b = pair
    assert population_stability_index(a, b) >= 0
    for f in (jensen_shannon_distance, hellinger_distance, total_variation_distance):
        d = f(a, b)
        assert 0.0 <= d <= 1.0
        assert abs(d - f(b, a)) < 1e-12
    # PSI is symmetric too (a symmetrised KL divergence).
    assert abs(population_stability_index(a, b) - population_stability_index(b, a)) < 1e-9
    for test in (chi_square_test, g_test):
        r = test(a, b)
        assert r.statistic >= 0 and 0.0 <= r.p_value <= 1.0
        assert abs(r.statistic - test(b, a).statistic) < 1e-6 * max(1.0, r.statistic)


@given(counts, st.integers(1, 50))
def test_identical_shapes_are_zero(a: list[int], k: int) -> None:
    scaled = [k * c for c in a]
    assert population_stability_index(a, scaled) == 0.0
    assert jensen_shannon_distance(a, scaled) == 0.0
    assert hellinger_distance(a, scaled) < 1e-7
    assert total_variation_distance(a, scaled) < 1e-12


finite = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)
columns = st.lists(finite, min_size=1, max_size=300)


def _sk(values: list[float]) -> NumericSketch:
    s = NumericSketch()
    s.update(np.asarray(values, dtype=float))
    return s


@settings(deadline=None, max_examples=60)
@given(columns)
def test_sketch_against_itself_is_no_drift(values: list[float]) -> None:
    a = _sk(values)
    doubled = a.copy()
    doubled.merge(a)  # same distribution, twice the rows
    for other in (a, doubled):
        s = numeric_statistics(a, other)
        assert s.ks == 0.0 and s.wasserstein == 0.0 and s.psi == 0.0
        assert s.ks_p_value == 1.0


@settings(deadline=None, max_examples=60)
@given(columns, columns)
def test_ks_and_wasserstein_are_symmetric(x: list[float], y: list[float]) -> None:
    a, b = _sk(x), _sk(y)
    ab, ba = numeric_statistics(a, b), numeric_statistics(b, a)
    assert 0.0 <= ab.ks <= 1.0
    assert abs(ab.ks - ba.ks) < 1e-12
    assert ab.wasserstein >= 0
    assert abs(ab.wasserstein - ba.wasserstein) <= 1e-9 * max(1.0, ab.wasserstein)
    assert 0.0 <= ab.ks_p_value <= 1.0 and ab.psi >= 0


@settings(deadline=None, max_examples=60)
@given(columns, st.integers(-8, 3))
def test_coarser_reference_scale_still_aligns(values: list[float], drop: int) -> None:
    a = _sk(values)
    coarse = a.downscaled(max(-10, a.scale + drop))
    s = numeric_statistics(coarse, a)
    assert s.ks == 0.0 and s.wasserstein == 0.0


cats = st.lists(st.sampled_from(list("abcdefghij")), min_size=1, max_size=400)


@settings(deadline=None, max_examples=60)
@given(cats, cats, st.integers(1, 12))
def test_categorical_statistics_invariants(x: list[str], y: list[str], k: int) -> None:
    a = CategoricalSketch(max_categories=12)
    a.update(x)
    b = CategoricalSketch(max_categories=k)
    b.update(y)
    s = categorical_statistics(a, b)
    assert s.psi >= 0 and 0 <= s.total_variation <= 1 and 0 <= s.hellinger <= 1
    assert 0.0 <= s.chi2_p_value <= 1.0 and 0.0 <= s.g_p_value <= 1.0
    same = categorical_statistics(a, a)
    assert same.psi == 0.0 and same.chi2 == 0.0 and same.total_variation == 0.0
