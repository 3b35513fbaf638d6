"""Estimated performance (CBPE) from score sketches, checked against realised metrics
computed on the raw rows (numpy / scikit-learn) where the calibrated expectation is exact."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from otel_ml.sketch import NumericSketch, Profile
from otel_ml.sketch._calibration import ScoreCalibration, argmax_sketches, score_calibrations
from otel_ml.stats import (
    EstimatedPerformance,
    estimate_binary,
    estimate_multiclass,
    estimate_performance,
)


def _sketch(values: np.ndarray) -> NumericSketch:
    s = NumericSketch()
    s.update(values)
    return s


def _calibrated(rng: np.random.Generator, n: int, a: float, b: float, power: float = 1.0):
    """Rows whose true positive probability is ``z ~ Beta(a, b)``; the model scores
    ``z ** power`` (calibrated when ``power == 1``)."""
    z = rng.beta(a, b, n)
    y = (rng.random(n) < z).astype(int)
    return z**power, y, z


def _realised(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The realised metrics on the raw rows (numpy; scikit-learn's ROC AUC)."""
    pred = p > 0.5
    tp = float(np.sum(pred & (y == 1)))
    return {
        "accuracy": float(np.mean(pred == (y == 1))),
        "precision": tp / pred.sum(),
        "recall": tp / (y == 1).sum(),
        "f1": 2 * tp / (pred.sum() + (y == 1).sum()),
        "roc_auc": roc_auc_score(y, p),
    }


def test_realised_metrics_are_scikit_learns() -> None:
    rng = np.random.default_rng(1)
    p, y, _ = _calibrated(rng, 500, 2, 2)
    pred = (p > 0.5).astype(int)
    want = [accuracy_score(y, pred), precision_score(y, pred), recall_score(y, pred),
            f1_score(y, pred)]
    got = _realised(p, y)
    assert [got[k] for k in ("accuracy", "precision", "recall", "f1")] == pytest.approx(want)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_band_covers_realised_metrics_under_covariate_shift(power: float) -> None:
    """Reference Beta(2, 2), windows Beta(3, 1.5) of 1,000 rows (covariate shift, no
    concept shift): each 95 % band holds the realised metric in about 95 % of windows,
    also when the scores are miscalibrated (squared) and calibration has to fix them."""
    rng = np.random.default_rng(7)
    p, y, _ = _calibrated(rng, 50_000, 2, 2, power)
    cal = score_calibrations({"score": p}, y)["score"]
    windows, inside, errors = 100, dict.fromkeys(_realised(p, y), 0), []
    for _ in range(windows):
        p, y, _ = _calibrated(rng, 1000, 3, 1.5, power)
        est = estimate_binary(cal, _sketch(p))
        assert est is not None
        real = _realised(p, y)
        for name, m in est.metrics().items():
            inside[name] += m.lower <= real[name] <= m.upper
        errors.append(est.accuracy.value - real["accuracy"])
    for name, hits in inside.items():
        assert hits / windows >= 0.9, (name, hits / windows)
    assert abs(float(np.mean(errors))) < 0.005


def test_estimate_is_the_calibrated_expectation() -> None:
    """With calibrated scores the expected accuracy is mean(max(p, 1 - p)) and the
    expected ROC AUC that of the probabilities as weights: computed here on the raw rows."""
    rng = np.random.default_rng(3)
    p, y, _ = _calibrated(rng, 100_000, 2, 2)
    cal = score_calibrations({"score": p}, y)["score"]
    z = rng.beta(3, 1.5, 50_000)
    est = estimate_binary(cal, _sketch(z))
    assert est is not None
    expected_accuracy = float(np.mean(np.where(z > 0.5, z, 1 - z)))
    order = np.argsort(z)
    pos, neg = z[order], 1 - z[order]
    below = np.cumsum(neg) - neg
    expected_auc = float((pos * below).sum() / (pos.sum() * neg.sum()))
    tp = z[z > 0.5].sum()
    assert est.accuracy.value == pytest.approx(expected_accuracy, abs=0.004)
    assert est.roc_auc.value == pytest.approx(expected_auc, abs=0.005)
    assert est.precision.value == pytest.approx(tp / (z > 0.5).sum(), abs=0.004)
    assert est.recall.value == pytest.approx(tp / z.sum(), abs=0.004)
    # The band at 50,000 rows is narrow: the window's sampling error, ±1.96·sqrt(acc·(1-acc)/n),
    # widened by the calibration's own (a 100,000-row reference), not more than twice.
    width = est.accuracy.upper - est.accuracy.lower
    window_only = 2 * 1.96 * math.sqrt(0.2 * 0.8 / 50_000)
    assert 0.9 * window_only < width < 2 * window_only


def test_calibration_corrects_miscalibrated_scores() -> None:
    """Scores squared: taken at face value they promise the wrong accuracy; calibrated on
    the reference, the estimate matches the realised accuracy."""
    rng = np.random.default_rng(11)
    p, y, _ = _calibrated(rng, 50_000, 2, 2, power=2.0)
    cal = score_calibrations({"score": p}, y)["score"]
    p, y, _ = _calibrated(rng, 20_000, 3, 1.5, power=2.0)
    est = estimate_binary(cal, _sketch(p))
    assert est is not None
    face_value = float(np.mean(np.where(p > 0.5, p, 1 - p)))
    real = accuracy_score(y, p > 0.5)
    assert abs(face_value - real) > 0.03
    assert est.accuracy.value == pytest.approx(real, abs=0.012)


def test_profile_keeps_calibration_and_estimate_picks_the_positive_column(tmp_path) -> None:
    rng = np.random.default_rng(5)
    p, y, _ = _calibrated(rng, 20_000, 2, 2)
    labels = np.where(y == 1, "yes", "no")
    proba = {"no": 1 - p, "yes": p}
    prof = Profile.from_data({"x": rng.normal(size=p.size)}, predictions=proba, labels=labels)
    assert sorted(prof.calibration) == ["no", "yes"]
    assert prof.calibration["yes"].positives.count == int(y.sum())
    path = tmp_path / "p.json"
    prof.save(path)
    back = Profile.load(path)
    assert back.calibration == prof.calibration
    assert json.loads(path.read_text())["format_version"] == 2
    merged = prof.merge(prof)
    assert merged.calibration["yes"].scores.count == 2 * p.size
    window = {"no": _sketch(1 - p[:1000]), "yes": _sketch(p[:1000])}
    est = estimate_performance(back.calibration, window)
    assert est is not None and (est.output, est.positive_class) == ("yes", "yes")
    assert est.accuracy.value == pytest.approx(float(np.mean(np.maximum(p[:1000], 1 - p[:1000]))),
                                               abs=0.015)
    assert EstimatedPerformance.from_dict(json.loads(json.dumps(est.to_dict()))) == est


def test_nothing_to_estimate() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(300)
    y = rng.integers(0, 3, 300)
    # A 1-D score with three classes: no calibration; per-class columns of three classes
    # and a window without the argmax:<class> sketches (an SDK that does not export
    # them): the marginal sketches alone give no multiclass estimate.
    assert score_calibrations({"score": p}, y) == {}
    three = score_calibrations({"0": p, "1": p, "2": p}, y)
    assert estimate_performance(
        three, {k: _sketch(p) for k in three if not k.startswith("argmax:")}
    ) is None
    cal = score_calibrations({"score": p}, y > 0)
    assert estimate_performance(cal, {}) is None
    assert estimate_performance(cal, {"score": _sketch(p * 3 - 1)}) is None  # not in [0, 1]
    assert estimate_performance(cal, {"score": NumericSketch()}) is None
    # Without labels, or with scores outside [0, 1], a profile keeps no calibration.
    assert Profile.from_data({"x": p}, predictions=p).calibration == {}
    assert Profile.from_data({"x": p}, predictions=p * 2, labels=y > 0).calibration == {}


def test_profile_v1_without_calibration_still_loads() -> None:
    d = Profile.from_data({"x": np.arange(10.0)}).to_dict()
    assert "calibration" not in d
    d["format_version"] = 1
    assert Profile.from_dict(d).calibration == {}


def test_threshold_inside_a_bucket_splits_it() -> None:
    scores = _sketch(np.full(1000, 0.9))
    cal = ScoreCalibration("score", "1", _sketch(np.full(1000, 0.9)),
                            _sketch(np.full(900, 0.9)))
    low = estimate_binary(cal, scores, threshold=0.3)
    assert low is not None and low.accuracy.value == pytest.approx(0.9, abs=0.01)
    high = estimate_binary(cal, scores, threshold=0.95)  # every row predicted negative
    assert high is not None and high.accuracy.value == pytest.approx(0.1, abs=0.01)
    assert math.isnan(high.precision.value)
    with pytest.raises(ValueError, match="threshold"):
        estimate_binary(cal, scores, threshold=1.0)


def test_the_other_class_sketch_resolves_scores_near_one() -> None:
    """Overconfident scores pile up near 0 and 1, where one exponential bucket holds every
    score from about 0.9 to 1: read from the positive column alone the ROC AUC collapses
    towards ties; with the other column's ``1 - p`` sketch (both exported for
    predict_proba) it matches the expectation on the raw rows."""
    rng = np.random.default_rng(4)

    def rows(n: int, shift: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z = rng.normal(shift, 2.0, n)
        true = 1 / (1 + np.exp(-z))
        y = (rng.random(n) < true).astype(int)
        return 1 / (1 + np.exp(-2.5 * z)), y, true  # overconfident, monotone in the truth

    p, y, _ = rows(40_000, 0.0)
    prof = Profile.from_data({"x": p}, predictions={"0": 1 - p, "1": p}, labels=y)
    p, y, true = rows(20_000, 0.8)
    both = estimate_performance(prof.calibration, {"0": _sketch(1 - p), "1": _sketch(p)})
    one = estimate_binary(prof.calibration["1"], _sketch(p))
    assert both is not None and one is not None
    order = np.argsort(p)
    pos, neg = true[order], 1 - true[order]
    expected_auc = float((pos * (np.cumsum(neg) - neg)).sum() / (pos.sum() * neg.sum()))
    expected_acc = float(np.mean(np.where(p > 0.5, true, 1 - true)))
    assert both.roc_auc.value == pytest.approx(expected_auc, abs=0.006)
    assert both.accuracy.value == pytest.approx(expected_acc, abs=0.006)
    assert abs(one.roc_auc.value - expected_auc) > 3 * abs(both.roc_auc.value - expected_auc)


def test_a_single_score_column_keeps_its_complement() -> None:
    """A 1-D score's calibration keeps the complement (``1 - score`` as the other class's
    probability); given the window's ``1 - score`` sketch (the CLI makes it from the
    file) the estimate is the two-column one."""
    rng = np.random.default_rng(6)
    z = rng.normal(0.0, 2.0, 30_000)
    p = 1 / (1 + np.exp(-2.5 * z))
    y = (rng.random(z.size) < 1 / (1 + np.exp(-z))).astype(int)
    one = Profile.from_data({"x": z}, predictions=p, labels=y)
    two = Profile.from_data({"x": z}, predictions={"0": 1 - p, "1": p}, labels=y)
    comp = one.calibration["score"].complement
    assert comp is not None and comp.positive_class == "0"
    assert Profile.from_dict(json.loads(json.dumps(one.to_dict()))).calibration == one.calibration
    w = p[:5000]
    sharp = estimate_performance(one.calibration, {"score": _sketch(w)},
                                 complements={"score": _sketch(1 - w)})
    both = estimate_performance(two.calibration, {"0": _sketch(1 - w), "1": _sketch(w)})
    coarse = estimate_performance(one.calibration, {"score": _sketch(w)})
    assert sharp is not None and both is not None and coarse is not None
    assert sharp.roc_auc.value == pytest.approx(both.roc_auc.value, abs=1e-9)
    assert abs(coarse.roc_auc.value - both.roc_auc.value) > 0.005


def test_a_score_profile_reads_a_window_of_class_columns() -> None:
    """A profile built from a 1-D score column (``otel-ml profile --prediction``) and a
    service whose SDK exports predict_proba's two columns by class: same estimate."""
    rng = np.random.default_rng(12)
    p, y, _ = _calibrated(rng, 20_000, 2, 2)
    one = Profile.from_data({"x": p}, predictions=p, labels=y)
    two = Profile.from_data({"x": p}, predictions={"0": 1 - p, "1": p}, labels=y)
    w = p[:3000]
    window = {"0": _sketch(1 - w), "1": _sketch(w)}
    got = estimate_performance(one.calibration, window)
    want = estimate_performance(two.calibration, window)
    assert got is not None and want is not None
    assert got.accuracy.value == pytest.approx(want.accuracy.value, abs=1e-9)
    assert got.roc_auc.value == pytest.approx(want.roc_auc.value, abs=1e-9)
    assert estimate_performance(one.calibration, {"yes": _sketch(w)}) is None


def _multiclass(rng: np.random.Generator, n: int, alpha: tuple[float, ...], power: float = 1.0):
    """Rows whose true class probabilities are ``z ~ Dirichlet(alpha)``, the label drawn
    from them; the model scores ``z ** power`` renormalised (calibrated when 1)."""
    z = rng.dirichlet(alpha, n)
    y = (rng.random(n)[:, None] > np.cumsum(z, axis=1)).sum(axis=1)
    p = z**power
    return p / p.sum(axis=1, keepdims=True), y


def _realised_multiclass(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """scikit-learn's realised metrics: macro averages, one-vs-rest ROC AUC."""
    pred = p.argmax(axis=1)
    kw = {"average": "macro", "zero_division": 0, "labels": [0, 1, 2]}
    return {
        "accuracy": accuracy_score(y, pred),
        "precision": precision_score(y, pred, **kw),
        "recall": recall_score(y, pred, **kw),
        "f1": f1_score(y, pred, **kw),
        "roc_auc": roc_auc_score(y, p, multi_class="ovr", average="macro"),
    }


def _window(p: np.ndarray) -> dict[str, NumericSketch]:
    """A window's sketches as the SDK exports them: each class column, and per class its
    column on the rows it won."""
    cols = {str(i): p[:, i] for i in range(p.shape[1])}
    return {**{k: _sketch(v) for k, v in cols.items()}, **argmax_sketches(cols)}


@pytest.mark.parametrize(
    ("power", "alpha"), [(1.0, (2.0, 1.0, 0.5)), (2.0, (1.0, 1.0, 1.0))]
)
def test_multiclass_band_covers_realised_metrics(power: float, alpha: tuple[float, ...]) -> None:
    """Three classes, reference Dirichlet(1, 1, 1), windows of 1,000 rows: the 95 %
    bands hold scikit-learn's realised accuracy, macro precision / recall / F1 and
    one-vs-rest ROC AUC in most windows (>= 80 % of 40; about 90 % measured), with
    calibrated scores under covariate shift (windows Dirichlet(2, 1, 0.5)), and with
    sharpened scores (``power`` 2) that calibration has to fix. (Sharpened scores under
    covariate shift break CBPE's assumption: the chance that the predicted class is
    right then depends on the other columns too; -0.02 accuracy measured.)"""
    rng = np.random.default_rng(11)
    p, y = _multiclass(rng, 30_000, (1.0, 1.0, 1.0), power)
    cal = score_calibrations({str(i): p[:, i] for i in range(3)}, y)
    assert sorted(cal) == ["0", "1", "2", "argmax:0", "argmax:1", "argmax:2"]
    windows, inside, errors = 40, dict.fromkeys(_realised_multiclass(p, y), 0), []
    for _ in range(windows):
        p, y = _multiclass(rng, 1000, alpha, power)
        est = estimate_performance(cal, _window(p))
        assert est is not None and est.positive_class == "macro"
        real = _realised_multiclass(p, y)
        for name, m in est.metrics().items():
            inside[name] += m.lower <= real[name] <= m.upper
        errors.append([est.metrics()[k].value - real[k] for k in real])
    for name, hits in inside.items():
        assert hits / windows >= 0.8, (name, hits / windows)
    bias = np.mean(errors, axis=0)
    assert np.all(np.abs(bias) < 0.01), dict(zip(inside, bias, strict=True))


def test_multiclass_estimate_round_trips_json_and_needs_every_class() -> None:
    rng = np.random.default_rng(3)
    p, y = _multiclass(rng, 5000, (1.0, 1.0, 1.0))
    cal = score_calibrations({str(i): p[:, i] for i in range(3)}, y)
    window = _window(p[:1000])
    est = estimate_multiclass(cal, window)
    assert est is not None and est.output == "0,1,2" and math.isnan(est.threshold)
    d = json.loads(json.dumps(est.to_dict(), allow_nan=False))
    assert d["threshold"] is None and d["positive_class"] == "macro"
    back = EstimatedPerformance.from_dict(d)
    assert back.accuracy == est.accuracy and math.isnan(back.threshold)
    # A class column missing from the window: nothing to estimate.
    assert estimate_multiclass(cal, {k: v for k, v in window.items() if k != "2"}) is None
    # A class that won no row of the window: its argmax sketch may be absent.
    assert estimate_multiclass(cal, {k: v for k, v in window.items() if k != "argmax:2"})


def test_profile_of_a_probability_matrix_keeps_the_argmax_calibrations() -> None:
    """Profile.from_data with 2-D predictions and labels: per class its column's
    calibration and its column's on the rows it won, through save and load."""
    rng = np.random.default_rng(5)
    p, y = _multiclass(rng, 3000, (1.0, 1.0, 1.0))
    prof = Profile.from_data({"x": p[:, 0]}, predictions=p, labels=y)
    assert sorted(prof.predictions) == ["0", "1", "2"]  # no argmax: output compared
    back = Profile.from_dict(json.loads(json.dumps(prof.to_dict())))
    assert sorted(back.calibration) == ["0", "1", "2", "argmax:0", "argmax:1", "argmax:2"]
    won = back.calibration["argmax:1"]
    assert won.scores.count == int(np.sum(p.argmax(axis=1) == 1))
    assert won.positives.count == int(np.sum((p.argmax(axis=1) == 1) & (y != 1)))  # errors
    est = estimate_performance(back.calibration, _window(p))
    assert est is not None
    assert est.accuracy.value == pytest.approx(np.mean(p.argmax(axis=1) == y), abs=0.02)


def test_roc_auc_counts_the_pairs_a_coarse_bucket_orders() -> None:
    """Calibrated scores uniform on (0, 1) have ROC AUC 5/6; sketched at scale 1 the
    top bucket holds every score from 0.71 to 1. Ties counted half would pull the
    estimate towards 0.5 (0.820 here); the ``n² r / 12`` pairs that the calibrated
    probability's rise across each bucket orders bring it back to the expectation on
    the raw rows (the top bucket's rise is the whole step to its neighbour: with half
    of it the estimate was 0.829)."""
    rng = np.random.default_rng(1)

    def sketch(values: np.ndarray) -> NumericSketch:
        s = NumericSketch(scale=1)
        s.update(values)
        return s

    p = rng.random(200_000)
    y = rng.random(p.size) < p
    cal = ScoreCalibration("score", "1", sketch(p), sketch(p[y]))
    w = rng.random(50_000)
    est = estimate_binary(cal, sketch(w))
    assert est is not None
    order = np.argsort(w)
    pos, neg = w[order], 1 - w[order]
    expected_auc = float((pos * (np.cumsum(neg) - neg)).sum() / (pos.sum() * neg.sum()))
    assert expected_auc == pytest.approx(5 / 6, abs=0.003)
    assert est.roc_auc.value == pytest.approx(expected_auc, abs=0.002)


def test_calibration_is_monotone_in_the_score() -> None:
    """A reference whose rate of positives falls from one bucket to the next (8 of 10
    rows scored 0.6, 2 of 10 scored 0.7: noise in sparse buckets) is pooled into one
    calibrated probability, about 0.5 (isotonic regression; 0.508 with the hundredth of a
    row at its own score that each empty bucket between holds), not read as 0.2 at 0.7."""
    def sketch(values: list[float]) -> NumericSketch:
        s = NumericSketch()
        s.update(np.asarray(values, dtype=float))
        return s

    cal = ScoreCalibration("score", "1", sketch([0.6] * 10 + [0.7] * 10),
                           sketch([0.6] * 8 + [0.7] * 2))
    est = estimate_binary(cal, sketch([0.7] * 100))
    assert est is not None
    assert est.accuracy.value == pytest.approx(0.5, abs=0.01)


def test_a_threshold_inside_a_coarse_bucket_splits_its_rows_linearly() -> None:
    """Scores sketched at scale 0 share one bucket, (0.5, 1], calibrated at 0.8. At a
    threshold of 0.625 a quarter of its width lies below: 75 of 100 rows are predicted
    positive (60 of them positive), 25 negative (20 positive)."""
    def sketch(values: list[float]) -> NumericSketch:
        s = NumericSketch(scale=0)
        s.update(np.asarray(values, dtype=float))
        return s

    cal = ScoreCalibration("score", "1", sketch([0.6] * 500 + [0.9] * 500),
                           sketch([0.6] * 400 + [0.9] * 400))
    est = estimate_binary(cal, sketch([0.7] * 100), threshold=0.625)
    assert est is not None
    got = (est.accuracy.value, est.precision.value, est.recall.value)
    assert got == pytest.approx((0.65, 0.8, 0.75), abs=1e-4)
