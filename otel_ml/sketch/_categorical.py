"""A mergeable, bounded sketch of a categorical feature: top-K exact counts + overflow.

The sketch keeps at most ``max_categories`` values with their counts; every
other row is counted in ``overflow``; missing values (``None``, NaN) in
``missing_count``. The total is always exact, whatever the input, and memory is
``O(max_categories)`` between updates (one update holds the distinct values of
its own batch while it runs).

When more than ``max_categories`` values compete, the most frequent stay
(ties broken by value, so the result does not depend on the order of
arguments): :meth:`CategoricalSketch.merge` is commutative, and associative as
long as the union of values fits; once values are evicted, the counts of the
values kept are exact lower bounds and the evicted rows sit in ``overflow``.
Values are kept as strings (``str(value)``), which is how they travel as OTLP
attributes.

Examples
--------
>>> s = CategoricalSketch(max_categories=2)
>>> s.update(["a", "b", "a", None, "c", "a", "b"])
>>> s.counts, s.overflow, s.missing_count, s.total
({'a': 3, 'b': 2}, 1, 1, 7)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_ml._errors import SketchError

__all__ = [
    "DEFAULT_MAX_CATEGORIES",
    "CategoricalSketch",
    "category_text",
    "count_categories",
]

DEFAULT_MAX_CATEGORIES = 100


def _missing_mask(x: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    if x.dtype.kind == "f":
        mask: npt.NDArray[np.bool_] = np.isnan(x)
        return mask
    if x.dtype.kind == "O":
        # None, float NaN and pandas' NA / NaT: None, or unequal to themselves.
        return np.fromiter((v is None or v != v for v in x), dtype=bool, count=x.size)
    return np.zeros(x.shape, dtype=bool)


def _as_strings(x: npt.NDArray[Any]) -> npt.NDArray[np.str_]:
    if x.dtype.kind == "U":
        return x
    if x.dtype.kind == "b":
        return np.where(x, "True", "False")
    if x.dtype.kind == "f":
        # 1.0 and 1 are the same category; keep integral floats without ".0".
        integral = np.isfinite(x) & (x == np.round(x))
        out = x.astype(str)
        if integral.any():
            out[integral] = x[integral].astype(np.int64).astype(str)
        return out
    if x.dtype.kind == "O":
        return np.array([str(v) for v in x], dtype=str)
    return x.astype(str)


def _is_missing(value: object) -> bool:
    """None, float NaN, NaT and pandas' NA (whose truth value is ambiguous)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except (TypeError, ValueError):
        return True


def _hash_is_text(counter: Iterable[Any]) -> bool:
    """Whether counting by value gave the counts by ``str(value)``: no number among the keys.

    A key stands for every cell equal to it, and only numbers are equal across types with
    different text (``0 == False == 0.0``, ``-0.0 == 0.0``); strings, bytes and missing
    markers (None, NaN) never are. Looking at the distinct keys is enough: a number merged
    into a key makes that key a number.
    """
    return all(isinstance(v, (str, bytes)) or _is_missing(v) for v in counter)


def _count_pandas(values: object) -> tuple[dict[str, int], int] | None:
    """Counts of a pandas Series of text or categories by pandas' own hash table.

    Converting such a Series to numpy first costs more than counting it (pandas 3 keeps
    strings in Arrow). ``None`` for anything else, or when the keys are numbers (see
    :func:`_hash_is_text`), so the caller counts it the general way.
    """
    if type(values).__module__.partition(".")[0] != "pandas" or not hasattr(values, "dtype"):
        return None
    if getattr(values, "ndim", 0) != 1 or values.dtype.kind not in "OU":
        return None
    try:
        counts = values.value_counts(dropna=True, sort=False)  # type: ignore[attr-defined]
    except TypeError:  # unhashable cells
        return None
    keys = counts.index.tolist()
    if not _hash_is_text(keys):
        return None
    out: dict[str, int] = {}
    for key, n in zip(keys, counts.tolist(), strict=True):
        if n:
            k = key if type(key) is str else str(key)
            out[k] = out.get(k, 0) + int(n)
    return out, int(values.isna().sum())  # type: ignore[attr-defined]


def category_text(value: object) -> str:
    """How a category value is spelled, whatever holds it (one rule for every container).

    Booleans read ``True``/``False``; integral finite floats lose their ``.0`` (the float
    1.0 and the integer 1 are one category, in a float array, an object column or CSV
    text); everything else is ``str(value)``.

    >>> [category_text(v) for v in ("a", 3, 3.0, np.float32(2.0), 2.5, True, np.bool_(False))]
    ['a', '3', '3', '2', '2.5', 'True', 'False']
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return str(int(v)) if math.isfinite(v) and v == round(v) else str(v)
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def _numeric_strings(x: npt.NDArray[Any]) -> list[str]:
    """``str`` of distinct numbers; integral floats without ``.0`` (1.0 and 1 are one category)."""
    if x.dtype.kind == "b":
        return ["True" if v else "False" for v in x.tolist()]
    if x.dtype.kind == "f":
        return [
            str(int(v)) if math.isfinite(v) and v == round(v) else str(v) for v in x.tolist()
        ]
    return [str(v) for v in x.tolist()]


def _count(x: npt.NDArray[Any]) -> tuple[dict[str, int], int]:
    """``({str(value): count}, missing)`` of a 1-D column, hashing the distinct values once.

    Objects and strings are counted by a hash table (``collections.Counter``, in C), so a
    column pays per row only for a dictionary increment; ``str`` runs once per distinct
    value. Numbers are counted by ``np.unique``.
    """
    if x.dtype.kind in "OU":
        rows = x.tolist()
        try:
            counter = Counter(rows)
        except TypeError:  # unhashable cells (lists, dicts): count their text
            counter = Counter(None if _is_missing(v) else category_text(v) for v in rows)
        else:
            if x.dtype.kind == "O" and not _hash_is_text(counter):
                # 0 == False hash alike but read "0", "False": count the text
                counter = Counter(None if _is_missing(v) else category_text(v) for v in rows)
        counts: dict[str, int] = {}
        missing = 0
        for value, n in counter.items():
            if _is_missing(value):
                missing += n
                continue
            key = value if type(value) is str else str(value)
            counts[key] = counts.get(key, 0) + n
        return counts, missing
    missing = 0
    if x.dtype.kind == "f":
        nan = np.isnan(x)
        missing = int(np.count_nonzero(nan))
        if missing:
            x = x[~nan]
    uniq, cnt = np.unique(x, return_counts=True)
    return dict(zip(_numeric_strings(uniq), cnt.tolist(), strict=True)), missing


def count_categories(values: npt.ArrayLike | Iterable[Any]) -> tuple[dict[str, int], int]:
    """``({category_text(value): rows}, missing rows)`` of a column, every distinct value kept.

    What :meth:`CategoricalSketch.update` adds, before the sketch keeps its top values
    (the SDK counts unseen categories on it first). Missing: ``None``, NaN, NaT, pandas' NA.

    >>> count_categories(["b", None, "a", "b", 1.0, 1])
    ({'b': 2, 'a': 1, '1': 2}, 1)
    """
    counted = _count_pandas(values)
    if counted is not None:
        return counted
    x = np.asarray(values if not isinstance(values, (str, bytes)) else [values])
    if x.dtype.kind not in "UOfiub":
        x = x.astype(object)
    x = x.ravel()
    if x.size == 0:
        return {}, 0
    return _count(x)


@dataclass
class CategoricalSketch:
    """Top-K exact counts of a categorical feature, an overflow bucket and a missing count."""

    max_categories: int = DEFAULT_MAX_CATEGORIES
    counts: dict[str, int] = field(default_factory=dict)
    overflow: int = 0
    missing_count: int = 0

    def __post_init__(self) -> None:
        if self.max_categories < 1:
            raise SketchError(f"max_categories must be at least 1, got {self.max_categories}")

    @property
    def count(self) -> int:
        """Rows with a value (tracked or overflow)."""
        return sum(self.counts.values()) + self.overflow

    @property
    def total(self) -> int:
        """Every row seen, missing included."""
        return self.count + self.missing_count

    def update(self, values: npt.ArrayLike | Iterable[Any]) -> None:
        """Add a column of values (strings, numbers, booleans, ``None`` for missing)."""
        self.update_counts(*count_categories(values))

    def update_counts(self, counts: Mapping[str, int], missing: int = 0) -> None:
        """Add values already counted (:func:`count_categories`) and ``missing`` rows.

        >>> s = CategoricalSketch(max_categories=1)
        >>> s.update_counts({"a": 3, "b": 1}, missing=2)
        >>> s.counts, s.overflow, s.missing_count
        ({'a': 3}, 1, 2)
        """
        self.missing_count += missing
        keep = 4 * self.max_categories
        if len(counts) > keep:
            # Only the most frequent can survive: cut before the merge sorts them.
            names = list(counts)
            cnt = np.fromiter(counts.values(), dtype=np.int64, count=len(names))
            top = np.argpartition(-cnt, keep)[:keep]
            self.overflow += int(cnt.sum() - cnt[top].sum())
            counts = {names[i]: int(cnt[i]) for i in top.tolist()}
        self._absorb(counts, 0)

    def _absorb(self, incoming: Mapping[str, int], overflow: int) -> None:
        merged = dict(self.counts)
        for k, v in incoming.items():
            merged[k] = merged.get(k, 0) + int(v)
        self.overflow += overflow
        if len(merged) > self.max_categories:
            ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
            kept = ranked[: self.max_categories]
            self.overflow += sum(v for _, v in ranked[self.max_categories :])
            merged = dict(kept)
        self.counts = merged

    def merge(self, other: CategoricalSketch) -> None:
        """Add ``other`` into this sketch.

        >>> a = CategoricalSketch(); a.update(["x", "y"])
        >>> b = CategoricalSketch(); b.update(["y", None])
        >>> a.merge(b); a.counts, a.missing_count
        ({'x': 1, 'y': 2}, 1)
        """
        if other.max_categories != self.max_categories:
            raise SketchError(
                f"cannot merge categorical sketches of max_categories "
                f"{self.max_categories} and {other.max_categories}"
            )
        self.missing_count += other.missing_count
        self._absorb(other.counts, other.overflow)

    def copy(self) -> CategoricalSketch:
        return CategoricalSketch(
            max_categories=self.max_categories,
            counts=dict(self.counts),
            overflow=self.overflow,
            missing_count=self.missing_count,
        )

    def frequencies(self) -> dict[str, float]:
        """Share of each tracked value among the rows with a value."""
        n = self.count
        return {k: v / n for k, v in self.counts.items()} if n else {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_categories": self.max_categories,
            "counts": dict(sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))),
            "overflow": self.overflow,
            "missing_count": self.missing_count,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CategoricalSketch:
        try:
            counts = {str(k): int(v) for k, v in dict(d["counts"]).items()}
            s = cls(
                max_categories=int(d.get("max_categories", DEFAULT_MAX_CATEGORIES)),
                counts=counts,
                overflow=int(d.get("overflow", 0)),
                missing_count=int(d.get("missing_count", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SketchError(f"bad categorical sketch: {exc!r}") from exc
        if any(v < 0 for v in counts.values()) or s.overflow < 0 or s.missing_count < 0:
            raise SketchError("bad categorical sketch: negative count")
        if len(counts) > s.max_categories:
            s._absorb({}, 0)
        return s
