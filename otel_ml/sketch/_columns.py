"""Tabular input as named columns, and the rule that decides a column's kind.

Accepted inputs: a 2-D (or 1-D) numpy array, a numpy structured array, a pandas
``DataFrame``, a mapping of column name to column, and a list of dicts (rows).

Type rule (:func:`infer_kind`: the profile, the SDK's capture and the CLI all use it)
----------------------------------------------------------------------------------
A column is **numeric** when its dtype is integer or float, or when it is an
object column whose non-missing values are all real numbers (``bool`` excluded;
``decimal.Decimal`` included).
It is **datetime** when its dtype is ``datetime64`` (pandas' tz-aware columns
included) or it is an object column of ``datetime`` / ``date`` / ``numpy.datetime64``
values. A column of strings is **text** (free text: comments, messages, names,
e-mail addresses) when its sampled strings are long or mostly unique -- see
:func:`looks_like_text` for the exact rule. Everything else -- other strings,
booleans, pandas ``category`` columns, mixed columns such as ``[1.0, "x", None]``
-- is **categorical**. The dtype decides; an object or string column is judged on
at most :data:`KIND_SAMPLE` of its values, evenly spaced (never a loop over every
value on the hot path), and a value of another type outside that sample is counted
where the column is read (the SDK counts it as ``schema_mismatch``, a profile
names it). Cardinality is never looked at for numbers: a float column holding only
``0.0``, ``0.5`` and ``1.0`` stays numeric, and so does an integer code column.
Override per column with ``feature_types={"zip_code": "categorical"}``.

A text column's values never become categories: it is described by the sketch of
its values' lengths in characters (a numeric sketch; missing values counted as
missing), so no text leaves a profile, a sketch or an exported metric. Declaring
it categorical (``feature_types={"comment": "categorical"}``) is the opt-in that
keeps its most frequent values as categories, as for any categorical column.

Datetime columns are not features by default: a profile skips them and says so
(:attr:`Profile.skipped <otel_ml.sketch.Profile.skipped>`, the ``skipped`` key of
its JSON, the CLI's stderr). With ``datetimes="epoch_seconds"`` they are numeric
features holding seconds since 1970-01-01 UTC (naive values read as UTC), so a
shift of the dates is a shift of a numeric distribution. The SDK follows its
reference: a datetime column the reference holds as numeric is converted the same
way; otherwise it is skipped. (Seconds since the epoch of *event* times move with
the clock and drift by construction, which is why skipping is the default.)

Examples
--------
>>> cols = columns_of([{"a": 1.0, "b": "x"}, {"a": 2.5, "c": True}])
>>> list(cols), [infer_kind(v).value for v in cols.values()]
(['a', 'b', 'c'], ['numeric', 'categorical', 'categorical'])
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import numbers
import sys
from collections.abc import Iterator, Mapping, Sequence
from enum import Enum
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from otel_ml._errors import ConfigurationError
from otel_ml.sketch._categorical import _is_missing  # None, NaN, NaT, pandas NA

__all__ = [
    "DATETIMES",
    "KIND_SAMPLE",
    "Columns",
    "FeatureKind",
    "as_numeric",
    "columns_of",
    "infer_kind",
    "looks_like_text",
    "numeric_values",
    "parse_datetimes",
    "parse_kind",
    "text_lengths",
]

#: Largest number of values of an object column :func:`infer_kind` looks at.
KIND_SAMPLE: Final = 1024
#: Strings whose median length (characters) is at least this are text, however repeated.
TEXT_LONG_CHARS: Final = 50
#: Strings at least this long (median) that are mostly distinct are text.
TEXT_UNIQUE_CHARS: Final = 16
#: Share of distinct values among the sampled strings that makes them "mostly distinct".
TEXT_DISTINCT_RATIO: Final = 0.5
#: Fewest sampled strings the distinct-ratio rule needs (fewer: the 16-character median
#: alone decides).
TEXT_MIN_SAMPLE: Final = 8
#: What to do with datetime columns: leave them out (default), or compare them as
#: seconds since the epoch.
DATETIMES: Final = ("skip", "epoch_seconds")


class FeatureKind(str, Enum):
    """How a column is sketched and compared.

    ``DATETIME`` describes a column, never a profiled feature: a datetime column is
    skipped or becomes a ``NUMERIC`` feature (seconds since the epoch). A ``TEXT``
    feature holds a numeric sketch of its values' lengths, never the values.
    """

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    TEXT = "text"


Column = npt.NDArray[Any]


def _is_dataframe(data: object) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(data, pd.DataFrame)


def _pandas_column(series: Any) -> Column:
    import pandas as pd  # only reached when pandas is imported

    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return np.asarray(series.dt.tz_convert(None).to_numpy())  # UTC datetime64, NaT kept
    if isinstance(dtype, pd.CategoricalDtype):
        # Declared categorical: keep it so even when the categories are numbers. str() runs
        # once per category; rows are picked by their codes (-1: missing).
        names = np.empty(len(dtype.categories) + 1, dtype=object)
        names[:-1] = [str(c) for c in dtype.categories.tolist()]
        names[-1] = None
        codes = series.cat.codes.to_numpy()
        return np.asarray(names[np.where(codes < 0, len(names) - 1, codes)])
    if pd.api.types.is_bool_dtype(dtype):
        return np.asarray(series.astype(object).to_numpy(), dtype=object)
    if pd.api.types.is_numeric_dtype(dtype):
        # Nullable integer / float extension dtypes: pd.NA becomes NaN.
        return np.asarray(series.to_numpy(dtype="float64", na_value=np.nan))
    return np.asarray(series.to_numpy(), dtype=object)


class Columns(Mapping[str, Column]):
    """Named 1-D columns of a table, read out of their container one at a time.

    A DataFrame's column is converted to numpy only when a caller reaches it (and is
    let go when the caller moves on), so profiling or comparing a table never holds a
    numpy copy of the whole table; :meth:`kind` decides a column's kind from its dtype
    or a sample, and :meth:`source` hands a sketch the container's own column when it
    can count it in place (pandas text columns: no Python string per row).
    """

    def __init__(self, sources: dict[str, Any], n_rows: int, *, frame: bool = False) -> None:
        self._sources = sources
        self._frame = frame
        self.n_rows = n_rows

    def __getitem__(self, name: str) -> Column:
        src = self._sources[name]
        return _pandas_column(src) if self._frame else src

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)

    def renamed(self, names: Sequence[str]) -> Columns:
        """The same columns under ``names`` (in order)."""
        return Columns(
            dict(zip(names, self._sources.values(), strict=True)), self.n_rows, frame=self._frame
        )

    def subset(self, names: Sequence[str]) -> Columns:
        """The columns ``names`` (in that order), still read one at a time."""
        return Columns({n: self._sources[n] for n in names}, self.n_rows, frame=self._frame)

    def size(self, name: str) -> int:
        """Rows of column ``name`` (all of a DataFrame's have ``n_rows``)."""
        return self.n_rows if self._frame else int(self._sources[name].size)

    def source(self, name: str) -> Any:
        """The column as its container holds it when a sketch reads that directly (a
        pandas text or object Series), else the numpy column."""
        src = self._sources[name]
        if self._frame and _is_text_series(src):
            return src
        return self[name]

    def kind(self, name: str) -> FeatureKind:
        """:func:`infer_kind` of the column, without converting all of it."""
        src = self._sources[name]
        if not self._frame:
            return infer_kind(src)
        import pandas as pd  # a DataFrame was given: pandas is imported

        dtype = src.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            return FeatureKind.CATEGORICAL  # declared by its dtype
        if not _is_text_series(src):
            return infer_kind(self[name])  # numbers, dates, booleans: the dtype decides
        n = len(src)
        at = np.linspace(0, n - 1, KIND_SAMPLE).astype(np.intp) if n > KIND_SAMPLE else None
        return infer_kind(_pandas_column(src if at is None else src.iloc[at]))

    def text_lengths(self, name: str) -> npt.NDArray[np.float64]:
        """:func:`text_lengths` of the column (pandas text: counted by pandas)."""
        src = self._sources[name]
        if self._frame and _is_text_series(src):
            import pandas as pd

            if isinstance(src.dtype, pd.StringDtype):
                out: npt.NDArray[np.float64] = src.str.len().to_numpy(
                    dtype="float64", na_value=np.nan
                )
                return out
        return text_lengths(self[name])


def _is_text_series(series: Any) -> bool:
    """A pandas Series of strings or Python objects (not numbers, dates or categories)."""
    import pandas as pd

    dtype = series.dtype
    return isinstance(dtype, pd.StringDtype) or (
        dtype == np.dtype(object) and not isinstance(dtype, pd.CategoricalDtype)
    )


def columns_of(data: object, feature_names: Sequence[str] | None = None) -> Columns:
    """Split tabular ``data`` into named 1-D columns (in column order).

    A plain 2-D array's columns are named ``"0"``, ``"1"``, ... unless
    ``feature_names`` is given. A DataFrame's columns are read one at a time, when
    asked for (:class:`Columns`).

    >>> list(columns_of(np.zeros((3, 2)), ["x", "y"]))
    ['x', 'y']
    """
    cols: dict[str, Any]
    frame = _is_dataframe(data)
    if frame:
        df: Any = data
        cols = {str(c): df.iloc[:, j] for j, c in enumerate(df.columns)}
        n_rows = len(df)
    else:
        if isinstance(data, Mapping):
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
                    f"data: expected a 2-D array, a DataFrame, a mapping of columns or a list "
                    f"of dicts, got an array of shape {arr.shape}"
                )
            cols = {str(i): arr[:, i] for i in range(arr.shape[1])}
        n_rows = max((c.size for c in cols.values()), default=0)
    out = Columns(cols, n_rows, frame=frame)
    if feature_names is not None:
        names = [str(n) for n in feature_names]
        if len(names) != len(cols):
            raise ConfigurationError(
                f"feature_names: {len(names)} names given for {len(cols)} columns"
            )
        out = out.renamed(names)
    return out


def _is_number(v: object) -> bool:
    # decimal.Decimal is no numbers.Real, but a decimal column (Spark, Arrow) holds numbers
    return isinstance(v, (numbers.Real, decimal.Decimal)) and not isinstance(v, (bool, np.bool_))


def _is_datetime(v: object) -> bool:
    return isinstance(v, (dt.date, np.datetime64))  # datetime and pandas Timestamp included


def _sample(values: Column) -> list[Any]:
    """At most :data:`KIND_SAMPLE` values of ``values``, evenly spaced, first and last in."""
    if values.size <= KIND_SAMPLE:
        return list(values.tolist())
    at = np.linspace(0, values.size - 1, KIND_SAMPLE).astype(np.intp)
    return list(values[at].tolist())


def infer_kind(values: Column) -> FeatureKind:
    """The kind of a column by the rule in the module docstring.

    >>> infer_kind(np.array([0.0, 0.5, 1.0, 0.5])).value
    'numeric'
    >>> infer_kind(np.array([True, False])).value
    'categorical'
    >>> infer_kind(np.array([1.0, "x", None], dtype=object)).value
    'categorical'
    >>> infer_kind(np.array(["2020-01-01", "NaT"], dtype="datetime64[s]")).value
    'datetime'
    """
    kind = values.dtype.kind
    if kind in "iuf":
        return FeatureKind.NUMERIC
    if kind == "M":
        return FeatureKind.DATETIME
    if kind in "OU":
        present = [v for v in _sample(values) if not _is_missing(v)]
        if present and all(_is_number(v) for v in present):
            return FeatureKind.NUMERIC
        if present and all(_is_datetime(v) for v in present):
            return FeatureKind.DATETIME
        if looks_like_text(present):
            return FeatureKind.TEXT
    return FeatureKind.CATEGORICAL


def looks_like_text(present: Sequence[Any]) -> bool:
    """Whether sampled values (missing ones left out) are free text rather than categories.

    Text: every value is a string, and either their median length is at least
    :data:`TEXT_LONG_CHARS` (50) characters, or it is at least
    :data:`TEXT_UNIQUE_CHARS` (16) and at least :data:`TEXT_DISTINCT_RATIO` (half) of
    the values are distinct. Short codes stay categorical however many there are (zip
    codes, country codes, product codes under 16 characters), and so do labels under
    50 characters that repeat. Fewer than :data:`TEXT_MIN_SAMPLE` (8) values cannot
    show repetition, so there the 16-character median alone makes text (the SDK sees
    such small tables when single-row calls are few; a reference decides for it
    whenever one is given).

    >>> looks_like_text(["red", "green", "red"])
    False
    >>> looks_like_text(["The delivery was late and the box was damaged on arrival."])
    True
    >>> looks_like_text([f"user{i}@example.com" for i in range(10)])
    True
    >>> looks_like_text(["Electronics and Computers"] * 10)
    False
    >>> looks_like_text(["call me back at 555 0100"])  # too few to show repetition
    True
    """
    if not present or not all(isinstance(v, str) for v in present):
        return False
    lengths = sorted(len(v) for v in present)
    median = lengths[len(lengths) // 2]
    if median >= TEXT_LONG_CHARS:
        return True
    if median < TEXT_UNIQUE_CHARS:
        return False
    return len(present) < TEXT_MIN_SAMPLE or len(set(present)) >= TEXT_DISTINCT_RATIO * len(
        present
    )


def text_lengths(values: Column) -> npt.NDArray[np.float64]:
    """Length of each value in characters (bytes for ``bytes``; other values by their
    text), NaN where missing: what a text feature's sketch holds.

    >>> text_lengths(np.array(["ab", None, "déjà", 7], dtype=object)).tolist()
    [2.0, nan, 4.0, 1.0]
    """
    if values.dtype.kind in "US":
        return np.char.str_len(values).astype(np.float64)
    return np.fromiter(
        (
            len(v) if isinstance(v, (str, bytes)) else math.nan if _is_missing(v) else len(str(v))
            for v in values.tolist()
        ),
        dtype=np.float64,
        count=values.size,
    )


def parse_datetimes(value: str) -> str:
    """Check a ``datetimes`` option (one of :data:`DATETIMES`)."""
    if value not in DATETIMES:
        raise ConfigurationError(
            f"datetimes: {value!r} is not a choice; use {' or '.join(map(repr, DATETIMES))}"
        )
    return value


_EPOCH = np.datetime64(0, "us")
_UTC = dt.timezone.utc
_NONE = np.array(None, dtype=object)


def _epoch_seconds(v: object) -> float:
    """Seconds since 1970-01-01 UTC of one date or time value (naive read as UTC)."""
    if isinstance(v, np.datetime64):
        return float((v.astype("datetime64[us]") - _EPOCH) / np.timedelta64(1, "s"))
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo is not None else v.replace(tzinfo=_UTC)).timestamp()
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day, tzinfo=_UTC).timestamp()
    raise TypeError(type(v).__name__)


def numeric_values(values: Column) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_] | None]:
    """``values`` as float64 (missing -> NaN; dates and times -> seconds since the epoch),
    and a mask of the values that are not numbers (``None`` when there are none; those
    positions hold NaN).

    Vectorized for numeric and ``datetime64`` dtypes and for object columns of numbers;
    a value-by-value pass runs only when that fails (dates, or values of another type).

    >>> x, bad = numeric_values(np.array([1, None, "2.5", "x", True], dtype=object))
    >>> x.tolist(), bad.tolist()
    ([1.0, nan, 2.5, nan, nan], [False, False, False, True, True])
    """
    kind = values.dtype.kind
    if kind in "iufb":
        return values.astype(np.float64), None
    if kind == "M":
        out = ((values.astype("datetime64[us]") - _EPOCH) / np.timedelta64(1, "s")).astype(
            np.float64
        )
        return out, None
    obj = values.astype(object, copy=False)
    try:
        if kind != "O":
            return values.astype(np.float64), None
        miss = np.equal(obj, _NONE)
        x = (np.where(miss, np.nan, obj) if miss.any() else obj).astype(np.float64)
        if not any(isinstance(v, (bool, np.bool_)) for v in _sample(obj)):
            return x, None
    except (TypeError, ValueError, OverflowError):
        pass
    out = np.full(obj.size, np.nan)
    bad = np.zeros(obj.size, dtype=bool)
    for i, v in enumerate(obj.tolist()):
        if _is_missing(v):
            continue
        if _is_number(v):
            out[i] = float(v)
            continue
        try:
            if isinstance(v, (bool, np.bool_)):
                raise TypeError("bool")
            out[i] = _epoch_seconds(v) if _is_datetime(v) else float(v)
        except (TypeError, ValueError, OverflowError):
            bad[i] = True
    return out, (bad if bad.any() else None)


def parse_kind(name: str, kind: str | FeatureKind) -> FeatureKind:
    """Parse a user's ``feature_types`` entry, naming the column on error."""
    try:
        return FeatureKind(kind)
    except ValueError:
        raise ConfigurationError(
            f"feature_types[{name!r}]: {kind!r} is not a feature kind; "
            f"use 'numeric', 'categorical', 'text' or 'datetime'"
        ) from None


def as_numeric(name: str, values: Column) -> npt.NDArray[np.float64]:
    """``values`` as float64 (see :func:`numeric_values`); raises naming the first value
    that is not a number."""
    out, bad = numeric_values(values)
    if bad is None:
        return out
    i = int(np.argmax(bad))
    v = values.ravel()[i]
    raise ConfigurationError(
        f"column {name!r}: value {v!r} (row {i}) is not a number; declare the column "
        f"categorical with feature_types={{{name!r}: 'categorical'}} or clean it"
    )
