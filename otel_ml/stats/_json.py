"""JSON numbers for the result types: JSON has no NaN or infinity.

Every ``to_dict`` of :mod:`otel_ml.stats` writes a non-finite float as ``null``
(:func:`json_number`); every ``from_dict`` reads ``null`` back as NaN
(:func:`float_or_nan`), so the results keep plain ``float`` fields.

>>> json_number(float("nan")), json_number(float("inf")), json_number(2)
(None, None, 2.0)
>>> float_or_nan(None), float_or_nan(0.5)
(nan, 0.5)
"""

from __future__ import annotations

import math

__all__ = ["float_or_nan", "json_number"]


def json_number(x: float) -> float | None:
    """``x`` as a float, or ``None`` where JSON has no number for it (NaN, ±inf)."""
    return float(x) if math.isfinite(x) else None


def float_or_nan(x: float | None) -> float:
    """The inverse of :func:`json_number` (infinities come back as NaN)."""
    return math.nan if x is None else float(x)
