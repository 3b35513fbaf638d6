"""Data quality of current data against a reference profile.

Per feature, as shares of the current rows (missing values included in the denominator):

* ``missing``: ``None`` / NaN;
* ``non_finite``: ``+inf`` / ``-inf`` (numeric features);
* ``out_of_range``: finite values outside the reference's ``[min, max]``;
* ``unseen_category``: values the reference never saw (categorical features; when the
  reference itself overflowed its ``max_categories``, "never saw" means "not among the
  values it kept", an upper bound);
* ``schema_mismatch``: values that are not numbers in a numeric column.

And for the table: schema problems (reference columns missing, extra columns, a column
whose type does not match). On raw data every share is exact; between two profiles
they come from sketches (``exact=False``): ``out_of_range`` assumes values spread evenly
inside the one bucket that straddles a reference bound, and ``unseen_category`` cannot
see into the current sketch's overflow (a lower bound).

Examples
--------
>>> ref = Profile.from_data({"age": [20.0, 30.0, 40.0], "city": ["a", "b", "a"]})
>>> rep = quality_report(ref, {"age": [25.0, 90.0, None, 35.0], "city": ["a", "z", "b", "a"]})
>>> rep.feature("age").missing_rate, rep.feature("age").out_of_range_rate
(0.25, 0.25)
>>> rep.feature("city").unseen_category_rate
0.25
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_ml import semconv
from otel_ml.sketch._categorical import CategoricalSketch
from otel_ml.sketch._columns import (
    Column,
    FeatureKind,
    columns_of,
    numeric_values,
    text_lengths,
)
from otel_ml.sketch._numeric import NumericSketch
from otel_ml.sketch._profile import FeatureProfile, Profile
from otel_ml.stats._json import float_or_nan, json_number

__all__ = [
    "FeatureQuality",
    "QualityReport",
    "SchemaIssue",
    "SchemaProblem",
    "out_of_range_count",
    "quality_report",
    "unseen_count",
]


class SchemaProblem(str, Enum):
    """What is wrong with a column."""

    MISSING_COLUMN = "missing_column"
    EXTRA_COLUMN = "extra_column"
    WRONG_TYPE = "wrong_type"


@dataclass(frozen=True)
class SchemaIssue:
    """One schema problem of the current data."""

    column: str
    problem: SchemaProblem
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``problem`` as its string)."""
        return {"column": self.column, "problem": self.problem.value, "detail": self.detail}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SchemaIssue:
        """Inverse of :meth:`to_dict`."""
        return cls(str(d["column"]), SchemaProblem(d["problem"]), str(d["detail"]))


_RATE_FIELDS = (
    "missing_rate",
    "reference_missing_rate",
    "non_finite_rate",
    "out_of_range_rate",
    "unseen_category_rate",
    "schema_mismatch_rate",
)


@dataclass(frozen=True)
class FeatureQuality:
    """Data-quality shares of one feature (see the module docstring)."""

    feature: str
    kind: FeatureKind
    n_rows: int
    missing_rate: float
    reference_missing_rate: float
    non_finite_rate: float
    out_of_range_rate: float
    unseen_category_rate: float
    schema_mismatch_rate: float
    exact: bool

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field, ``kind`` as its string, NaN as ``None``."""
        return {
            "feature": self.feature,
            "kind": self.kind.value,
            "n_rows": self.n_rows,
            **{k: json_number(getattr(self, k)) for k in _RATE_FIELDS},
            "exact": self.exact,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureQuality:
        """Inverse of :meth:`to_dict` (``None`` reads as NaN)."""
        return cls(
            feature=str(d["feature"]),
            kind=FeatureKind(d["kind"]),
            n_rows=int(d["n_rows"]),
            exact=bool(d["exact"]),
            **{k: float_or_nan(d[k]) for k in _RATE_FIELDS},
        )

    def rates(self) -> dict[str, float]:
        """The shares keyed by the ``ml.data_quality.issue`` values of :mod:`otel_ml.semconv`."""
        return {
            semconv.QUALITY_MISSING: self.missing_rate,
            semconv.QUALITY_NON_FINITE: self.non_finite_rate,
            semconv.QUALITY_OUT_OF_RANGE: self.out_of_range_rate,
            semconv.QUALITY_UNSEEN_CATEGORY: self.unseen_category_rate,
            semconv.QUALITY_SCHEMA_MISMATCH: self.schema_mismatch_rate,
        }


@dataclass(frozen=True)
class QualityReport:
    """Per-feature quality and the schema problems of the current data."""

    features: tuple[FeatureQuality, ...]
    schema: tuple[SchemaIssue, ...]
    n_rows: int

    def feature(self, name: str) -> FeatureQuality:
        """The result for one feature (``KeyError`` if it was not checked)."""
        for f in self.features:
            if f.feature == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: rows, each feature's and each schema issue's ``to_dict``.

        >>> ref = Profile.from_data({"age": [20.0, 30.0], "city": ["a", "b"]})
        >>> rep = quality_report(ref, {"age": [25.0, None], "town": ["a", "b"]})
        >>> d = rep.to_dict()
        >>> d["features"][0]["missing_rate"], [i["problem"] for i in d["schema"]]
        (0.5, ['missing_column', 'extra_column'])
        >>> QualityReport.from_dict(d) == rep
        True
        """
        return {
            "n_rows": self.n_rows,
            "features": [f.to_dict() for f in self.features],
            "schema": [i.to_dict() for i in self.schema],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QualityReport:
        """Inverse of :meth:`to_dict`."""
        return cls(
            features=tuple(FeatureQuality.from_dict(f) for f in d["features"]),
            schema=tuple(SchemaIssue.from_dict(i) for i in d["schema"]),
            n_rows=int(d["n_rows"]),
        )


def _share(k: float, n: int) -> float:
    return k / n if n else 0.0


def _numeric_raw(ref: FeatureProfile, values: Column) -> tuple[FeatureQuality, str | None]:
    n = int(values.size)
    bad_example: str | None = None
    x, wrong_type = numeric_values(values)  # the sketch layer's reading, dates as seconds
    n_bad = 0 if wrong_type is None else int(np.count_nonzero(wrong_type))
    if wrong_type is not None:
        bad_example = repr(values.ravel()[int(np.argmax(wrong_type))])[:40]
    missing = int(np.count_nonzero(np.isnan(x))) - n_bad
    finite = x[np.isfinite(x)]
    non_finite = n - n_bad - missing - int(finite.size)
    out = 0
    if ref.sketch.count and finite.size:
        out = int(np.count_nonzero((finite < ref.min) | (finite > ref.max)))
    fq = FeatureQuality(
        feature=ref.name,
        kind=ref.kind,
        n_rows=n,
        missing_rate=_share(missing, n),
        reference_missing_rate=ref.missing_rate,
        non_finite_rate=_share(non_finite, n),
        out_of_range_rate=_share(out, n),
        unseen_category_rate=0.0,
        schema_mismatch_rate=_share(n_bad, n),
        exact=True,
    )
    detail = None
    if n_bad:
        detail = f"{n_bad} of {n} values are not numbers (e.g. {bad_example})"
    return fq, detail


def unseen_count(known: Container[str], current: CategoricalSketch) -> int:
    """Values of ``current`` not among the ``known`` categories (a reference's).

    Exact when neither side overflowed; a reference sketch that overflowed its
    ``max_categories`` only knows the values it kept (an upper bound), and the
    ``current`` overflow is not looked into (a lower bound).

    >>> cur = CategoricalSketch()
    >>> cur.update(["a", "z", "z", None])
    >>> unseen_count({"a", "b"}, cur)
    2
    """
    return sum(c for v, c in current.counts.items() if v not in known)


def _categorical(ref: FeatureProfile, cur: CategoricalSketch, *, exact: bool) -> FeatureQuality:
    n = cur.total
    return FeatureQuality(
        feature=ref.name,
        kind=ref.kind,
        n_rows=n,
        missing_rate=_share(cur.missing_count, n),
        reference_missing_rate=ref.missing_rate,
        non_finite_rate=0.0,
        out_of_range_rate=0.0,
        unseen_category_rate=_share(unseen_count(ref.categories, cur), n),
        schema_mismatch_rate=0.0,
        exact=exact and cur.overflow == 0,
    )


def out_of_range_count(sketch: NumericSketch, lo: float, hi: float) -> float:
    """Estimated count of finite values below ``lo`` or above ``hi``.

    Exact when no bucket straddles a bound; inside the bucket that does, values are
    taken as spread evenly (linear). ``lo`` NaN (an empty reference) gives 0.

    >>> s = NumericSketch(scale=0)
    >>> s.update([1.5, 3.0, 5.0, 6.0])
    >>> out_of_range_count(s, 1.0, 4.0), out_of_range_count(s, 0.0, 8.0)
    (2.0, 0.0)
    """
    if sketch.count == 0 or math.isnan(lo) or (sketch.min >= lo and sketch.max <= hi):
        return 0.0
    lower, upper, counts = sketch.buckets()
    # np.minimum(np.maximum(...)) is np.clip without its Python wrapper (same values).
    lower = np.minimum(np.maximum(lower, sketch.min), sketch.max)
    upper = np.minimum(np.maximum(upper, sketch.min), sketch.max)
    width = upper - lower
    wide = width > 0
    safe = np.where(wide, width, 1.0)
    below = np.where(wide, (np.minimum(np.maximum(lo, lower), upper) - lower) / safe, lower < lo)
    above = np.where(wide, (upper - np.minimum(np.maximum(hi, lower), upper)) / safe, upper > hi)
    frac: npt.NDArray[np.float64] = np.minimum(np.maximum(below + above, 0.0), 1.0)
    return float(np.add.reduce(frac * counts))


def _numeric_sketch(ref: FeatureProfile, cur: NumericSketch) -> FeatureQuality:
    n = cur.total
    return FeatureQuality(
        feature=ref.name,
        kind=ref.kind,
        n_rows=n,
        missing_rate=_share(cur.nan_count, n),
        reference_missing_rate=ref.missing_rate,
        non_finite_rate=_share(cur.non_finite_count, n),
        out_of_range_rate=_share(out_of_range_count(cur, ref.min, ref.max), n),
        unseen_category_rate=0.0,
        schema_mismatch_rate=0.0,
        exact=cur.count == 0 or (cur.min >= ref.min and cur.max <= ref.max),
    )


def quality_report(reference: Profile, current: Profile | object) -> QualityReport:
    """Data quality of ``current`` (a :class:`~otel_ml.stats.Profile` or a raw table)
    against ``reference``; see the module docstring for the definitions."""
    schema: list[SchemaIssue] = []
    results: list[FeatureQuality] = []
    if isinstance(current, Profile):
        names = list(current.features)
        n_rows = current.n_rows
        for name, ref in reference.features.items():
            cur = current.features.get(name)
            if cur is None:
                continue
            if cur.kind is not ref.kind:
                schema.append(SchemaIssue(name, SchemaProblem.WRONG_TYPE,
                                          f"{ref.kind.value} in the reference, "
                                          f"{cur.kind.value} now"))
            elif isinstance(cur.sketch, NumericSketch):
                results.append(_numeric_sketch(ref, cur.sketch))
            else:
                results.append(_categorical(ref, cur.sketch, exact=False))
    else:
        cols = columns_of(current)
        names = list(cols)
        n_rows = cols.n_rows
        for name, ref in reference.features.items():
            values = cols.get(name)
            if values is None:
                continue
            if ref.kind is FeatureKind.TEXT:  # lengths against the reference's lengths
                results.append(_numeric_raw(ref, text_lengths(values))[0])
            elif ref.kind is FeatureKind.NUMERIC:
                fq, detail = _numeric_raw(ref, values)
                results.append(fq)
                if detail:
                    schema.append(SchemaIssue(name, SchemaProblem.WRONG_TYPE, detail))
            else:
                exact = CategoricalSketch(max_categories=max(1, int(values.size)))
                exact.update(values)
                results.append(_categorical(ref, exact, exact=True))
    schema.extend(
        SchemaIssue(n, SchemaProblem.MISSING_COLUMN, "in the reference, not in the current data")
        for n in reference.features
        if n not in names
    )
    schema.extend(
        SchemaIssue(n, SchemaProblem.EXTRA_COLUMN, "not in the reference")
        for n in names
        if n not in reference.features
    )
    return QualityReport(features=tuple(results), schema=tuple(schema), n_rows=n_rows)
