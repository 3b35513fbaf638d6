"""The numeric drift statistics of many features at once: one NumPy pass for a window.

:func:`numeric_statistics_many` returns, for every ``(reference, current)`` pair, what
:func:`~otel_ml.stats.numeric_statistics` returns for it. Instead of ~90 NumPy calls per
feature on arrays of a few hundred buckets (where the cost of a call, not its work,
dominates), the features' buckets are laid end to end -- one *segment* per feature --
and each step is one NumPy call over all of them: per-bucket arithmetic element-wise,
per-feature sums and maxima with ``reduceat`` over the segments, the (at most 11)
reference-decile bins of every feature in one padded 2-D table. The evaluator compares
the 50 features of a window in the time a few took one by one.

The reference side still comes from :class:`~otel_ml.stats.NumericReference` (prepared
once per reference and scale); a window bucket the reference lacks is placed among the
reference's as the one-feature code places it (its reference share 0, its running
share the one before it), so the decile bins are the same. The statistics are the same
up to floating-point rounding -- sums are taken in another order, and the window's
running share is its integer running count divided once -- within ``1e-9`` relative
(checked against the one-feature function in the tests); the verdicts are the same.

Examples
--------
>>> import numpy as np
>>> from otel_ml.sketch import NumericSketch
>>> from otel_ml.stats import numeric_statistics
>>> rng = np.random.default_rng(0)
>>> refs, curs = [NumericSketch() for _ in range(3)], [NumericSketch() for _ in range(3)]
>>> for i, (r, c) in enumerate(zip(refs, curs)):
...     r.update(rng.normal(0, 1, 5000)); c.update(rng.normal(0.2 * i, 1, 1000))
>>> many = numeric_statistics_many(refs, curs)
>>> one = [numeric_statistics(r, c) for r, c in zip(refs, curs)]
>>> all(math.isclose(a.ks_chi2_p_value, b.ks_chi2_p_value, rel_tol=1e-9)
...     for a, b in zip(many, one))
True
>>> [round(s.wasserstein_normalised, 2) for s in many]
[0.04, 0.21, 0.41]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import special as _special

from otel_ml.sketch._numeric import NumericSketch
from otel_ml.stats._divergence import MIN_EXPECTED, PSI_EPSILON
from otel_ml.stats._drift import NumericStatistics
from otel_ml.stats._numeric_reference import PSI_BINS, NumericReference, ReferenceBuckets

__all__ = ["numeric_statistics_many"]

_F64 = npt.NDArray[np.float64]
_I64 = npt.NDArray[np.int64]

_SIGN = 1 << 40  # as in bucket_keys: negative keys below -2**40, zero 0, positive above 2**40
# Keys of feature k are shifted by k * 2**42, so all features' keys sort as one array
# (a key's magnitude stays below 2**41 at every scale: index < 2**31 at scale 20).
_FEATURE_SHIFT = 42
_HALF = 1 << (_FEATURE_SHIFT - 1)

_sum = np.add.reduce
_EMPTY = np.zeros(0, np.int64)


def _empty_statistics(n: int, m: int) -> NumericStatistics:
    nan = math.nan
    return NumericStatistics(n, m, nan, 1.0, nan, nan, nan, nan, nan, nan, nan, nan, nan, 1.0, 1.0)


def _edges(keys: _I64, scale: _I64) -> tuple[_F64, _F64]:
    """Bucket edges of sign keys (as ``bucket_edges``) with a scale per key."""
    pos, neg = keys > 0, keys < 0
    idx = np.where(pos, keys - _SIGN, np.where(neg, -_SIGN - keys, 0)).astype(np.float64)
    with np.errstate(over="ignore"):  # the top bucket at scale -10 ends beyond float64
        lo_abs = np.exp2(np.ldexp(idx, -scale))
        hi_abs = np.exp2(np.ldexp(idx + 1.0, -scale))
    lower = np.where(pos, lo_abs, np.where(neg, -hi_abs, 0.0))
    upper = np.where(pos, hi_abs, np.where(neg, -lo_abs, 0.0))
    return lower, upper


def _window_keys(
    currents: Sequence[NumericSketch], scales: Sequence[int]
) -> tuple[_I64, _F64]:
    """Every feature's non-empty window buckets at its comparison scale: keys shifted by
    feature (not sorted, possibly repeated after downscaling) and their counts."""
    parts: list[_I64] = []
    p_feat: list[int] = []
    p_base: list[int] = []  # the run's offset
    p_sign: list[int] = []
    p_delta: list[int] = []
    p_size: list[int] = []
    z_keys: list[int] = []
    z_counts: list[int] = []
    for k, (c, scale) in enumerate(zip(currents, scales, strict=True)):
        delta = c.scale - scale
        for counts, offset, sign in (
            (c.positive_counts, c.positive_offset, 1),
            (c.negative_counts, c.negative_offset, -1),
        ):
            if counts.size:
                parts.append(counts)
                p_feat.append(k)
                p_base.append(offset)
                p_sign.append(sign)
                p_delta.append(delta)
                p_size.append(counts.size)
        if c.zero_count:
            z_keys.append(k << _FEATURE_SHIFT)
            z_counts.append(c.zero_count)
    if parts:
        counts = np.concatenate(parts)
        size = np.asarray(p_size, np.int64)
        part = np.repeat(np.arange(size.size), size)
        first = np.cumsum(size) - size  # where each run starts in ``counts``
        idx = np.arange(counts.size, dtype=np.int64) + (
            np.asarray(p_base, np.int64) - first
        )[part]
        idx >>= np.asarray(p_delta, np.int64)[part]  # the bucket at the lower scale
        keys = np.asarray(p_sign, np.int64)[part] * (idx + _SIGN)
        keys += np.asarray(p_feat, np.int64)[part] << _FEATURE_SHIFT
    else:
        counts, keys = _EMPTY, _EMPTY
    if z_keys:
        keys = np.concatenate((keys, np.asarray(z_keys, np.int64)))
        counts = np.concatenate((counts, np.asarray(z_counts, np.int64)))
    used = counts > 0
    if not used.all():
        keys, counts = keys[used], counts[used]
    return keys, counts.astype(np.float64)


class _Layout:
    """The buckets compared, all features end to end: the reference's, plus any window
    bucket it lacks, ascending within each feature."""

    keys: _I64  # shifted by feature
    feature: _I64  # feature of each bucket
    starts: _I64  # first bucket of each feature
    ref_counts: _F64
    share: _F64  # reference share
    cum_share: _F64  # reference running share
    lower: _F64
    upper: _F64
    interior: npt.NDArray[np.bool_]
    bin_starts: _I64  # first bucket of each reference-decile bin

    def __init__(self, rbs: Sequence[ReferenceBuckets]) -> None:
        f = len(rbs)
        sizes = np.fromiter((rb.keys.size for rb in rbs), np.int64, f)
        first = np.cumsum(sizes) - sizes
        feature = np.repeat(np.arange(f, dtype=np.int64), sizes)
        self.keys = np.concatenate([rb.keys for rb in rbs]) + (feature << _FEATURE_SHIFT)
        self.feature = feature
        self.starts = first
        self.ref_counts = np.concatenate([rb.counts for rb in rbs]).astype(np.float64)
        self.share = np.concatenate([rb.share for rb in rbs])
        self.cum_share = np.concatenate([rb.cum_share for rb in rbs])
        self.lower = np.concatenate([rb.lower for rb in rbs])
        self.upper = np.concatenate([rb.upper for rb in rbs])
        self.interior = np.concatenate([rb.interior for rb in rbs])
        n_bins = np.fromiter((rb.bin_starts.size for rb in rbs), np.int64, f)
        self.bin_starts = np.concatenate([rb.bin_starts for rb in rbs]) + np.repeat(first, n_bins)

    def with_keys(self, new: _I64, scales: _I64) -> _Layout:
        """This layout with the (sorted, unique) window keys ``new`` it lacks inserted."""
        out = object.__new__(_Layout)
        keys = np.concatenate((self.keys, new))
        order = np.argsort(keys, kind="stable")
        where = np.empty(keys.size, np.int64)
        where[order] = np.arange(keys.size)
        at_ref, at_new = where[: self.keys.size], where[self.keys.size :]
        out.keys = keys[order]
        feature = (out.keys + _HALF) >> _FEATURE_SHIFT
        out.feature = feature
        counts_per = np.bincount(feature, minlength=self.starts.size)
        out.starts = np.cumsum(counts_per) - counts_per
        u = keys.size
        out.ref_counts = np.zeros(u)
        out.ref_counts[at_ref] = self.ref_counts
        out.share = np.zeros(u)
        out.share[at_ref] = self.share
        # A window bucket the reference lacks: the reference's running share is that of
        # the bucket before it (0 before the first), as a running sum of the shares with
        # zeros inserted gives.
        held = np.zeros(u)
        held[at_ref] = self.cum_share
        is_ref = np.zeros(u, bool)
        is_ref[at_ref] = True
        last = np.maximum.accumulate(np.where(is_ref, np.arange(u), -1))
        same = (last >= 0) & (feature[np.maximum(last, 0)] == feature)
        out.cum_share = np.where(same, held[np.maximum(last, 0)], 0.0)
        out.lower, out.upper = np.empty(u), np.empty(u)
        out.lower[at_ref], out.upper[at_ref] = self.lower, self.upper
        local = new - (((new + _HALF) >> _FEATURE_SHIFT) << _FEATURE_SHIFT)
        lo, hi = _edges(local, scales[(new + _HALF) >> _FEATURE_SHIFT])
        out.lower[at_new], out.upper[at_new] = lo, hi
        out.interior = out.upper > out.lower
        # Decile bins as decile_starts draws them: bucket i joins bin
        # floor(10 * reference share before it); a bin starts where that changes.
        before = np.empty(u)
        before[0] = 0.0
        before[1:] = out.cum_share[:-1]
        before[out.starts] = 0.0
        groups = np.floor(before * PSI_BINS + 1e-9).astype(np.int64)
        change = np.empty(u, bool)
        change[0] = True
        np.not_equal(groups[1:], groups[:-1], out=change[1:])
        change[out.starts] = True
        out.bin_starts = np.flatnonzero(change)
        return out


def _padded(values: _F64, row: _I64, col: _I64, shape: tuple[int, int]) -> _F64:
    out = np.zeros(shape)
    out[row, col] = values
    return out


def numeric_statistics_many(
    references: Sequence[NumericSketch | NumericReference],
    currents: Sequence[NumericSketch],
) -> list[NumericStatistics]:
    """:func:`~otel_ml.stats.numeric_statistics` of every pair, computed together.

    ``references[i]`` (a sketch, or a :class:`NumericReference` that keeps the
    reference-side work) is compared with ``currents[i]``; the results are in that
    order, equal to the one-feature function's up to floating-point rounding.
    """
    if len(references) != len(currents):
        raise ValueError(
            f"{len(references)} references for {len(currents)} current sketches"
        )
    out: list[NumericStatistics | None] = [None] * len(currents)
    live: list[int] = []
    rbs: list[ReferenceBuckets] = []
    cur: list[NumericSketch] = []
    scales: list[int] = []
    n_l: list[int] = []
    m_l: list[int] = []
    lo_l: list[float] = []
    hi_l: list[float] = []
    for i, (r, c) in enumerate(zip(references, currents, strict=True)):
        prepared = r if isinstance(r, NumericReference) else NumericReference(r, copy=False)
        s = prepared.sketch
        if s.count == 0 or c.count == 0:
            out[i] = _empty_statistics(s.count, c.count)
            continue
        scale = min(s.scale, c.scale)
        live.append(i)
        rbs.append(prepared.at(scale))
        cur.append(c)
        scales.append(scale)
        n_l.append(s.count)
        m_l.append(c.count)
        lo_l.append(min(s.min, c.min))
        hi_l.append(max(s.max, c.max))
    if live:
        for i, st in zip(live, _statistics(rbs, cur, scales, n_l, m_l, lo_l, hi_l), strict=True):
            out[i] = st
    return [st for st in out if st is not None]


def _statistics(
    rbs: Sequence[ReferenceBuckets],
    currents: Sequence[NumericSketch],
    scales_l: Sequence[int],
    n_l: Sequence[int],
    m_l: Sequence[int],
    lo_l: Sequence[float],
    hi_l: Sequence[float],
) -> list[NumericStatistics]:
    f = len(rbs)
    n, m = np.asarray(n_l, np.float64), np.asarray(m_l, np.float64)
    layout = _Layout(rbs)
    wkeys, wcounts = _window_keys(currents, scales_l)
    pos = np.searchsorted(layout.keys, wkeys)
    known = layout.keys[np.minimum(pos, layout.keys.size - 1)] == wkeys
    if not known.all():
        layout = layout.with_keys(np.unique(wkeys[~known]), np.asarray(scales_l, np.int64))
        pos = np.searchsorted(layout.keys, wkeys)
    u = layout.keys.size
    feat, starts = layout.feature, layout.starts
    cur = np.bincount(pos, weights=wcounts, minlength=u)

    # -- per bucket: KS, Wasserstein and their error bounds ---------------------------
    m_e = m[feat]
    cs = cur / m_e
    running = np.cumsum(cur)
    cum_c = (running - (running[starts] - cur[starts])[feat]) / m_e
    rs = layout.share
    d_after = layout.cum_share - cum_c
    d_before = d_after - (rs - cs)
    b = np.abs(d_after)
    ks = np.maximum.reduceat(b, starts)
    ks_err = np.maximum(
        np.fromiter((rb.max_interior_share for rb in rbs), np.float64, f),
        np.maximum.reduceat(cs * layout.interior, starts),
    )
    lo_e, hi_e = np.asarray(lo_l)[feat], np.asarray(hi_l)[feat]
    lower = np.minimum(np.maximum(layout.lower, lo_e), hi_e)
    upper = np.minimum(np.maximum(layout.upper, lo_e), hi_e)
    width = upper - lower
    a = np.abs(d_before)
    same = d_before * d_after >= 0
    denom = np.where(same, 1.0, a + b)
    inside = np.where(same, width * (a + b) / 2, width * (a * a + b * b) / (2 * denom))
    gaps = np.zeros(u)
    gaps[:-1] = (lower[1:] - upper[:-1]) * b[:-1]
    gaps[starts[1:] - 1] = 0.0  # no gap between one feature's last bucket and the next's
    w = np.add.reduceat(inside, starts) + np.add.reduceat(gaps, starts)
    w_err = np.add.reduceat(width * (rs + cs), starts)
    std = np.fromiter((rb.std for rb in rbs), np.float64, f)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_norm = np.where(std > 0, w / std, np.where(w == 0, 0.0, math.inf))

    # -- per reference-decile bin (at most 11 a feature): PSI, JS, Hellinger, chi-square
    bs = layout.bin_starts
    bin_feat = feat[bs]
    n_bins = np.bincount(bin_feat, minlength=f)
    first_bin = np.cumsum(n_bins) - n_bins
    col = np.arange(bs.size) - first_bin[bin_feat]
    shape = (f, int(n_bins.max()))
    gr = _padded(np.add.reduceat(layout.ref_counts, bs), bin_feat, col, shape)
    gc = _padded(np.add.reduceat(cur, bs), bin_feat, col, shape)
    p, q = gr / n[:, None], gc / m[:, None]
    e_, a_ = np.maximum(p, PSI_EPSILON), np.maximum(q, PSI_EPSILON)
    psi = np.maximum(0.0, _sum((a_ - e_) * np.log(a_ / e_), axis=1))
    mid = 0.5 * (p + q)
    js = 0.5 * _kl(p, mid) + 0.5 * _kl(q, mid)
    jensen_shannon = np.sqrt(np.minimum(1.0, np.maximum(0.0, js)))
    hellinger = np.sqrt(np.maximum(0.0, 1.0 - np.minimum(1.0, _sum(np.sqrt(p * q), axis=1))))
    chi2, p_chi2 = _pooled_chi_square(gr, gc, n_bins, n, m)

    se = np.sqrt(n * m / (n + m))
    p_ks = np.minimum(1.0, np.maximum(0.0, _special.kolmogorov((se + 0.12 + 0.11 / se) * ks)))
    p_both = np.minimum(1.0, 2.0 * np.minimum(p_ks, p_chi2))
    return [
        NumericStatistics(*row)
        for row in zip(
            n_l, m_l, ks.tolist(), p_ks.tolist(), ks_err.tolist(), w.tolist(),
            w_norm.tolist(), w_err.tolist(), std.tolist(), psi.tolist(),
            jensen_shannon.tolist(), hellinger.tolist(), chi2.tolist(), p_chi2.tolist(),
            p_both.tolist(), strict=True,
        )
    ]


def _kl(x: _F64, mid: _F64) -> _F64:
    """``sum(x * log2(x / mid))`` over the bins where ``x > 0``, per row."""
    nz = x > 0
    ratio = np.where(nz, x, 1.0) / np.where(nz, mid, 1.0)
    out: _F64 = _sum(np.where(nz, x * np.log2(ratio), 0.0), axis=1)
    return out


def _summed(group: _I64, values: _F64, f: int, k: int) -> _F64:
    """``values`` (f x k) summed by flat ``group`` index into an f x k table."""
    out = np.bincount(group, weights=values.ravel(), minlength=f * k)
    return out.reshape(f, k).astype(np.float64, copy=False)


def _pooled_chi_square(
    gr: _F64, gc: _F64, n_bins: _I64, n: _F64, m: _F64
) -> tuple[_F64, _F64]:
    """Pearson's chi-square of each row's 2 x k table after pooling neighbouring bins
    until every cell expects ``MIN_EXPECTED`` rows, as ``pool_sparse_bins(ordered=True)``
    pools them: a run of bins closes once it holds enough, a short last run joins the
    one before. Returns the statistics and p-values (0 and 1 with fewer than two bins)."""
    f, k = gr.shape
    cols = gr + gc
    need = MIN_EXPECTED * (n + m) / np.minimum(n, m)
    valid = np.arange(k) < n_bins[:, None]
    if not (valid & (cols < need[:, None])).any():
        pr, pc = gr, gc  # the common case: no short bin, nothing to pool
    else:
        opens = np.zeros((f, k), bool)
        run = need.copy()  # a full run "before" the first bin: bin 0 opens a run
        for j in range(k):
            valid = j < n_bins
            o = valid & (run >= need)
            opens[:, j] = o
            run = np.where(o, 0.0, run) + np.where(valid, cols[:, j], 0.0)
        n_runs = opens.sum(axis=1)
        drop = (run < need) & (n_runs > 1)  # the short last run joins the one before
        if drop.any():
            last = k - 1 - np.argmax(opens[:, ::-1], axis=1)
            rows = np.flatnonzero(drop)
            opens[rows, last[rows]] = False
        group = np.cumsum(opens, axis=1) - 1 + (np.arange(f) * k)[:, None]
        flat = group.ravel()
        pr = _summed(flat, gr, f, k)
        pc = _summed(flat, gc, f, k)
    rows_r, rows_c = _sum(pr, axis=1), _sum(pc, axis=1)
    total = rows_r + rows_c
    cols = pr + pc
    used = cols > 0
    er = rows_r[:, None] * cols / total[:, None]
    ec = rows_c[:, None] * cols / total[:, None]
    er_s, ec_s = np.where(used, er, 1.0), np.where(used, ec, 1.0)
    cell = np.where(used, (pr - er) ** 2 / er_s + (pc - ec) ** 2 / ec_s, 0.0)
    dof = _sum(used, axis=1) - 1
    ok = dof >= 1
    stat = np.where(ok, _sum(cell, axis=1), 0.0)
    p = np.where(ok, _special.chdtrc(np.maximum(dof, 1), stat), 1.0)
    return stat, p
