"""Model performance metrics on arrays, with mergeable accumulators for streaming.

Classification: accuracy, precision, recall and F1 (binary for two classes,
macro and weighted always), ROC AUC, log loss and Brier score from scores.
Regression: MAE, RMSE, MAPE and R². Definitions follow scikit-learn's (the tests
check them against it). :class:`ConfusionCounts` and
:class:`RegressionAccumulator` merge, so windows can be combined without the raw
rows; the score-based metrics (ROC AUC, log loss) need the scores of the window.

Labels are compared as strings (``1``, ``1.0`` and ``"1"`` are one class), which is
how they travel in OTLP events.

Examples
--------
>>> m = classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], y_score=[0.1, 0.9, 0.4, 0.3])
>>> m.accuracy, m.recall, m.roc_auc
(0.75, 0.5, 1.0)
>>> r = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
>>> round(r.mae, 4), round(r.r2, 4)
(0.6667, -1.0)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from otel_ml.stats._json import float_or_nan, json_number

__all__ = [
    "class_order",
    "ClassificationMetrics",
    "ConfusionCounts",
    "RegressionAccumulator",
    "RegressionMetrics",
    "classification_metrics",
    "regression_metrics",
]

_POSITIVE = ("1", "True", "true", "yes")
_POSITIVE_OF_NEGATIVE = {"0": "1", "False": "True", "false": "true", "no": "yes"}


def class_order(labels: set[str]) -> tuple[str, ...]:
    """Numeric labels in numeric order (scikit-learn's ``classes_`` order, which is also
    the column order of ``predict_proba``: ``"2"`` before ``"10"``), others as strings."""
    try:
        values = {lab: float(lab) for lab in labels}
    except ValueError:
        return tuple(sorted(labels))
    if any(math.isnan(v) for v in values.values()):
        return tuple(sorted(labels))
    return tuple(sorted(labels, key=lambda lab: (values[lab], lab)))


def _labels(y: npt.ArrayLike) -> npt.NDArray[np.str_]:
    x = np.asarray(y).ravel()
    if x.dtype.kind == "f":
        integral = np.isfinite(x) & (x == np.round(x))
        out = x.astype(str)
        out[integral] = x[integral].astype(np.int64).astype(str)
        return out
    return x.astype(str)


@dataclass
class ConfusionCounts:
    """A confusion matrix keyed by label strings; :meth:`merge` adds another.

    >>> c = ConfusionCounts(); c.update(["a", "b", "b"], ["a", "a", "b"])
    >>> c.labels, c.matrix().tolist()
    (('a', 'b'), [[1, 0], [1, 1]])
    """

    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def update(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> None:
        t, p = _labels(y_true), _labels(y_pred)
        if t.size != p.size:
            raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
        if t.size == 0:
            return
        pairs, n = np.unique(np.stack([t, p], axis=1), axis=0, return_counts=True)
        for (a, b), k in zip(pairs.tolist(), n.tolist(), strict=True):
            self.counts[(a, b)] = self.counts.get((a, b), 0) + int(k)

    def merge(self, other: ConfusionCounts) -> None:
        for key, k in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + k

    @property
    def labels(self) -> tuple[str, ...]:
        return class_order({a for a, _ in self.counts} | {b for _, b in self.counts})

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def matrix(self, labels: tuple[str, ...] | None = None) -> npt.NDArray[np.int64]:
        """Rows: true label, columns: predicted label (in ``labels`` order)."""
        labels = labels or self.labels
        index = {lab: i for i, lab in enumerate(labels)}
        m = np.zeros((len(labels), len(labels)), dtype=np.int64)
        for (a, b), k in self.counts.items():
            m[index[a], index[b]] += k
        return m

    def positive_label(self) -> str | None:
        """The positive class of a binary problem (``1``/``True``, else the last label)."""
        labels = self.labels
        if len(labels) != 2:
            return None
        for lab in labels:
            if lab in _POSITIVE:
                return lab
        return labels[-1]


def _ratio(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    out: npt.NDArray[np.float64] = np.divide(a, b, out=np.zeros_like(a), where=b > 0)
    return out


_M = TypeVar("_M", "ClassificationMetrics", "RegressionMetrics")


def _metrics_dict(m: ClassificationMetrics | RegressionMetrics) -> dict[str, Any]:
    return {k: v if k == "n" else json_number(v) for k, v in dataclasses.asdict(m).items()}


def _metrics_of(cls: type[_M], d: Mapping[str, Any]) -> _M:
    values = {f.name: float_or_nan(d.get(f.name)) for f in dataclasses.fields(cls) if f.name != "n"}
    return cls(n=int(d["n"]), **values)


@dataclass(frozen=True)
class ClassificationMetrics:
    """Classification metrics; NaN where a metric does not apply (no scores, not binary).

    ``precision``, ``recall`` and ``f1`` are those of the positive class for a binary
    problem (NaN otherwise); ``*_macro`` / ``*_weighted`` average over the classes
    (unweighted / weighted by support), with 0 for a class never predicted.
    """

    n: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    precision_macro: float
    recall_macro: float
    f1_macro: float
    precision_weighted: float
    recall_weighted: float
    f1_weighted: float
    roc_auc: float
    log_loss: float
    brier: float

    def as_dict(self) -> dict[str, float]:
        """Every metric by name (for export as ``ml.performance.value``)."""
        return {k: float(v) for k, v in dataclasses.asdict(self).items()}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field, NaN as ``None``.

        >>> m = classification_metrics([0, 1], [0, 0])
        >>> m.to_dict()["accuracy"], m.to_dict()["roc_auc"]
        (0.5, None)
        >>> ClassificationMetrics.from_dict(m.to_dict()).to_dict() == m.to_dict()
        True
        """
        return _metrics_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClassificationMetrics:
        """Inverse of :meth:`to_dict` (``None`` or a metric left out reads as NaN)."""
        return _metrics_of(cls, d)


def _from_counts(c: ConfusionCounts) -> dict[str, float]:
    m = c.matrix().astype(np.float64)
    tp = np.diag(m)
    pred, support = m.sum(axis=0), m.sum(axis=1)
    precision, recall = _ratio(tp, pred), _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    n = float(m.sum())
    w = support / n if n else support
    out = {
        "accuracy": float(tp.sum() / n) if n else math.nan,
        "precision_macro": float(precision.mean()) if n else math.nan,
        "recall_macro": float(recall.mean()) if n else math.nan,
        "f1_macro": float(f1.mean()) if n else math.nan,
        "precision_weighted": float(np.sum(w * precision)) if n else math.nan,
        "recall_weighted": float(np.sum(w * recall)) if n else math.nan,
        "f1_weighted": float(np.sum(w * f1)) if n else math.nan,
        "precision": math.nan,
        "recall": math.nan,
        "f1": math.nan,
    }
    pos = c.positive_label()
    if pos is not None:
        i = c.labels.index(pos)
        out.update(precision=float(precision[i]), recall=float(recall[i]), f1=float(f1[i]))
    return out


def _binary_auc(y: npt.NDArray[np.bool_], score: npt.NDArray[np.float64]) -> float:
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(score)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _score_metrics(
    t: npt.NDArray[np.str_], score: npt.NDArray[np.float64], labels: tuple[str, ...]
) -> tuple[float, float, float]:
    """ROC AUC (one-vs-rest macro for several classes), log loss and Brier score."""
    eps = float(np.finfo(np.float64).eps)
    if score.ndim == 1:
        pos = ConfusionCounts({(lab, lab): 1 for lab in labels}).positive_label()
        if pos is None and len(labels) == 1:
            # One class in the window (all positives, say): ROC AUC is undefined (NaN,
            # as scikit-learn says), log loss and Brier are not -- if the class is known
            # to be the positive one or its usual negative.
            (only,) = labels
            pos = only if only in _POSITIVE else _POSITIVE_OF_NEGATIVE.get(only)
            if pos is None:
                return math.nan, math.nan, math.nan
        if pos is None:
            raise ValueError(
                f"1-D scores need exactly two classes, got {len(labels)}: pass one column "
                f"per class, in sorted label order"
            )
        y = t == pos
        p = np.clip(score, eps, 1 - eps)
        loss = -float(np.mean(np.where(y, np.log(p), np.log(1 - p))))
        return _binary_auc(y, score), loss, float(np.mean((score - y) ** 2))
    if score.shape[1] != len(labels):
        raise ValueError(
            f"y_score has {score.shape[1]} columns but there are {len(labels)} classes {labels}"
        )
    onehot = t[:, None] == np.asarray(labels)[None, :]
    aucs = [_binary_auc(onehot[:, j], score[:, j]) for j in range(len(labels))]
    auc = float(np.mean(aucs)) if not any(math.isnan(a) for a in aucs) else math.nan
    p = np.clip(score / score.sum(axis=1, keepdims=True), eps, 1 - eps)
    loss = -float(np.mean(np.log(p[onehot])))
    brier = float(np.mean(np.sum((score - onehot) ** 2, axis=1)))
    if len(labels) == 2:
        auc = aucs[1]
        brier /= 2
    return auc, loss, brier


def classification_metrics(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike,
    y_score: npt.ArrayLike | None = None,
    *,
    labels: tuple[str, ...] | None = None,
) -> ClassificationMetrics:
    """Classification metrics of predicted labels (and optionally scores).

    Parameters
    ----------
    y_true, y_pred
        True and predicted classes.
    y_score
        Optional: for two classes, the positive class's probability (1-D; positive is
        ``1``/``True`` if present, else the last label in sorted order); for any number
        of classes, one probability column per class in ``labels`` order. When the
        window holds one class only, ROC AUC is NaN (undefined); log loss and Brier
        score are computed when that class is ``1``/``True``/``yes`` or ``0``/``False``/
        ``no`` (NaN otherwise: which class the score is for is unknown).
    labels
        The classes (default: the union of ``y_true`` and ``y_pred``, numbers in
        numeric order as scikit-learn's ``classes_``, other labels in string order).

    Examples
    --------
    >>> m = classification_metrics([1, 1, 1], [1, 1, 1], y_score=[0.9, 0.8, 0.4])
    >>> m.roc_auc, round(m.log_loss, 4), round(m.brier, 4)
    (nan, 0.4149, 0.1367)
    """
    c = ConfusionCounts()
    c.update(y_true, y_pred)
    counts = _from_counts(c)
    auc = loss = brier = math.nan
    if y_score is not None and c.total:
        score = np.asarray(y_score, dtype=np.float64)
        auc, loss, brier = _score_metrics(_labels(y_true), score, labels or c.labels)
    return ClassificationMetrics(n=c.total, roc_auc=auc, log_loss=loss, brier=brier, **counts)


@dataclass(frozen=True)
class RegressionMetrics:
    """Regression metrics (NaN when undefined, e.g. R² of a constant target)."""

    n: int
    mae: float
    rmse: float
    mape: float
    r2: float

    def as_dict(self) -> dict[str, float]:
        """Every metric by name (for export as ``ml.performance.value``)."""
        return {k: float(v) for k, v in dataclasses.asdict(self).items()}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field, NaN as ``None``.

        >>> m = regression_metrics([1.0, 2.0], [1.0, 3.0])
        >>> RegressionMetrics.from_dict(m.to_dict()) == m, m.to_dict()["mae"]
        (True, 0.5)
        """
        return _metrics_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RegressionMetrics:
        """Inverse of :meth:`to_dict` (``None`` or a metric left out reads as NaN)."""
        return _metrics_of(cls, d)


@dataclass
class RegressionAccumulator:
    """Sums behind the regression metrics; :meth:`merge` combines windows exactly.

    >>> a = RegressionAccumulator(); a.update([1.0, 2.0], [1.5, 2.0])
    >>> b = RegressionAccumulator(); b.update([3.0], [5.0])
    >>> a.merge(b); m = a.metrics()
    >>> m.n, round(m.mae, 4), round(m.r2, 4)
    (3, 0.8333, -1.125)
    """

    n: int = 0
    abs_error: float = 0.0
    sq_error: float = 0.0
    pct_error: float = 0.0
    mean_y: float = 0.0
    m2_y: float = 0.0  # sum of squared deviations of y_true from its mean

    def update(self, y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> None:
        t = np.asarray(y_true, dtype=np.float64).ravel()
        p = np.asarray(y_pred, dtype=np.float64).ravel()
        if t.size != p.size:
            raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
        e = np.abs(t - p)
        if t.size == 0:
            return
        mean = float(t.mean())
        self.merge(
            RegressionAccumulator(
                n=int(t.size),
                abs_error=float(e.sum()),
                sq_error=float(np.sum(e * e)),
                pct_error=float(np.sum(e / np.maximum(np.abs(t), np.finfo(np.float64).eps))),
                mean_y=mean,
                m2_y=float(np.sum((t - mean) ** 2)),
            )
        )

    def merge(self, other: RegressionAccumulator) -> None:
        """Add ``other`` (Chan et al.'s parallel update for the variance of ``y_true``)."""
        n = self.n + other.n
        if n == 0:
            return
        delta = other.mean_y - self.mean_y
        self.m2_y += other.m2_y + delta * delta * self.n * other.n / n
        self.mean_y += delta * other.n / n
        self.n = n
        self.abs_error += other.abs_error
        self.sq_error += other.sq_error
        self.pct_error += other.pct_error

    def metrics(self) -> RegressionMetrics:
        if self.n == 0:
            return RegressionMetrics(0, math.nan, math.nan, math.nan, math.nan)
        r2 = 1.0 - self.sq_error / self.m2_y if self.m2_y > 0 else math.nan
        return RegressionMetrics(
            n=self.n,
            mae=self.abs_error / self.n,
            rmse=math.sqrt(self.sq_error / self.n),
            mape=self.pct_error / self.n,
            r2=r2,
        )


def regression_metrics(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> RegressionMetrics:
    """MAE, RMSE, MAPE (a fraction, as scikit-learn) and R² of predictions."""
    acc = RegressionAccumulator()
    acc.update(y_true, y_pred)
    return acc.metrics()
