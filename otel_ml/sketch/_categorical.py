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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_ml._errors import SketchError

__all__ = ["DEFAULT_MAX_CATEGORIES", "CategoricalSketch"]

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
        x = np.asarray(values if not isinstance(values, (str, bytes)) else [values])
        if x.dtype.kind not in "UOfiub":
            x = x.astype(object)
        x = x.ravel()
        if x.size == 0:
            return
        miss = _missing_mask(x)
        n_miss = int(np.count_nonzero(miss))
        if n_miss:
            self.missing_count += n_miss
            x = x[~miss]
            if x.size == 0:
                return
        uniq, cnt = np.unique(_as_strings(x), return_counts=True)
        if uniq.size > 4 * self.max_categories:
            # Only the most frequent can survive: cut before building Python objects.
            keep = np.argpartition(-cnt, 4 * self.max_categories)[: 4 * self.max_categories]
            mask = np.ones(uniq.size, dtype=bool)
            mask[keep] = False
            self.overflow += int(cnt[mask].sum())
            uniq, cnt = uniq[keep], cnt[keep]
        incoming = dict(zip(uniq.tolist(), cnt.tolist(), strict=True))
        self._absorb(incoming, 0)

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
