"""The base-2 exponential bucket layout of OTLP ``ExponentialHistogram`` points.

At scale ``s`` the base is ``b = 2 ** (2 ** -s)`` and bucket ``i`` holds the positive
values ``v`` with ``b**i < v <= b**(i+1)``. Bucket ``i`` at scale ``s`` is exactly the
union of buckets ``2i`` and ``2i + 1`` at scale ``s + 1``, so a run of bucket counts is
moved to a lower scale by ``i >> d`` with no loss beyond resolution. These helpers work
on one dense run of counts (an offset and a numpy array); ``NumericSketch`` holds two
runs (positive and negative values) at one shared scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_MAX_SIZE", "MAX_SCALE", "MIN_SCALE", "ExponentialBuckets"]

MAX_SCALE = 20
MIN_SCALE = -10
DEFAULT_MAX_SIZE = 160

_I64 = np.int64


def _empty_counts() -> npt.NDArray[np.int64]:
    return np.zeros(0, dtype=_I64)


@dataclass(frozen=True)
class ExponentialBuckets:
    """The fields of an OTLP ``ExponentialHistogramDataPoint``, as plain values.

    ``count`` includes ``zero_count`` and every bucket, as OTLP requires.
    Non-finite values are not part of a histogram point; they travel on the
    ``ml.data_quality.issues`` counter.
    """

    scale: int
    zero_count: int
    positive_offset: int
    positive_counts: tuple[int, ...]
    negative_offset: int
    negative_counts: tuple[int, ...]
    count: int
    sum: float
    min: float
    max: float


def _shift_buckets(
    offset: int, counts: npt.NDArray[np.int64], delta: int
) -> tuple[int, npt.NDArray[np.int64]]:
    """Lower the scale of a dense bucket run by ``delta`` (merging 2**delta buckets)."""
    if delta == 0 or counts.size == 0:
        return offset, counts
    idx = (np.arange(counts.size, dtype=_I64) + offset) >> delta
    new_offset = int(idx[0])
    return new_offset, np.bincount(idx - new_offset, weights=counts).astype(_I64)


def _trim(offset: int, counts: npt.NDArray[np.int64]) -> tuple[int, npt.NDArray[np.int64]]:
    nz = np.flatnonzero(counts)
    if nz.size == 0:
        return 0, _empty_counts()
    return offset + int(nz[0]), counts[nz[0] : nz[-1] + 1].copy()


def _delta_to_fit(lo: int, hi: int, max_size: int) -> int:
    """Smallest ``d >= 0`` with ``(hi >> d) - (lo >> d) + 1 <= max_size``."""
    d = 0
    while (hi >> d) - (lo >> d) + 1 > max_size:
        d += 1
    return d


def _scalar_index(v: float, scale: int) -> int:
    """Bucket index at ``scale`` of one positive value.

    ``ceil(log2(v) * 2**scale) - 1`` puts ``v`` in ``(b**i, b**(i+1)]``; exact
    powers of two land on their upper boundary because ``log2`` is exact there.
    """
    return math.ceil(math.log2(v) * 2.0**scale) - 1
