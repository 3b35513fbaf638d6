"""evaluate(): drift, quality, operations and performance of one window, checked on raw data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from evaluator_points import (
    attr_counter,
    batch,
    counter,
    duration_point,
    feature_point,
    outcome,
    prediction,
)
from scipy import stats as sps

from otel_ml import semconv as sc
from otel_ml.evaluator._evaluate import Reference, evaluate, explicit_quantile
from otel_ml.evaluator._report import ModelReport
from otel_ml.evaluator._store import Store
from otel_ml.evaluator._windows import Windowing, WindowKey
from otel_ml.sketch import CategoricalSketch, Profile
from otel_ml.stats import DriftPolicy, NumericReference

KEY = WindowKey("m", "1", 0.0, 60.0)


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "s.db", Windowing(60.0, 5.0))


def _reference(rng: np.random.Generator) -> tuple[Reference, dict[str, np.ndarray]]:
    data = {
        "x": rng.normal(0, 1, 5000),
        "y": rng.uniform(0, 10, 5000),
        "color": rng.choice(["red", "green", "blue"], 5000, p=[0.5, 0.3, 0.2]),
    }
    prof = Profile.from_data(data, model="m", version="1", predictions=rng.uniform(0, 1, 5000))
    return Reference(prof, "m@1 (test)"), data


def test_drift_and_quality_against_raw_data(store: Store) -> None:
    rng = np.random.default_rng(1)
    ref, data = _reference(rng)
    x = rng.normal(0.6, 1, 2000)  # drifted
    y = rng.uniform(0, 12, 2000)  # partly out of the reference range
    cats = rng.choice(["red", "green", "blue", "purple"], 2000, p=[0.5, 0.29, 0.2, 0.01])
    uniq, cnt = np.unique(cats, return_counts=True)
    store.write(
        [
            batch(
                feature_point("m", "x", x[:1000], 20),
                feature_point("m", "x", x[1000:], 40),
                feature_point("m", "y", y, 40),
                *[
                    attr_counter(
                        "m",
                        sc.METRIC_FEATURE_CATEGORIES,
                        n,
                        40,
                        {sc.ML_FEATURE_VALUE: v},
                        feature="color",
                    )
                    for v, n in zip(uniq, cnt, strict=True)
                ],
                attr_counter(
                    "m",
                    sc.METRIC_DATA_QUALITY_ISSUES,
                    30,
                    40,
                    {sc.ML_DATA_QUALITY_ISSUE: sc.QUALITY_MISSING},
                    feature="x",
                ),
                counter("m", sc.METRIC_PREDICT_ROWS, 2000, 40),
                counter("m", sc.METRIC_PREDICT_CALLS, 20, 40),
            )
        ]
    )
    r = evaluate(store.load_window(KEY), ref, DriftPolicy(), min_rows=100)
    feats = {f.name: f for f in r.features}
    assert set(feats) == {"x", "y", "color"}
    dx = feats["x"].drift
    assert dx is not None and dx.drifted
    ks_raw = sps.ks_2samp(data["x"], x).statistic
    assert dx.statistics["ks"] <= ks_raw + 1e-12
    assert dx.statistics["ks"] >= ks_raw - dx.statistics["ks_max_error"] - 1e-12
    assert feats["color"].drift is not None and not feats["color"].drift.drifted
    assert r.drifted_features == ("x", "y")
    q = {(x.feature, x.issue): x for x in r.quality}
    assert q[("x", sc.QUALITY_MISSING)].rate == pytest.approx(30 / 2000)
    assert q[("x", sc.QUALITY_MISSING)].reference_rate == 0.0
    exact_oor = np.count_nonzero((y < data["y"].min()) | (y > data["y"].max()))
    assert q[("y", sc.QUALITY_OUT_OF_RANGE)].count == pytest.approx(exact_oor, rel=0.05)
    assert q[("color", sc.QUALITY_UNSEEN_CATEGORY)].count == np.count_nonzero(cats == "purple")
    assert r.verdict_ready and r.n_rows == 2000
    assert ModelReport.from_dict(r.to_dict()) == r
    # The drift entry is FeatureDrift's own JSON: the keys the API served before, and
    # ``test``; a report stored without ``test`` (an older evaluator) still reads.
    stored = r.to_dict()
    api_keys = {"feature", "kind", "method", "statistic", "p_value", "threshold", "drifted"}
    api_keys |= {"n_reference", "n_current", "statistics", "reason"}
    assert set(stored["features"][0]["drift"]) == api_keys | {"test", "verdict", "alpha"}
    for f in stored["features"]:
        del f["drift"]["test"], f["drift"]["verdict"], f["drift"]["alpha"]
    old = ModelReport.from_dict(stored)
    assert old.drifted_features == r.drifted_features
    assert old.features[0].drift is not None and old.features[0].drift.test == ""
    # Before graded verdicts: "drift" from drifted, else "none"; the level unknown.
    assert {f.name: f.drift.verdict.value for f in old.features if f.drift} == {
        f.name: "drift" if f.drift.drifted else "none" for f in r.features if f.drift}
    kinds = {o.kind.value for o in r.observations()}
    assert {"feature_drift", "data_quality"} <= kinds


def test_reference_sketches_are_prepared_once_and_give_the_same_report(store: Store) -> None:
    """The reference's numeric sketches are prepared the first time a window meets them
    and reused for the next windows; the report is the one a fresh reference gives."""
    rng = np.random.default_rng(5)
    ref, _ = _reference(rng)
    assert ref.sketch("features", "x") is ref.sketch("features", "x")
    assert isinstance(ref.sketch("features", "x"), NumericReference)
    assert isinstance(ref.sketch("features", "color"), CategoricalSketch)
    assert ref.sketch("features", "nope") is None
    for shift in (0.0, 0.4):
        store.write(
            [batch(feature_point("m", "x", rng.normal(shift, 1, 1000), 20 + shift),
                   feature_point("m", "y", rng.uniform(0, 10, 1000), 20 + shift))]
        )
        window = store.load_window(KEY)
        again = evaluate(window, ref, DriftPolicy(), min_rows=100)
        fresh = evaluate(window, Reference(ref.profile, ref.label), DriftPolicy(), min_rows=100)
        assert again.to_dict() == fresh.to_dict()
    assert again.drifted_features == ("x",)


def test_no_drift_verdict_below_min_rows(store: Store) -> None:
    """A window with fewer rows than ``min_rows`` gets no verdict, however far it moved."""
    rng = np.random.default_rng(3)
    ref, _ = _reference(rng)
    x = rng.normal(5.0, 1, 150)  # far from N(0, 1)
    store.write(
        [batch(feature_point("m", "x", x, 20), counter("m", sc.METRIC_PREDICT_ROWS, 150, 20))]
    )
    window = store.load_window(KEY)
    early = evaluate(window, ref, DriftPolicy(), min_rows=200)
    fx = {f.name: f for f in early.features}["x"]
    assert fx.n == 150 and fx.drift is None and "min_rows 200" in fx.reason
    assert not early.verdict_ready and early.drifted_features == ()
    assert "feature_drift" not in {o.kind.value for o in early.observations()}
    ready = evaluate(window, ref, DriftPolicy(), min_rows=150)  # the same rows, enough now
    assert ready.verdict_ready and ready.drifted_features == ("x",)


def test_no_reference_still_reports_operations_quality_and_accuracy(store: Store) -> None:
    rng = np.random.default_rng(2)
    durations = rng.lognormal(-3, 0.8, 400)
    store.write(
        [
            batch(
                feature_point("m", "x", rng.normal(size=500), 30),
                counter("m", sc.METRIC_PREDICT_CALLS, 400, 30),
                attr_counter("m", sc.METRIC_PREDICT_ERRORS, 8, 30, {sc.ERROR_TYPE: "ValueError"}),
                duration_point("m", list(durations), 30),
                attr_counter(
                    "m",
                    sc.METRIC_DATA_QUALITY_ISSUES,
                    5,
                    30,
                    {sc.ML_DATA_QUALITY_ISSUE: sc.QUALITY_NON_FINITE},
                    feature="x",
                ),
                counter("m", sc.METRIC_PREDICT_ROWS, 500, 30),
                prediction(
                    "m",
                    ["a", "b", "c", "d"],
                    30,
                    labels=["1", "0", "1", "1"],
                    scores=[0.9, 0.1, 0.8, 0.7],
                ),
                outcome("m", ["a", "b", "c"], ["1", "0", "0"], 45),
            )
        ]
    )
    r = evaluate(store.load_window(KEY), None, DriftPolicy(), min_rows=100)
    assert r.reference is None and not r.verdict_ready
    assert r.features[0].drift is None and "no reference" in r.features[0].reason
    ops = r.operations
    assert ops.error_rate == pytest.approx(8 / 400)
    # p95 of the duration buckets (linear inside a bucket) vs the raw p95
    d = store.load_window(KEY).duration
    assert d is not None
    bounds = np.array(d.bounds)
    raw95 = float(np.percentile(durations, 95))
    i = int(np.searchsorted(bounds, raw95))
    lo, hi = (bounds[i - 1] if i else 0.0), (bounds[i] if i < len(bounds) else durations.max())
    assert ops.latency_p95 is not None and lo <= ops.latency_p95 <= hi
    q = {(x.feature, x.issue): x.rate for x in r.quality}
    assert q[("x", sc.QUALITY_NON_FINITE)] == pytest.approx(5 / 500)
    perf = r.performance
    assert perf is not None
    assert (perf.n_labelled, perf.n_predicted, perf.coverage) == (3, 4, 0.75)
    assert perf.delay_p50 == 15.0


def test_explicit_quantile_edges() -> None:
    from otel_ml.evaluator._records import ExplicitBuckets

    h = ExplicitBuckets(bounds=(1.0,), counts=(0, 4), count=4, sum=20.0, min=2.0, max=8.0)
    assert explicit_quantile(h, 1.0) == 8.0
    assert explicit_quantile(ExplicitBuckets((1.0,), (0, 0), 0, 0.0), 0.5) is None


def test_performance_matches_sklearn_on_the_joined_rows(store: Store) -> None:
    from sklearn import metrics as skm

    rng = np.random.default_rng(5)
    n = 600
    y = rng.integers(0, 2, n)
    score = np.clip(y * 0.3 + rng.uniform(0, 0.7, n), 0, 1)
    pred = (score >= 0.5).astype(int)
    ids = [f"r{i}" for i in range(n)]
    labelled = rng.random(n) < 0.8  # 80 % of the labels arrive
    store.write(
        [batch(prediction("m", ids, 20, scores=list(score), labels=[str(p) for p in pred]))]
    )
    store.write(
        [
            batch(
                outcome(
                    "m",
                    [i for i, k in zip(ids, labelled, strict=True) if k],
                    [str(v) for v, k in zip(y, labelled, strict=True) if k],
                    500,
                )
            )
        ]
    )
    r = evaluate(store.load_window(KEY), None, DriftPolicy())
    perf = r.performance
    assert perf is not None and perf.task == "classification"
    yt, yp, ys = y[labelled], pred[labelled], score[labelled]
    assert perf.n_labelled == labelled.sum()
    assert perf.coverage == pytest.approx(labelled.mean())
    assert perf.delay_p50 == 480.0
    assert perf.metrics.accuracy == pytest.approx(skm.accuracy_score(yt, yp))
    assert perf.metrics.f1 == pytest.approx(skm.f1_score(yt, yp))
    assert perf.metrics.roc_auc == pytest.approx(skm.roc_auc_score(yt, ys))


def test_regression_metrics_match_sklearn(store: Store) -> None:
    from sklearn import metrics as skm

    rng = np.random.default_rng(6)
    y = rng.normal(10, 2, 300)
    yhat = y + rng.normal(0, 0.5, 300)
    ids = [f"q{i}" for i in range(300)]
    store.write(
        [batch(prediction("m", ids, 20, scores=list(yhat)), outcome("m", ids, list(y), 30))]
    )
    perf = evaluate(store.load_window(KEY), None, DriftPolicy()).performance
    assert perf is not None and perf.task == "regression"
    assert perf.metrics.rmse == pytest.approx(np.sqrt(skm.mean_squared_error(y, yhat)))
    assert perf.metrics.mae == pytest.approx(skm.mean_absolute_error(y, yhat))
    assert perf.metrics.r2 == pytest.approx(skm.r2_score(y, yhat))


def test_binary_scores_without_classes_are_thresholded(store: Store) -> None:
    from sklearn import metrics as skm

    score = np.array([0.9, 0.2, 0.6, 0.4, 0.55])
    y = ["1", "0", "0", "0", "1"]
    ids = [f"s{i}" for i in range(5)]
    store.write([batch(prediction("m", ids, 20, scores=list(score)), outcome("m", ids, y, 30))])
    perf = evaluate(store.load_window(KEY), None, DriftPolicy()).performance
    assert perf is not None
    expected = skm.accuracy_score(np.array(y).astype(int), (score >= 0.5).astype(int))
    assert perf.metrics.accuracy == pytest.approx(expected)


def test_scores_without_classes_pick_the_positive_class_in_numeric_order() -> None:
    """Labels 2 and 10: the positive class is 10 (scikit-learn's classes_ order), not 2."""
    from otel_ml.evaluator._evaluate import _predicted_labels
    from otel_ml.evaluator._windows import LabelledRows

    rows = LabelledRows(
        ids=("a", "b", "c", "d"),
        scores=(0.9, 0.8, 0.1, 0.2),
        predicted=(None, None, None, None),
        actual_labels=("10", "10", "2", "2"),
        actual_values=(float("nan"),) * 4,
        delays=(1.0,) * 4,
    )
    assert _predicted_labels(rows) == ("10", "10", "2", "2")


def test_estimated_performance_from_the_score_sketches(store: Store) -> None:
    """A binary classifier's window: its per-class score sketches (two export intervals)
    and a reference built with labels give an estimate (CBPE) kept apart from the realised
    metrics, whose band holds the realised accuracy of the same rows."""
    rng = np.random.default_rng(9)
    ref_p = rng.beta(2, 2, 20_000)
    ref_y = (rng.random(ref_p.size) < ref_p).astype(int)
    prof = Profile.from_data(
        {"x": rng.normal(size=ref_p.size)},
        model="m", version="1",
        predictions={"0": 1 - ref_p, "1": ref_p}, labels=ref_y,
    )
    ref = Reference(prof, "m@1 (test)")
    p = rng.beta(3, 1.5, 1500)  # covariate shift of the scores, no concept shift
    y = (rng.random(p.size) < p).astype(int)
    ids = [f"r{i}" for i in range(p.size)]
    pred = (p > 0.5).astype(int)
    points = [
        feature_point("m", name, values[part], t, metric=sc.METRIC_PREDICTION_VALUES, output=name)
        for part, t in ((slice(0, 700), 20), (slice(700, None), 40))
        for name, values in (("0", 1 - p), ("1", p))
    ]
    store.write([batch(*points)])
    store.write([batch(prediction("m", ids, 20, scores=list(p), labels=[str(v) for v in pred]))])
    store.write([batch(outcome("m", ids, [str(v) for v in y], 500))])
    r = evaluate(store.load_window(KEY), ref, DriftPolicy())
    est = r.estimated
    assert est is not None and (est.output, est.positive_class, est.n_rows) == ("1", "1", 1500)
    realised = float(np.mean(pred == y))
    assert r.performance is not None and r.performance.metrics is not None
    assert r.performance.metrics.accuracy == pytest.approx(realised)
    assert est.accuracy.lower <= realised <= est.accuracy.upper
    assert est.accuracy.value == pytest.approx(float(np.mean(np.maximum(p, 1 - p))), abs=0.01)
    assert ModelReport.from_dict(r.to_dict()) == r
    kinds = {(o.kind.value, o.metric) for o in r.observations()}
    assert ("estimated_performance", "accuracy") in kinds and ("performance", "accuracy") in kinds
    obs = next(o for o in r.observations() if o.kind.value == "estimated_performance"
               and o.metric == "roc_auc")
    assert obs.details["lower"] <= obs.value <= obs.details["upper"]
    # Without a calibrated reference there is nothing to estimate from.
    assert evaluate(store.load_window(KEY), None, DriftPolicy()).estimated is None


def test_a_free_text_feature_is_compared_by_its_lengths_and_reported_as_text(
    store: Store,
) -> None:
    """The SDK sends a text column as the sketch of its lengths under its own name; the
    evaluator compares it with the reference's lengths and calls it text."""
    rng = np.random.default_rng(3)
    words = ["late", "damaged", "fine", "refund", "thanks", "wrong", "size"]
    def comments(n: int, mean_words: float) -> list[str]:
        return [" ".join(rng.choice(words, max(1, int(rng.poisson(mean_words)))))
                for _ in range(n)]  # fmt: skip

    prof = Profile.from_data({"comment": comments(3000, 12)}, model="m", version="1")
    assert prof.features["comment"].kind.value == "text"
    longer = np.array([len(c) for c in comments(1000, 24)], dtype=float)  # twice the words
    store.write([batch(feature_point("m", "comment", longer, 40),
                       counter("m", sc.METRIC_PREDICT_ROWS, 1000, 40))])  # fmt: skip
    r = evaluate(store.load_window(KEY), Reference(prof, "m@1"), DriftPolicy(), min_rows=100)
    (f,) = r.features
    assert f.name == "comment" and f.kind.value == "text"
    assert f.drift is not None and f.drift.drifted
    q = {(x.feature, x.issue): x for x in r.quality}
    assert q[("comment", sc.QUALITY_OUT_OF_RANGE)].count > 0  # longer than any reference one
    assert ModelReport.from_dict(r.to_dict()) == r
