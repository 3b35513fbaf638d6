"""Reading a model's output: class labels, probability matrices, scores or regression values.

The user's result object is only read, never modified or kept.

What an output is also depends on the method that returned it (the
operation), so that each ``ml.prediction.values`` stream holds one kind of
number and prediction drift compares like with like:

- ``predict_log_proba``: log-probabilities are read as the probabilities they
  stand for (``exp``), in the same per-class streams as ``predict_proba``
  (so a reference built from probabilities applies to both);
- ``decision_function``: decision values (margins, not probabilities) get
  their own streams, ``decision`` for a 1-D output and ``decision:<class>``
  per column; the predicted class is read from them (``> 0`` for two
  classes, the largest column otherwise) and the prediction event carries
  that class but no values (the evaluator reads event values as
  probabilities); ``predict_margin`` (the raw margins of a gradient-boosted
  model: XGBoost's ``output_margin``, LightGBM's ``raw_score``, CatBoost's
  ``RawFormulaVal`` of a classifier) is read the same way;
- anything else: probability matrices per class, a 1-D float output as
  ``score``, class labels.

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
>>> d = interpret(np.array([-1.5, 0.5]), Task.AUTO, ("no", "yes"), operation=DECISION_FUNCTION)
>>> list(d.scores), d.labels.tolist(), d.values
(['decision'], ['no', 'yes'], None)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_ml import semconv
from otel_ml.instrumentation._options import Task
from otel_ml.sketch._categorical import _as_strings

__all__ = [
    "DECISION_FUNCTION",
    "MARGIN_OPERATIONS",
    "PREDICT_LOG_PROBA",
    "PREDICT_MARGIN",
    "SCORE_OUTPUT",
    "Outputs",
    "interpret",
    "private_result",
]

#: ``ml.prediction.output`` of a 1-D score / regression output.
SCORE_OUTPUT = semconv.PREDICTION_OUTPUT_SCORE

#: Operations whose outputs are read differently (see the module docstring).
PREDICT_LOG_PROBA = "predict_log_proba"
DECISION_FUNCTION = "decision_function"
PREDICT_MARGIN = "predict_margin"
#: Operations returning margins (decision values), not probabilities.
MARGIN_OPERATIONS = frozenset({DECISION_FUNCTION, PREDICT_MARGIN})

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


def _decision(arr: _Array, class_names: tuple[str, ...] | None) -> Outputs:
    """Decision values: their own streams, the class read from them, no event values."""
    out = Outputs()
    if arr.dtype.kind not in "fiub":
        return out
    m = arr.astype(np.float64, copy=False)
    prefix = semconv.PREDICTION_OUTPUT_DECISION
    if m.ndim == 1:
        out.scores = {prefix: m}
        if class_names is not None and len(class_names) == 2:
            out.labels = np.asarray(class_names, dtype=str)[(m > 0).astype(np.intp)]
        return out
    k = m.shape[1]
    names = [str(j) for j in range(k)]
    per_class = class_names is not None and len(class_names) == k
    if class_names is not None and per_class:  # one column per class, not the pairs of "ovo"
        names = list(class_names)
    out.scores = {f"{prefix}:{names[j]}": m[:, j] for j in range(k)}
    if per_class:
        best = np.argmax(np.nan_to_num(m, nan=-np.inf), axis=1)
        out.labels = np.asarray(names, dtype=str)[best]
    return out


def private_result(
    result: object, task: Task, class_names: tuple[str, ...] | None, *, operation: str
) -> Outputs | _Array:
    """What the worker reads later: a private copy of a numpy result, else its reading now.

    An :class:`Outputs` is a result a framework instrumentor has read already (a tensor's
    probabilities or logits, ONNX Runtime's outputs): taken as it is. Log-probabilities
    are copied as probabilities (they then read as ``predict_proba`` results do, in bulk
    with them); decision values are read now.
    """
    if isinstance(result, np.ndarray) and operation not in MARGIN_OPERATIONS:
        if operation == PREDICT_LOG_PROBA and result.dtype.kind == "f":
            return np.exp(result)
        return result.copy()
    return interpret(result, task, class_names, operation=operation)


def interpret(
    result: object,
    task: Task,
    class_names: tuple[str, ...] | None,
    *,
    operation: str = "predict",
) -> Outputs:
    """Scores, event values and labels of ``result`` (empty when unreadable).

    ``operation`` is the method (or ``ml.operation``) that returned it. An
    :class:`Outputs` (read already by a framework instrumentor) is returned as it is.
    """
    if isinstance(result, Outputs):
        return result
    arr = _as_array(result)
    out = Outputs()
    if arr is None or arr.size == 0 or arr.ndim > 2:
        return out
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if operation in MARGIN_OPERATIONS:
        return _decision(arr, class_names)
    if operation == PREDICT_LOG_PROBA and arr.dtype.kind == "f":
        arr = np.exp(arr)  # a new array: the user's result is not touched
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
