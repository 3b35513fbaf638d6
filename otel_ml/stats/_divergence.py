"""Distances and tests between two binned distributions (counts over the same bins).

These work on any two count vectors over the same bins: the aligned buckets of
two numeric sketches, or the aligned categories of two categorical sketches
(see :mod:`otel_ml.stats._drift`). Counts may be on different totals; each
vector is normalised to proportions first.

Examples
--------
>>> population_stability_index([50, 50], [50, 50])
0.0
>>> round(total_variation_distance([80, 20], [60, 40]), 3)
0.2
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special as _special

__all__ = [
    "MIN_EXPECTED",
    "PSI_EPSILON",
    "BinnedStatistics",
    "ContingencyTest",
    "chi_square_test",
    "g_test",
    "hellinger_distance",
    "jensen_shannon_distance",
    "pool_sparse_bins",
    "population_stability_index",
    "binned_statistics",
    "total_variation_distance",
]

PSI_EPSILON = 1e-4  # proportion used in place of an empty bin (PSI only)
MIN_EXPECTED = 5.0  # Cochran's rule: every cell of a chi-square / G table expects this many

_sum = np.add.reduce  # np.sum without its Python wrapper (the same pairwise summation)


def _proportions(counts: npt.ArrayLike) -> npt.NDArray[np.float64]:
    c = np.asarray(counts, dtype=np.float64)
    total = float(_sum(c))
    if total <= 0.0:
        raise ValueError("a distribution with no counts has no proportions")
    return c / total


def population_stability_index(
    expected: npt.ArrayLike, actual: npt.ArrayLike, *, eps: float = PSI_EPSILON
) -> float:
    """Population Stability Index ``sum((a - e) * ln(a / e))`` over shared bins.

    Parameters
    ----------
    expected
        Reference bin counts (any total).
    actual
        Current bin counts over the same bins.
    eps
        Proportion substituted for an empty bin on either side.

    Examples
    --------
    >>> population_stability_index([50, 50], [50, 50])
    0.0
    >>> round(population_stability_index([40, 60], [60, 40]), 4)
    0.1622

    An empty bin counts as ``eps`` (here ``(0.5 - 1) ln(0.5) + (0.5 - 1e-4) ln(0.5 / 1e-4)``):

    >>> round(population_stability_index([100, 0], [50, 50]), 4)
    4.6043
    """
    return _psi(_proportions(expected), _proportions(actual), eps)


def _psi(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64], eps: float) -> float:
    e = np.maximum(p, eps)
    a = np.maximum(q, eps)
    return float(max(0.0, _sum((a - e) * np.log(a / e))))


def jensen_shannon_distance(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Jensen–Shannon distance (base 2, so in ``[0, 1]``): the square root of the divergence.

    >>> jensen_shannon_distance([1, 0], [0, 1])
    1.0
    >>> jensen_shannon_distance([3, 1], [6, 2])
    0.0
    """
    return _js(_proportions(p), _proportions(q))


def _js(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    m = 0.5 * (a + b)

    def _kl(x: npt.NDArray[np.float64]) -> float:
        nz = x > 0
        return float(_sum(x[nz] * np.log2(x[nz] / m[nz])))

    js = 0.5 * _kl(a) + 0.5 * _kl(b)
    return math.sqrt(min(1.0, max(0.0, js)))


def hellinger_distance(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Hellinger distance ``sqrt(1 - sum(sqrt(p * q)))``, in ``[0, 1]``.

    >>> hellinger_distance([1, 0], [0, 1])
    1.0
    >>> round(hellinger_distance([50, 50], [90, 10]), 4)
    0.3249
    """
    return _hellinger(_proportions(p), _proportions(q))


def _hellinger(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> float:
    bc = float(_sum(np.sqrt(p * q)))
    return math.sqrt(max(0.0, 1.0 - min(1.0, bc)))


def total_variation_distance(p: npt.ArrayLike, q: npt.ArrayLike) -> float:
    """Share of the probability mass that must move to turn ``p`` into ``q`` (in ``[0, 1]``).

    >>> total_variation_distance([1, 1, 2], [1, 1, 2])
    0.0
    """
    return float(0.5 * _sum(np.abs(_proportions(p) - _proportions(q))))


@dataclass(frozen=True)
class ContingencyTest:
    """Result of a two-sample test of homogeneity on a 2 x k table."""

    statistic: float
    p_value: float
    dof: int


def _chi2_sf(stat: float, dof: int) -> float:
    """Chi-square survival function (``scipy.special.chdtrc``: 30x cheaper than
    ``scipy.stats.chi2.sf``, which matters at one call per feature and window)."""
    return float(_special.chdtrc(dof, stat))


def _table(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, keep_empty: bool = False
) -> npt.NDArray[np.float64]:
    r, c = np.asarray(reference, np.float64), np.asarray(current, np.float64)
    if r.ndim != 1 or r.shape != c.shape:
        t = np.vstack([r, c])  # raises on bins that do not match
    else:
        t = np.empty((2, r.size))
        t[0], t[1] = r, c
    if keep_empty:
        return t
    used = _sum(t, axis=0) > 0
    return t if used.all() else t[:, used]


def _prepared(
    reference: npt.ArrayLike, current: npt.ArrayLike, pool: str | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """The table of a test (pooled when ``pool`` says so) and its expected counts, or
    ``None`` when the test cannot reject (fewer than two bins, an empty sample)."""
    t = _table(reference, current)
    rows = _sum(t, axis=1)
    if pool is not None:
        cols = _sum(t, axis=0)
        pooled = _pool_columns(t, rows, cols, MIN_EXPECTED, pool == "ordered")
        if pooled is not t:
            t = pooled
    if t.shape[1] < 2 or not rows.all():
        return None
    e: npt.NDArray[np.float64] = np.outer(rows, _sum(t, axis=0))
    e /= _sum(rows)
    return t, e


def chi_square_test(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, pool: str | None = None
) -> ContingencyTest:
    """Pearson's chi-square test that two count vectors come from one distribution.

    Bins empty in both samples are ignored; with fewer than two bins left, or an
    empty sample, the answer is ``statistic=0, p_value=1``. ``pool`` (``"ordered"``
    or ``"unordered"``) first pools the bins whose cells expect fewer than
    :data:`MIN_EXPECTED` rows (:func:`pool_sparse_bins`).

    >>> r = chi_square_test([50, 50], [50, 50]); (r.statistic, r.p_value, r.dof)
    (0.0, 1.0, 1)
    >>> round(chi_square_test([30, 70], [70, 30]).statistic, 3)
    32.0
    """
    prepared = _prepared(reference, current, pool)
    if prepared is None:
        return ContingencyTest(0.0, 1.0, 0)
    t, e = prepared
    stat = float(_sum((t - e) ** 2 / e, axis=None))
    dof = t.shape[1] - 1
    return ContingencyTest(stat, _chi2_sf(stat, dof), dof)


def g_test(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, pool: str | None = None
) -> ContingencyTest:
    """G-test (log-likelihood ratio) of homogeneity; same conventions as
    :func:`chi_square_test`.

    >>> round(g_test([30, 70], [70, 30]).statistic, 3)
    32.913
    """
    prepared = _prepared(reference, current, pool)
    if prepared is None:
        return ContingencyTest(0.0, 1.0, 0)
    t, e = prepared
    nz = t > 0
    stat = float(max(0.0, 2.0 * _sum(t[nz] * np.log(t[nz] / e[nz]))))
    dof = t.shape[1] - 1
    return ContingencyTest(stat, _chi2_sf(stat, dof), dof)


def pool_sparse_bins(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    *,
    min_expected: float = MIN_EXPECTED,
    ordered: bool = True,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Pool bins until every cell of the 2 x k table expects at least ``min_expected`` rows.

    A chi-square or G-test on a bin that expects a fraction of a row is decided by that
    bin: one current value where the reference has none (beyond its maximum, or a new
    category) adds about ``n_reference / n_current`` to the statistic. Cochran's rule
    asks for expected counts of at least 5; the expected count of a cell is
    ``row total * column total / grand total``, so a bin needs a column total of at
    least ``min_expected * grand total / smaller row total``.

    ``ordered`` bins (numeric ranges, ascending) merge with their neighbours: from the
    left, a run of bins closes once it holds enough, and a short run left at the end
    joins the last closed one. Unordered bins (categories) pool every short bin into
    one, adding the next smallest bins while the pool is still short; the pool comes
    last. Fewer than two bins left means the test cannot reject (p = 1).

    Examples
    --------
    One current value above the reference's range (the last bin) no longer decides:

    >>> r, c = pool_sparse_bins([500, 500, 0], [5, 5, 1])
    >>> r.tolist(), c.tolist()
    ([500.0, 500.0], [5.0, 6.0])

    A new category (unordered bins, the short one first): pooled with the next smallest.

    >>> r, c = pool_sparse_bins([2, 1000, 1000], [1, 100, 100], ordered=False)
    >>> r.tolist(), c.tolist()
    ([1000.0, 1002.0], [100.0, 101.0])
    """
    t = _table(reference, current, keep_empty=True)
    rows, cols = _sum(t, axis=1), _sum(t, axis=0)
    pooled = _pool_columns(t, rows, cols, min_expected, ordered)
    return pooled[0], pooled[1]


def _pool_columns(
    t: npt.NDArray[np.float64],
    rows: npt.NDArray[np.float64],
    cols: npt.NDArray[np.float64],
    min_expected: float,
    ordered: bool,
) -> npt.NDArray[np.float64]:
    """The 2 x k table ``t`` (row sums ``rows``, column sums ``cols``) with its columns
    pooled as :func:`pool_sparse_bins` says; ``t`` itself when nothing is short."""
    low = float(rows.min())
    if cols.size < 2 or low <= 0:
        return t
    need = min_expected * float(rows[0] + rows[1]) / low
    if float(cols.min()) >= need:
        return t  # the common case: every cell expects enough
    if ordered:
        starts: list[int] = []
        run = need  # a full run "before" the first bin: bin 0 opens a run
        for i, total in enumerate(cols.tolist()):
            if run >= need:
                starts.append(i)
                run = 0.0
            run += total
        if run < need and len(starts) > 1:
            starts.pop()  # the short last run joins the one before
        out: npt.NDArray[np.float64] = np.add.reduceat(t, starts, axis=1)
        return out
    order = np.argsort(cols, kind="stable")
    k = int(np.count_nonzero(cols < need))
    cum = np.cumsum(cols[order])
    while k < cols.size and cum[k - 1] < need:
        k += 1
    pooled = np.zeros(cols.size, dtype=bool)
    pooled[order[:k]] = True
    return np.hstack([t[:, ~pooled], _sum(t[:, pooled], axis=1, keepdims=True)])


@dataclass(frozen=True)
class BinnedStatistics:
    """The distances and the chi-square test of two count vectors over the same bins."""

    psi: float
    jensen_shannon: float
    hellinger: float
    chi2: ContingencyTest


def binned_statistics(
    reference: npt.ArrayLike, current: npt.ArrayLike, *, pool: bool = False, ordered: bool = True
) -> BinnedStatistics:
    """PSI, Jensen–Shannon, Hellinger and the chi-square test at once (each vector is
    normalised once instead of once per statistic; the values are those of the four
    functions). With ``pool``, the chi-square runs on the bins pooled by
    :func:`pool_sparse_bins` (``ordered`` or not); the distances keep the bins as given.

    >>> b = binned_statistics([30, 70], [70, 30])
    >>> round(b.psi, 4), round(b.hellinger, 4), round(b.chi2.statistic, 3)
    (0.6778, 0.2889, 32.0)
    """
    p, q = _proportions(reference), _proportions(current)
    how = ("ordered" if ordered else "unordered") if pool else None
    chi2 = chi_square_test(reference, current, pool=how)
    return BinnedStatistics(
        psi=_psi(p, q, PSI_EPSILON),
        jensen_shannon=_js(p, q),
        hellinger=_hellinger(p, q),
        chi2=chi2,
    )
