"""Tabular input as named columns, and the rule that decides a column's kind.

Accepted inputs: a 2-D (or 1-D) numpy array, a numpy structured array, a pandas
``DataFrame``, a mapping of column name to column, and a list of dicts (rows).

Type rule
---------
A column is **numeric** when its dtype is integer or float, or when it is an
object column whose non-missing values are all real numbers (``bool`` excluded).
Everything else -- strings, booleans, pandas ``category`` columns, mixed
columns -- is **categorical**. Cardinality is never looked at: a float column
holding only ``0.0``, ``0.5`` and ``1.0`` stays numeric, and so does an integer
code column. Override per column with ``feature_types={"zip_code": "categorical"}``.

Examples
--------
>>> cols = columns_of([{"a": 1.0, "b": "x"}, {"a": 2.5, "c": True}])
>>> list(cols), [infer_kind(v).value for v in cols.values()]
(['a', 'b', 'c'], ['numeric', 'categorical', 'categorical'])
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_ml._errors import ConfigurationError

__all__ = ["FeatureKind", "as_numeric", "columns_of", "infer_kind", "parse_kind"]


class FeatureKind(str, Enum):
    """How a feature is sketched and compared."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


Column = npt.NDArray[Any]


def _is_dataframe(data: object) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(data, pd.DataFrame)


def _pandas_column(series: Any) -> Column:
    import pandas as pd  # only reached when pandas is imported

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        # Declared categorical: keep it so even when the categories are numbers.
        out = np.empty(len(series), dtype=object)
        out[:] = [None if _is_missing(v) or v is pd.NA else str(v) for v in series.tolist()]
        return out
    if pd.api.types.is_bool_dtype(dtype):
        return np.asarray(series.astype(object).to_numpy(), dtype=object)
    if pd.api.types.is_numeric_dtype(dtype):
        # Nullable integer / float extension dtypes: pd.NA becomes NaN.
        return np.asarray(series.to_numpy(dtype="float64", na_value=np.nan))
    return np.asarray(series.to_numpy(), dtype=object)


def columns_of(data: object, feature_names: Sequence[str] | None = None) -> dict[str, Column]:
    """Split tabular ``data`` into named 1-D columns (in column order).

    A plain 2-D array's columns are named ``"0"``, ``"1"``, ... unless
    ``feature_names`` is given.

    >>> list(columns_of(np.zeros((3, 2)), ["x", "y"]))
    ['x', 'y']
    """
    if _is_dataframe(data):
        df: Any = data
        cols = {str(c): _pandas_column(df[c]) for c in df.columns}
    elif isinstance(data, Mapping):
        cols = {str(k): np.asarray(v).ravel() for k, v in data.items()}
    elif isinstance(data, np.ndarray) and data.dtype.names:
        cols = {str(n): np.asarray(data[n]).ravel() for n in data.dtype.names}
    elif isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        keys: dict[str, None] = {}
        for row in data:
            keys.update(dict.fromkeys(str(k) for k in row))
        rows: list[Mapping[Any, Any]] = data
        cols = {}
        for k in keys:
            col = np.empty(len(rows), dtype=object)
            col[:] = [r.get(k) for r in rows]
            cols[k] = col
    else:
        arr = np.asarray(data)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2:
            raise ConfigurationError(
                f"data: expected a 2-D array, a DataFrame, a mapping of columns or a list of "
                f"dicts, got an array of shape {arr.shape}"
            )
        cols = {str(i): arr[:, i] for i in range(arr.shape[1])}
    if feature_names is not None:
        names = [str(n) for n in feature_names]
        if len(names) != len(cols):
            raise ConfigurationError(
                f"feature_names: {len(names)} names given for {len(cols)} columns"
            )
        cols = dict(zip(names, cols.values(), strict=True))
    return cols


def _is_number(v: object) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


def _is_missing(v: object) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def infer_kind(values: Column) -> FeatureKind:
    """The kind of a column by the rule in the module docstring.

    >>> infer_kind(np.array([0.0, 0.5, 1.0, 0.5])).value
    'numeric'
    >>> infer_kind(np.array([True, False])).value
    'categorical'
    """
    kind = values.dtype.kind
    if kind in "iuf":
        return FeatureKind.NUMERIC
    if kind == "O":
        present = [v for v in values.tolist() if not _is_missing(v)]
        if present and all(_is_number(v) for v in present):
            return FeatureKind.NUMERIC
    return FeatureKind.CATEGORICAL


def parse_kind(name: str, kind: str | FeatureKind) -> FeatureKind:
    """Parse a user's ``feature_types`` entry, naming the column on error."""
    try:
        return FeatureKind(kind)
    except ValueError:
        raise ConfigurationError(
            f"feature_types[{name!r}]: {kind!r} is not a feature kind; "
            f"use 'numeric' or 'categorical'"
        ) from None


def as_numeric(name: str, values: Column) -> npt.NDArray[np.float64]:
    """``values`` as float64 (``None`` becomes NaN); raises naming the first bad value."""
    if values.dtype.kind in "iufb":
        return values.astype(np.float64)
    out = np.empty(values.size, dtype=np.float64)
    for i, v in enumerate(values.tolist()):
        if _is_missing(v):
            out[i] = np.nan
            continue
        try:
            if isinstance(v, (bool, np.bool_)):
                raise TypeError
            out[i] = float(v)
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"column {name!r}: value {v!r} (row {i}) is not a number; declare the column "
                f"categorical with feature_types={{{name!r}: 'categorical'}} or clean it"
            ) from None
    return out
