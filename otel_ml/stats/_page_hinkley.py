"""The Page-Hinkley test on the mean of a stream (river's ``drift.PageHinkley``); the
overview of the change detectors is :mod:`otel_ml.stats._detectors`."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, Final

from otel_ml.stats._change import (
    _MODES,
    DOWN,
    PAGE_HINKLEY,
    UP,
    Change,
    _bad,
    _integer,
    _json_float,
    _nan_none,
    _number,
)

__all__ = ["PageHinkley"]


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



def _from_json_float(v: object, default: object) -> object:
    if isinstance(default, float):
        if v is None:
            return math.nan
        return float(v)  # type: ignore[arg-type]  # "inf" / "-inf" / a number
    return v

