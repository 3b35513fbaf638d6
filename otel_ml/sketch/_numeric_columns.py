"""Many numeric columns into their sketches at once: the SDK's capture of a 2-D batch.

:func:`update_many` gives every sketch exactly what one
:meth:`NumericSketch.update <otel_ml.sketch.NumericSketch.update>` per column gives
(the same bucket indices from the same float operations, the same scale, count, sum,
extremes), but pays numpy's fixed cost of each step once for all columns instead of
once per column: one sum, one min, one max and one pass of each bucket-index step over
the whole block, and one ``bincount`` over keys made disjoint per column. Only the
scale of each column is chosen in Python. A column holding NaN or ±inf takes the
one-column path (its non-finite values are counted there).

Examples
--------
>>> import numpy as np
>>> block = np.random.default_rng(0).normal(size=(1000, 3))
>>> together = [NumericSketch() for _ in range(3)]
>>> update_many(together, block.T)  # one row per sketch
>>> apart = [NumericSketch() for _ in range(3)]
>>> for s, j in zip(apart, range(3)):
...     s.update(block[:, j])
>>> together == apart
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from otel_ml.sketch._exponential_layout import _scalar_index
from otel_ml.sketch._numeric import _MAX, _MIN, _NEG_TINY, _ONE, NumericSketch

__all__ = ["update_many"]


def update_many(sketches: Sequence[NumericSketch], values: npt.ArrayLike) -> None:
    """Add row ``j`` of the 2-D real array ``values`` (one row per sketch: a table's
    columns stacked, ``np.stack(columns)``) to ``sketches[j]``."""
    x = np.asarray(values)
    if x.ndim != 2 or x.shape[0] != len(sketches):
        raise ValueError(f"{len(sketches)} sketches for values of shape {x.shape}")
    if x.shape[1] == 0 or not sketches:
        return
    cols = np.ascontiguousarray(x, dtype=np.float64)  # as each one-column update reads it
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        totals = np.add.reduce(cols, axis=1)
        finite = np.isfinite(totals)
        if not finite.all():  # NaN or ±inf somewhere: those columns one by one
            for j in np.flatnonzero(~finite).tolist():
                sketches[j]._update(cols[j])
            keep = np.flatnonzero(finite)
            if keep.size == 0:
                return
            cols, totals = cols[keep], totals[keep]
            sketches = [sketches[j] for j in keep.tolist()]
        _add_finite(sketches, cols, totals)


def _add_finite(
    sketches: Sequence[NumericSketch],
    cols: npt.NDArray[np.float64],
    totals: npt.NDArray[np.float64],
) -> None:
    """The finite rows ``cols`` (one per sketch) into ``sketches``, as ``_update`` does."""
    n = cols.shape[1]
    lo_all, hi_all = _MIN(cols, axis=1).tolist(), _MAX(cols, axis=1).tolist()
    bits = cols.view(np.uint64)
    scratch = np.empty_like(bits)
    pos_min = (_MIN(np.subtract(bits, _ONE, out=scratch), axis=1) + _ONE).view(np.float64)
    neg_min = (_MIN(np.subtract(bits, _NEG_TINY, out=scratch), axis=1) + _NEG_TINY).view(
        np.float64
    )
    del scratch
    # (column, lo_pos, n_pos_bins, lo_neg, width, scale) of the columns with buckets to add
    plan: list[tuple[int, int, int, int, int, int]] = []
    for j, s in enumerate(sketches):
        lo, hi = lo_all[j], hi_all[j]
        s.count += n
        s.sum += float(totals[j])
        s.min = min(s.min, lo)
        s.max = max(s.max, hi)
        has_pos, has_neg = hi > 0.0, lo < 0.0
        if not has_pos and not has_neg:
            s.zero_count += n
            continue
        scale = s.scale
        vmin = nmin = 0.0
        if has_pos:
            vmin = float(pos_min[j])
            scale = s._fit_scale(scale, vmin, hi, True)
        if has_neg:
            nmin = -float(neg_min[j])
            scale = s._fit_scale(scale, nmin, -lo, False)
        s._downscale(s.scale - scale)
        lo_pos = lo_neg = 0
        hi_pos = -1
        n_neg_bins = 0
        if has_pos:
            lo_pos = _scalar_index(vmin, scale) - 1
            hi_pos = _scalar_index(hi, scale) + 1
        if has_neg:
            lo_neg = _scalar_index(nmin, scale) - 1
            n_neg_bins = _scalar_index(-lo, scale) + 1 - lo_neg + 1
        n_pos_bins = hi_pos - lo_pos + 1
        plan.append((j, lo_pos, n_pos_bins, lo_neg, 1 + n_pos_bins + n_neg_bins, scale))
    if not plan:
        return
    rows = [p[0] for p in plan]
    block = cols if len(rows) == len(sketches) else cols[rows]
    factor = np.array([2.0 ** p[5] for p in plan])[:, None]
    lo_key = np.array([float(p[1]) for p in plan])[:, None]
    shift = np.array([float(p[2] - p[3] + p[1]) if p[4] > 1 + p[2] else 0.0 for p in plan])
    widths = np.array([p[4] for p in plan])
    base = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.float64)[:, None]
    # The one-column steps of NumericSketch._add_mixed, each once over the block.
    work = np.abs(block)
    np.log2(work, out=work)
    work *= factor
    np.ceil(work, out=work)
    work -= lo_key
    if shift.any():
        work += np.multiply(block < 0.0, shift[:, None])
    np.maximum(work, 0.0, out=work)
    # Keys stay inside their column's range (the spare buckets absorb the last-ulp
    # difference between scalar and vectorised log2); the clip only makes sure that no
    # column's count can ever land in its neighbour's.
    np.minimum(work, (widths - 1).astype(np.float64)[:, None], out=work)
    work += base
    counts = np.bincount(work.astype(np.intp).ravel(), minlength=int(widths.sum()))
    for (j, lo_pos, n_pos_bins, lo_neg, width, _), start in zip(
        plan, base[:, 0].astype(np.intp).tolist(), strict=True
    ):
        s = sketches[j]
        c = counts[start : start + width]
        s.zero_count += int(c[0])
        if n_pos_bins > 0:
            s._add_counts(lo_pos, c[1 : 1 + n_pos_bins], positive=True)
        if width > 1 + n_pos_bins:
            s._add_counts(lo_neg, c[1 + n_pos_bins :], positive=False)
        s._enforce_size()
