"""Feature capture: per-feature sketches and data-quality counts of one table.

Everything is vectorized per column (numpy): about 10 ns per value. Raw
values never leave this module: only sketches (bucket counts, top-K category
counts) and issue counts do.

Data-quality issues (``ml.data_quality.issues``, counted per value):

- ``missing``: NaN / ``None``;
- ``non_finite``: ``+inf`` / ``-inf`` in a numeric feature;
- ``out_of_range``: a finite value outside the reference ``[min, max]``;
- ``unseen_category``: a category the reference never saw;
- ``schema_mismatch``: a reference feature absent from the input (counted per
  row, with its name), an input column the reference does not know, a value
  of the wrong type, or rows that cannot be read as a table (no feature name).

With a reference profile that has a multivariate model (``Profile.multivariate``),
:func:`reconstruction_errors` gives the sketch of the rows' PCA reconstruction errors,
kept as the numeric feature ``multivariate.reconstruction_error``
(``semconv.MULTIVARIATE_ERROR_FEATURE``): two small matrix products per table.

A column's kind is the reference's, or else the sketch layer's rule
(:func:`otel_ml.sketch._columns.infer_kind`, as in a profile and the CLI). A free-text
column (kind ``text``: long or mostly-unique strings) is captured as the sketch of its
values' lengths in characters, with its missing count: its text never reaches a
category, an attribute or an event. Only a reference that declares the column
categorical (``Profile.from_data(..., feature_types={"comment": "categorical"})``)
makes its values categories.
Datetime columns are skipped unless the reference holds them as numeric (a
profile built with ``datetimes="epoch_seconds"``): then they are captured as
seconds since the epoch, like the reference.

Examples
--------
>>> import numpy as np
>>> from otel_ml.instrumentation._inputs import Table
>>> from otel_ml.instrumentation._options import MonitorOptions
>>> t = Table(["x", "c"], [np.array([1.0, np.nan, np.inf]), np.array(["a", "b", "a"])], 3)
>>> w = capture(t, MonitorOptions(model="m"), None)
>>> w.numeric["x"].count, w.categorical["c"].counts
(1, {'a': 2, 'b': 1})
>>> sorted(w.quality.items())
[(('x', 'missing'), 1), (('x', 'non_finite'), 1)]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from otel_ml import semconv
from otel_ml.instrumentation._feature_quality import add_numeric
from otel_ml.instrumentation._inputs import Table
from otel_ml.instrumentation._options import MonitorOptions
from otel_ml.instrumentation._sparse import capture_sparse
from otel_ml.instrumentation._window import ModelWindow
from otel_ml.sketch import CategoricalSketch, FeatureKind, FeatureProfile, NumericSketch, Profile
from otel_ml.sketch._categorical import count_categories
from otel_ml.sketch._columns import infer_kind, numeric_values, text_lengths
from otel_ml.sketch._numeric_columns import update_many

__all__ = ["ReferenceLike", "capture", "reconstruction_errors", "reference_names"]

#: Values sketched in one numpy step: short numeric columns (the worker's tables of many
#: small calls) are sketched in groups of fewer values; longer ones one by one.
_GROUP_VALUES = 8_192

#: Categories longer than this are cut (memory stays bounded whatever the input).
MAX_CATEGORY_CHARS = 256

_Array = npt.NDArray[Any]

#: The reference the quality checks read: a :class:`otel_ml.Profile`.
ReferenceLike = Profile


def reference_names(reference: ReferenceLike | None) -> tuple[str, ...] | None:
    return None if reference is None else tuple(reference.features)


def _short(counts: dict[str, int]) -> dict[str, int]:
    """Category texts cut to :data:`MAX_CATEGORY_CHARS` (counts of texts that meet add up)."""
    if all(len(k) <= MAX_CATEGORY_CHARS for k in counts):
        return counts
    out: dict[str, int] = {}
    for k, n in counts.items():
        k = k[:MAX_CATEGORY_CHARS]
        out[k] = out.get(k, 0) + n
    return out


def _numeric(name: str, col: _Array, ref: FeatureProfile | None, w: ModelWindow) -> None:
    if col.dtype.kind in "fiub":
        x = col.astype(np.float64, copy=False)
    else:
        x, wrong_type = numeric_values(col)
        if wrong_type is not None:
            w.quality[(name, semconv.QUALITY_SCHEMA_MISMATCH)] += int(np.count_nonzero(wrong_type))
            x = x[~wrong_type]
    sketch = NumericSketch()
    sketch.update(x)
    add_numeric(name, sketch, x, ref, w)


def _numeric_together(
    columns: list[tuple[str, _Array, FeatureProfile | None]], w: ModelWindow
) -> None:
    """Numeric columns of numeric dtypes, sketched at once (the same sketches as one by one)."""
    # In groups of under _GROUP_VALUES values: bigger temporaries (past malloc's 128 KiB
    # mmap threshold) cost more in fresh pages than the numpy calls they save.
    step = max(1, _GROUP_VALUES // max(1, columns[0][1].size))
    for start in range(0, len(columns), step):
        group = columns[start : start + step]
        values = np.stack([col for _, col, _ in group]).astype(np.float64, copy=False)
        sketches = [w.numeric[name] for name, _, _ in group]
        update_many(sketches, values)
        for (name, _, ref), sketch, x in zip(group, sketches, values, strict=True):
            add_numeric(name, sketch, x, ref, w)


def _text(name: str, col: _Array, ref: FeatureProfile | None, w: ModelWindow) -> None:
    """Free text: the sketch of its lengths (missing counted), never a value."""
    x = text_lengths(col)
    sketch = NumericSketch()
    sketch.update(x)
    add_numeric(name, sketch, x, ref, w)


def _categorical(
    name: str, col: _Array, ref: FeatureProfile | None, w: ModelWindow, max_categories: int
) -> None:
    # Counted once by distinct value (the sketch layer's rule and spelling, as the profile's).
    counts, n_miss = count_categories(col)
    counts = _short(counts)
    sketch = CategoricalSketch(max_categories=max_categories)
    sketch.update_counts(counts, n_miss)
    w.categorical[name] = sketch
    if n_miss:
        w.quality[(name, semconv.QUALITY_MISSING)] += n_miss
    # A reference that overflowed its top-K does not know all its categories: no verdict.
    ref_sketch = None if ref is None else ref.sketch
    if isinstance(ref_sketch, CategoricalSketch) and not ref_sketch.overflow and counts:
        known = ref_sketch.counts
        unseen = sum(n for k, n in counts.items() if k not in known)
        if unseen:
            w.quality[(name, semconv.QUALITY_UNSEEN_CATEGORY)] += unseen


def capture(table: Table, options: MonitorOptions, reference: ReferenceLike | None) -> ModelWindow:
    """Sketches and quality counts of ``table`` as a fresh window (merged by the caller)."""
    if table.sparse is not None:  # a narrow scipy.sparse matrix, read column by column
        return capture_sparse(
            table.sparse, options, reference, unreadable_rows=table.unreadable_rows
        )
    w = ModelWindow()
    n = table.n_rows
    if table.unreadable_rows:
        w.quality[("", semconv.QUALITY_SCHEMA_MISMATCH)] += table.unreadable_rows
        if not table.columns:
            return w
    refs = reference.features if reference is not None else {}
    seen = 0
    # Short numeric columns of a numeric dtype are sketched together after the loop (one
    # numpy step for many: _numeric_columns.update_many); their keys are set now so the
    # window keeps the table's column order.
    together: list[tuple[str, _Array, FeatureProfile | None]] = []
    for name, col in zip(table.names, table.columns, strict=True):
        if not options.wants_feature(name):
            continue
        ref = refs.get(name)
        if reference is not None and ref is None:
            if name not in reference.skipped:  # a column the reference lacks
                w.quality[("", semconv.QUALITY_SCHEMA_MISMATCH)] += n
            continue
        col = col.reshape(-1) if col.ndim != 1 else col
        kind = ref.kind if ref is not None else infer_kind(col)
        if kind is FeatureKind.DATETIME:
            continue  # not a feature without a reference that converts it
        seen += 1
        if seen > options.max_features:
            w.quality[("", semconv.QUALITY_SCHEMA_MISMATCH)] += n
            continue
        if kind is FeatureKind.NUMERIC and col.dtype.kind in "fiub" and n < _GROUP_VALUES:
            together.append((name, col, ref))
            w.numeric[name] = NumericSketch()
        elif kind is FeatureKind.NUMERIC:
            _numeric(name, col, ref, w)
        elif kind is FeatureKind.TEXT:
            _text(name, col, ref, w)
        else:
            _categorical(name, col, ref, w, options.max_categories)
    if together:
        _numeric_together(together, w)
    if reference is not None and not table.unreadable_rows:
        present = set(table.names)
        for name in refs:
            if name not in present and options.wants_feature(name):
                w.quality[(name, semconv.QUALITY_SCHEMA_MISMATCH)] += n
    return w


def reconstruction_errors(
    table: Table, options: MonitorOptions, reference: ReferenceLike | None
) -> NumericSketch | None:
    """The sketch of the rows' reconstruction errors under the reference's multivariate
    model; ``None`` without one, for a sparse table, or when a feature of the model is
    absent or not wanted (``features`` / ``exclude_features``). Raises on bad input: the
    caller counts it.

    >>> from otel_ml.instrumentation._inputs import Table
    >>> from otel_ml.instrumentation._options import MonitorOptions
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=1000)
    >>> ref = Profile.from_data({"a": a, "b": a + rng.normal(0, 0.5, 1000)})
    >>> t = Table(["b", "a"], [np.array([1.0, -1.0]), np.array([1.0, 1.0])], 2)
    >>> s = reconstruction_errors(t, MonitorOptions(model="m"), ref)
    >>> s.count, s.min < 0.1 < 1.0 < s.max
    (2, True)
    """
    model = None if reference is None else reference.multivariate
    if model is None or table.sparse is not None or table.n_rows == 0:
        return None
    wanted = set(model.features)
    cols = {n: c for n, c in zip(table.names, table.columns, strict=True) if n in wanted}
    if len(cols) < len(wanted) or not all(options.wants_feature(n) for n in wanted):
        return None
    return model.error_sketch({n: c.reshape(-1) if c.ndim != 1 else c for n, c in cols.items()})
