"""ADWIN, adaptive windowing (river's ``drift.ADWIN``); the overview of the change
detectors is :mod:`otel_ml.stats._detectors`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from otel_ml.stats._change import (
    ADWIN_NAME,
    DOWN,
    UP,
    Change,
    _bad,
    _integer,
    _json_float,
    _nan_none,
    _number,
)

__all__ = ["ADWIN"]


class ADWIN:
    """ADaptive WINdowing (ADWIN2, Bifet & Gavaldà 2007), as river's ``drift.ADWIN``.

    Keeps a window of recent values as an exponential histogram (at most
    ``max_buckets`` summaries of each size 1, 2, 4, ...) and, every ``clock`` values,
    tests every split of the window into an older and a newer part: a change is
    signalled when their means differ by more than a Bernstein bound at confidence
    ``delta``; the oldest summaries are then dropped until no split is significant.
    As in river, the update after a detection starts the detector afresh.

    Parameters
    ----------
    delta
        Significance value (smaller: fewer false alarms, later detections).
    clock
        Test every this many values (1: every value).
    max_buckets
        Summaries of each size kept before two are merged.
    min_window_length
        Neither part of a split may be shorter than this.
    grace_period
        No test before the window holds more than this many values.

    Examples
    --------
    river's own example (the same stream, the same index):

    >>> import random
    >>> rng = random.Random(12345)
    >>> adwin = ADWIN()
    >>> data_stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
    >>> for i, val in enumerate(data_stream):
    ...     adwin.update(val)
    ...     if adwin.drift_detected:
    ...         print(f"Change detected at index {i}, input value: {val}")
    Change detected at index 1023, input value: 4
    >>> c = adwin.change
    >>> c.start_index, c.direction, round(c.mean_before, 2), round(c.mean_after, 2)
    (1000, 'up', 0.5, 5.71)
    """

    name: Final = ADWIN_NAME

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
    ) -> None:
        cls = "ADWIN"
        if not (_number(delta) and 0 < delta < 1):
            raise _bad(cls, "delta", f"got {delta!r}", "give a number in (0, 1)")
        for field, value, low in (
            ("clock", clock, 1),
            ("max_buckets", max_buckets, 2),
            ("min_window_length", min_window_length, 1),
            ("grace_period", grace_period, 0),
        ):
            if not _integer(value) or value < low:
                raise _bad(cls, field, f"got {value!r}", f"give an integer >= {low}")
        self.delta = float(delta)
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self.n_seen = 0
        self.n_detections = 0
        self.drift_detected = False
        self.change: Change | None = None
        self._reset()

    def _reset(self) -> None:
        self.drift_detected = False
        self._total = 0.0
        self._variance = 0.0
        self._width = 0.0
        self._tick = 0
        self._estimate: tuple[int, float, float, float] = (0, math.nan, math.nan, math.nan)
        # row i: summaries of 2**i values, oldest first: totals, variances, first times
        self._totals: list[list[float]] = [[]]
        self._variances: list[list[float]] = [[]]
        self._times: list[list[float]] = [[]]

    @property
    def width(self) -> int:
        """Values in the window."""
        return int(self._width)

    @property
    def estimation(self) -> float:
        """Mean of the window."""
        return self._total / self._width if self._width else 0.0

    def update(self, x: float, t: float | None = None) -> None:
        """Add one value (``t``: its time, carried into :attr:`change`)."""
        if self.drift_detected:
            self._reset()
        x = float(x)
        self.n_seen += 1
        self._insert(x, math.nan if t is None else float(t))
        width_before = self._width
        if self._detect():
            self.drift_detected = True
            self.n_detections += 1
            n_after, before, after, start_t = self._estimate
            self.change = Change(
                detector=self.name,
                index=self.n_seen - 1,
                start_index=self.n_seen - n_after,
                direction=UP if after > before else DOWN,
                mean_before=before,
                mean_after=after,
                n=int(width_before),
                time=None if t is None else float(t),
                start_time=_nan_none(start_t),
            )

    def _best_boundary(self) -> tuple[int, float, float, float]:
        """The bucket boundary splitting the window into the two parts whose means differ
        most significantly (``n0 n1 / n (mu0 - mu1)**2``): the newer part's length, both
        means and the time of its first value."""
        n0, n1, u0, u1 = 0.0, self._width, 0.0, self._total
        best = (-1.0, int(self._width), math.nan, self.estimation, math.nan)
        for i in range(len(self._totals) - 1, -1, -1):
            size = float(2**i)
            row = self._totals[i]
            for k in range(len(row)):
                if n0 > 0.0:
                    mu0, mu1 = u0 / n0, u1 / n1
                    score = n0 * n1 / self._width * (mu0 - mu1) * (mu0 - mu1)
                    if score > best[0]:
                        best = (score, int(n1), mu0, mu1, self._times[i][k])
                n0 += size
                n1 -= size
                u0 += row[k]
                u1 -= row[k]
        return best[1], best[2], best[3], best[4]

    def _insert(self, x: float, t: float) -> None:
        self._totals[0].append(x)
        self._variances[0].append(0.0)
        self._times[0].append(t)
        # the streaming variance of river (and Babcock et al. 2003), in its order
        self._width += 1.0
        inc = 0.0
        if self._width > 1.0:
            d = x - self._total / (self._width - 1.0)
            inc = (self._width - 1.0) * d * d / self._width
        self._variance += inc
        self._total += x
        self._compress()

    def _compress(self) -> None:
        totals, variances, times = self._totals, self._variances, self._times
        i = 0
        while len(totals[i]) == self.max_buckets + 1:
            n1 = float(2**i)
            t0, t1 = totals[i][0], totals[i][1]
            mu1, mu2 = t0 / n1, t1 / n1
            v12 = variances[i][0] + variances[i][1] + n1 * 0.5 * (mu1 - mu2) * (mu1 - mu2)
            if i + 1 == len(totals):
                totals.append([])
                variances.append([])
                times.append([])
            totals[i + 1].append(t0 + t1)
            variances[i + 1].append(v12)
            times[i + 1].append(times[i][0])
            del totals[i][:2], variances[i][:2], times[i][:2]
            if len(totals[i + 1]) <= self.max_buckets:
                break
            i += 1

    def _delete_oldest(self) -> None:
        last = len(self._totals) - 1
        n = float(2**last)
        u = self._totals[last][0]
        v = self._variances[last][0]
        mu = u / n
        self._width -= n
        self._total -= u
        mu_window = self._total / self._width
        self._variance -= v + n * self._width * (mu - mu_window) * (mu - mu_window) / (
            n + self._width
        )
        del self._totals[last][0], self._variances[last][0], self._times[last][0]
        if not self._totals[last]:
            self._totals.pop()
            self._variances.pop()
            self._times.pop()

    def _detect(self) -> bool:
        detected = False
        self._tick += 1
        if self._tick % self.clock != 0 or self._width <= self.grace_period:
            return False
        m = float(self.min_window_length)
        reduce = True
        while reduce:
            reduce = False
            n0, n1, u0, u1 = 0.0, self._width, 0.0, self._total
            rows = len(self._totals)
            found = False
            for i in range(rows - 1, -1, -1):
                size = float(2**i)
                row = self._totals[i]
                last = len(row) - 1
                for k in range(len(row)):
                    n0 += size
                    n1 -= size
                    u0 += row[k]
                    u1 -= row[k]
                    if i == 0 and k == last:
                        break
                    if n1 >= m and n0 >= m and self._cut(n0, n1, (u0 / n0) - (u1 / n1)):
                        if not detected:  # the estimate looks at the whole window
                            self._estimate = self._best_boundary()
                        reduce = detected = found = True
                        if self._width > 0.0:
                            self._delete_oldest()
                        break
                if found:
                    break
        return detected

    def _cut(self, n0: float, n1: float, delta_mean: float) -> bool:
        m = float(self.min_window_length)
        delta_prime = math.log(2.0 * math.log(self._width) / self.delta)
        m_recip = 1.0 / (n0 - m + 1.0) + 1.0 / (n1 - m + 1.0)
        epsilon = (
            math.sqrt(2.0 * m_recip * (self._variance / self._width) * delta_prime)
            + 2.0 / 3.0 * delta_prime * m_recip
        )
        return abs(delta_mean) > epsilon

    # ---- state -----------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {
            "delta": self.delta,
            "clock": self.clock,
            "max_buckets": self.max_buckets,
            "min_window_length": self.min_window_length,
            "grace_period": self.grace_period,
        }

    def to_dict(self) -> dict[str, Any]:
        """Parameters and state as JSON-able values (bounded: the bucket summaries)."""
        return {
            "detector": self.name,
            "params": self.params(),
            "n_seen": self.n_seen,
            "n_detections": self.n_detections,
            "drift_detected": self.drift_detected,
            "change": None if self.change is None else self.change.to_dict(),
            "state": {
                "total": self._total,
                "variance": self._variance,
                "width": self._width,
                "tick": self._tick,
                "totals": self._totals,
                "variances": self._variances,
                "times": [[_json_float(t) for t in row] for row in self._times],
            },
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ADWIN:
        """Inverse of :meth:`to_dict`.

        >>> a = ADWIN(clock=1)
        >>> for x in [0.0] * 100:
        ...     a.update(x)
        >>> b = ADWIN.from_dict(a.to_dict())
        >>> for x in [1.0] * 60:
        ...     a.update(x); b.update(x)
        >>> b.to_dict() == a.to_dict(), a.n_detections
        (True, 1)
        """
        self = cls(**d["params"])
        self.n_seen = int(d["n_seen"])
        self.n_detections = int(d["n_detections"])
        self.drift_detected = bool(d["drift_detected"])
        self.change = None if d.get("change") is None else Change.from_dict(d["change"])
        s = d["state"]
        self._total = float(s["total"])
        self._variance = float(s["variance"])
        self._width = float(s["width"])
        self._tick = int(s["tick"])
        self._totals = [[float(v) for v in row] for row in s["totals"]]
        self._variances = [[float(v) for v in row] for row in s["variances"]]
        self._times = [[math.nan if v is None else float(v) for v in row] for row in s["times"]]
        return self
