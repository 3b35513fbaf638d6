"""numeric_statistics_many / compare_features against the one-feature functions.

The batched statistics must equal numeric_statistics field by field up to rounding, and
the verdicts of compare_features must be compare_feature's, on the cases that take the
different paths: every window bucket known to the reference, window buckets the
reference lacks (inside its range, below and beyond it), sparse bins pooled for the
chi-square, different scales, negative values and zeros, empty sketches.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from otel_ml import SketchError
from otel_ml.sketch import CategoricalSketch, NumericSketch
from otel_ml.stats import (
    NumericReference,
    compare_feature,
    compare_features,
    numeric_statistics,
    numeric_statistics_many,
)


def _sketch(values: np.ndarray) -> NumericSketch:
    s = NumericSketch()
    if values.size:
        s.update(values)
    return s


def _cases(seed: int) -> list[tuple[NumericSketch, NumericSketch]]:
    rng = np.random.default_rng(seed)
    makers = [
        lambda n, d: rng.normal(d, 1, n),
        lambda n, d: rng.lognormal(3 + d, 1, n),
        lambda n, d: rng.poisson(3 + 3 * d, n).astype(float),
        lambda n, d: rng.uniform(-50, 50 + 100 * d, n),
        lambda n, d: np.where(rng.uniform(size=n) < 0.3, 0.0, rng.normal(100 * d, 100, n)),
        lambda n, d: np.full(n, 2.0 + d),
        lambda n, d: -rng.exponential(1 + d, n),
        lambda n, d: rng.normal(d, 1, n) * 1e-200,
    ]
    out = []
    for _ in range(120):
        make = makers[int(rng.integers(len(makers)))]
        n = int(rng.choice([0, 60, 2_000, 50_000]))
        m = int(rng.choice([0, 20, 400, 5_000]))
        shift = float(rng.choice([0.0, 0.05, 0.3, 2.0]))
        ref = _sketch(make(n, 0.0))
        if rng.uniform() < 0.3 and m:  # a window merged from intervals at other scales
            cur = NumericSketch()
            for _ in range(3):
                cur.merge(_sketch(make(m // 3 + 1, shift)))
        else:
            cur = _sketch(make(m, shift))
        out.append((ref, cur))
    # A lone value far beyond the reference: a window bucket the reference lacks, whose
    # short bin the chi-square pools with the top decile.
    lone = _sketch(np.r_[rng.normal(0, 1, 1_000), 1e6])
    out.append((_sketch(rng.normal(0, 1, 3_000)), lone))
    # Window buckets inside the reference's range that it lacks (a gap in it).
    gap = np.r_[rng.uniform(0, 1, 2_000), rng.uniform(3, 4, 2_000)]
    out.append((_sketch(gap), _sketch(rng.uniform(0, 4, 1_000))))
    return out


def _assert_close(a: object, b: object) -> None:
    for field, va in vars(a).items():
        vb = getattr(b, field)
        if isinstance(va, float) and math.isnan(va):
            assert math.isnan(vb), field
        else:
            assert va == pytest.approx(vb, rel=1e-9, abs=1e-14), field


@pytest.mark.parametrize("seed", [0, 1])
def test_numeric_statistics_many_equal_one_by_one(seed: int) -> None:
    cases = _cases(seed)
    prepared = [NumericReference(r) for r, _ in cases]
    many = numeric_statistics_many(prepared, [c for _, c in cases])
    plain = numeric_statistics_many([r for r, _ in cases], [c for _, c in cases])
    assert len(many) == len(cases)
    for (r, c), a, b in zip(cases, many, plain, strict=True):
        one = numeric_statistics(r, c)
        _assert_close(a, one)
        assert a == b  # prepared or not: the same computation


def test_window_buckets_the_reference_lacks_are_placed_as_one_by_one() -> None:
    rng = np.random.default_rng(3)
    ref = _sketch(rng.normal(0, 1, 3_000))
    below_inside_beyond = _sketch(np.r_[rng.normal(0, 1, 900), -50.0, 1e-3, 40.0, 1e5])
    (st,) = numeric_statistics_many([ref], [below_inside_beyond])
    one = numeric_statistics(ref, below_inside_beyond)
    _assert_close(st, one)
    assert one.chi2 > 0 and st.chi2 == pytest.approx(one.chi2, rel=1e-12)


def test_compare_features_verdicts_are_compare_features_one_by_one() -> None:
    cases = _cases(2)
    cat_r, cat_c = CategoricalSketch(), CategoricalSketch()
    cat_r.update(["a"] * 500 + ["b"] * 500)
    cat_c.update(["a"] * 300 + ["b"] * 700)
    pairs = [(f"x{i}", r, c) for i, (r, c) in enumerate(cases)]
    pairs.insert(3, ("cat", cat_r, cat_c))
    got = compare_features(pairs, n_tests=50)
    assert [f.feature for f in got] == [p[0] for p in pairs]
    for f, (name, r, c) in zip(got, pairs, strict=True):
        one = compare_feature(name, r, c, n_tests=50)
        assert (f.drifted, f.verdict, f.alpha, f.method, f.test) == (
            one.drifted, one.verdict, one.alpha, one.method, one.test
        )
        assert f.p_value == pytest.approx(one.p_value, rel=1e-9, abs=1e-300)
        assert f.statistic == pytest.approx(one.statistic, rel=1e-9, abs=1e-14)
    assert any(f.drifted for f in got) and not all(f.drifted for f in got)


def test_compare_features_refuses_mixed_kinds_and_mismatched_lengths() -> None:
    num, cat = _sketch(np.arange(200.0)), CategoricalSketch()
    cat.update(["a"] * 200)
    with pytest.raises(SketchError, match="cannot compare a NumericSketch reference"):
        compare_features([("x", NumericReference(num), cat)])
    with pytest.raises(ValueError, match="2 references for 1"):
        numeric_statistics_many([num, num], [num])
    assert compare_features([]) == []
