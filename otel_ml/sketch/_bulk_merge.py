"""Merge many OTLP exponential points into many sketches at once (the evaluator's ingest).

``merge_points(groups)`` gives, for each ``(held, points)`` group, the sketch that
``NumericSketch.from_exponential`` of every point merged one after the other into a
copy of ``held`` gives — the same scale, buckets, count, sum (added in the same order),
min and max, and the same :class:`~otel_ml.SketchError` for an inconsistent point — but
the bucket work of every group is done by a few NumPy calls over all of them together,
not a dozen per point. ``held`` is not modified.

Why the result is the same: merging lowers the scale to the lowest scale seen, then as
far as the union of the bucket ranges needs to fit ``max_size`` buckets; the union only
grows, so merging one by one ends at the largest scale not above every point's scale at
which the union of all of them fits, which is where this merge goes directly. Bucket
``i`` at scale ``s`` is bucket ``i >> d`` at scale ``s - d``; counts add up exactly
(``np.bincount`` weights are float64, exact for the counts below ``2**53`` the evaluator
admits, as in :meth:`NumericSketch.merge`).

Examples
--------
>>> from otel_ml.sketch import NumericSketch
>>> a, b = NumericSketch(), NumericSketch()
>>> a.update([1.0, 2.0, 3.0]); b.update([-5.0, 0.0, 1e6])
>>> (merged,) = merge_points([(a, [b.to_exponential()])])
>>> one_by_one = a.copy(); one_by_one.merge(NumericSketch.from_exponential(b.to_exponential()))
>>> merged == one_by_one, merged.count, a.count
(True, 6, 3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain

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
)
from otel_ml.sketch._numeric import NumericSketch

__all__ = ["merge_points"]

#: One bucket run: (group, positive?, scale, offset, counts).
_Run = tuple[int, bool, int, int, "Sequence[int] | npt.NDArray[np.int64]"]


def _trimmed(offset: int, counts: Sequence[int]) -> tuple[int, Sequence[int]]:
    lo, hi = 0, len(counts)
    while lo < hi and not counts[lo]:
        lo += 1
    while hi > lo and not counts[hi - 1]:
        hi -= 1
    return offset + lo, counts[lo:hi]


def _check(p: ExponentialBuckets) -> None:
    """The checks of ``NumericSketch.from_exponential``, in its order."""
    if not MIN_SCALE <= p.scale <= MAX_SCALE:
        raise SketchError(f"scale {p.scale} outside [{MIN_SCALE}, {MAX_SCALE}]")
    pos, neg = p.positive_counts, p.negative_counts
    if (pos and min(pos) < 0) or (neg and min(neg) < 0) or p.zero_count < 0:
        raise SketchError("negative bucket count")
    total = sum(pos) + sum(neg) + p.zero_count
    if total != p.count:
        raise SketchError(f"bucket counts add up to {total}, but count is {p.count}")


def merge_points(
    groups: Sequence[tuple[NumericSketch | None, Sequence[ExponentialBuckets]]],
    *,
    max_size: int = DEFAULT_MAX_SIZE,
) -> list[NumericSketch]:
    """For each ``(held, points)``: ``held`` (or nothing) with ``points`` merged in, in order.

    A group needs at least one point when ``held`` is ``None``. Raises
    :class:`~otel_ml.SketchError` for an inconsistent point (as
    :meth:`NumericSketch.from_exponential` does) or a ``held`` sketch of another
    ``max_size``.
    """
    runs: list[_Run] = []
    out: list[NumericSketch] = []
    for g, (held, points) in enumerate(groups):
        if held is not None and held.max_size != max_size:
            raise SketchError(
                f"cannot merge sketches of max_size {held.max_size} and {max_size}"
            )
        for p in points:
            _check(p)
        if held is None:
            if not points:
                raise ValueError("a group without a held sketch needs a point")
            s = NumericSketch(max_size=max_size, scale=points[0].scale)
            s.min, s.max = math.inf, -math.inf
            scale = points[0].scale
        else:
            s = NumericSketch(
                max_size=max_size, scale=held.scale, count=held.count, sum=held.sum,
                min=held.min, max=held.max, zero_count=held.zero_count,
                nan_count=held.nan_count, posinf_count=held.posinf_count,
                neginf_count=held.neginf_count,
            )
            scale = held.scale
            if held.positive_counts.size:
                runs.append((g, True, held.scale, held.positive_offset, held.positive_counts))
            if held.negative_counts.size:
                runs.append((g, False, held.scale, held.negative_offset, held.negative_counts))
        first = held is None
        for p in points:
            scale = min(scale, p.scale)
            sides: tuple[tuple[bool, int, Sequence[int]], ...] = (
                (True, p.positive_offset, p.positive_counts),
                (False, p.negative_offset, p.negative_counts),
            )
            for positive, off, counts in sides:
                if counts and not (counts[0] and counts[-1]):
                    off, counts = _trimmed(off, counts)
                if counts:
                    runs.append((g, positive, p.scale, off, counts))
            if first:  # as from_exponential, then merge: the first point starts the sketch
                s.count, s.sum, s.zero_count = p.count, float(p.sum), p.zero_count
                s.min = float(p.min) if p.count else math.inf
                s.max = float(p.max) if p.count else -math.inf
                first = False
            else:
                s.count += p.count
                s.sum += float(p.sum)
                s.min = min(s.min, float(p.min) if p.count else math.inf)
                s.max = max(s.max, float(p.max) if p.count else -math.inf)
                s.zero_count += p.zero_count
        s.scale = scale  # the lowest scale seen; lowered further below to fit
        out.append(s)
    _place(out, runs, max_size)
    return out


def _place(out: list[NumericSketch], runs: list[_Run], max_size: int) -> None:
    """Put every run's counts into its group's sketch at the group's final scale."""
    # the union of each (group, sign) at the group's lowest scale -> how far to lower it
    span: dict[tuple[int, bool], tuple[int, int]] = {}
    for g, positive, scale, off, counts in runs:
        d = scale - out[g].scale
        lo, hi = off >> d, (off + len(counts) - 1) >> d
        have = span.get((g, positive))
        span[(g, positive)] = (lo, hi) if have is None else (min(have[0], lo), max(have[1], hi))
    lower = [0] * len(out)
    for (g, _), (lo, hi) in span.items():
        lower[g] = max(lower[g], _delta_to_fit(lo, hi, max_size))
    for g, d in enumerate(lower):
        out[g].scale -= d
    # one flat output: a slice per (group, sign), as wide as its union at the final scale
    base: dict[tuple[int, bool], tuple[int, int, int]] = {}  # -> (start, low index, width)
    width_total = 0
    for (g, positive), (lo, hi) in span.items():
        d = lower[g]
        flo, fhi = lo >> d, hi >> d
        base[(g, positive)] = (width_total, flo, fhi - flo + 1)
        width_total += fhi - flo + 1
    for s in out:  # groups without a run of a sign hold none
        s.positive_offset, s.positive_counts = 0, _empty_counts()
        s.negative_offset, s.negative_counts = 0, _empty_counts()
    if not runs:
        return
    # the points' counts (tuples) first, then the held sketches' (arrays, copied as they are:
    # iterating them would make a NumPy scalar per bucket)
    runs.sort(key=lambda r: isinstance(r[4], np.ndarray))
    n = len(runs)
    lens: list[int] = []
    offs: list[int] = []
    shs: list[int] = []
    dsts: list[int] = []
    for g, positive, scale, off, run_counts in runs:  # one pass over the runs' metadata
        start, flo, _ = base[(g, positive)]
        lens.append(len(run_counts))
        offs.append(off)
        shs.append(scale - out[g].scale)
        dsts.append(start - flo)
    lengths = np.array(lens, dtype=np.intp)
    offsets = np.array(offs, dtype=_I64)
    shifts = np.array(shs, dtype=_I64)
    dest = np.array(dsts, dtype=_I64)
    held = [r[4] for r in runs if isinstance(r[4], np.ndarray)]
    points = [r[4] for r in runs[: n - len(held)]]
    try:  # every count below 256 (the usual small export): one byte each, read as a buffer
        new = np.frombuffer(b"".join(map(bytes, points)), np.uint8).astype(np.float64)
    except ValueError:  # bytes() refuses a count past 255: Python ints -> int64 -> float64
        new = np.array(list(chain.from_iterable(points)), dtype=_I64).astype(np.float64)
    flat = np.concatenate([new, *held]) if held else new
    starts = np.cumsum(lengths) - lengths
    # bucket j of run r is index offsets[r] + j at its scale, (...) >> shifts[r] at the final
    within = np.arange(flat.size, dtype=_I64) - np.repeat(starts, lengths)
    idx = (np.repeat(offsets, lengths) + within) >> np.repeat(shifts, lengths)
    idx += np.repeat(dest, lengths)
    merged = np.bincount(idx, weights=flat, minlength=width_total).astype(_I64)
    for (g, positive), (start, flo, width) in base.items():
        run = merged[start : start + width].copy()
        if positive:
            out[g].positive_offset, out[g].positive_counts = flo, run
        else:
            out[g].negative_offset, out[g].negative_counts = flo, run
