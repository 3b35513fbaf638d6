"""A reference numeric sketch prepared once for comparing many windows against it.

The evaluator compares every window of a model with the same reference profile. What
a comparison needs from the reference alone, at the scale both sketches are brought
to -- its non-empty buckets (keys, counts, edges), their shares and running share,
its standard deviation, its decile bins and their counts -- does not change from one
window to the next. :class:`NumericReference` computes it the first time a window at
a given scale is compared and keeps it (a reference meets one or two scales in
practice, 31 at most), so a window pays only for its own buckets.

The results are the same, bit for bit, as comparing the plain sketch: the cached
arrays are the ones the comparison would compute (:func:`otel_ml.stats.compare_feature`
prepares a plain reference sketch on the fly).

Examples
--------
>>> import numpy as np
>>> from otel_ml.sketch import NumericSketch
>>> from otel_ml.stats import compare_feature
>>> r, c = NumericSketch(), NumericSketch()
>>> r.update(np.arange(1000.0)); c.update(np.arange(1000.0) + 300)
>>> prepared = NumericReference(r)
>>> compare_feature("x", prepared, c) == compare_feature("x", r, c)
True
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from otel_ml.sketch._numeric import NumericSketch

__all__ = ["PSI_BINS", "NumericReference", "ReferenceBuckets", "bucket_edges", "bucket_keys"]

PSI_BINS = 10  # reference-quantile bins for PSI / JS / Hellinger on numeric features
_SIGN = np.int64(1 << 40)  # key offset separating negative, zero and positive buckets

_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]


def bucket_keys(s: NumericSketch) -> tuple[_I64, _I64]:
    """Sortable keys and counts of the non-empty buckets of ``s`` (ascending by value).

    Negative buckets get keys below ``-2**40``, the zero bucket key 0, positive
    buckets keys above ``2**40``; within a sign the key follows the bucket index.
    """
    parts_k, parts_c = [], []
    if s.negative_counts.size:
        idx = s.negative_offset + np.arange(s.negative_counts.size, dtype=np.int64)
        parts_k.append((-_SIGN - idx)[::-1])
        parts_c.append(s.negative_counts[::-1])
    if s.zero_count:
        parts_k.append(np.zeros(1, dtype=np.int64))
        parts_c.append(np.array([s.zero_count], dtype=np.int64))
    if s.positive_counts.size:
        parts_k.append(_SIGN + s.positive_offset + np.arange(s.positive_counts.size))
        parts_c.append(s.positive_counts)
    if not parts_k:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if len(parts_k) == 1:
        keys, counts = parts_k[0], parts_c[0]
    else:
        keys, counts = np.concatenate(parts_k), np.concatenate(parts_c)
    nz = counts > 0
    return keys[nz].astype(np.int64, copy=False), counts[nz].astype(np.int64, copy=False)


def bucket_edges(keys: _I64, scale: int) -> tuple[_F64, _F64]:
    """``(lower, upper)`` of the buckets with these keys (see :func:`bucket_keys`)."""
    if keys.size and keys[0] > 0:  # positive buckets only (the common case): same values
        idx = (keys - _SIGN).astype(np.float64)
        with np.errstate(over="ignore"):
            return np.exp2(np.ldexp(idx, -scale)), np.exp2(np.ldexp(idx + 1.0, -scale))
    pos, neg = keys > 0, keys < 0
    idx = np.where(pos, keys - _SIGN, np.where(neg, -_SIGN - keys, 0)).astype(np.float64)
    with np.errstate(over="ignore"):  # the top bucket at scale -10 ends beyond float64
        lo_abs = np.exp2(np.ldexp(idx, -scale))
        hi_abs = np.exp2(np.ldexp(idx + 1.0, -scale))
    lower = np.where(pos, lo_abs, np.where(neg, -hi_abs, 0.0))
    upper = np.where(pos, hi_abs, np.where(neg, -lo_abs, 0.0))
    return lower, upper


def decile_starts(cum_share: _F64) -> _I64:
    """Index of the first bucket of each reference-decile bin.

    A bucket joins bin ``floor(10 * reference share below it)`` (``cum_share`` is the
    running reference share up to and including each bucket); bins are runs of equal
    bin numbers.
    """
    before = np.empty_like(cum_share)
    if before.size:
        before[0] = 0.0
        before[1:] = cum_share[:-1]
    groups = np.floor(before * PSI_BINS + 1e-9).astype(np.int64)
    change = np.empty(groups.size, dtype=bool)
    if change.size:
        change[0] = True
        np.not_equal(groups[1:], groups[:-1], out=change[1:])
    return np.flatnonzero(change)


def sketch_std(lower: _F64, upper: _F64, counts: _I64) -> float:
    """Standard deviation of the values in these buckets, spread evenly inside each."""
    w = counts / counts.sum()
    mean = float(np.sum(w * (lower + upper) / 2))
    second = float(np.sum(w * (lower * lower + lower * upper + upper * upper) / 3))
    return math.sqrt(max(0.0, second - mean * mean))


@dataclass(frozen=True)
class ReferenceBuckets:
    """The reference's non-empty buckets at one scale and what comparisons need of them."""

    scale: int
    keys: _I64
    counts: _I64
    lower: _F64  # bucket edges, not clipped to min / max
    upper: _F64
    share: _F64  # counts / count
    cum_share: _F64  # running sum of share
    interior: npt.NDArray[np.bool_]  # buckets wider than a point (all but the zero bucket)
    max_interior_share: float
    std: float  # estimated from the buckets clipped to the reference's [min, max]
    bin_starts: _I64  # first bucket of each decile bin (:func:`decile_starts`)
    bin_counts: _I64  # reference counts per decile bin


class NumericReference:
    """A reference :class:`~otel_ml.sketch.NumericSketch` prepared for many comparisons.

    Pass it wherever :func:`~otel_ml.stats.compare_feature` or
    :func:`~otel_ml.stats.numeric_statistics` take a reference sketch. It keeps a copy
    of ``sketch`` (``copy=False`` shares it: the caller then promises not to change it).
    """

    def __init__(self, sketch: NumericSketch, *, copy: bool = True) -> None:
        self.sketch = sketch.copy() if copy else sketch
        self._by_scale: dict[int, ReferenceBuckets] = {}
        self._lock = threading.Lock()

    def at(self, scale: int) -> ReferenceBuckets:
        """The reference's buckets at ``scale`` (not above the sketch's own), computed once."""
        got = self._by_scale.get(scale)
        if got is None:
            got = self._prepare(scale)
            with self._lock:
                self._by_scale[scale] = got
        return got

    def _prepare(self, scale: int) -> ReferenceBuckets:
        s = self.sketch if self.sketch.scale <= scale else self.sketch.downscaled(scale)
        keys, counts = bucket_keys(s)
        lower, upper = bucket_edges(keys, scale)
        share = counts / max(1, s.count)
        cum_share = np.cumsum(share)
        interior = upper > lower
        starts = decile_starts(cum_share)
        std = math.nan
        if counts.size:
            std = sketch_std(
                np.clip(lower, s.min, s.max), np.clip(upper, s.min, s.max), counts
            )
        return ReferenceBuckets(
            scale=scale,
            keys=keys,
            counts=counts,
            lower=lower,
            upper=upper,
            share=share,
            cum_share=cum_share,
            interior=interior,
            max_interior_share=float(np.max(share * interior)) if share.size else 0.0,
            std=std,
            bin_starts=starts,
            bin_counts=np.add.reduceat(counts, starts) if counts.size else counts,
        )
