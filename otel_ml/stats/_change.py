"""Sequential change detectors for a stream of numbers: Page-Hinkley and ADWIN.

The evaluator feeds them the per-prediction error of a model (0/1 errors of a
classifier, absolute errors of a regressor) in prediction order, so that a
degradation is flagged as soon as the evidence is there instead of at the end of a
window. Standard library only; the parameters, their defaults and the detection
indices are those of river's ``drift.PageHinkley`` and ``drift.ADWIN`` (0.26), which
the tests check on the same streams (``tests/stats/test_change_river.py``).

Both follow river's protocol: :meth:`update` one value at a time, then read
:attr:`drift_detected`; the update after a detection starts the detector afresh.
On top of river's, each detection is described by a :class:`Change`: where it was
found, where the new regime is estimated to begin, and the mean before and after.
An optional time ``t`` given with each value travels with it, so a change point is
also reported as a time. The state is bounded (Page-Hinkley: a few numbers; ADWIN:
at most ``max_buckets + 1`` summaries per power of two of the window length) and
round-trips through :meth:`to_dict` / ``from_dict`` (JSON), so a detector survives a
restart.

Examples
--------
>>> ph = PageHinkley(threshold=5.0)
>>> stream = [0.0] * 100 + [1.0] * 100
>>> found = [i for i, x in enumerate(stream) if ph.update(x) or ph.drift_detected]
>>> found
[105]
>>> c = ph.change
>>> c.start_index, c.direction, round(c.mean_before, 3), round(c.mean_after, 3)
(100, 'up', 0.0, 1.0)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from otel_ml._errors import ConfigurationError

__all__ = ["ADWIN", "Change", "ChangeDetector", "PageHinkley", "detector_from_dict"]

PAGE_HINKLEY: Final = "page_hinkley"
ADWIN_NAME: Final = "adwin"
UP: Final = "up"
DOWN: Final = "down"
_MODES: Final = ("up", "down", "both")


def _bad(cls: str, field: str, problem: str, fix: str) -> ConfigurationError:
    return ConfigurationError(f"{cls}.{field}: {problem}; {fix}")


def _number(v: object) -> bool:
    """An int or float, not a bool (``threshold: true`` in YAML is a mistake, not 1)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _integer(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _nan_none(x: float) -> float | None:
    return None if math.isnan(x) else x


@dataclass(frozen=True)
class Change:
    """A change found by a detector.

    Attributes
    ----------
    detector
        ``"page_hinkley"`` or ``"adwin"``.
    index
        Index of the value at which it was found (0-based, counting every value the
        detector was given since it was created, across its restarts).
    start_index
        Estimated index of the first value of the new regime: the split of the values
        since the last restart whose two means differ most significantly (Page-Hinkley:
        among its ``history`` latest values; ADWIN: among the boundaries of its
        buckets, which are finer the more recent they are).
    direction
        ``"up"`` (the mean rose: more error) or ``"down"``.
    mean_before, mean_after
        Mean of the values before ``start_index`` (since the detector's last restart)
        and from it to ``index``.
    n
        Values seen since the detector's last restart (the evidence).
    time, start_time
        The ``t`` given with the values at ``index`` and ``start_index`` (``None``
        where none was given).
    """

    detector: str
    index: int
    start_index: int
    direction: str
    mean_before: float
    mean_after: float
    n: int
    time: float | None = None
    start_time: float | None = None

    @property
    def rising(self) -> bool:
        """Whether the mean rose (for an error stream: the model got worse)."""
        return self.direction == UP

    @property
    def delay(self) -> int:
        """Values between the estimated start and the detection (the detection delay)."""
        return self.index - self.start_index

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "index": self.index,
            "start_index": self.start_index,
            "direction": self.direction,
            "mean_before": self.mean_before,
            "mean_after": self.mean_after,
            "n": self.n,
            "time": self.time,
            "start_time": self.start_time,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Change:
        return cls(
            detector=str(d["detector"]),
            index=int(d["index"]),
            start_index=int(d["start_index"]),
            direction=str(d["direction"]),
            mean_before=float(d["mean_before"]),
            mean_after=float(d["mean_after"]),
            n=int(d["n"]),
            time=None if d.get("time") is None else float(d["time"]),
            start_time=None if d.get("start_time") is None else float(d["start_time"]),
        )


class PageHinkley:
    """Page-Hinkley test on the mean of a stream (river's ``drift.PageHinkley``).

    With the running mean ``m_t`` of the values since the last restart, it keeps
    ``U_t = alpha * U_{t-1} + (x_t - m_t) - delta`` and ``D_t = alpha * D_{t-1} +
    (x_t - m_t) + delta``, and signals once ``min_instances`` values were seen and
    ``U_t - min(U)`` (a rise) or ``max(D) - D_t`` (a fall) exceeds ``threshold``.

    Parameters
    ----------
    min_instances
        Values before a change can be signalled.
    delta
        Magnitude of change tolerated (in the units of the values).
    threshold
        The detection threshold (lambda), in the units of the values: the cumulative
        excess over the mean that signals a change.
    alpha
        Forgetting factor of the cumulative sums (1: no forgetting).
    mode
        ``"up"`` (rises only: more error), ``"down"`` or ``"both"``.
    history
        Not river's: the latest values kept (since the last restart) to estimate where
        a detected change began, as the split of them whose two means differ most
        significantly (the likelihood-ratio split of a mean shift). Detection does
        not depend on it.

    Examples
    --------
    river's own example (the same stream, the same index):

    >>> import random
    >>> rng = random.Random(12345)
    >>> ph = PageHinkley()
    >>> data_stream = rng.choices([0, 1], k=1000) + rng.choices(range(4, 8), k=1000)
    >>> for i, val in enumerate(data_stream):
    ...     ph.update(val)
    ...     if ph.drift_detected:
    ...         print(f"Change detected at index {i}, input value: {val}")
    Change detected at index 1006, input value: 5
    >>> ph.change.start_index, ph.change.direction
    (1000, 'up')
    """

    name: Final = PAGE_HINKLEY

    def __init__(
        self,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
        history: int = 2000,
    ) -> None:
        cls = "PageHinkley"
        if not _integer(min_instances) or min_instances < 1:
            raise _bad(cls, "min_instances", f"got {min_instances!r}", "give an integer >= 1")
        if not (_number(delta) and math.isfinite(delta) and delta >= 0):
            raise _bad(cls, "delta", f"got {delta!r}", "give a finite number >= 0")
        if not (_number(threshold) and math.isfinite(threshold) and threshold > 0):
            raise _bad(cls, "threshold", f"got {threshold!r}", "give a finite number > 0")
        if not (_number(alpha) and 0 < alpha <= 1):
            raise _bad(cls, "alpha", f"got {alpha!r}", "give a number in (0, 1]")
        if mode not in _MODES:
            raise _bad(cls, "mode", f"got {mode!r}", "use up, down or both")
        if not _integer(history) or history < 2:
            raise _bad(cls, "history", f"got {history!r}", "give an integer >= 2")
        self.min_instances = min_instances
        self.delta = float(delta)
        self.threshold = float(threshold)
        self.alpha = float(alpha)
        self.mode = mode
        self.history = history
        self.n_seen = 0  # values since creation (indices of Change)
        self.n_detections = 0
        self.drift_detected = False
        self.change: Change | None = None
        self._reset()

    def _reset(self) -> None:
        self.drift_detected = False
        self._n = 0.0
        self._mean = 0.0
        self._sum = 0.0  # of the values since the restart
        self._sum_increase = 0.0
        self._sum_decrease = 0.0
        self._min_increase = math.inf
        self._max_decrease = -math.inf
        # the latest values since the restart (the change-point estimate)
        self._recent: deque[float] = deque(maxlen=self.history)
        self._recent_t: deque[float] = deque(maxlen=self.history)

    def update(self, x: float, t: float | None = None) -> None:
        """Add one value (``t``: its time, carried into :attr:`change`)."""
        if self.drift_detected:
            self._reset()
        x = float(x)
        tt = math.nan if t is None else float(t)
        i = self.n_seen
        self.n_seen += 1
        # the order of operations is river's (stats.Mean, then the two sums)
        self._n += 1.0
        self._mean += (1.0 / self._n) * (x - self._mean)
        dev = x - self._mean
        self._sum_increase = self.alpha * self._sum_increase + dev - self.delta
        self._sum_decrease = self.alpha * self._sum_decrease + dev + self.delta
        self._min_increase = min(self._min_increase, self._sum_increase)
        self._max_decrease = max(self._max_decrease, self._sum_decrease)
        self._sum += x
        self._recent.append(x)
        self._recent_t.append(tt)
        if self._n < self.min_instances:
            return
        up = self.mode != DOWN and self._sum_increase - self._min_increase > self.threshold
        down = self.mode != UP and self._max_decrease - self._sum_decrease > self.threshold
        if not (up or down):
            return
        self.drift_detected = True
        self.n_detections += 1
        k = _best_split(list(self._recent), up=up)
        n_after = len(self._recent) - k
        s_after = math.fsum(list(self._recent)[k:])
        n_before = int(self._n) - n_after
        self.change = Change(
            detector=self.name,
            index=i,
            start_index=i + 1 - n_after,
            direction=UP if up else DOWN,
            mean_before=(self._sum - s_after) / n_before if n_before else math.nan,
            mean_after=s_after / n_after,
            n=int(self._n),
            time=_nan_none(tt),
            start_time=_nan_none(self._recent_t[k]),
        )

    # ---- state -----------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {
            "min_instances": self.min_instances,
            "delta": self.delta,
            "threshold": self.threshold,
            "alpha": self.alpha,
            "mode": self.mode,
            "history": self.history,
        }

    def to_dict(self) -> dict[str, Any]:
        """Parameters and state as JSON-able values (NaN and infinities as ``None``)."""
        state = {k: v for k, v in vars(self).items() if k.startswith("_") and k not in _DEQUES}
        return {
            "detector": self.name,
            "params": self.params(),
            "n_seen": self.n_seen,
            "n_detections": self.n_detections,
            "drift_detected": self.drift_detected,
            "change": None if self.change is None else self.change.to_dict(),
            "state": {k: _json_float(v) for k, v in state.items()},
            "recent": list(self._recent),
            "recent_t": [_json_float(t) for t in self._recent_t],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PageHinkley:
        """Inverse of :meth:`to_dict`.

        >>> ph = PageHinkley(threshold=3.0)
        >>> for x in [0.0] * 40 + [1.0] * 3:
        ...     ph.update(x)
        >>> copy = PageHinkley.from_dict(ph.to_dict())
        >>> for x in [1.0] * 10:
        ...     ph.update(x); copy.update(x)
        >>> copy.to_dict() == ph.to_dict()
        True
        """
        self = cls(**d["params"])
        self.n_seen = int(d["n_seen"])
        self.n_detections = int(d["n_detections"])
        self.drift_detected = bool(d["drift_detected"])
        self.change = None if d.get("change") is None else Change.from_dict(d["change"])
        for k, v in d["state"].items():
            default = getattr(self, k)
            setattr(self, k, _from_json_float(v, default))
        self._recent.extend(float(v) for v in d["recent"])
        self._recent_t.extend(math.nan if v is None else float(v) for v in d["recent_t"])
        return self


_DEQUES: Final = ("_recent", "_recent_t")


def _best_split(values: Sequence[float], *, up: bool) -> int:
    """The index ``k`` (``1 <= k < len(values)``) splitting ``values`` into the two parts
    whose means differ most significantly (``k (n - k) / n * (mean_b - mean_a)**2``), the
    later part's mean above the earlier one's (``up``) or below; ``len - 1`` if none is.

    >>> _best_split([0, 0, 0, 1, 0, 1, 1, 1], up=True)
    3
    >>> _best_split([1, 1, 0, 0], up=False)
    2
    """
    n = len(values)
    total = math.fsum(values)
    best, best_k, head = 0.0, n - 1, 0.0
    for k in range(1, n):
        head += values[k - 1]
        diff = (total - head) / (n - k) - head / k
        if (diff > 0) != up or diff == 0:
            continue
        score = k * (n - k) / n * diff * diff
        if score > best:
            best, best_k = score, k
    return best_k


def _json_float(v: object) -> object:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _from_json_float(v: object, default: object) -> object:
    if isinstance(default, float):
        if v is None:
            return math.nan
        return float(v)  # type: ignore[arg-type]  # "inf" / "-inf" / a number
    return v


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


ChangeDetector = PageHinkley | ADWIN
"""Either detector: both have ``update(x, t)``, ``drift_detected``, ``change``,
``n_seen``, ``params()``, ``to_dict()``."""


def detector_from_dict(d: Mapping[str, Any]) -> ChangeDetector:
    """A detector back from its :meth:`to_dict` form (either kind).

    >>> type(detector_from_dict(ADWIN().to_dict())).__name__
    'ADWIN'
    """
    if d.get("detector") == PAGE_HINKLEY:
        return PageHinkley.from_dict(d)
    if d.get("detector") == ADWIN_NAME:
        return ADWIN.from_dict(d)
    raise ValueError(f"not a change detector's state: detector={d.get('detector')!r}")
