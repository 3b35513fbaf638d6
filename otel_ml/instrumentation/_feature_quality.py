"""A numeric feature's sketch kept in the window with its data-quality counts.

One rule for dense columns (``_features``) and the columns of a sparse matrix
(``_sparse``, whose implicit zeros are counted without being materialised).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from otel_ml import semconv
from otel_ml.instrumentation._window import ModelWindow
from otel_ml.sketch import FeatureProfile, NumericSketch

__all__ = ["add_numeric"]


def add_numeric(
    name: str,
    sketch: NumericSketch,
    x: npt.NDArray[Any],
    ref: FeatureProfile | None,
    w: ModelWindow,
    *,
    zeros: int = 0,
) -> None:
    """Keep ``sketch`` of feature ``name`` in ``w`` with its quality counts: missing,
    non-finite, and values of ``x`` (plus ``zeros`` implicit zeros, for sparse columns)
    outside the reference's range."""
    w.numeric[name] = sketch
    q = w.quality
    if sketch.nan_count:
        q[(name, semconv.QUALITY_MISSING)] += sketch.nan_count
    if sketch.non_finite_count:
        q[(name, semconv.QUALITY_NON_FINITE)] += sketch.non_finite_count
    if ref is not None and sketch.count and not math.isnan(ref.min):
        lo, hi = ref.min, ref.max
        if sketch.min < lo or sketch.max > hi:
            finite = x[np.isfinite(x)]
            out = int(np.count_nonzero((finite < lo) | (finite > hi)))
            if zeros and not lo <= 0.0 <= hi:
                out += zeros
            q[(name, semconv.QUALITY_OUT_OF_RANGE)] += out
