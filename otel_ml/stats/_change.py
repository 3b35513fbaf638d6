"""What the sequential change detectors share (:mod:`otel_ml.stats._detectors` is the
overview): the :class:`Change` a detection is described by, the detectors' names and
directions, and the checks of their parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from otel_ml._errors import ConfigurationError

__all__ = ["ADWIN_NAME", "DOWN", "PAGE_HINKLEY", "UP", "Change"]

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


def _json_float(v: object) -> object:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v

