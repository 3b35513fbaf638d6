"""Multivariate drift: a small PCA of the reference and each row's reconstruction error.

A change in how features move *together* (two correlated features whose correlation
flips sign, marginals unchanged) escapes every per-feature test. A
:class:`ReconstructionModel` is fitted on the reference's numeric features: they are
standardised (reference mean and standard deviation), and a principal component
analysis keeps the fewest components that explain :data:`DEFAULT_VARIANCE` (80 %;
NannyML's data reconstruction drift keeps 65 %, ``docs/drift.md`` says why not) of the
variance -- never all of them. A row's
**reconstruction error** is the Euclidean distance between its standardised values
and their projection on those components: small for rows shaped like the reference,
larger when the structure between features changes. The model keeps the reference
distribution of that error as a :class:`~otel_ml.sketch.NumericSketch`, so the
evaluator and the CLI compare a window's error sketch with it like any numeric
feature (``otel_ml.stats.compare_multivariate``): raw rows never leave the service.

Missing and non-finite values are replaced by the reference mean (0 once
standardised: they add nothing to a row's error). Categorical features take no part
(see ``docs/drift.md``). numpy only: the SDK computes the errors of each batch with
two small matrix products (:meth:`ReconstructionModel.errors`).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> s = rng.normal(size=5_000)
>>> cols = {"a": s + rng.normal(0, 0.3, 5_000), "b": s + rng.normal(0, 0.3, 5_000)}
>>> m = ReconstructionModel.fit(cols)
>>> m.features, m.n_components
(('a', 'b'), 1)
>>> flipped = {"a": cols["a"], "b": -cols["b"]}   # same marginals, correlation flipped
>>> bool(m.errors(flipped).mean() > 3 * m.errors(cols).mean())
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from otel_ml._errors import SketchError
from otel_ml.sketch._columns import Column, numeric_values
from otel_ml.sketch._numeric import NumericSketch

__all__ = [
    "DEFAULT_VARIANCE",
    "MAX_FIT_ROWS",
    "MAX_MULTIVARIATE_FEATURES",
    "RECONSTRUCTION_METHOD",
    "ReconstructionModel",
]

RECONSTRUCTION_METHOD: Final = "pca_reconstruction_error"
#: Share of the standardised variance the kept components explain (measured against 65 %,
#: NannyML's, by ``benchmarks/multivariate_simulation.py --variance-sweep``).
DEFAULT_VARIANCE: Final = 0.8
#: Rows (a seeded uniform sample of the reference) the components are fitted on.
MAX_FIT_ROWS: Final = 50_000
#: Numeric features taken, in the reference's order (the cost per row grows with them).
MAX_MULTIVARIATE_FEATURES: Final = 100
#: Fewest reference rows for a model.
MIN_FIT_ROWS: Final = 100
_CHUNK_ROWS = 4_096  # rows per chunk: ~1 MB of standardised values for 25 features
#: Rows x features x components of one matrix product in ``row_errors``: below
#: OpenBLAS's threshold for threads (4 x 65,536 multiply-adds).
_SINGLE_THREAD_WORK = 200_000

_F64 = npt.NDArray[np.float64]


def _finite_column(values: Column) -> _F64:
    """A column as float64 with missing, non-finite and non-numbers as NaN."""
    v = np.asarray(values).ravel()
    if v.dtype.kind in "fiub":
        x = v.astype(np.float64, copy=False)
    else:
        x, _ = numeric_values(v)  # non-numbers are NaN
    if not np.isfinite(x).all():
        x = np.where(np.isfinite(x), x, np.nan)
    return x


@dataclass(frozen=True, eq=False)
class ReconstructionModel:
    """PCA of the standardised reference features, and the reference's error sketch.

    ``components`` has one orthonormal row per kept component over ``features`` (in
    that order); ``means`` and ``scales`` standardise a row; ``explained`` is each kept
    component's share of the variance; ``reference_errors`` the sketch of the
    reference rows' reconstruction errors; ``variance`` the share asked for;
    ``n_fit_rows`` the rows the components were fitted on.
    """

    features: tuple[str, ...]
    means: _F64
    scales: _F64
    components: _F64
    explained: tuple[float, ...]
    reference_errors: NumericSketch
    variance: float = DEFAULT_VARIANCE
    n_fit_rows: int = 0

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    # ---- fitting ----------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        columns: Mapping[str, Column],
        *,
        variance: float = DEFAULT_VARIANCE,
        max_fit_rows: int = MAX_FIT_ROWS,
        seed: int = 0,
    ) -> ReconstructionModel | None:
        """Fit on numeric reference ``columns`` (equal lengths); ``None`` when fewer than
        two of them vary or there are fewer than :data:`MIN_FIT_ROWS` rows.

        Constant and empty columns are left out; at most
        :data:`MAX_MULTIVARIATE_FEATURES` are taken, in order. Means and standard
        deviations use every finite value; the components a seeded sample of at most
        ``max_fit_rows`` rows; the error sketch every row.

        >>> ReconstructionModel.fit({"a": np.arange(500.0), "b": np.zeros(500)}) is None
        True
        """
        if not 0.0 < variance < 1.0:
            raise SketchError(f"variance: must be in (0, 1), got {variance!r}")
        names: list[str] = []
        xs: list[_F64] = []
        means: list[float] = []
        scales: list[float] = []
        n_rows = -1
        for name, values in columns.items():
            x = _finite_column(values)
            if n_rows < 0:
                n_rows = x.size
            elif x.size != n_rows:
                raise SketchError(
                    f"column {name!r} has {x.size} rows, the others {n_rows}: not one table"
                )
            ok = x[~np.isnan(x)]
            if ok.size < 2:
                continue
            mean = float(ok.mean())
            sd = float(ok.std())
            if not (math.isfinite(mean) and math.isfinite(sd)) or sd <= 1e-12 * max(
                1.0, abs(mean)
            ):
                continue
            names.append(name)
            xs.append(x)
            means.append(mean)
            scales.append(sd)
            if len(names) == MAX_MULTIVARIATE_FEATURES:
                break
        if len(names) < 2 or n_rows < MIN_FIT_ROWS:
            return None
        mu, sigma = np.array(means), np.array(scales)
        rows = None
        if n_rows > max_fit_rows:
            rows = np.sort(np.random.default_rng(seed).choice(n_rows, max_fit_rows, replace=False))
        # The components are the eigenvectors of the standardised rows' Gram matrix Z'Z
        # (the right singular vectors of Z, its eigenvalues their squared singular
        # values), summed over chunks of rows: memory of one chunk, never of the table.
        gram = np.zeros((len(names), len(names)))
        n_fit = n_rows if rows is None else rows.size
        for start in range(0, n_fit, _CHUNK_ROWS):
            end = start + _CHUNK_ROWS
            at = slice(start, end) if rows is None else rows[start:end]
            z = _standardise(np.column_stack([x[at] for x in xs]), mu, sigma)
            gram += np.einsum("ij,ik->jk", z, z)  # no BLAS threads (see row_errors)
        power, vectors = np.linalg.eigh(gram)  # ascending
        power, vt = np.maximum(power[::-1], 0.0), vectors[:, ::-1].T
        share = power / power.sum()
        # The fewest components reaching the share; always leave one direction out
        # (all of them would reconstruct every row exactly).
        k = int(np.searchsorted(np.cumsum(share), variance - 1e-12) + 1)
        k = max(1, min(k, len(names) - 1))
        model = cls(
            features=tuple(names),
            means=mu,
            scales=sigma,
            components=np.ascontiguousarray(vt[:k]),
            explained=tuple(float(v) for v in share[:k]),
            reference_errors=NumericSketch(),
            variance=float(variance),
            n_fit_rows=int(n_fit),
        )
        for start in range(0, n_rows, _CHUNK_ROWS):
            part = np.column_stack([x[start : start + _CHUNK_ROWS] for x in xs])
            model.reference_errors.update(model.row_errors(part))
        return model

    # ---- errors -----------------------------------------------------------------------
    def row_errors(self, x: _F64) -> _F64:
        """Reconstruction errors of the rows of ``x`` (columns in :attr:`features` order;
        NaN and infinities stand for missing values).

        >>> m = ReconstructionModel(("a", "b"), np.zeros(2), np.ones(2),
        ...     np.array([[0.6, 0.8]]), (0.9,), NumericSketch())
        >>> m.row_errors(np.array([[3.0, 4.0], [4.0, -3.0], [np.nan, -3.0]])).round(6).tolist()
        [0.0, 5.0, 1.8]
        """
        c = self.components
        # The squared error is the squared norm less the squared projection (the
        # components are orthonormal). The projection is a matrix product over chunks of
        # rows small enough that OpenBLAS keeps it on the calling thread: one product of
        # a whole batch goes to BLAS threads that, on a busy machine, cost several times
        # the arithmetic (6x on 10,000 x 20 x 12); per chunk it is twice as fast as one
        # matrix-vector product per component.
        step = max(1, _SINGLE_THREAD_WORK // max(1, c.shape[0] * c.shape[1]))
        out: _F64 = np.empty(x.shape[0])
        for start in range(0, x.shape[0], step):
            z = _standardise(x[start : start + step], self.means, self.scales)
            scores = z @ c.T
            norm2 = np.einsum("ij,ij->i", z, z)
            sq = norm2 - np.einsum("ij,ij->i", scores, scores)
            near = sq <= 1e-6 * norm2  # digits lost to the subtraction: those rows directly
            if near.any():
                zn = z[near]
                resid = zn - np.einsum("ik,kj->ij", np.einsum("ij,kj->ik", zn, c), c)
                sq[near] = np.einsum("ij,ij->i", resid, resid)
            out[start : start + step] = np.sqrt(np.maximum(sq, 0.0))
        return out

    def _columns(self, columns: Mapping[str, Column]) -> list[npt.NDArray[Any]]:
        """The model's columns of a table as they are (no copy; other than numbers are
        read as numbers chunk by chunk in ``_chunk_errors``)."""
        missing = [n for n in self.features if n not in columns]
        if missing:
            raise SketchError(f"no column {missing[0]!r}, a feature of the multivariate model")
        cols = [np.asarray(columns[name]).ravel() for name in self.features]
        if any(c.size != cols[0].size for c in cols):
            raise SketchError("the multivariate model's columns differ in length")
        return cols

    def _chunk_errors(self, cols: list[npt.NDArray[Any]], start: int, end: int) -> _F64:
        """Errors of rows ``start:end``: the columns copied into one row-major block
        (converted to float on the way; infinities count as missing in ``_standardise``,
        non-numbers of other columns are NaN), the chunk's memory only."""
        x: _F64 = np.empty((min(end, cols[0].size) - start, len(cols)))
        for j, c in enumerate(cols):
            part = c[start:end]
            x[:, j] = part if part.dtype.kind in "fiub" else numeric_values(part)[0]
        return self.row_errors(x)

    def errors(self, columns: Mapping[str, Column]) -> _F64:
        """Reconstruction errors of the rows of a table given by column name (any order,
        other columns ignored); :class:`~otel_ml.SketchError` names a missing feature."""
        cols = self._columns(columns)
        return self._chunk_errors(cols, 0, cols[0].size)

    def error_sketch(self, columns: Mapping[str, Column]) -> NumericSketch:
        """The sketch of :meth:`errors` (what the SDK exports per batch), computed in
        chunks of rows: a table's worth of errors is never held at once."""
        cols = self._columns(columns)
        s = NumericSketch()
        for start in range(0, cols[0].size, _CHUNK_ROWS):
            s.update(self._chunk_errors(cols, start, start + _CHUNK_ROWS))
        return s

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ReconstructionModel):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside

    # ---- JSON -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "method": RECONSTRUCTION_METHOD,
            "features": list(self.features),
            "means": self.means.tolist(),
            "scales": self.scales.tolist(),
            "components": self.components.tolist(),
            "explained": list(self.explained),
            "variance": self.variance,
            "n_fit_rows": self.n_fit_rows,
            "reference_errors": self.reference_errors.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReconstructionModel:
        """Inverse of :meth:`to_dict`; :class:`~otel_ml.SketchError` when shapes disagree."""
        if d.get("method") != RECONSTRUCTION_METHOD:
            raise SketchError(f"multivariate method {d.get('method')!r} is not known")
        features = tuple(str(f) for f in d["features"])
        means = np.asarray(d["means"], dtype=np.float64)
        scales = np.asarray(d["scales"], dtype=np.float64)
        comps = np.asarray(d["components"], dtype=np.float64).reshape(-1, len(features))
        p = len(features)
        if means.shape != (p,) or scales.shape != (p,) or not 1 <= comps.shape[0] < max(p, 2):
            raise SketchError("multivariate model: features, means, scales, components disagree")
        if not (np.isfinite(means).all() and np.isfinite(comps).all() and (scales > 0).all()):
            raise SketchError("multivariate model: non-finite means or components, or scale <= 0")
        return cls(
            features=features,
            means=means,
            scales=scales,
            components=comps,
            explained=tuple(float(v) for v in d.get("explained", ())),
            reference_errors=NumericSketch.from_dict(d["reference_errors"]),
            variance=float(d.get("variance", DEFAULT_VARIANCE)),
            n_fit_rows=int(d.get("n_fit_rows", 0)),
        )


def _standardise(x: _F64, means: _F64, scales: _F64) -> _F64:
    """``(x - means) / scales`` with missing values at the reference mean (0)."""
    z: _F64 = (x - means) / scales
    bad = ~np.isfinite(z)
    if bad.any():
        z[bad] = 0.0
    return z

