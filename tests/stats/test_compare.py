"""compare / compare_feature and the DriftPolicy verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import otel_ml
from otel_ml import (
    ConfigurationError,
    DriftPolicy,
    FeatureKind,
    Profile,
    ProfileError,
    SketchError,
    compare,
)
from otel_ml.sketch import CategoricalSketch, NumericSketch
from otel_ml.stats import Grade, compare_feature


def _num(values: np.ndarray) -> NumericSketch:
    s = NumericSketch()
    s.update(values)
    return s


def test_public_names_are_reexported() -> None:
    for name in ("Profile", "compare", "DriftPolicy", "DriftReport", "FeatureDrift"):
        assert name in otel_ml.__all__ and hasattr(otel_ml, name)


def test_policy_rules_each_decide() -> None:
    rng = np.random.default_rng(0)
    ref = _num(rng.normal(0, 1, 100_000))
    big_shift_small_window = compare_feature("x", ref, _num(rng.normal(1, 1, 50)))
    assert not big_shift_small_window.drifted
    assert "not enough data" in big_shift_small_window.reason
    assert big_shift_small_window.verdict is Grade.TOO_FEW_ROWS

    # A tiny, real shift in a huge window: significant, but below the effect threshold.
    tiny = compare_feature("x", ref, _num(rng.normal(0.03, 1, 1_000_000)))
    assert tiny.p_value < 1e-6 and tiny.statistic < 0.1
    assert not tiny.drifted and tiny.reason.startswith("minor:")
    assert tiny.verdict is Grade.MINOR and tiny.alpha == 0.01

    shifted = compare_feature("x", ref, _num(rng.normal(0.5, 1, 5_000)), n_tests=20)
    assert shifted.drifted and shifted.reason.startswith("drift:")
    assert shifted.verdict is Grade.DRIFT and shifted.alpha == pytest.approx(0.01 / 20)
    assert "(0.01/20 features)" in shifted.reason
    assert shifted.method == "wasserstein_normalised" and shifted.test == "ks_chi2"
    assert shifted.p_value == shifted.statistics["ks_chi2_p_value"]
    assert shifted.statistic == pytest.approx(0.5, abs=0.05)
    assert shifted.n_reference == 100_000 and shifted.n_current == 5_000
    assert set(shifted.statistics) >= {"ks", "psi", "jensen_shannon", "hellinger", "wasserstein",
                                       "chi2", "chi2_p_value", "ks_p_value"}

    # Big effect, not significant: a window of 120 rows with a Bonferroni level for 1000 tests.
    noisy = compare_feature("x", ref, _num(rng.normal(0.3, 1, 120)), n_tests=1_000_000)
    assert not noisy.drifted and "not significant" in noisy.reason
    assert noisy.verdict is Grade.NONE and noisy.alpha == pytest.approx(1e-8)


def test_policy_is_configurable() -> None:
    rng = np.random.default_rng(1)
    ref, cur = _num(rng.normal(0, 1, 50_000)), _num(rng.normal(0.05, 1, 200_000))
    assert not compare_feature("x", ref, cur).drifted
    loose = DriftPolicy(numeric_threshold=0.02, alpha=0.05)
    assert compare_feature("x", ref, cur, policy=loose).drifted
    ks_only = compare_feature("x", ref, cur, policy=DriftPolicy(numeric_test="ks"))
    assert ks_only.test == "ks" and ks_only.p_value == ks_only.statistics["ks_p_value"]
    by_psi = compare_feature("x", ref, cur, policy=DriftPolicy(numeric_effect="psi"))
    assert by_psi.method == "psi" and by_psi.statistic == by_psi.statistics["psi"]
    small = DriftPolicy(min_rows=10**6)
    assert "not enough data" in compare_feature("x", ref, cur, policy=small).reason


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"numeric_effect": "kl"}, "numeric_effect"),
        ({"categorical_effect": "ks"}, "categorical_effect"),
        ({"categorical_test": "fisher"}, "categorical_test"),
        ({"numeric_test": "ad"}, "numeric_test"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"categorical_threshold": float("nan")}, "categorical_threshold"),
        ({"correction": "holm"}, "correction"),
        ({"min_rows": 0}, "min_rows"),
    ],
)
def test_bad_policy_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigurationError, match=f"DriftPolicy.{field}"):
        DriftPolicy(**kwargs)  # type: ignore[arg-type]


def test_spread_change_is_caught_by_the_binned_chi_square() -> None:
    """KS is weak on a variance change; the default combined test is not."""
    rng = np.random.default_rng(9)
    ref = _num(rng.normal(0, 1, 100_000))
    hits_ks = hits_default = 0
    for _ in range(40):
        cur = _num(rng.normal(0, np.sqrt(1.5), 1_000))
        hits_ks += compare_feature("x", ref, cur, policy=DriftPolicy(numeric_test="ks"),
                                   n_tests=5).drifted
        hits_default += compare_feature("x", ref, cur, n_tests=5).drifted
    assert hits_default >= 36 and hits_default > hits_ks


def test_no_correction() -> None:
    assert DriftPolicy(correction="none").test_level(50) == 0.01  # type: ignore[arg-type]


def test_bonferroni_divides_alpha_by_the_features_tested() -> None:
    """p = 0.003 with a big effect: drift alone (0.003 < 0.01), not among 10 features
    (0.003 >= 0.01 / 10), drift again without correction."""
    args = {"effect_name": "w", "effect": 0.5, "threshold": 0.1, "test_name": "ks",
            "p_value": 0.003, "n_reference": 1000, "n_current": 1000}
    assert DriftPolicy().decide(**args, n_tests=1).drifted  # type: ignore[arg-type]
    ten = DriftPolicy().decide(**args, n_tests=10)  # type: ignore[arg-type]
    assert not ten.drifted and "not significant" in ten.reason
    none = DriftPolicy(correction="none")  # type: ignore[arg-type]
    assert none.decide(**args, n_tests=10).drifted  # type: ignore[arg-type]
    # min_rows: the same evidence from 99 rows decides nothing.
    few = DriftPolicy().decide(**{**args, "n_current": 99}, n_tests=1)  # type: ignore[arg-type]
    assert not few.drifted and "not enough data" in few.reason


def test_categorical_feature_drift_and_g_test() -> None:
    rng = np.random.default_rng(2)
    p = np.array([0.4, 0.3, 0.15, 0.1, 0.05])
    q = np.array([0.3, 0.3, 0.15, 0.1, 0.15])
    ref = CategoricalSketch(1000)
    ref.update(rng.choice(list("abcde"), 100_000, p=p))
    cur = CategoricalSketch()
    cur.update(rng.choice(list("abcde"), 5_000, p=q))
    fd = compare_feature("c", ref, cur)
    assert fd.kind is FeatureKind.CATEGORICAL and fd.method == "total_variation"
    assert fd.drifted and fd.statistic == pytest.approx(0.1, abs=0.02)
    g = compare_feature("c", ref, cur, policy=DriftPolicy(categorical_test="g"))
    assert g.test == "g" and g.p_value == g.statistics["g_p_value"]


def test_mismatched_sketch_kinds() -> None:
    with pytest.raises(SketchError, match="'x'"):
        compare_feature("x", NumericSketch(), CategoricalSketch())


def test_compare_profiles_and_raw_data() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    train = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, n),
            "age": rng.normal(40, 10, n),
            "city": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
        }
    )
    ref = Profile.from_data(train, model="m", version="1", predictions=rng.uniform(size=n))
    m = 5_000
    now = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.5, m),
            "age": rng.normal(45, 10, m),  # +0.5 sd
            "city": rng.choice(["a", "b", "c"], m, p=[0.5, 0.3, 0.2]),
            "extra": np.ones(m),
        }
    )
    report = compare(ref, now)
    assert [f.feature for f in report.features] == ["income", "age", "city"]
    assert report.drifted and report.n_drifted == 1 and report.feature("age").drifted
    assert report.extra_features == ("extra",) and report.missing_features == ()
    assert report.policy == DriftPolicy()

    cur_profile = Profile.from_data(now.drop(columns=["city"]), predictions=rng.uniform(size=m))
    r2 = compare(ref, cur_profile)
    assert r2.missing_features == ("city",)
    assert [p.feature for p in r2.predictions] == ["score"]
    assert not r2.predictions[0].drifted
    assert r2.feature("age").drifted
    with pytest.raises(KeyError):
        r2.feature("city")


def test_compare_rejects_data_that_does_not_fit() -> None:
    ref = Profile.from_data({"x": np.arange(100.0)})
    with pytest.raises(ProfileError, match="'x'"):
        compare(ref, {"x": ["a", "b"]})
    cur = Profile.from_data({"x": ["a", "b"]})
    with pytest.raises(ProfileError, match="'x' is numeric in the reference"):
        compare(ref, cur)


def test_drift_report_json_round_trips_every_field() -> None:
    """``DriftReport.to_dict`` is strict JSON and reads back equal (policy, outputs, names)."""
    import json

    from otel_ml.stats import DriftReport

    rng = np.random.default_rng(5)
    ref = Profile.from_data(
        {"x": rng.normal(0, 1, 3000), "c": rng.choice(["a", "b"], 3000)},
        predictions=rng.uniform(size=3000),
    )
    cur = Profile.from_data({"x": rng.normal(1, 1, 500)}, predictions=rng.uniform(size=500))
    policy = DriftPolicy(numeric_test="ks", categorical_test="g", alpha=0.05, min_rows=50)
    report = compare(ref, cur, policy=policy)
    text = json.dumps(report.to_dict(), allow_nan=False)
    back = DriftReport.from_dict(json.loads(text))
    assert back == report
    assert back.policy.numeric_test == "ks" and back.feature("x").kind is FeatureKind.NUMERIC
    assert back.missing_features == ("c",) and back.predictions == report.predictions


def test_feature_drift_json_writes_non_finite_as_null_and_reads_nan() -> None:
    import json
    import math

    from otel_ml.stats import FeatureDrift

    ref = _num(np.arange(1000.0))
    fd = compare_feature("x", ref, NumericSketch())  # an empty window: no statistic
    d = fd.to_dict()
    json.dumps(d, allow_nan=False)  # strict JSON
    back = FeatureDrift.from_dict(d)
    assert d["statistics"]["ks"] is None and math.isnan(back.statistics["ks"])
    assert back.to_dict() == d
    # A report the evaluator stored before ``test`` was written still reads.
    old = {k: v for k, v in d.items() if k != "test"}
    assert FeatureDrift.from_dict(old).test == ""
