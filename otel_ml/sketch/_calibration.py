"""What a reference profile keeps to calibrate a classifier's scores: one sketch per class.

A profile built with both labels and probability outputs keeps, for each
output that is the probability of one class (a binary model's 1-D ``score``,
or the per-class columns of a probability matrix named by class), two sketches
of that output's values: on the labelled rows, and on the rows whose label is
that class. Together they give, bucket by bucket of the shared exponential
layout, how many reference rows had a score there and how many of them were
positive: a
histogram calibration map, one-vs-rest per class. The statistics layer
(:mod:`otel_ml.stats._estimation`) turns it into calibrated probabilities and
estimated performance (CBPE); no raw row is kept.

Which class a 1-D ``score`` is the probability of: the one whose rows score
higher on average (``predict_proba(X)[:, 1]`` of a model trained on
``["benign", "malignant"]`` labels is the probability of whichever class
scikit-learn put second; the data say which); on a tie, ``"1"`` or ``"True"``
when the labels hold it, else the last of the two labels in class order
(numbers numerically, as scikit-learn's ``classes_``). Labels of more than two
classes with a 1-D score keep no calibration (the score is not one class's
probability).

A probability matrix of three or more class columns (multiclass) also keeps,
per class ``c``, a calibration on the rows where ``c`` is the predicted class
(the largest column, the first on a tie, as ``argmax``), under the output name
``argmax:<class>`` (:data:`~otel_ml.semconv.PREDICTION_OUTPUT_ARGMAX_PREFIX`):
the sketch of ``1 - p_c`` on those rows, and on those of them whose label is
*not* ``c`` (the errors): the calibrated probability that a prediction is wrong,
which multiclass accuracy needs. ``1 - p_c`` rather than ``p_c``: the
exponential layout is finest near 0, so a confident prediction (``p_c`` near 1)
keeps its resolution. The SDK exports the same sketches of a window
(:func:`argmax_sketches`).

Examples
--------
>>> import numpy as np
>>> cal = score_calibrations({"score": np.array([0.2, 0.9, 0.7])}, np.array([0, 1, 0]))
>>> c = cal["score"]
>>> c.positive_class, c.scores.count, c.positives.count, c.positives.max
('1', 3, 1, 0.9)
>>> ScoreCalibration.from_dict(c.to_dict()) == c
True
>>> flipped = score_calibrations({"score": np.array([0.2, 0.9, 0.7])}, ["yes", "no", "no"])
>>> flipped["score"].positive_class
'no'

Three classes: each column's one-vs-rest calibration, and per class its probability
on the rows it wins.

>>> probs = {"a": np.array([0.6, 0.1, 0.2, 0.5]), "b": np.array([0.3, 0.8, 0.2, 0.4]),
...          "c": np.array([0.1, 0.1, 0.6, 0.1])}
>>> cal = score_calibrations(probs, ["a", "b", "b", "c"])
>>> sorted(cal)
['a', 'argmax:a', 'argmax:b', 'argmax:c', 'b', 'c']
>>> w = cal["argmax:a"]
>>> w.positive_class, w.scores.count, w.positives.count, cal["argmax:c"].positives.count
('a', 2, 1, 1)
>>> {k: s.count for k, s in argmax_sketches(probs).items()}
{'argmax:a': 2, 'argmax:b': 1, 'argmax:c': 1}

"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_ml import semconv
from otel_ml.sketch._categorical import _as_strings
from otel_ml.sketch._numeric import NumericSketch

__all__ = [
    "ScoreCalibration",
    "argmax_sketches",
    "class_columns",
    "positive_class",
    "score_calibrations",
]


@dataclass(frozen=True)
class ScoreCalibration:
    """The scores of prediction output ``output`` on the labelled reference rows
    (``scores``) and on those labelled ``positive_class`` (``positives``).

    An ``argmax:<class>`` calibration (multiclass) holds ``1 - p`` of the rows the
    class won, and in ``positives`` those of them labelled otherwise (the errors)."""

    output: str
    positive_class: str
    scores: NumericSketch
    positives: NumericSketch
    complement: ScoreCalibration | None = None
    """For a binary 1-D ``score``: the same rows' ``1 - score`` as the probability of the
    other class (finest where the score's own buckets are coarsest, near 1)."""

    def merged(self, other: ScoreCalibration) -> ScoreCalibration:
        """The calibration of both parts' rows (a new object)."""
        s, p = self.scores.copy(), self.positives.copy()
        s.merge(other.scores)
        p.merge(other.positives)
        complement = None
        if self.complement is not None and other.complement is not None:
            complement = self.complement.merged(other.complement)
        return ScoreCalibration(self.output, self.positive_class, s, p, complement)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "output": self.output,
            "class": self.positive_class,
            "scores": self.scores.to_dict(),
            "positives": self.positives.to_dict(),
        }
        if self.complement is not None:
            d["complement"] = self.complement.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScoreCalibration:
        comp = d.get("complement")
        return cls(
            str(d["output"]),
            str(d["class"]),
            NumericSketch.from_dict(d["scores"]),
            NumericSketch.from_dict(d["positives"]),
            None if comp is None else cls.from_dict(comp),
        )


def positive_class(classes: set[str]) -> str | None:
    """The class a binary model's 1-D score is the probability of (``None`` unless one
    or two classes).

    >>> positive_class({"0", "1"}), positive_class({"no", "yes"}), positive_class({"2", "10"})
    ('1', 'yes', '10')
    """
    if not 1 <= len(classes) <= 2:
        return None
    for c in ("1", "True"):
        if c in classes:
            return c

    def order(c: str) -> tuple[float, str]:
        try:
            v = float(c)
        except ValueError:
            return (math.inf, c)
        return (v if math.isfinite(v) else math.inf, c)

    return sorted(classes, key=order)[-1]


def _is_class_column(name: str) -> bool:
    return not (
        name == semconv.PREDICTION_OUTPUT_SCORE
        or name.startswith(
            (semconv.PREDICTION_OUTPUT_DECISION, semconv.PREDICTION_OUTPUT_ARGMAX_PREFIX)
        )
    )


def class_columns(
    predictions: Mapping[str, npt.ArrayLike],
) -> tuple[list[str], npt.NDArray[np.float64]] | None:
    """The probability columns of a multiclass output, by class name, and the ``(rows,
    classes)`` matrix of them; ``None`` unless three or more class-named numeric
    columns of one length hold values in ``[0, 1]`` (NaN allowed)."""
    names: list[str] = []
    cols: list[npt.NDArray[np.float64]] = []
    for name, values in predictions.items():
        if not _is_class_column(name):
            continue
        v = np.asarray(values)
        if v.dtype.kind not in "fiu" or v.ndim != 1 or (cols and v.size != cols[0].size):
            return None
        names.append(name)
        cols.append(v.astype(np.float64, copy=False))
    if len(cols) < 3:
        return None
    matrix = np.column_stack(cols)
    with np.errstate(invalid="ignore"):
        if np.any(matrix < 0.0) or np.any(matrix > 1.0):
            return None
    return names, matrix


def _winners(matrix: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Per row the predicted class (the largest column, the first on a tie) and whether
    the row's scores are all finite (rows with a NaN are nobody's)."""
    finite = np.asarray(np.isfinite(matrix).all(axis=1), dtype=np.bool_)
    won: npt.NDArray[np.intp] = np.argmax(np.where(np.isfinite(matrix), matrix, -1.0), axis=1)
    return won, finite


def argmax_sketches(predictions: Mapping[str, npt.ArrayLike]) -> dict[str, NumericSketch]:
    """Per class ``c`` of a multiclass probability output, the sketch of ``1 - p_c`` on
    the rows where it is the predicted class, named ``argmax:<class>`` (one argmax for
    the whole batch); empty unless :func:`class_columns` finds three classes."""
    found = class_columns(predictions)
    if found is None:
        return {}
    names, matrix = found
    won, finite = _winners(matrix)
    out: dict[str, NumericSketch] = {}
    for i, name in enumerate(names):
        sketch = NumericSketch()
        rows = finite & (won == i)
        if rows.any():
            sketch.update(1.0 - matrix[rows, i])
        out[semconv.PREDICTION_OUTPUT_ARGMAX_PREFIX + name] = sketch
    return out


def _label_strings(labels: npt.ArrayLike) -> tuple[npt.NDArray[np.str_], npt.NDArray[np.bool_]]:
    """Labels as class strings, and where a label is present (not None / NaN / empty)."""
    x = np.asarray(labels).ravel()
    if x.dtype.kind == "f":
        present = ~np.isnan(x)
    elif x.dtype.kind == "O":
        present = np.array([v is not None and v == v for v in x], dtype=bool)
    else:
        present = np.ones(x.shape, dtype=bool)
    strings = _as_strings(x)
    return strings, present & (strings != "")


def score_calibrations(
    predictions: Mapping[str, npt.ArrayLike], labels: npt.ArrayLike
) -> dict[str, ScoreCalibration]:
    """Per probability output, the sketch of its scores on the rows of its class.

    ``predictions`` are numeric outputs by name (``"score"`` for a 1-D output, else
    class names); outputs that are not numbers in ``[0, 1]`` or match no class are left
    out. Rows without a label or with a non-finite score take no part.
    """
    y, present = _label_strings(labels)
    classes = set(np.unique(y[present]).tolist())
    out: dict[str, ScoreCalibration] = {}
    for name, values in predictions.items():
        v = np.asarray(values).ravel()
        if v.dtype.kind not in "fiu" or v.shape != y.shape:
            continue
        v = v.astype(np.float64, copy=False)
        ok = present & np.isfinite(v)
        if not ok.any() or v[ok].min() < 0.0 or v[ok].max() > 1.0:
            continue
        cls = positive_class(classes) if name == semconv.PREDICTION_OUTPUT_SCORE else name
        if cls is None or cls not in classes:
            continue
        if name == semconv.PREDICTION_OUTPUT_SCORE and len(classes) == 2:
            other = next(c for c in classes if c != cls)
            if v[ok & (y == other)].mean() > v[ok & (y == cls)].mean():
                cls = other
        out[name] = _calibration(name, cls, v, y, ok)
        if name == semconv.PREDICTION_OUTPUT_SCORE and len(classes) == 2:
            other = next(c for c in classes if c != cls)
            complement = _calibration(name, other, 1.0 - v, y, ok)
            out[name] = dataclasses.replace(out[name], complement=complement)
    found = class_columns(predictions)
    if found is not None and found[1].shape[0] == y.size:
        names, matrix = found
        won, finite = _winners(matrix)
        for i, name in enumerate(names):
            if name not in classes:
                continue
            ok = present & finite & (won == i)
            rest = 1.0 - matrix[:, i]
            scores, errors = NumericSketch(), NumericSketch()
            scores.update(rest[ok])
            errors.update(rest[ok & (y != name)])
            key = semconv.PREDICTION_OUTPUT_ARGMAX_PREFIX + name
            out[key] = ScoreCalibration(key, name, scores, errors)
    return out


def _calibration(
    name: str, cls: str, v: npt.NDArray[np.float64], y: npt.NDArray[np.str_],
    ok: npt.NDArray[np.bool_],
) -> ScoreCalibration:
    scores, positives = NumericSketch(), NumericSketch()
    scores.update(v[ok])
    positives.update(v[ok & (y == cls)])
    return ScoreCalibration(name, cls, scores, positives)
