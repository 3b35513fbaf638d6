"""Data quality against a reference: exact on raw data, estimated between profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from otel_ml import Profile, semconv
from otel_ml.sketch import FeatureKind
from otel_ml.stats import SchemaProblem, quality_report


def _reference() -> Profile:
    rng = np.random.default_rng(0)
    n = 10_000
    return Profile.from_data(
        pd.DataFrame(
            {
                "amount": rng.uniform(0, 100, n),
                "city": rng.choice(["paris", "lyon", "nice"], n),
                "dropped": rng.normal(size=n),
            }
        )
    )


def test_raw_data_shares_are_exact() -> None:
    ref = _reference()
    amount = np.array([10.0, 50.0, -5.0, 150.0, np.nan, np.inf, 99.0, 0.5, np.nan, 101.0])
    city = np.array(
        ["paris", "rome", None, "lyon", "rome", "oslo", "nice", "nice", "paris", "lyon"],
        dtype=object,
    )
    rep = quality_report(ref, {"amount": amount, "city": city, "new": np.zeros(10)})
    a = rep.feature("amount")
    lo, hi = ref.features["amount"].min, ref.features["amount"].max
    finite = amount[np.isfinite(amount)]
    assert a.exact and a.n_rows == 10 and a.kind is FeatureKind.NUMERIC
    assert a.missing_rate == 0.2 and a.non_finite_rate == 0.1
    assert a.out_of_range_rate == np.count_nonzero((finite < lo) | (finite > hi)) / 10 == 0.3
    c = rep.feature("city")
    assert c.missing_rate == 0.1 and c.unseen_category_rate == 0.3 and c.exact
    assert c.rates()[semconv.QUALITY_UNSEEN_CATEGORY] == 0.3
    assert set(a.rates()) == set(semconv.QUALITY_ISSUES)
    problems = {(s.column, s.problem) for s in rep.schema}
    assert problems == {
        ("dropped", SchemaProblem.MISSING_COLUMN),
        ("new", SchemaProblem.EXTRA_COLUMN),
    }
    with pytest.raises(KeyError):
        rep.feature("dropped")


def test_non_numeric_values_in_a_numeric_column_are_a_schema_problem() -> None:
    ref = _reference()
    amount = np.array([1.0, "abc", None, 3, "4x"], dtype=object)
    rep = quality_report(ref, pd.DataFrame({"amount": amount, "city": ["paris"] * 5,
                                            "dropped": np.zeros(5)}))
    a = rep.feature("amount")
    assert a.schema_mismatch_rate == 0.4 and a.missing_rate == 0.2
    (issue,) = rep.schema
    assert issue.column == "amount" and issue.problem is SchemaProblem.WRONG_TYPE
    assert "2 of 5 values are not numbers (e.g. 'abc')" in issue.detail


def test_profile_against_profile_estimates_from_sketches() -> None:
    ref = _reference()
    rng = np.random.default_rng(1)
    n = 20_000
    amount = rng.uniform(10, 120, n)  # 1/11 of the values above the reference max (~100)
    amount[:1000] = np.nan
    amount[1000:1100] = np.inf
    amount[1100:1150] = -np.inf
    city = rng.choice(["paris", "rome"], n)
    cur = Profile.from_data({"amount": amount, "city": city, "dropped": rng.normal(size=n)})
    rep = quality_report(ref, cur)
    a = rep.feature("amount")
    hi = ref.features["amount"].max
    truth = np.count_nonzero(np.isfinite(amount) & (amount > hi)) / n
    assert not a.exact
    assert a.missing_rate == 0.05
    assert a.non_finite_rate == 150 / n  # counted apart, not out of range, not dropped
    # Estimated from buckets: within the share held by the one straddling bucket.
    assert a.out_of_range_rate == pytest.approx(truth, abs=0.01)
    c = rep.feature("city")
    assert c.unseen_category_rate == np.count_nonzero(city == "rome") / n
    assert rep.schema == ()


def test_in_range_profile_is_exactly_zero_and_kind_mismatch_is_reported() -> None:
    ref = _reference()
    cur = Profile.from_data({"amount": np.linspace(1, 99, 50), "city": np.arange(50.0)})
    rep = quality_report(ref, cur)
    a = rep.feature("amount")
    assert a.out_of_range_rate == 0.0 and a.exact
    kinds = [s for s in rep.schema if s.problem is SchemaProblem.WRONG_TYPE]
    assert [s.column for s in kinds] == ["city"]
    assert "categorical in the reference, numeric now" in kinds[0].detail


def test_quality_report_json_round_trips() -> None:
    """Raw and sketched reports (schema issues, inexact shares) are strict JSON and read back."""
    import json

    from otel_ml.stats import QualityReport

    ref = _reference()
    rng = np.random.default_rng(4)
    now = pd.DataFrame(
        {"amount": rng.uniform(50, 150, 500), "city": rng.choice(["paris", "oslo"], 500)}
    )
    for current in (now, Profile.from_data(now), {"amount": ["x", 1.0], "zz": [1, 2]}):
        report = quality_report(ref, current)
        back = QualityReport.from_dict(json.loads(json.dumps(report.to_dict(), allow_nan=False)))
        assert back == report and back.schema and back.features


def test_unseen_and_out_of_range_counts_are_shared_by_raw_and_sketched_reports() -> None:
    """The counts the evaluator uses: out-of-range exact when no bucket straddles a bound."""
    from otel_ml.sketch import CategoricalSketch, NumericSketch
    from otel_ml.stats import out_of_range_count, unseen_count

    s = NumericSketch(scale=0)
    s.update(np.array([0.5, 3.0, 5.0, 6.0, 20.0]))  # buckets (0.5,1] (2,4] (4,8] (16,32]
    assert out_of_range_count(s, 1.0, 16.0) == 2.0
    assert out_of_range_count(s, 0.0, 100.0) == 0.0
    assert out_of_range_count(s, float("nan"), float("nan")) == 0.0
    c = CategoricalSketch()
    c.update(np.array(["a", "b", "b", "c"], dtype=object))
    assert unseen_count({"a"}, c) == 3 and unseen_count(frozenset(), CategoricalSketch()) == 0


def test_a_free_text_column_is_checked_by_its_lengths() -> None:
    notes = [f"order {k}: the parcel arrived late and the box was damaged" for k in range(200)]
    ref = Profile.from_data({"comment": notes})
    assert ref.features["comment"].kind is FeatureKind.TEXT
    current = [*notes[:6], None, None, "short", notes[9] * 3]  # 2 missing, 2 out of range
    q = quality_report(ref, pd.DataFrame({"comment": current})).feature("comment")
    assert q.exact and q.n_rows == 10
    assert q.missing_rate == 0.2 and q.out_of_range_rate == 0.2  # by length, exactly
    sketched = quality_report(ref, Profile.from_data({"comment": current}, feature_types={
        "comment": "text"})).feature("comment")  # fmt: skip
    assert sketched.missing_rate == 0.2 and not sketched.exact
