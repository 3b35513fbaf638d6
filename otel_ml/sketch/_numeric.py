"""A mergeable, bounded sketch of a numeric feature: a base-2 exponential histogram.

The bucket layout is the OTLP ``ExponentialHistogram`` one, so the same object is
built from training data, updated per predict call, exported as a real OTLP data
point, rebuilt by the evaluator and compared against the reference.

Layout
------
At scale ``s`` the base is ``b = 2 ** (2 ** -s)`` and bucket ``i`` holds the
positive values ``v`` with ``b**i < v <= b**(i+1)``; negative values go to a
mirror set of buckets by absolute value; exact zeros go to ``zero_count``.
Bucket ``i`` at scale ``s`` is exactly the union of buckets ``2i`` and
``2i + 1`` at scale ``s + 1``, so lowering the scale (``i >> d``) merges
buckets without any loss beyond resolution.

Size
----
Each sign keeps at most ``max_size`` buckets (160, the OpenTelemetry SDK
default). When new values would need more, the scale is lowered until they fit.
The scale starts at :data:`MAX_SCALE` (20) and never goes below
:data:`MIN_SCALE` (-10), which covers every finite float64.

Accuracy
--------
``count``, ``sum``, ``min`` and ``max`` are exact (``sum`` up to float64
rounding). A value is known to lie in its bucket, so :meth:`NumericSketch.quantile`,
which answers with the bucket's log-midpoint clamped to ``[min, max]``, has a
relative error of at most ``sqrt(b) - 1`` (:attr:`NumericSketch.relative_error`):
2.2 % at scale 4, 4.4 % at scale 3. Ranks are exact at bucket boundaries.

Values that are not finite are never put into buckets and never dropped silently:
NaN is counted in ``nan_count`` (missing) and ``+inf`` / ``-inf`` in
``posinf_count`` / ``neginf_count``.

Limitation: at scale 20 a bucket is ``6.6e-7`` wide relative to its value, so a
feature whose spread is below about ``1e-6`` of its magnitude (raw epoch
timestamps, say) collapses into a few buckets; centre such features first.

Examples
--------
>>> import numpy as np
>>> s = NumericSketch()
>>> s.update(np.array([1.0, 2.0, 3.0, 4.0, np.nan, -1.0, 0.0]))
>>> s.count, s.nan_count, s.zero_count, s.min, s.max, s.sum
(6, 1, 1, -1.0, 4.0, 9.0)
>>> round(s.quantile(0.5), 1)  # the median rank holds 1.0
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_ml._errors import SketchError
from otel_ml.sketch._exponential_layout import (
    _I64,
    DEFAULT_MAX_SIZE,
    MAX_SCALE,
    MIN_SCALE,
    ExponentialBuckets,
    _delta_to_fit,
    _empty_counts,
    _scalar_index,
    _shift_buckets,
    _trim,
)

__all__ = [
    "DEFAULT_MAX_SIZE",
    "MAX_SCALE",
    "MIN_SCALE",
    "ExponentialBuckets",
    "NumericSketch",
]

# IEEE-754 bits of the float64 values: 1 (the smallest positive) and -5e-324 (the negative
# nearest zero), for the per-sign extremes in _add_mixed.
_ONE = np.uint64(1)
_NEG_TINY = np.uint64(0x8000000000000001)
_MIN, _MAX = np.minimum.reduce, np.maximum.reduce


@dataclass
class NumericSketch:
    """Exponential-histogram sketch of one numeric feature.

    Parameters
    ----------
    max_size
        Maximum number of buckets per sign (positive / negative values).

    The verbs are :meth:`update` (a whole column at once), :meth:`merge`
    (associative and commutative) and the getters :meth:`quantile`,
    :meth:`buckets` and :meth:`to_exponential`.
    """

    max_size: int = DEFAULT_MAX_SIZE
    scale: int = MAX_SCALE
    count: int = 0  # finite values, zeros included
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    zero_count: int = 0
    nan_count: int = 0
    posinf_count: int = 0
    neginf_count: int = 0
    positive_offset: int = 0
    positive_counts: npt.NDArray[np.int64] = field(default_factory=_empty_counts)
    negative_offset: int = 0
    negative_counts: npt.NDArray[np.int64] = field(default_factory=_empty_counts)

    def __post_init__(self) -> None:
        if self.max_size < 2:
            raise SketchError(f"max_size must be at least 2, got {self.max_size}")
        if not MIN_SCALE <= self.scale <= MAX_SCALE:
            raise SketchError(f"scale must be in [{MIN_SCALE}, {MAX_SCALE}], got {self.scale}")
        # Bucket runs are updated in place: a sketch owns its arrays.
        if self.positive_counts.size:
            self.positive_counts = np.array(self.positive_counts, dtype=_I64)
        if self.negative_counts.size:
            self.negative_counts = np.array(self.negative_counts, dtype=_I64)

    # ---- properties -------------------------------------------------------------------
    @property
    def total(self) -> int:
        """Every value seen: finite, NaN and infinite."""
        return self.count + self.nan_count + self.posinf_count + self.neginf_count

    @property
    def non_finite_count(self) -> int:
        return self.posinf_count + self.neginf_count

    @property
    def base(self) -> float:
        return float(2.0 ** (2.0**-self.scale))

    @property
    def relative_error(self) -> float:
        """Bound on the relative error of :meth:`quantile` for non-zero answers."""
        return math.sqrt(self.base) - 1.0

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else math.nan

    # ---- update -----------------------------------------------------------------------
    def update(self, values: npt.ArrayLike) -> None:
        """Add a column of values (any real dtype; NaN and ±inf are counted apart).

        >>> s = NumericSketch()
        >>> s.update([5, 5, 5])
        >>> s.count, s.quantile(0.0), s.quantile(1.0)
        (3, 5.0, 5.0)
        """
        x = np.asarray(values)
        if x.dtype.kind not in "fiub":
            raise SketchError(
                f"NumericSketch.update needs a real numeric array, got dtype {x.dtype}"
            )
        x = x.astype(np.float64, copy=False).ravel()  # contiguous (ravel copies a strided view)
        if x.size == 0:
            return
        # One errstate for the whole update: overflowing sums and log2(0) are expected.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            self._update(x)

    def _update(self, x: npt.NDArray[np.float64]) -> None:
        # One reduction tells whether anything is NaN/inf (the sum is then not finite).
        total = float(np.add.reduce(x))
        if not math.isfinite(total):
            finite = np.isfinite(x)
            n_finite = int(np.count_nonzero(finite))
            if n_finite != x.size:
                n_nan = int(np.count_nonzero(np.isnan(x)))
                n_pos = int(np.count_nonzero(x == np.inf))
                self.nan_count += n_nan
                self.posinf_count += n_pos
                self.neginf_count += x.size - n_finite - n_nan - n_pos
                x = x[finite]
                if x.size == 0:
                    return
                total = float(np.add.reduce(x))  # beyond 1.8e308 the sum is inf, as in floats
        lo, hi = float(_MIN(x)), float(_MAX(x))  # the ufuncs' reduce: no Python wrapper
        self.count += int(x.size)
        self.sum += total
        self.min = min(self.min, lo)
        self.max = max(self.max, hi)
        if lo > 0.0:
            self._add_sign(x, lo, hi, positive=True)
        elif hi < 0.0:
            self._add_sign(-x, -hi, -lo, positive=False)
        else:
            self._add_mixed(x, lo, hi)

    def _add_mixed(self, x: npt.NDArray[np.float64], lo: float, hi: float) -> None:
        """Values of both signs (and zeros), without copying either sign out."""
        has_pos, has_neg = hi > 0.0, lo < 0.0
        if not has_pos and not has_neg:
            self.zero_count += x.size
            return
        # The extremes of each sign from the IEEE bits, one subtract + one min each (np.where
        # + min costs ~3 ns per value): as unsigned integers, positive floats keep their
        # order and sit below every negative one; subtracting 1 sends 0.0 to the top, so
        # the minimum is the smallest positive value. Subtracting the bits of -tiny does the
        # same for the negative value nearest zero (and sends -0.0 and the positives up).
        bits = x.view(np.uint64)
        scratch = np.empty_like(bits)
        scale = self.scale
        lo_pos = lo_neg = 0
        hi_pos = -1
        if has_pos:
            vmin = float((_MIN(np.subtract(bits, _ONE, out=scratch)) + _ONE).view(np.float64))
            scale = self._fit_scale(scale, vmin, hi, True)
        if has_neg:
            nmin = -float(
                (_MIN(np.subtract(bits, _NEG_TINY, out=scratch)) + _NEG_TINY).view(np.float64)
            )
            scale = self._fit_scale(scale, nmin, -lo, False)
        del scratch
        # Fitting one sign at a scale never unfits the other: a lower scale holds any run
        # in no more buckets than a higher one.
        self._downscale(self.scale - scale)
        # Scalar log2 may differ from numpy's vectorised log2 in the last ulp, so bucket
        # runs get one spare bucket on each side (trimmed away by _add_counts).
        if has_pos:
            lo_pos = _scalar_index(vmin, scale) - 1
            hi_pos = _scalar_index(hi, scale) + 1
        if has_neg:
            lo_neg = _scalar_index(nmin, scale) - 1
        n_pos_bins = hi_pos - lo_pos + 1
        # Key 0 for zeros, 1.. for positive buckets, then the negative buckets.
        work = np.abs(x)
        np.log2(work, out=work)  # zeros: -inf (the caller silenced the warning)
        work *= 2.0**scale
        np.ceil(work, out=work)
        work -= float(lo_pos)
        if has_neg:  # negatives move past the positive keys
            work += np.multiply(x < 0.0, float(n_pos_bins - lo_neg + lo_pos))
        np.maximum(work, 0.0, out=work)  # zeros: log2(0) = -inf
        counts = np.bincount(work.astype(np.intp)).astype(_I64, copy=False)
        self.zero_count += int(counts[0])
        if has_pos:
            self._add_counts(lo_pos, counts[1 : 1 + n_pos_bins], positive=True)
        if has_neg:
            self._add_counts(lo_neg, counts[1 + n_pos_bins :], positive=False)
        self._enforce_size()

    def _fit_scale(self, scale: int, vmin: float, vmax: float, positive: bool) -> int:
        """Largest scale <= ``scale`` at which ``[vmin, vmax]`` and the held buckets fit."""
        lo_l, hi_l = math.log2(vmin), math.log2(vmax)
        span = hi_l - lo_l
        if span > 0:
            fit = math.floor(math.log2((self.max_size - 1) / span))
            scale = max(MIN_SCALE, min(scale, fit + 1))
        while True:
            lo_i, hi_i = _scalar_index(vmin, scale), _scalar_index(vmax, scale)
            offset, counts = (
                (self.positive_offset, self.positive_counts)
                if positive
                else (self.negative_offset, self.negative_counts)
            )
            if counts.size:
                d_old = self.scale - scale
                lo_i = min(lo_i, offset >> d_old)
                hi_i = max(hi_i, (offset + counts.size - 1) >> d_old)
            d = _delta_to_fit(lo_i, hi_i, self.max_size)
            if d == 0 or scale == MIN_SCALE:
                return scale
            scale = max(MIN_SCALE, scale - d)

    def _add_sign(
        self, v: npt.NDArray[np.float64], vmin: float, vmax: float, *, positive: bool
    ) -> None:
        """Count strictly positive magnitudes ``v`` (``vmin``/``vmax`` their extremes)."""
        scale = self._fit_scale(self.scale, vmin, vmax, positive)
        self._downscale(self.scale - scale)
        lo_i = _scalar_index(vmin, scale) - 1  # one spare bucket: see _add_mixed
        # ceil(log2(v) * 2**scale) - 1 - lo_i, in place: one log2, one multiply, one ceil.
        work = np.log2(v)
        work *= 2.0**scale
        np.ceil(work, out=work)
        work -= lo_i + 1
        counts = np.bincount(work.astype(np.intp)).astype(_I64, copy=False)
        self._add_counts(lo_i, counts, positive=positive)
        self._enforce_size()

    def _enforce_size(self) -> None:
        """Lower the scale if a last-ulp difference left one bucket too many."""
        d = 0
        for off, c in (
            (self.positive_offset, self.positive_counts),
            (self.negative_offset, self.negative_counts),
        ):
            if c.size:
                d = max(d, _delta_to_fit(off, off + c.size - 1, self.max_size))
        self._downscale(d)

    def _downscale(self, delta: int) -> None:
        if delta <= 0:
            return
        self.positive_offset, self.positive_counts = _shift_buckets(
            self.positive_offset, self.positive_counts, delta
        )
        self.negative_offset, self.negative_counts = _shift_buckets(
            self.negative_offset, self.negative_counts, delta
        )
        self.scale -= delta

    def _add_counts(self, offset: int, counts: npt.NDArray[np.int64], *, positive: bool) -> None:
        if counts.size == 0:
            # An empty run's offset means nothing: spanning from it to the held buckets
            # allocated ~index-many zeros (8 MB for a constant 2.0 at scale 20, GBs for 1e-200).
            return
        # Cut the run's empty edges (an update's spare buckets): both ends of a held run
        # are then non-empty, so no result below needs trimming.
        i, j = 0, counts.size
        while i < j and counts[i] == 0:
            i += 1
        while j > i and counts[j - 1] == 0:
            j -= 1
        if i == j:
            return
        offset, counts = offset + i, counts[i:j]
        old_off, old = (
            (self.positive_offset, self.positive_counts)
            if positive
            else (self.negative_offset, self.negative_counts)
        )
        if old.size == 0:
            new_off, new = offset, counts.astype(_I64, copy=True)
        else:
            start = offset - old_off
            if start >= 0 and start + counts.size <= old.size:
                old[start : start + counts.size] += counts  # in place: our own array
                return
            new_off = min(old_off, offset)
            end = max(old_off + old.size, offset + counts.size)
            new = np.zeros(end - new_off, dtype=_I64)
            new[old_off - new_off : old_off - new_off + old.size] += old
            new[offset - new_off : offset - new_off + counts.size] += counts
        if positive:
            self.positive_offset, self.positive_counts = new_off, new
        else:
            self.negative_offset, self.negative_counts = new_off, new

    # ---- merge ------------------------------------------------------------------------
    def merge(self, other: NumericSketch) -> None:
        """Add ``other`` into this sketch (associative and commutative).

        >>> a, b = NumericSketch(), NumericSketch()
        >>> a.update([1.0, 2.0]); b.update([-3.0, 1e6])
        >>> a.merge(b)
        >>> a.count, a.min, a.max
        (4, -3.0, 1000000.0)
        """
        if other.max_size != self.max_size:
            raise SketchError(
                f"cannot merge sketches of max_size {self.max_size} and {other.max_size}"
            )
        o = other.copy()
        scale = min(self.scale, o.scale)
        self._downscale(self.scale - scale)
        o._downscale(o.scale - scale)
        d = 0
        for a_off, a_c, b_off, b_c in (
            (self.positive_offset, self.positive_counts, o.positive_offset, o.positive_counts),
            (self.negative_offset, self.negative_counts, o.negative_offset, o.negative_counts),
        ):
            ranges = [(off, off + c.size - 1) for off, c in ((a_off, a_c), (b_off, b_c)) if c.size]
            if ranges:
                lo = min(r[0] for r in ranges)
                hi = max(r[1] for r in ranges)
                d = max(d, _delta_to_fit(lo, hi, self.max_size))
        self._downscale(d)
        o._downscale(d)
        self._add_counts(o.positive_offset, o.positive_counts, positive=True)
        self._add_counts(o.negative_offset, o.negative_counts, positive=False)
        self.count += o.count
        self.sum += o.sum
        self.min = min(self.min, o.min)
        self.max = max(self.max, o.max)
        self.zero_count += o.zero_count
        self.nan_count += o.nan_count
        self.posinf_count += o.posinf_count
        self.neginf_count += o.neginf_count

    def copy(self) -> NumericSketch:
        return NumericSketch(
            max_size=self.max_size,
            scale=self.scale,
            count=self.count,
            sum=self.sum,
            min=self.min,
            max=self.max,
            zero_count=self.zero_count,
            nan_count=self.nan_count,
            posinf_count=self.posinf_count,
            neginf_count=self.neginf_count,
            positive_offset=self.positive_offset,
            positive_counts=self.positive_counts,  # copied by __post_init__
            negative_offset=self.negative_offset,
            negative_counts=self.negative_counts,
        )

    def downscaled(self, scale: int) -> NumericSketch:
        """A copy at a scale not above the current one (for aligning two sketches)."""
        c = self.copy()
        c._downscale(c.scale - min(scale, c.scale))
        return c

    # ---- getters ----------------------------------------------------------------------
    def buckets(
        self,
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """``(lower, upper, counts)`` of every bucket in ascending value order.

        Negative buckets come first (most negative first), then the zero bucket
        as ``[0, 0]`` when it holds values, then the positive buckets. Each bucket
        holds values in ``(lower, upper]`` for positive buckets, ``[lower, upper)``
        for negative ones.

        >>> s = NumericSketch(scale=0)
        >>> s.update([-3.0, 0.0, 1.5, 3.0])
        >>> lower, upper, counts = s.buckets()
        >>> lower.tolist(), upper.tolist(), counts.tolist()
        ([-4.0, 0.0, 1.0, 2.0], [-2.0, 0.0, 2.0, 4.0], [1, 1, 1, 1])
        """
        parts_lo: list[npt.NDArray[np.float64]] = []
        parts_hi: list[npt.NDArray[np.float64]] = []
        parts_c: list[npt.NDArray[np.int64]] = []
        with np.errstate(over="ignore"):  # the top bucket of values near 1.8e308 ends at inf
            self._bucket_parts(parts_lo, parts_hi, parts_c)
        if not parts_c:
            return np.zeros(0), np.zeros(0), _empty_counts()
        return np.concatenate(parts_lo), np.concatenate(parts_hi), np.concatenate(parts_c)

    def _bucket_parts(
        self,
        parts_lo: list[npt.NDArray[np.float64]],
        parts_hi: list[npt.NDArray[np.float64]],
        parts_c: list[npt.NDArray[np.int64]],
    ) -> None:
        if self.negative_counts.size:
            idx = np.arange(self.negative_counts.size, dtype=np.float64) + self.negative_offset
            upper_abs = np.exp2(np.ldexp(idx + 1, -self.scale))
            lower_abs = np.exp2(np.ldexp(idx, -self.scale))
            parts_lo.append(-upper_abs[::-1])
            parts_hi.append(-lower_abs[::-1])
            parts_c.append(self.negative_counts[::-1])
        if self.zero_count:
            parts_lo.append(np.zeros(1))
            parts_hi.append(np.zeros(1))
            parts_c.append(np.array([self.zero_count], dtype=_I64))
        if self.positive_counts.size:
            idx = np.arange(self.positive_counts.size, dtype=np.float64) + self.positive_offset
            parts_lo.append(np.exp2(np.ldexp(idx, -self.scale)))
            parts_hi.append(np.exp2(np.ldexp(idx + 1, -self.scale)))
            parts_c.append(self.positive_counts)

    def quantile(self, q: float) -> float:
        """Estimate the ``q``-quantile of the finite values (NaN when there are none).

        The answer is the log-midpoint of the bucket holding the rank
        ``q * (count - 1)``, clamped to ``[min, max]``; its relative error is at
        most :attr:`relative_error`.
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be in [0, 1], got {q}")
        if self.count == 0:
            return math.nan
        if q == 0.0:
            return self.min
        if q == 1.0:
            return self.max
        # Only the bucket holding the rank needs its edges (ascending order: negative
        # buckets from the most negative, the zero bucket, positive buckets).
        neg, pos = self.negative_counts, self.positive_counts
        parts = [neg[::-1], np.array([self.zero_count], dtype=_I64), pos]
        counts = np.concatenate(parts) if neg.size else np.concatenate(parts[1:])
        rank = q * (self.count - 1)
        i = int(np.searchsorted(np.cumsum(counts), rank, side="right"))
        i = min(i, counts.size - 1)
        j = i - neg.size
        if j == 0:
            return min(max(0.0, self.min), self.max)
        # The log-midpoint 2**((index + 1/2) / 2**scale), from its exponent: the bucket's
        # upper edge may lie past the float64 range (2**1024) when its midpoint does not.
        idx = j - 1 + self.positive_offset if j > 0 else -j - 1 + self.negative_offset
        with np.errstate(over="ignore"):
            mid = float(np.exp2(np.ldexp(np.float64(idx) + 0.5, -self.scale)))
        return min(max(mid if j > 0 else -mid, self.min), self.max)

    # ---- OTLP -------------------------------------------------------------------------
    def to_exponential(self) -> ExponentialBuckets:
        """The fields of an OTLP exponential histogram data point (lossless for buckets,
        count, sum, min and max).

        >>> s = NumericSketch(); s.update([-2.0, 0.0, 0.5, 8.0])
        >>> NumericSketch.from_exponential(s.to_exponential()) == s
        True
        """
        return ExponentialBuckets(
            scale=self.scale,
            zero_count=self.zero_count,
            positive_offset=self.positive_offset,
            positive_counts=tuple(int(c) for c in self.positive_counts),
            negative_offset=self.negative_offset,
            negative_counts=tuple(int(c) for c in self.negative_counts),
            count=self.count,
            sum=self.sum,
            min=self.min,
            max=self.max,
        )

    @classmethod
    def from_exponential(
        cls,
        point: ExponentialBuckets,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        nan_count: int = 0,
        posinf_count: int = 0,
        neginf_count: int = 0,
    ) -> NumericSketch:
        """Rebuild a sketch from OTLP exponential histogram fields.

        Raises :class:`~otel_ml.SketchError` when the fields are inconsistent
        (bucket counts that do not add up to ``count``, negative counts, a scale
        outside ``[-10, 20]``). A point with more buckets than ``max_size`` is
        downscaled to fit.
        """
        if not MIN_SCALE <= point.scale <= MAX_SCALE:
            raise SketchError(f"scale {point.scale} outside [{MIN_SCALE}, {MAX_SCALE}]")
        pos = np.asarray(point.positive_counts, dtype=_I64)
        neg = np.asarray(point.negative_counts, dtype=_I64)
        if (pos < 0).any() or (neg < 0).any() or point.zero_count < 0:
            raise SketchError("negative bucket count")
        total = int(pos.sum()) + int(neg.sum()) + point.zero_count
        if total != point.count:
            raise SketchError(f"bucket counts add up to {total}, but count is {point.count}")
        s = cls(max_size=max_size, scale=point.scale)
        s.positive_offset, s.positive_counts = _trim(point.positive_offset, pos)
        s.negative_offset, s.negative_counts = _trim(point.negative_offset, neg)
        d = 0
        for off, c in (
            (s.positive_offset, s.positive_counts),
            (s.negative_offset, s.negative_counts),
        ):
            if c.size:
                d = max(d, _delta_to_fit(off, off + c.size - 1, max_size))
        s._downscale(d)
        s.count, s.sum, s.zero_count = point.count, float(point.sum), point.zero_count
        s.min = float(point.min) if point.count else math.inf
        s.max = float(point.max) if point.count else -math.inf
        s.nan_count, s.posinf_count, s.neginf_count = nan_count, posinf_count, neginf_count
        return s

    # ---- JSON -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (used by profile files and the evaluator's store)."""
        return {
            "max_size": self.max_size,
            "scale": self.scale,
            "count": self.count,
            "sum": self.sum,
            "min": self.min if self.count else None,
            "max": self.max if self.count else None,
            "zero_count": self.zero_count,
            "nan_count": self.nan_count,
            "posinf_count": self.posinf_count,
            "neginf_count": self.neginf_count,
            "positive": {"offset": self.positive_offset, "counts": self.positive_counts.tolist()},
            "negative": {"offset": self.negative_offset, "counts": self.negative_counts.tolist()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NumericSketch:
        """Inverse of :meth:`to_dict`; raises :class:`~otel_ml.SketchError` on bad input."""
        try:
            point = ExponentialBuckets(
                scale=int(d["scale"]),
                zero_count=int(d["zero_count"]),
                positive_offset=int(d["positive"]["offset"]),
                positive_counts=tuple(map(int, d["positive"]["counts"])),
                negative_offset=int(d["negative"]["offset"]),
                negative_counts=tuple(map(int, d["negative"]["counts"])),
                count=int(d["count"]),
                sum=float(d["sum"]),
                min=float(d["min"]) if d["min"] is not None else math.inf,
                max=float(d["max"]) if d["max"] is not None else -math.inf,
            )
            return cls.from_exponential(
                point,
                max_size=int(d.get("max_size", DEFAULT_MAX_SIZE)),
                nan_count=int(d.get("nan_count", 0)),
                posinf_count=int(d.get("posinf_count", 0)),
                neginf_count=int(d.get("neginf_count", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, SketchError):
                raise
            raise SketchError(f"bad numeric sketch: {exc!r}") from exc

    # ---- equality ---------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumericSketch):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]
