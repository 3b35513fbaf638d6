"""Reading a model's output: class labels, probability matrices, scores or regression values.

The user's result object is only read, never modified or kept.

Examples
--------
>>> import numpy as np
>>> from otel_ml.instrumentation._options import Task
>>> o = interpret(np.array([[0.9, 0.1], [0.2, 0.8]]), Task.AUTO, ("no", "yes"))
>>> sorted(o.scores), o.labels.tolist(), o.values.tolist()
(['no', 'yes'], ['no', 'yes'], [0.1, 0.8])
>>> interpret(np.array([1, 0, 1]), Task.AUTO, None).labels.tolist()
['1', '0', '1']
>>> interpret([2.5, 3.5], Task.REGRESSION, None).values.tolist()
[2.5, 3.5]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_ml.instrumentation._options import Task
from otel_ml.sketch._categorical import _as_strings

__all__ = ["SCORE_OUTPUT", "Outputs", "interpret"]

#: ``ml.prediction.output`` of a 1-D score / regression output.
SCORE_OUTPUT = "score"

_Array = npt.NDArray[Any]


@dataclass
class Outputs:
    """What the monitor records of one result."""

    #: numeric outputs by ``ml.prediction.output`` (a class name, or "score")
    scores: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    #: per-row value for the prediction event (positive-class probability, score, value)
    values: npt.NDArray[np.float64] | None = None
    #: per-row predicted class as a string
    labels: npt.NDArray[np.str_] | None = None

    def rows(self, start: int, stop: int) -> Outputs:
        """The outputs of rows ``start:stop`` (views, no copies)."""
        return Outputs(
            scores={k: v[start:stop] for k, v in self.scores.items()},
            values=None if self.values is None else self.values[start:stop],
            labels=None if self.labels is None else self.labels[start:stop],
        )


def _as_array(result: object) -> _Array | None:
    if isinstance(result, np.ndarray):
        return result
    mod = type(result).__module__.partition(".")[0]
    if mod in ("pandas", "polars") and hasattr(result, "to_numpy"):
        return np.asarray(result.to_numpy())
    if isinstance(result, (list, tuple)):
        try:
            arr = np.asarray(result)
        except (ValueError, TypeError):
            return None
        return None if arr.dtype.kind == "O" and arr.ndim != 1 else arr
    if isinstance(result, (int, float, str, bool, np.generic)):
        return np.asarray([result])
    return None


def _labels(x: _Array) -> npt.NDArray[np.str_]:
    if x.dtype.kind == "O":
        return np.array([str(v)[:256] for v in x], dtype=str)
    return np.asarray(_as_strings(x), dtype=str)


def interpret(result: object, task: Task, class_names: tuple[str, ...] | None) -> Outputs:
    """Scores, event values and labels of ``result`` (empty when unreadable)."""
    arr = _as_array(result)
    out = Outputs()
    if arr is None or arr.size == 0 or arr.ndim > 2:
        return out
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 2:
        if arr.dtype.kind not in "fiub":
            return out
        m = arr.astype(np.float64, copy=False)
        k = m.shape[1]
        names = (
            list(class_names)
            if class_names and len(class_names) == k
            else [str(j) for j in range(k)]
        )
        out.scores = {names[j]: m[:, j] for j in range(k)}
        if task is Task.REGRESSION:
            return out
        best = np.argmax(np.nan_to_num(m, nan=-np.inf), axis=1)
        out.labels = np.asarray(names, dtype=str)[best]
        if k == 2:
            out.values = m[:, 1]
        return out
    kind = arr.dtype.kind
    if kind == "f" and task is not Task.REGRESSION:
        integral = bool(np.all(np.isfinite(arr) & (arr == np.round(arr))))
        if task.is_classification and integral:
            out.labels = _labels(arr)
            return out
    if kind in "fiu" and (kind == "f" or task is Task.REGRESSION):
        v = arr.astype(np.float64, copy=False)
        out.scores = {SCORE_OUTPUT: v}
        out.values = v
        return out
    if kind == "O":
        try:
            v = arr.astype(np.float64)
        except (TypeError, ValueError):
            out.labels = _labels(arr)
            return out
        if task is Task.REGRESSION:
            out.scores, out.values = {SCORE_OUTPUT: v}, v
            return out
    out.labels = _labels(arr)
    return out
