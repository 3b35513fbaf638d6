"""Tumbling time windows and the data of one window, as :func:`evaluate` reads it.

Windows are aligned on the Unix epoch: with ``size = 300`` s the windows are
``[0, 300)``, ``[300, 600)``, ... A data point belongs to the window holding the
end of its interval (a delta point covering ``(t0, t1]`` goes to the window of
``t1`` minus one nanosecond, so a point ending exactly on a boundary belongs to
the window it closes). A window is *closed* ``grace`` seconds after its end; it is
evaluated then, and again whenever late data or labels arrive for it.

Examples
--------
>>> w = Windowing(size=60.0, grace=5.0)
>>> w.start_of_ns(60_000_000_000), w.start_of_ns(60_000_000_001)
(0.0, 60.0)
>>> w.is_closed(0.0, now=64.0), w.is_closed(0.0, now=65.0)
(False, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from otel_ml._errors import ConfigurationError
from otel_ml.evaluator._records import ExplicitBuckets
from otel_ml.sketch import CategoricalSketch, NumericSketch

if TYPE_CHECKING:
    from otel_ml.evaluator._report import FoundChange

__all__ = ["LabelledRows", "WindowData", "WindowKey", "Windowing"]


@dataclass(frozen=True)
class Windowing:
    """Tumbling windows of ``size`` seconds, closed ``grace`` seconds after they end."""

    size: float
    grace: float = 0.0

    def __post_init__(self) -> None:
        if not self.size > 0:
            raise ConfigurationError(f"windows.size must be positive, got {self.size}")
        if self.grace < 0:
            raise ConfigurationError(f"windows.grace cannot be negative, got {self.grace}")

    def start_of(self, t: float) -> float:
        """Start of the window holding Unix time ``t`` (seconds)."""
        return math.floor(t / self.size) * self.size

    def start_of_ns(self, t_unix_nano: int) -> float:
        """Start of the window a point ending at ``t_unix_nano`` belongs to."""
        return self.start_of(max(t_unix_nano - 1, 0) / 1e9)

    def end_of(self, start: float) -> float:
        return start + self.size

    def is_closed(self, start: float, *, now: float) -> bool:
        return now >= start + self.size + self.grace

    def closed_before(self, now: float) -> float:
        """Windows starting strictly before this time are closed at ``now``."""
        return now - self.grace - self.size


@dataclass(frozen=True, order=True)
class WindowKey:
    """One model version's window. ``version`` is ``"unknown"`` when points carried none."""

    model: str
    version: str
    start: float
    end: float


@dataclass(frozen=True)
class LabelledRows:
    """Predictions of the window (by prediction time) whose outcome has arrived.

    Parallel tuples, one entry per prediction id. ``scores`` is NaN where the
    prediction carried no score; ``predicted`` is ``None`` where it carried no class;
    ``actual_values`` is NaN where the outcome was a class (then ``actual_labels``
    holds it). ``n_total`` is the number of labelled predictions of the window; the
    tuples hold all of them or, beyond the store's ``max_labelled``, a uniform sample.
    """

    ids: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()
    predicted: tuple[str | None, ...] = ()
    actual_labels: tuple[str | None, ...] = ()
    actual_values: tuple[float, ...] = ()
    delays: tuple[float, ...] = ()
    n_total: int = -1

    def __post_init__(self) -> None:
        if self.n_total < 0:
            object.__setattr__(self, "n_total", len(self.ids))

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class WindowData:
    """Everything stored for one window: the input of :func:`evaluate`.

    Counters are the window's deltas summed over replicas. ``quality`` maps
    ``(feature or "", issue)`` to a count of values; ``errors`` maps ``error.type``
    to failed calls; ``duration`` is the merged ``ml.predict.duration`` histogram.
    ``n_predicted`` counts prediction ids (events) with a prediction time in the window;
    ``n_dropped`` the rows SDKs reported dropped in it (never sent), ``n_labels_dropped``
    the labels that arrived for those.
    """

    key: WindowKey
    numeric: Mapping[str, NumericSketch] = field(default_factory=dict)
    categorical: Mapping[str, CategoricalSketch] = field(default_factory=dict)
    predictions: Mapping[str, NumericSketch] = field(default_factory=dict)
    prediction_classes: CategoricalSketch | None = None
    calls: float = 0.0
    rows: float = 0.0
    errors: Mapping[str, float] = field(default_factory=dict)
    quality: Mapping[tuple[str, str], float] = field(default_factory=dict)
    duration: ExplicitBuckets | None = None
    n_predicted: int = 0
    n_dropped: int = 0
    n_labels_dropped: int = 0
    labelled: LabelledRows = LabelledRows()
    trace_ids: tuple[str, ...] = ()
    #: Changes the detectors found at a prediction of the window, and the detectors run
    #: (empty: change detection off).
    changes: tuple[FoundChange, ...] = ()
    change_detectors: tuple[str, ...] = ()
