"""Turn sketches into something a person can look at: display bins on a linear axis.

A :class:`~otel_ml.stats.NumericSketch` has base-2 exponential buckets: narrow
near zero, wide far from it, mirrored for negative values. Plotted as they are,
they mislead. :func:`numeric_bins` re-bins a reference and a current sketch onto
one set of equal-width bins between robust quantiles (0.5 % and 99.5 % of either
sketch by default), spreading each bucket's count uniformly over the part of the
bucket that lies within ``[min, max]`` of its sketch, and keeping the exact zero
bucket as a point mass. The mass outside the displayed range is reported, not
hidden. Heights are shares of each sketch's finite values, so samples of
different sizes overlay directly. Positive values whose displayed range spans
:data:`LOG_RATIO` (three decades) or more get bins of equal width in ``log10``
instead (``DisplayHistogram.log``).

:func:`category_bars` ranks the categories of two categorical sketches by their
larger share and folds the rest (and the sketch's overflow) into one "other" bar.

Examples
--------
>>> import numpy as np
>>> from otel_ml.sketch import NumericSketch
>>> ref, cur = NumericSketch(), NumericSketch()
>>> ref.update(np.arange(1000) / 10)          # uniform on [0, 99.9]
>>> cur.update(np.arange(1000) / 10 + 50)     # shifted right by 50
>>> h = numeric_bins(ref, cur, bins=10, tail=0.0)
>>> h.edges[0], h.edges[-1]
(0.0, 150.0)
>>> [round(v, 2) for v in h.reference]
[0.15, 0.15, 0.15, 0.15, 0.15, 0.15, 0.1, 0.0, 0.0, 0.0]
>>> round(sum(h.current), 6), h.reference_outside, h.current_outside
(1.0, (0.0, 0.0), (0.0, 0.0))
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from otel_ml.report._axes import nice_step
from otel_ml.semconv import OVERFLOW_CATEGORY
from otel_ml.sketch import CategoricalSketch, NumericSketch

__all__ = ["CategoryBars", "DisplayHistogram", "category_bars", "numeric_bins"]

DEFAULT_BINS = 40
DEFAULT_TAIL = 0.005
LOG_RATIO = 1000.0
"""Positive values whose displayed range spans this factor or more get a log axis:
on a linear one nearly all their mass would sit in the first bin."""


@dataclass(frozen=True)
class DisplayHistogram:
    """Equal-width display bins shared by a reference and a current sketch.

    ``reference`` / ``current`` hold the share of each sketch's finite values per
    bin; ``*_outside`` the share (below, above) the displayed range. With ``log``
    the bins are equal-width in ``log10`` (positive values spanning many decades).
    """

    edges: tuple[float, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    reference_outside: tuple[float, float]
    current_outside: tuple[float, float]
    log: bool = False


def _display_range(sketches: list[NumericSketch], tail: float) -> tuple[float, float]:
    live = [s for s in sketches if s.count > 0]
    if not live:
        return 0.0, 1.0
    lo = min(s.quantile(tail) if tail > 0 else s.min for s in live)
    hi = max(s.quantile(1.0 - tail) if tail > 0 else s.max for s in live)
    # Quantiles are bucket midpoints; never go past what was really seen.
    lo = max(lo, min(s.min for s in live))
    hi = min(hi, max(s.max for s in live))
    if hi <= lo:
        pad = abs(lo) * 0.05 or 0.5
        big = sys.float_info.max
        return max(lo - pad, -big), min(lo + pad, big)
    return lo, hi


def _integer_valued(sketch: NumericSketch) -> bool:
    """Whether every bucket is narrower than 1 and holds an integer (a count feature)."""
    if sketch.count == 0:
        return True
    if not (float(sketch.min).is_integer() and float(sketch.max).is_integer()):
        return False
    lower, upper, counts = sketch.buckets()
    lo = np.clip(lower, sketch.min, sketch.max)[counts > 0]
    hi = np.clip(upper, sketch.min, sketch.max)[counts > 0]
    return bool(np.all((hi - lo < 1.0) & (np.floor(hi) >= np.ceil(lo))))


def _snap(lo: float, hi: float, bins: int) -> npt.NDArray[np.float64]:
    """Equal-width edges covering ``[lo, hi]``, starting on a round number."""
    t = np.linspace(0.0, 1.0, bins + 1)
    if not math.isfinite(hi - lo):  # wider than float range: interpolate without overflow
        return lo * (1.0 - t) + hi * t
    step = nice_step(hi - lo, 5) / 10
    start = math.floor(lo / step) * step
    stop = math.ceil(hi / step) * step
    if stop <= start:
        stop = start + step
    if not (math.isfinite(start) and math.isfinite(stop)):
        start, stop = lo, hi
    return start * (1.0 - t) + stop * t


def _shares(
    sketch: NumericSketch, edges: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], float, float]:
    nbins = edges.size - 1
    if sketch.count == 0:
        return np.zeros(nbins), 0.0, 0.0
    lower, upper, counts = sketch.buckets()
    c = counts.astype(np.float64)
    point = lower == upper
    # Clamp the buckets to the exactly known [min, max] of the sketch.
    lo = np.clip(lower, sketch.min, sketch.max)
    hi = np.clip(upper, sketch.min, sketch.max)
    point |= hi <= lo
    spread = ~point
    width = np.where(spread, hi - lo, 1.0)
    # Piecewise-uniform CDF of the spread buckets at every edge: (edges x buckets).
    with np.errstate(over="ignore"):  # a denormal-wide bucket: the clip gives 0 or 1
        frac = np.clip((edges[:, None] - lo[None, :]) / width[None, :], 0.0, 1.0)
    cdf = frac[:, spread] @ c[spread]
    mass = np.diff(cdf)
    below = float(cdf[0])
    above = float(c[spread].sum() - cdf[-1])
    # Point masses (the zero bucket, or a bucket squeezed to a point by min/max).
    pv, pc = lo[point], c[point]
    inside = (pv >= edges[0]) & (pv <= edges[-1])
    idx = np.clip(np.searchsorted(edges, pv[inside], side="right") - 1, 0, nbins - 1)
    mass = mass + np.bincount(idx, weights=pc[inside], minlength=nbins)
    below += float(pc[pv < edges[0]].sum())
    above += float(pc[pv > edges[-1]].sum())
    total = float(sketch.count)
    return mass / total, max(below, 0.0) / total, max(above, 0.0) / total


def numeric_bins(
    reference: NumericSketch,
    current: NumericSketch,
    *,
    bins: int = DEFAULT_BINS,
    tail: float = DEFAULT_TAIL,
) -> DisplayHistogram:
    """Re-bin two sketches onto ``bins`` shared equal-width bins (see the module notes).

    Parameters
    ----------
    reference, current
        The sketches to overlay (either may be empty).
    bins
        Number of display bins.
    tail
        Share of each sketch left out at each end when choosing the displayed range
        (the robust range); 0 shows ``[min, max]``.

    >>> from otel_ml.sketch import NumericSketch
    >>> s = NumericSketch(); s.update([0.0, 0.0, 1.0, 2.0])
    >>> h = numeric_bins(s, NumericSketch(), bins=4, tail=0.0)
    >>> h.reference[0], round(sum(h.reference), 9), sum(h.current)
    (0.5, 1.0, 0.0)

    Positive values spanning three decades or more get equal bins in ``log10``:

    >>> w = NumericSketch(); w.update(10.0 ** np.linspace(0, 4, 1000))
    >>> h = numeric_bins(w, w, bins=4, tail=0.0)
    >>> h.log, [round(e) for e in h.edges], [round(v, 2) for v in h.reference]
    (True, [1, 10, 100, 1000, 10000], [0.25, 0.25, 0.25, 0.25])

    Integer-valued sketches (counts) get one bar per integer:

    >>> c = NumericSketch(); c.update([0, 1, 1, 2, 2, 2, 5])
    >>> h = numeric_bins(c, c, tail=0.0)
    >>> h.edges[:3], [round(7 * v) for v in h.reference]
    ((-0.5, 0.5, 1.5), [1, 2, 3, 0, 0, 1])
    """
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if not 0.0 <= tail < 0.5:
        raise ValueError(f"tail must be in [0, 0.5), got {tail}")
    lo, hi = _display_range([reference, current], tail)
    log = False
    if (
        reference.count + current.count > 0
        and _integer_valued(reference)
        and _integer_valued(current)
        and hi - lo < max(bins, 2) * 1.5
    ):
        # One bar per integer, centred on it: count features read naturally.
        edges = np.arange(math.floor(lo), math.ceil(hi) + 2, dtype=np.float64) - 0.5
    elif log := (
        lo > 0.0
        and hi / lo >= LOG_RATIO
        and all(s.count == 0 or s.min > 0.0 for s in (reference, current))
    ):
        # Heavy-tailed positive values (amounts, sizes, durations): equal bins in log10.
        edges = np.logspace(math.log10(lo), math.log10(hi), bins + 1, dtype=np.float64)
        edges[0], edges[-1] = lo, hi  # exact ends (logspace rounds)
    else:
        edges = _snap(lo, hi, bins)
    ref, ref_below, ref_above = _shares(reference, edges)
    cur, cur_below, cur_above = _shares(current, edges)
    return DisplayHistogram(
        edges=tuple(float(e) for e in edges),
        reference=tuple(float(v) for v in ref),
        current=tuple(float(v) for v in cur),
        reference_outside=(ref_below, ref_above),
        current_outside=(cur_below, cur_above),
        log=bool(log),
    )


@dataclass(frozen=True)
class CategoryBars:
    """Shares of the most prominent categories in two sketches, plus "other"."""

    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]


def category_bars(
    reference: CategoricalSketch, current: CategoricalSketch, *, top: int = 12
) -> CategoryBars:
    """The ``top`` categories by their larger share, then one "other" bar.

    Shares are among rows with a value (missing values are not a category).

    >>> from otel_ml.sketch import CategoricalSketch
    >>> a, b = CategoricalSketch(), CategoricalSketch()
    >>> a.update(["x"] * 6 + ["y"] * 3 + ["z"]); b.update(["y"] * 5 + ["x"] * 5)
    >>> category_bars(a, b, top=2)
    CategoryBars(labels=('x', 'y', '__other__'), reference=(0.6, 0.3, 0.1), current=(0.5, 0.5, 0.0))
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    n_ref, n_cur = reference.count, current.count
    share_r = {k: v / n_ref for k, v in reference.counts.items()} if n_ref else {}
    share_c = {k: v / n_cur for k, v in current.counts.items()} if n_cur else {}
    keys = set(share_r) | set(share_c)
    keys.discard(OVERFLOW_CATEGORY)
    ranked = sorted(keys, key=lambda k: (-max(share_r.get(k, 0.0), share_c.get(k, 0.0)), k))
    shown = ranked[:top]
    ref = [share_r.get(k, 0.0) for k in shown]
    cur = [share_c.get(k, 0.0) for k in shown]
    other_r = max(0.0, 1.0 - sum(ref)) if n_ref else 0.0
    other_c = max(0.0, 1.0 - sum(cur)) if n_cur else 0.0
    labels = list(shown)
    if other_r > 1e-12 or other_c > 1e-12:
        labels.append(OVERFLOW_CATEGORY)
        ref.append(round(other_r, 12))
        cur.append(round(other_c, 12))
    return CategoryBars(labels=tuple(labels), reference=tuple(ref), current=tuple(cur))
