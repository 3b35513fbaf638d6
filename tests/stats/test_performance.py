"""Performance metrics checked against scikit-learn on the same arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from otel_ml.stats import (
    ClassificationMetrics,
    ConfusionCounts,
    RegressionAccumulator,
    classification_metrics,
    regression_metrics,
)


def _check_counts(
    m: ClassificationMetrics, y: np.ndarray, p: np.ndarray, binary_pos: object | None
) -> None:
    assert m.accuracy == pytest.approx(skm.accuracy_score(y, p))
    for avg in ("macro", "weighted"):
        kw = {"average": avg, "zero_division": 0}
        assert getattr(m, f"precision_{avg}") == pytest.approx(skm.precision_score(y, p, **kw))
        assert getattr(m, f"recall_{avg}") == pytest.approx(skm.recall_score(y, p, **kw))
        assert getattr(m, f"f1_{avg}") == pytest.approx(skm.f1_score(y, p, **kw))
    if binary_pos is not None:
        kw = {"pos_label": binary_pos, "zero_division": 0}
        assert m.precision == pytest.approx(skm.precision_score(y, p, **kw))
        assert m.recall == pytest.approx(skm.recall_score(y, p, **kw))
        assert m.f1 == pytest.approx(skm.f1_score(y, p, **kw))


def test_binary_classification_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2_000)
    score = np.clip(0.3 * y + rng.uniform(0, 0.7, y.size), 0, 1)
    score[:20] = 0.5  # ties
    pred = (score > 0.5).astype(int)
    m = classification_metrics(y, pred, y_score=score)
    _check_counts(m, y, pred, 1)
    assert m.roc_auc == pytest.approx(skm.roc_auc_score(y, score))
    assert m.log_loss == pytest.approx(skm.log_loss(y, score))
    assert m.brier == pytest.approx(skm.brier_score_loss(y, score))
    assert m.n == 2_000
    assert set(m.as_dict()) >= {"accuracy", "f1_macro", "roc_auc", "log_loss", "brier"}


def test_binary_string_labels_and_positive_class() -> None:
    rng = np.random.default_rng(1)
    y = rng.choice(["no", "yes"], 500)
    pred = np.where(rng.uniform(size=500) < 0.8, y, rng.choice(["no", "yes"], 500))
    score = np.where(pred == "yes", 0.8, 0.2)
    m = classification_metrics(y, pred, y_score=score)
    _check_counts(m, y, pred, "yes")
    assert m.roc_auc == pytest.approx(skm.roc_auc_score(y == "yes", score))
    assert m.log_loss == pytest.approx(skm.log_loss(y, score))


def test_multiclass_matches_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 3_000)
    logits = rng.normal(size=(3_000, 4)) + 1.5 * np.eye(4)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    pred[:50] = 3  # some skew
    m = classification_metrics(y, pred, y_score=proba)
    _check_counts(m, y, pred, None)
    assert math.isnan(m.f1)
    assert m.roc_auc == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert m.log_loss == pytest.approx(skm.log_loss(y, proba))
    assert m.brier == pytest.approx(skm.brier_score_loss(y, proba))


def test_class_never_predicted_counts_as_zero() -> None:
    y = np.array([0, 1, 2, 2, 1, 0])
    p = np.array([0, 1, 1, 1, 1, 0])
    m = classification_metrics(y, p)
    _check_counts(m, y, p, None)
    assert math.isnan(m.roc_auc)


def test_bad_scores_raise_with_the_reason() -> None:
    with pytest.raises(ValueError, match="1-D scores need exactly two classes"):
        classification_metrics([0, 1, 2], [0, 1, 2], y_score=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="3 columns but there are 2 classes"):
        classification_metrics([0, 1], [0, 1], y_score=np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match="2 values but y_pred has 3"):
        classification_metrics([0, 1], [0, 1, 1])


@pytest.mark.filterwarnings("ignore:A single label was found")
@settings(deadline=None, max_examples=40)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("abc")), min_size=1,
                max_size=60), st.integers(0, 60))
def test_confusion_counts_merge_equals_whole(pairs: list[tuple[str, str]], cut: int) -> None:
    y = [a for a, _ in pairs]
    p = [b for _, b in pairs]
    whole = ConfusionCounts()
    whole.update(y, p)
    a, b = ConfusionCounts(), ConfusionCounts()
    a.update(y[:cut], p[:cut])
    b.update(y[cut:], p[cut:])
    b.merge(a)
    assert b.counts == whole.counts
    labels = whole.labels
    assert np.array_equal(whole.matrix(), skm.confusion_matrix(y, p, labels=list(labels)))


def test_integer_and_float_labels_are_one_class() -> None:
    c = ConfusionCounts()
    c.update([1, 0], [1.0, 0.0])
    c.update(["1"], ["0"])
    assert c.labels == ("0", "1") and c.matrix().tolist() == [[1, 0], [1, 1]]


def test_regression_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(1_000, 50, 5_000)
    pred = y + rng.normal(0, 10, y.size)
    m = regression_metrics(y, pred)
    assert m.mae == pytest.approx(skm.mean_absolute_error(y, pred))
    assert m.rmse == pytest.approx(math.sqrt(skm.mean_squared_error(y, pred)))
    assert m.mape == pytest.approx(skm.mean_absolute_percentage_error(y, pred))
    assert m.r2 == pytest.approx(skm.r2_score(y, pred))
    # A zero target: MAPE uses the same epsilon as scikit-learn.
    y0, p0 = np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.0, 1.0])
    assert regression_metrics(y0, p0).mape == pytest.approx(
        skm.mean_absolute_percentage_error(y0, p0)
    )
    assert math.isnan(regression_metrics([2.0, 2.0], [1.0, 2.0]).r2)


@settings(deadline=None, max_examples=40)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), min_size=2, max_size=80),
       st.integers(0, 80))
def test_regression_accumulator_merge_equals_whole(
    pairs: list[tuple[float, float]], cut: int
) -> None:
    y = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs])
    a, b = RegressionAccumulator(), RegressionAccumulator()
    a.update(y[:cut], p[:cut])
    b.update(y[cut:], p[cut:])
    a.merge(b)
    merged, whole = a.metrics(), regression_metrics(y, p)
    assert merged.n == whole.n
    assert merged.mae == pytest.approx(whole.mae, rel=1e-9, abs=1e-9)
    assert merged.rmse == pytest.approx(whole.rmse, rel=1e-9, abs=1e-9)
    if not math.isnan(whole.r2) and np.var(y) > 1e-6:
        assert merged.r2 == pytest.approx(whole.r2, rel=1e-6, abs=1e-6)
        assert whole.r2 == pytest.approx(skm.r2_score(y, p), rel=1e-6, abs=1e-6)


def test_one_class_window_with_scores_matches_sklearn() -> None:
    """A window whose labels and predictions are all one class: ROC AUC is undefined
    (NaN; scikit-learn warns and returns NaN), log loss and Brier are defined."""
    score = np.array([0.9, 0.8, 0.4, 0.7])
    for cls in (1, 0):
        y = np.full(4, cls)
        m = classification_metrics(y, y, y_score=score)
        assert math.isnan(m.roc_auc) and m.accuracy == 1.0
        assert m.log_loss == pytest.approx(skm.log_loss(y, score, labels=[0, 1]))
        assert m.brier == pytest.approx(skm.brier_score_loss(y, score, pos_label=1))
    yes = classification_metrics(["yes"] * 3, ["yes"] * 3, y_score=[0.9, 0.8, 0.4])
    assert yes.log_loss == pytest.approx(skm.log_loss([1, 1, 1], [0.9, 0.8, 0.4], labels=[0, 1]))
    # A class that may be either side: the score's meaning is unknown, nothing is guessed.
    cat = classification_metrics(["cat"] * 3, ["cat"] * 3, y_score=[0.9, 0.8, 0.4])
    assert math.isnan(cat.log_loss) and math.isnan(cat.brier) and cat.accuracy == 1.0


def test_constant_predictions_and_scores_match_sklearn() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    pred = np.zeros(300, dtype=int)  # never predicts the positive class
    score = np.full(300, 0.3)
    m = classification_metrics(y, pred, y_score=score)
    _check_counts(m, y, pred, 1)
    assert m.precision == 0.0 and m.recall == 0.0
    assert m.roc_auc == pytest.approx(skm.roc_auc_score(y, score)) == 0.5
    assert m.log_loss == pytest.approx(skm.log_loss(y, score))
    assert m.brier == pytest.approx(skm.brier_score_loss(y, score))


def test_empty_inputs_give_nan_not_an_error() -> None:
    m = classification_metrics([], [], y_score=[])
    assert m.n == 0 and all(math.isnan(v) for k, v in m.as_dict().items() if k != "n")
    r = regression_metrics([], [])
    assert r.n == 0 and all(math.isnan(v) for k, v in r.as_dict().items() if k != "n")
    assert RegressionAccumulator().metrics() == r


def test_many_numeric_classes_follow_sklearn_column_order() -> None:
    """12 classes: ``predict_proba`` columns are in numeric order (..., 9, 10, 11), not
    string order ("1", "10", "11", "2", ...)."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 12, 4_000)
    logits = rng.normal(size=(4_000, 12)) + 2.0 * np.eye(12)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    m = classification_metrics(y, pred, y_score=proba)
    _check_counts(m, y, pred, None)
    assert m.roc_auc == pytest.approx(skm.roc_auc_score(y, proba, multi_class="ovr"))
    assert m.log_loss == pytest.approx(skm.log_loss(y, proba))
    # Binary labels 2 and 10: the positive (last) class is 10, as in classes_ == [2, 10].
    yb = rng.choice([2, 10], 500)
    sb = np.clip(0.4 * (yb == 10) + rng.uniform(0, 0.6, 500), 0, 1)
    mb = classification_metrics(yb, np.where(sb > 0.5, 10, 2), y_score=sb)
    assert mb.roc_auc == pytest.approx(skm.roc_auc_score(yb, sb))
    assert mb.log_loss == pytest.approx(skm.log_loss(yb, sb))


def test_multiclass_window_missing_a_class_has_undefined_auc() -> None:
    """Macro one-vs-rest AUC needs every class in the window (scikit-learn raises)."""
    y = np.array([0, 1, 0, 1])
    proba = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.5, 0.3, 0.2], [0.1, 0.8, 0.1]])
    m = classification_metrics(y, y, y_score=proba, labels=("0", "1", "2"))
    assert math.isnan(m.roc_auc)
    assert m.log_loss == pytest.approx(skm.log_loss(y, proba, labels=[0, 1, 2]))


def test_metrics_json_round_trips_with_nan_as_null() -> None:
    import json

    from otel_ml.stats import ClassificationMetrics, RegressionMetrics

    c = classification_metrics(["a", "b", "c"], ["a", "b", "b"])  # no scores: AUC NaN
    d = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert d["roc_auc"] is None and d["n"] == 3
    back = ClassificationMetrics.from_dict(d)
    assert math.isnan(back.roc_auc) and back.to_dict() == c.to_dict()
    r = regression_metrics([1.0, 2.0, 4.0], [1.5, 2.0, 3.0])
    assert RegressionMetrics.from_dict(json.loads(json.dumps(r.to_dict()))) == r
