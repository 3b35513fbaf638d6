"""Input adapters: whatever a predict function takes, as named 1-D columns.

Supported: numpy arrays (1-D, 2-D, structured), pandas DataFrames and Series,
a dict (one row, or columns of equal length), a list of dicts, a list of lists,
and polars / pyarrow tables when those libraries are installed (detected by
type, never imported here). Anything else (generators, custom objects) is left
alone: it is never iterated, so the model still gets it intact, and only the
call itself is counted.

Text: a 1-D list, tuple or array whose values are all strings or bytes
(missing values aside) is a batch of documents -- one row each, whatever
``one_dimensional_as_row`` says -- and is described by one numeric feature,
:data:`TEXT_LENGTH_FEATURE` (each document's length in characters, in bytes
for ``bytes``; a missing document is a missing value). The text itself is
never read into a column, so it cannot reach a sketch, a category or an
attribute. With ``one_dimensional_as_row=False`` (scikit-learn, where a 1-D
input is always a batch), a pandas Series is a batch too: of documents, or one
column.

``scipy.sparse`` matrices and arrays: rows from the shape, features from the
stored entries without densifying (see :mod:`._sparse`: per column up to
1,000 columns, else the non-zeros per row); scipy is never imported here.

The hot path only calls :func:`examine` (the row count and, for small inputs, a
cheap copy kept for the background worker); the columns are built later, for
many small calls at once, by :func:`tables_from_snapshots`.

Examples
--------
>>> import numpy as np
>>> t = to_table(np.array([[1.0, 2.0], [3.0, 4.0]]), names=("a", "b"))
>>> t.names, t.n_rows, t.columns[1].tolist()
(['a', 'b'], 2, [2.0, 4.0])
>>> to_table([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]).columns[1].tolist()
['x', 'y']
>>> docs = to_table(["a short review", "déjà vu", None])
>>> docs.names, docs.n_rows, docs.columns[0].tolist()
(['text.length'], 3, [14.0, 7.0, nan])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_ml import semconv
from otel_ml.instrumentation._sparse import (
    SPARSE_NONZERO_FEATURE,
    SparseColumns,
    concatenate,
    is_sparse,
    read_sparse,
)

__all__ = [
    "SMALL_BATCH",
    "TEXT_LENGTH_FEATURE",
    "ArraySnapshot",
    "RowsSnapshot",
    "Snapshot",
    "Table",
    "batch_size",
    "examine",
    "tables_from_snapshots",
    "to_table",
]

#: Calls with at most this many rows are buffered and processed in bulk by the worker.
SMALL_BATCH = 16

#: The feature a batch of documents is described by: each one's length (never the text).
TEXT_LENGTH_FEATURE = semconv.TEXT_LENGTH_FEATURE

_Array = npt.NDArray[Any]


@dataclass
class Table:
    """Named 1-D columns of equal length (``n_rows``), plus what did not fit."""

    names: list[str]
    columns: list[_Array]
    n_rows: int
    ids: list[object] | None = None
    #: rows whose shape did not fit a table (ragged lists, >2-D arrays, bad widths)
    unreadable_rows: int = 0
    #: whether columns were named by position (numpy, lists) rather than by the input
    positional: bool = False
    extra: dict[str, int] = field(default_factory=dict)
    #: a narrow scipy.sparse matrix, read column by column (``names``/``columns`` empty)
    sparse: SparseColumns | None = None


def _module(obj: object) -> str:
    return type(obj).__module__.partition(".")[0]


def _is_one_row_dict(x: Mapping[Any, Any]) -> bool:
    for v in x.values():
        return not isinstance(v, (list, tuple, np.ndarray)) and _module(v) not in ("pandas",)
    return True


def _is_text_or_missing(v: object) -> bool:
    """A document or a missing one (``None``, NaN, ``pandas.NA``); never calls ``v.__eq__``."""
    return (
        isinstance(v, (str, bytes))
        or v is None
        or (isinstance(v, float) and v != v)
        or type(v).__name__ == "NAType"
    )


def _documents(inputs: object, as_row: bool) -> Sequence[Any] | _Array | None:
    """The documents of a 1-D batch of text (strings or bytes), else ``None``."""
    if isinstance(inputs, np.ndarray):
        if inputs.ndim != 1 or inputs.dtype.names is not None or not inputs.size:
            return None
        if inputs.dtype.kind in "US":
            return inputs
        values: Sequence[Any] | _Array = inputs if inputs.dtype.kind == "O" else ()
    elif isinstance(inputs, (list, tuple)):
        values = inputs
    elif not as_row and _module(inputs) == "pandas" and type(inputs).__name__ == "Series":
        values = np.asarray(inputs, dtype=object)
    else:
        return None
    if not len(values):
        return None
    if not _is_text_or_missing(values[0]):  # a number first (the common case): at once
        return None
    if all(map(_is_text_or_missing, values)) and any(isinstance(v, (str, bytes)) for v in values):
        return values
    return None


def _text_lengths(docs: Sequence[Any] | _Array) -> npt.NDArray[np.float64]:
    """Length of each document (characters; bytes for ``bytes``), NaN when missing."""
    if isinstance(docs, np.ndarray) and docs.dtype.kind in "US":
        return np.char.str_len(docs).astype(np.float64)
    return np.fromiter(
        (len(v) if isinstance(v, (str, bytes)) else np.nan for v in docs),
        dtype=np.float64,
        count=len(docs),
    )


def batch_size(inputs: object, *, one_dimensional_as_row: bool = True) -> int:
    """Rows in ``inputs``, cheaply, without iterating it (0 when unknown).

    >>> batch_size(np.zeros((5, 3))), batch_size({"a": 1}), batch_size([{"a": 1}] * 2)
    (5, 1, 2)
    >>> batch_size(["first document", "second"]), batch_size([1.0, 2.0])
    (2, 1)
    """
    if isinstance(inputs, np.ndarray):
        if inputs.ndim == 0:
            return 1
        if inputs.ndim == 1:
            as_row = one_dimensional_as_row and inputs.dtype.names is None
            return 1 if as_row and _documents(inputs, True) is None else len(inputs)
        return int(inputs.shape[0])
    if isinstance(inputs, Mapping):
        if _is_one_row_dict(inputs):
            return 1
        first = next(iter(inputs.values()))
        return len(first)
    if isinstance(inputs, (list, tuple)):
        if inputs and not isinstance(inputs[0], (Mapping, list, tuple, np.ndarray)):
            as_row = one_dimensional_as_row and _documents(inputs, True) is None
            return 1 if as_row else len(inputs)
        return len(inputs)
    mod = _module(inputs)
    if mod == "pandas":
        if type(inputs).__name__ == "Series" and one_dimensional_as_row:
            return 1
        return int(getattr(inputs, "shape", (0,))[0])
    if mod in ("polars", "pyarrow") or (mod == "scipy" and is_sparse(inputs)):
        return int(getattr(inputs, "shape", (0,))[0])
    return 0


@dataclass(slots=True)
class ArraySnapshot:
    """A private 2-D copy of a small numpy input (one row per row of the call).

    ``names`` names its columns when they are not the input's features (a batch of
    documents is kept as the column of their lengths, :data:`TEXT_LENGTH_FEATURE`).
    """

    array: _Array
    names: tuple[str, ...] | None = None


@dataclass(slots=True)
class RowsSnapshot:
    """Private copies of the dict rows of a small input (a one-row dict is one row)."""

    rows: list[dict[Any, Any]]


#: What the worker gets of a small call's input (a small sparse matrix: its entries).
Snapshot = ArraySnapshot | RowsSnapshot | SparseColumns


def examine(inputs: object, *, one_dimensional_as_row: bool = True) -> tuple[int, Snapshot | None]:
    """The rows in ``inputs`` and, for a small numpy / dict input, a private copy of it.

    One look at the input per call: the copy (``None`` for a bigger or another kind
    of input, which is read on the calling thread) goes to the background worker.

    >>> n, snap = examine({"a": 1.0})
    >>> n, snap
    (1, RowsSnapshot(rows=[{'a': 1.0}]))
    >>> examine(np.zeros((100, 2)))
    (100, None)
    >>> examine(["a document", "another one"])[1].names
    ('text.length',)
    """
    docs = _documents(inputs, one_dimensional_as_row)
    if docs is not None:
        n = len(docs)
        if n > SMALL_BATCH:
            return n, None
        return n, ArraySnapshot(_text_lengths(docs).reshape(-1, 1), (TEXT_LENGTH_FEATURE,))
    if isinstance(inputs, np.ndarray):
        if inputs.dtype.names is not None or inputs.ndim > 2:
            return batch_size(inputs, one_dimensional_as_row=one_dimensional_as_row), None
        if inputs.ndim == 2:
            n = int(inputs.shape[0])
            return n, (ArraySnapshot(inputs.copy()) if n <= SMALL_BATCH else None)
        if inputs.ndim == 1 and not one_dimensional_as_row:
            n = len(inputs)
            return n, (ArraySnapshot(inputs.reshape(-1, 1).copy()) if n <= SMALL_BATCH else None)
        return 1, ArraySnapshot(inputs.reshape(1, -1).copy())
    if isinstance(inputs, dict) and _is_one_row_dict(inputs):
        return 1, RowsSnapshot([dict(inputs)])
    if (
        isinstance(inputs, list)
        and len(inputs) <= SMALL_BATCH
        and all(type(r) is dict for r in inputs)
    ):
        return len(inputs), RowsSnapshot([dict(r) for r in inputs])
    if _module(inputs) == "scipy" and is_sparse(inputs):
        n = int(inputs.shape[0])  # type: ignore[attr-defined]
        if n > SMALL_BATCH:
            return n, None
        entries = read_sparse(inputs)
        if isinstance(entries, np.ndarray):
            return n, ArraySnapshot(entries.reshape(-1, 1), (SPARSE_NONZERO_FEATURE,))
        return n, entries
    return batch_size(inputs, one_dimensional_as_row=one_dimensional_as_row), None


def _unnamed(width: int, names: Sequence[str] | None) -> tuple[list[str], bool]:
    if names is not None and len(names) == width:
        return list(names), True
    return [f"f{j}" for j in range(width)], False


def _from_matrix(x: _Array, names: Sequence[str] | None, as_row: bool) -> Table:
    fields = x.dtype.names
    if fields is not None:  # structured array: one named field per feature
        x = x.reshape(-1)
        return Table(list(fields), [x[n] for n in fields], len(x))
    if x.ndim == 0:
        x = x.reshape(1, 1)
    elif x.ndim == 1:
        x = x.reshape(1, -1) if as_row else x.reshape(-1, 1)
    elif x.ndim > 2:
        return Table([], [], int(x.shape[0]), unreadable_rows=int(x.shape[0]))
    cols, fits = _unnamed(x.shape[1], names)
    t = Table(cols, [x[:, j] for j in range(x.shape[1])], int(x.shape[0]), positional=True)
    if names is not None and not fits:
        t.unreadable_rows = t.n_rows  # width differs from the expected features
    return t


def _from_sparse_columns(columns: SparseColumns, names: Sequence[str] | None) -> Table:
    cols, fits = _unnamed(columns.n_cols, names)
    unreadable = columns.n_rows if names is not None and not fits else 0
    named = SparseColumns(columns.n_rows, columns.n_cols, columns.cols, columns.values, tuple(cols))
    return Table([], [], columns.n_rows, unreadable_rows=unreadable, positional=True, sparse=named)


def _from_sparse(matrix: Any, names: Sequence[str] | None) -> Table:
    entries = read_sparse(matrix)
    n = int(matrix.shape[0])
    if entries is None:  # not numbers
        return Table([], [], n, unreadable_rows=n)
    if isinstance(entries, np.ndarray):
        return Table([SPARSE_NONZERO_FEATURE], [entries], n)
    return _from_sparse_columns(entries, names)


def _from_rows(rows: Sequence[Mapping[Any, Any]], id_column: str | None) -> Table:
    keys: dict[str, None] = {}
    for r in rows:
        for k in r:
            keys.setdefault(str(k), None)
    names = list(keys)
    cols: list[_Array] = []
    for k in names:
        col = np.empty(len(rows), dtype=object)
        col[:] = [r.get(k) for r in rows]
        cols.append(col)
    t = Table(names, cols, len(rows))
    if id_column is not None and id_column in keys:
        t.ids = list(cols[names.index(id_column)])
    return t


def _from_columns_dict(d: Mapping[Any, Any]) -> Table:
    names = [str(k) for k in d]
    cols = [np.asarray(v).reshape(-1) for v in d.values()]
    n = len(cols[0]) if cols else 0
    if any(len(c) != n for c in cols):
        return Table([], [], n, unreadable_rows=n)
    return Table(names, cols, n)


def to_table(
    inputs: object,
    *,
    names: Sequence[str] | None = None,
    id_column: str | None = None,
    one_dimensional_as_row: bool = True,
) -> Table | None:
    """Columns of ``inputs``; ``None`` for types we do not read (never iterated)."""
    t: Table | None
    docs = _documents(inputs, one_dimensional_as_row)
    if docs is not None:
        return Table([TEXT_LENGTH_FEATURE], [_text_lengths(docs)], len(docs))
    if isinstance(inputs, np.ndarray):
        t = _from_matrix(inputs, names, one_dimensional_as_row)
    elif isinstance(inputs, Mapping):
        t = (
            _from_rows([inputs], id_column)
            if _is_one_row_dict(inputs)
            else _from_columns_dict(inputs)
        )
    elif isinstance(inputs, (list, tuple)):
        if not inputs:
            return Table([], [], 0)
        if all(isinstance(r, Mapping) for r in inputs):
            t = _from_rows(inputs, id_column)
        else:
            try:
                arr = np.asarray(inputs)
            except (ValueError, TypeError):  # ragged rows
                return Table([], [], len(inputs), unreadable_rows=len(inputs))
            if (
                arr.dtype.kind == "O"
                and arr.ndim == 1
                and any(isinstance(r, (list, tuple, np.ndarray)) for r in inputs)
            ):
                return Table([], [], len(inputs), unreadable_rows=len(inputs))
            t = _from_matrix(arr, names, one_dimensional_as_row)
    elif (
        not one_dimensional_as_row
        and _module(inputs) == "pandas"
        and type(inputs).__name__ == "Series"
    ):
        t = _from_matrix(np.asarray(inputs), names, False)  # a batch of one column
    elif _module(inputs) == "scipy" and is_sparse(inputs):
        t = _from_sparse(inputs, names)
    else:
        t = _from_library_table(inputs)
    if t is not None and id_column is not None and t.ids is None and id_column in t.names:
        t.ids = list(t.columns[t.names.index(id_column)])
    return t


def _from_library_table(inputs: Any) -> Table | None:
    mod = _module(inputs)
    kind = type(inputs).__name__
    if mod == "pandas" and kind == "DataFrame":
        names = [str(c) for c in inputs.columns]
        cols = [inputs.iloc[:, j].to_numpy() for j in range(len(names))]
        return Table(names, cols, len(inputs))
    if mod == "pandas" and kind == "Series":
        return _from_rows([{str(k): v for k, v in inputs.items()}], None)
    if mod == "polars" and kind == "DataFrame":
        names = [str(c) for c in inputs.columns]
        return Table(names, [inputs.get_column(c).to_numpy() for c in names], inputs.height)
    if mod == "pyarrow" and kind in ("Table", "RecordBatch"):
        names = [str(c) for c in inputs.column_names]
        cols = [
            np.asarray(inputs.column(j).to_numpy(zero_copy_only=False)) for j in range(len(names))
        ]
        return Table(names, cols, inputs.num_rows)
    return None


def tables_from_snapshots(
    snapshots: Sequence[Snapshot], *, names: Sequence[str] | None, id_column: str | None
) -> list[Table]:
    """Tables for many buffered small inputs, grouped so each group is built at once."""
    row_groups: dict[tuple[str, ...], list[Mapping[Any, Any]]] = {}
    array_groups: dict[tuple[int, str, tuple[str, ...] | None], list[_Array]] = {}
    sparse_groups: dict[int, list[SparseColumns]] = {}
    for snap in snapshots:
        if isinstance(snap, SparseColumns):
            sparse_groups.setdefault(snap.n_cols, []).append(snap)
        elif isinstance(snap, ArraySnapshot):
            arr = snap.array
            array_groups.setdefault((arr.shape[1], arr.dtype.str, snap.names), []).append(arr)
        else:
            for r in snap.rows:
                row_groups.setdefault(tuple(map(str, r)), []).append(r)
    out = [_from_rows(rows, id_column) for rows in row_groups.values()]
    out += [
        _from_matrix(np.concatenate(arrs), own or names, True)
        for (_, _, own), arrs in array_groups.items()
    ]
    out += [_from_sparse_columns(concatenate(parts), names) for parts in sparse_groups.values()]
    return out
