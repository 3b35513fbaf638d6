"""``scipy.sparse`` inputs: rows from the shape, features from the stored entries.

scipy is never imported here: a sparse matrix or array is recognised by its
type's module (``scipy.sparse``) and read through its own methods
(``shape``, ``tocoo()``). Nothing is densified:

- up to :data:`MAX_SPARSE_COLUMNS` columns, each column is a numeric feature
  whose sketch is built from its stored entries plus the count of its implicit
  zeros (exactly the sketch of the dense column, at the cost of the stored
  entries only), with the same data-quality counts as a dense column;
- a wider matrix (a bag of words, a TF-IDF or one-hot matrix of a large
  vocabulary, where one column is one token) is described by one feature,
  :data:`SPARSE_NONZERO_FEATURE`: the number of non-zero entries of each row
  (fewer known tokens per document is the drift that matters there).

Examples
--------
>>> import numpy as np
>>> from otel_ml.instrumentation._options import MonitorOptions
>>> cols = SparseColumns(n_rows=4, n_cols=2, cols=np.array([0, 0, 1]),
...                      values=np.array([2.0, 3.0, -1.0]), names=("a", "b"))
>>> w = capture_sparse(cols, MonitorOptions(model="m"), None)
>>> w.numeric["a"].count, w.numeric["a"].zero_count, w.numeric["b"].min
(4, 2, -1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_ml import semconv
from otel_ml.instrumentation._feature_quality import add_numeric
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.instrumentation._window import ModelWindow
from otel_ml.sketch import FeatureKind, FeatureProfile, NumericSketch, Profile

__all__ = [
    "MAX_SPARSE_COLUMNS",
    "SPARSE_NONZERO_FEATURE",
    "SparseColumns",
    "capture_sparse",
    "concatenate",
    "is_sparse",
    "read_sparse",
]

#: Sparse matrices with more columns are described by :data:`SPARSE_NONZERO_FEATURE` only.
MAX_SPARSE_COLUMNS = 1000

#: The feature of a wide sparse matrix: non-zero entries per row.
SPARSE_NONZERO_FEATURE = semconv.SPARSE_NONZERO_FEATURE

_Array = npt.NDArray[Any]


def is_sparse(inputs: object) -> bool:
    """Whether ``inputs`` is a 2-D ``scipy.sparse`` matrix or array (scipy not imported)."""
    return (
        type(inputs).__module__.startswith("scipy.sparse")
        and hasattr(inputs, "tocoo")
        and len(getattr(inputs, "shape", ())) == 2
    )


@dataclass(frozen=True, slots=True)
class SparseColumns:
    """The stored entries of a narrow sparse matrix, by column (private copies).

    ``names`` is set once the columns are named (when the table is built).
    """

    n_rows: int
    n_cols: int
    cols: npt.NDArray[np.intp]
    values: npt.NDArray[np.float64]
    names: tuple[str, ...] = ()


def _entries(matrix: Any) -> tuple[_Array, _Array, _Array]:
    """Row, column and value of each stored entry (duplicates summed), read only."""
    coo = matrix.tocoo()
    if not getattr(coo, "has_canonical_format", True):
        coo = coo.copy()  # summing in place would rewrite the user's matrix
        coo.sum_duplicates()
    return np.asarray(coo.row), np.asarray(coo.col), np.asarray(coo.data)


def read_sparse(matrix: Any) -> SparseColumns | npt.NDArray[np.float64] | None:
    """A narrow matrix's entries, a wide one's non-zeros per row, ``None`` if not numeric."""
    n_rows, n_cols = (int(d) for d in matrix.shape)
    rows, cols, values = _entries(matrix)
    if values.dtype.kind not in "fiub":
        return None
    if n_cols > MAX_SPARSE_COLUMNS:
        nonzero = rows[values != 0]
        return np.bincount(nonzero, minlength=n_rows).astype(np.float64)
    return SparseColumns(
        n_rows,
        n_cols,
        cols.astype(np.intp),  # copies: the worker may read them after the call returned
        values.astype(np.float64),
    )


def concatenate(parts: list[SparseColumns]) -> SparseColumns:
    """Several small calls' entries (same width) as one batch."""
    if len(parts) == 1:
        return parts[0]
    return SparseColumns(
        sum(p.n_rows for p in parts),
        parts[0].n_cols,
        np.concatenate([p.cols for p in parts]),
        np.concatenate([p.values for p in parts]),
    )


def _column(
    name: str,
    stored: npt.NDArray[np.float64],
    n_rows: int,
    ref: FeatureProfile | None,
    w: ModelWindow,
) -> None:
    sketch = NumericSketch()
    sketch.update(stored)
    zeros = n_rows - stored.size
    if zeros:
        sketch.merge(NumericSketch(count=zeros, zero_count=zeros, min=0.0, max=0.0))
    add_numeric(name, sketch, stored, ref, w, zeros=zeros)


def capture_sparse(
    columns: SparseColumns,
    options: MonitorOptions,
    reference: Profile | None,
    *,
    unreadable_rows: int = 0,
) -> ModelWindow:
    """Sketches and quality counts of a narrow sparse matrix, column by column.

    ``unreadable_rows``: rows whose width differs from the expected features
    (counted as ``schema_mismatch``; the columns are then named by position).
    """
    w = ModelWindow()
    n = columns.n_rows
    if unreadable_rows:
        w.quality[("", semconv.QUALITY_SCHEMA_MISMATCH)] += unreadable_rows
    refs = reference.features if reference is not None else {}
    order = np.argsort(columns.cols, kind="stable")
    values = columns.values[order]
    ends = np.cumsum(np.bincount(columns.cols, minlength=columns.n_cols))
    seen = 0
    for j, name in enumerate(columns.names):
        if not options.wants_feature(name):
            continue
        ref = refs.get(name)
        if reference is not None and ref is None:
            if name not in reference.skipped:  # a column the reference lacks
                w.quality[("", semconv.QUALITY_SCHEMA_MISMATCH)] += n
            continue
        seen += 1
        if seen > options.max_features:
            w.quality[("", semconv.QUALITY_SCHEMA_MISMATCH)] += n
            continue
        if ref is not None and ref.kind is not FeatureKind.NUMERIC:
            w.quality[(name, semconv.QUALITY_SCHEMA_MISMATCH)] += n  # numbers, not categories
            continue
        start = int(ends[j - 1]) if j else 0
        _column(name, values[start : int(ends[j])], n, ref, w)
    if reference is not None and not unreadable_rows:
        present = set(columns.names)
        for name in refs:
            if name not in present and options.wants_feature(name):
                w.quality[(name, semconv.QUALITY_SCHEMA_MISMATCH)] += n
    return w
