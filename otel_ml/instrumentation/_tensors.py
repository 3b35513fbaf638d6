"""Reading tensors and ONNX feeds as features, and tensor outputs as predictions (numpy only).

The PyTorch and ONNX Runtime instrumentors turn what the framework holds into
numpy arrays (views of CPU memory, no copies) and hand them here; nothing in
this module imports a framework.

Inputs (:func:`feature_input`, :func:`feed_input`):

- a 0-D, 1-D or 2-D array is read as the SDK reads numpy input: 2-D is one
  row per sample and one feature per column (named by position, ``f0``,
  ``f1``... unless the model's ``feature_names`` say otherwise), 1-D is one
  sample;
- an array of rank 3 or more (images, sequences, embeddings) is one row per
  sample (the first axis) described by :data:`SUMMARY_STATISTICS` of the
  values of each sample: ``input.mean``, ``input.std``, ``input.min``,
  ``input.max`` (four passes over the values, nothing else is kept; the
  values of a sample that holds NaN give NaN, counted as missing);
- an ONNX feed (a dict of arrays, one per graph input): one input of rank
  2 or less is read as above; several inputs are named by the graph: an
  input of width one (``(n,)`` or ``(n, 1)``) is the feature ``<input>``, a
  wider one gives ``<input>[0]``, ``<input>[1]``..., a rank-3+ one its
  summaries ``<input>.mean``...; inputs whose first axis is not the batch
  size of the first input are skipped (counted as unreadable).

Outputs (:func:`read_outputs`): probabilities and logits are told apart by
their values. A 2-D float output whose rows are in ``[0, 1]`` and sum to 1
(within 1e-3) is read as class probabilities (the per-class streams, the
predicted class, and the positive-class probability in the event for two
classes); any other 2-D float output is raw scores -- logits, margins -- and
gets its own streams, ``decision:<class>`` (:data:`~otel_ml.semconv.PREDICTION_OUTPUT_DECISION`),
with the predicted class read as the largest column and no value in the
event (the evaluator reads event values as probabilities). A 1-D (or
``(n, 1)``) float output is a score / regression value (``score``); an
integer, boolean or string 1-D output is the predicted class.

Examples
--------
>>> import numpy as np
>>> images = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
>>> cols = feature_input(images)
>>> sorted(cols), cols["input.mean"].tolist()
(['input.max', 'input.mean', 'input.min', 'input.std'], [5.5, 17.5])
>>> feed_input({"age": np.array([[30.0], [40.0]]), "plan": np.array([1, 2])})["age"].tolist()
[30.0, 40.0]
>>> out = read_outputs([np.array([[2.0, -1.0], [0.5, 3.0]])], None, Task.AUTO)
>>> sorted(out.scores), out.labels.tolist(), out.values
(['decision:0', 'decision:1'], ['0', '1'], None)
>>> probabilities = np.array([[0.9, 0.1], [0.2, 0.8]])
>>> read_outputs([probabilities], None, Task.AUTO).tolist()  # read as predict_proba's
[[0.9, 0.1], [0.2, 0.8]]
>>> out = read_outputs([np.array([1, 0]), probabilities], None, Task.AUTO)
>>> sorted(out.scores), out.labels.tolist(), out.values.tolist()
(['0', '1'], ['1', '0'], [0.1, 0.8])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from otel_ml import semconv
from otel_ml.instrumentation._inputs import SMALL_BATCH
from otel_ml.instrumentation._options import Task
from otel_ml.instrumentation._outputs import DECISION_FUNCTION, Outputs, _labels, interpret

__all__ = [
    "INPUT_PREFIX",
    "SUMMARY_STATISTICS",
    "feature_input",
    "feed_input",
    "is_probabilities",
    "read_outputs",
    "zipmap_matrix",
]

_Array = npt.NDArray[Any]

#: Per-sample statistics that describe one sample of a rank-3+ input.
SUMMARY_STATISTICS: Final = semconv.TENSOR_SUMMARY_STATISTICS

#: Name of a tensor input's summaries (``input.mean``...): a module's argument has no name.
INPUT_PREFIX: Final = semconv.TENSOR_INPUT_FEATURE

#: Tolerance on the row sums of a probability matrix (float32 softmax rounding).
_SUM_TOLERANCE: Final = 1e-3


def _numeric(x: _Array) -> bool:
    return x.dtype.kind in "fiub"


def summaries(x: _Array, prefix: str = INPUT_PREFIX) -> dict[str, npt.NDArray[np.float64]]:
    """Per-sample mean, std, min and max of a rank-2+ array (first axis = samples).

    >>> summaries(np.array([[[1.0, 3.0]], [[2.0, 2.0]]]))["input.std"].tolist()
    [1.0, 0.0]
    >>> summaries(np.zeros((0, 3, 2)))["input.mean"].shape
    (0,)
    """
    n = int(x.shape[0])
    if not _numeric(x):
        return {}
    flat = x.reshape(n, int(np.prod(x.shape[1:])))  # not -1: an empty batch has no size
    if flat.dtype.kind != "f":
        flat = flat.astype(np.float64)
    if flat.shape[1] == 0:
        empty = np.full(n, np.nan)
        return {f"{prefix}.{s}": empty for s in SUMMARY_STATISTICS}
    with np.errstate(all="ignore"):
        mean = flat.mean(axis=1, dtype=np.float64)
        values = (
            mean,
            flat.std(axis=1, dtype=np.float64),
            flat.min(axis=1).astype(np.float64),
            flat.max(axis=1).astype(np.float64),
        )
    return {f"{prefix}.{s}": v for s, v in zip(SUMMARY_STATISTICS, values, strict=True)}


def feature_input(x: _Array) -> object:
    """What the monitor describes of one array: itself up to 2-D, else per-sample summaries.

    A small array is copied (the caller may reuse its memory once the call returns,
    while the SDK reads small calls later, off the calling thread).

    >>> feature_input(np.ones((2, 3))).shape
    (2, 3)
    """
    if x.ndim <= 2:
        return x.copy() if x.ndim < 2 or x.shape[0] <= SMALL_BATCH else x
    return summaries(x)


def feed_input(feed: Mapping[str, _Array]) -> object:
    """What the monitor describes of an ONNX feed (see the module docstring)."""
    arrays = [(str(k), v) for k, v in feed.items() if isinstance(v, np.ndarray)]
    if len(arrays) == 1:
        return feature_input(arrays[0][1])
    columns: dict[str, _Array] = {}
    n: int | None = None
    for name, x in arrays:
        if x.ndim == 0:
            continue
        if n is None:
            n = int(x.shape[0])
        if int(x.shape[0]) != n:
            continue
        if x.ndim >= 3:
            columns.update(summaries(x, name))
        elif x.ndim == 1 or x.shape[1] == 1:
            columns[name] = x.reshape(n)
        else:
            columns.update({f"{name}[{j}]": x[:, j] for j in range(x.shape[1])})
    return columns


def is_probabilities(m: _Array) -> bool:
    """Whether a 2-D float matrix is class probabilities: in ``[0, 1]``, rows summing to 1.

    >>> is_probabilities(np.array([[0.25, 0.75]])), is_probabilities(np.array([[2.0, -1.0]]))
    (True, False)
    """
    if m.ndim != 2 or m.shape[1] < 2 or m.dtype.kind != "f" or m.size == 0:
        return False
    if not (m.min() >= 0.0 and m.max() <= 1.0):  # False with NaN too
        return False
    return bool(np.abs(m.sum(axis=1, dtype=np.float64) - 1.0).max() <= _SUM_TOLERANCE)


def zipmap_matrix(rows: Sequence[Mapping[Any, Any]]) -> tuple[_Array, tuple[str, ...]] | None:
    """A probability matrix and its class names from ONNX ``ZipMap`` output (dicts per row).

    >>> m, names = zipmap_matrix([{0: 0.9, 1: 0.1}, {0: 0.3, 1: 0.7}])
    >>> m.tolist(), names
    ([[0.9, 0.1], [0.3, 0.7]], ('0', '1'))
    """
    if not rows or not isinstance(rows[0], Mapping):
        return None
    keys = list(rows[0])
    try:
        m = np.array([[float(r[k]) for k in keys] for r in rows], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    return m, tuple(str(k) for k in keys)


def _private(x: _Array) -> _Array:
    """A private copy of a small output (read later by the worker), else the array itself."""
    return x.copy() if x.ndim == 0 or x.shape[0] <= SMALL_BATCH else x


def _as_matrix(value: object) -> tuple[_Array, tuple[str, ...] | None] | None:
    if isinstance(value, np.ndarray):
        return value, None
    if isinstance(value, list):
        return zipmap_matrix(value)
    return None


def read_outputs(
    values: Sequence[object], class_names: tuple[str, ...] | None, task: Task
) -> Outputs | _Array:
    """Read a model's output arrays (ONNX Runtime's list, or a tensor's array) as predictions.

    ``values``: the outputs in order (numpy arrays, or ZipMap lists of dicts). A 1-D
    class output next to a probability (or score) matrix gives the predicted class; the
    matrix gives the per-class streams.

    One output the SDK reads as it reads ``predict_proba`` / ``predict`` results
    (probabilities, scores, values, classes) is returned as an array (a private copy
    when small): small calls are then read later, many at once, by the background
    worker. Logits, and outputs that need more than one array, are read here.
    """
    labels: _Array | None = None
    matrix: tuple[_Array, tuple[str, ...] | None] | None = None
    for value in values:
        found = _as_matrix(value)
        if found is None:
            continue
        m, names = found
        squeezed = m[:, 0] if m.ndim == 2 and m.shape[1] == 1 else m
        if labels is None and squeezed.ndim == 1 and squeezed.dtype.kind in "iubUSO":
            labels = squeezed
        elif matrix is None and _numeric(m) and m.ndim >= 1:
            matrix = (m, names)
    if matrix is None:
        if labels is None:
            return Outputs()
        return interpret(_private(labels), Task.AUTO if task is Task.REGRESSION else task, None)
    m, own_names = matrix
    names = class_names or own_names
    if m.ndim == 2 and m.shape[1] == 1:
        m = m[:, 0]
    logits = m.ndim == 2 and m.dtype.kind == "f" and not is_probabilities(m)
    if labels is None and own_names is None and not (logits and task is not Task.REGRESSION):
        return _private(m)  # read as the SDK reads any predict result
    if m.ndim == 2 and m.dtype.kind == "f" and task is not Task.REGRESSION:
        k = int(m.shape[1])
        names = names if names is not None and len(names) == k else tuple(map(str, range(k)))
        if not logits and labels is not None and len(labels) == len(m):
            # A converted classifier's label + probabilities: the class is given, so the
            # matrix is only split into its per-class streams (no argmax to compute).
            probabilities = m.astype(np.float64)  # a private copy
            return Outputs(
                scores={names[j]: probabilities[:, j] for j in range(k)},
                values=probabilities[:, 1] if k == 2 else None,
                labels=_labels(labels),
            )
        if not logits:
            out = interpret(_private(m), task, names)
        else:
            out = interpret(_private(m), task, names, operation=DECISION_FUNCTION)
    else:
        out = interpret(_private(m), task, names)
    if labels is not None:
        out.labels = interpret(_private(labels), Task.MULTICLASS_CLASSIFICATION, None).labels
    return out
