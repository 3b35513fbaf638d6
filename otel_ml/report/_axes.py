"""Axis arithmetic for the SVG charts: "nice" tick values and linear scales.

>>> nice_ticks(0.0, 1.0)
[0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
>>> nice_ticks(-3.7, 12.2, count=4)
[-5.0, 0.0, 5.0, 10.0, 15.0]
>>> nice_ticks(-1e308, 1e308)  # a span beyond float range
[-1e+308, 0.0, 1e+308]
>>> s = LinearScale(0.0, 10.0, 100.0, 200.0)
>>> s(5.0), s(0.0), s(10.0)
(150.0, 100.0, 200.0)
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

__all__ = [
    "LinearScale",
    "format_time",
    "nice_step",
    "nice_ticks",
    "padded_range",
    "time_ticks",
]

_TIME_STEPS = (
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    10800,
    21600,
    43200,
    86400,
    172800,
    604800,
)


def nice_step(span: float, count: int = 5) -> float:
    """A step of 1, 2, 2.5 or 5 times a power of ten giving about ``count`` intervals.

    >>> nice_step(10.0), nice_step(0.37), nice_step(1000.0, count=4)
    (2.0, 0.1, 250.0)
    """
    raw = span / max(count, 1)
    if not math.isfinite(raw) or raw <= 1e-300:
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= mult * power * (1 + 1e-9):
            return mult * power
    return 10.0 * power  # pragma: no cover - the loop always returns


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Tick values covering ``[lo, hi]`` (extended outward to whole steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo < 1e-290:  # a point (or a denormal sliver): widen around it
        pad = abs(lo) * 0.1 if abs(lo) > 1e-290 else 1.0
        big = sys.float_info.max
        lo, hi = max(lo - pad, -big), min(hi + pad, big)
    if not math.isfinite(hi - lo):  # a span beyond float range: just the ends (and zero)
        return [lo, 0.0, hi] if lo < 0.0 < hi else [lo, hi]
    step = nice_step(hi - lo, count)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    if last - first > 10 * max(count, 1):  # step lost to rounding at huge magnitudes
        return [lo, hi]
    # Round away binary noise (0.30000000000000004) to the step's decimals.
    decimals = max(0, -math.floor(math.log10(step)) + 2)
    ticks = [round(i * step, decimals) + 0.0 for i in range(first, last + 1)]
    return [t for t in ticks if math.isfinite(t)]  # a whole step past float max is inf


def padded_range(values: list[float], *, include_zero: bool = False) -> tuple[float, float]:
    """``(lo, hi)`` of the finite ``values``, widened to nice ticks; ``(0, 1)`` when none.

    >>> padded_range([0.12, 0.9]), padded_range([3.0, 3.0]), padded_range([])
    ((0.0, 1.0), (2.6, 3.4), (0.0, 1.0))
    """
    finite = [v for v in values if math.isfinite(v)]
    if include_zero:
        finite.append(0.0)
    if not finite:
        return 0.0, 1.0
    ticks = nice_ticks(min(finite), max(finite))
    return ticks[0], ticks[-1]


def time_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Ticks on whole seconds / minutes / hours / days (UTC) inside ``[lo, hi]`` (epoch seconds).

    >>> time_ticks(0.0, 3600.0)
    [0.0, 900.0, 1800.0, 2700.0, 3600.0]
    >>> time_ticks(100.0, 160.0, count=3)
    [120.0, 150.0]
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(count, 1)
    step = next((float(s) for s in _TIME_STEPS if s >= raw), 86400.0 * math.ceil(raw / 86400))
    first = math.ceil(lo / step - 1e-9) * step
    n = int((hi - first) / step + 1e-9)
    return [first + i * step for i in range(n + 1)]


def format_time(t: float, span: float) -> str:
    """A UTC time label as precise as a tick ``span`` apart needs.

    >>> format_time(0.0, 30), format_time(3600.0, 600), format_time(86400.0 * 3, 86400 * 2)
    ('00:00:00', '01:00', 'Jan 04')
    """
    from datetime import datetime, timezone

    d = datetime.fromtimestamp(t, tz=timezone.utc)
    if span < 60:
        return d.strftime("%H:%M:%S")
    if span < 86400:
        return d.strftime("%H:%M")
    return d.strftime("%b %d")


@dataclass(frozen=True)
class LinearScale:
    """Maps the domain ``[d0, d1]`` linearly onto the range ``[r0, r1]`` (pixels)."""

    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, value: float) -> float:
        if self.d1 == self.d0:
            return (self.r0 + self.r1) / 2
        # Halves first: no overflow when the domain spans most of the float range.
        t = (value / 2 - self.d0 / 2) / (self.d1 / 2 - self.d0 / 2)
        return self.r0 + t * (self.r1 - self.r0)
