"""What one model accumulated during one export interval (all mergeable, all bounded).

Examples
--------
>>> w = ModelWindow()
>>> w.add_call(0.002, rows=3, error_type=None)
>>> w.add_call(0.5, rows=0, error_type="ValueError")
>>> other = ModelWindow(); other.add_call(0.01, rows=1, error_type=None)
>>> w.merge(other)
>>> w.calls, w.rows, dict(w.errors), w.duration.count, w.failed_durations["ValueError"].count
(3, 4, {'ValueError': 1}, 2, 1)
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass, field

from otel_ml import semconv
from otel_ml.sketch import CategoricalSketch, NumericSketch

__all__ = ["DURATION_BOUNDS", "DurationHistogram", "ModelKey", "ModelWindow", "bounded_add"]

#: Explicit bucket bounds (seconds) of ``ml.predict.duration``: from 100 µs to 10 s.
DURATION_BOUNDS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip

#: At most this many error types per model per interval; others count as "_OTHER".
MAX_ERROR_TYPES = 50


@dataclass(frozen=True)
class ModelKey:
    model: str
    version: str


@dataclass
class DurationHistogram:
    """Explicit-bucket histogram of call durations (what an SDK Histogram would hold)."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BOUNDS) + 1))
    count: int = 0
    sum: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    def add(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(DURATION_BOUNDS, seconds)] += 1
        self.count += 1
        self.sum += seconds
        if seconds < self.min:
            self.min = seconds
        if seconds > self.max:
            self.max = seconds

    def merge(self, other: DurationHistogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)


def bounded_add(counts: Counter[str], key: str, n: int, limit: int) -> None:
    """Add ``n`` to ``counts[key]``, folding new keys past ``limit`` into the overflow key."""
    if key not in counts and len(counts) >= limit:
        key = semconv.OVERFLOW_CATEGORY
    counts[key] += n


@dataclass
class ModelWindow:
    """Counters, duration histogram and sketches of one (model, version) over an interval.

    Keys of ``quality`` are ``(feature name or "", issue)``; ``""`` is a schema
    issue not tied to one feature.
    """

    calls: int = 0
    rows: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    #: durations of the calls that returned; failed calls by ``error.type`` (bounded as
    #: ``errors``), so ``ml.predict.duration`` carries ``error.type`` on failures
    duration: DurationHistogram = field(default_factory=DurationHistogram)
    failed_durations: dict[str, DurationHistogram] = field(default_factory=dict)
    numeric: dict[str, NumericSketch] = field(default_factory=dict)
    categorical: dict[str, CategoricalSketch] = field(default_factory=dict)
    predictions: dict[str, NumericSketch] = field(default_factory=dict)
    classes: Counter[str] = field(default_factory=Counter)
    quality: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add_call(self, seconds: float, *, rows: int, error_type: str | None) -> None:
        self.calls += 1
        self.rows += rows
        if error_type is None:
            self.duration.add(seconds)
        else:
            bounded_add(self.errors, error_type, 1, MAX_ERROR_TYPES)
            self._failed(error_type).add(seconds)

    def _failed(self, error_type: str) -> DurationHistogram:
        if error_type not in self.failed_durations and error_type not in self.errors:
            error_type = semconv.OVERFLOW_CATEGORY  # folded into the overflow, as in errors
        h = self.failed_durations.get(error_type)
        if h is None:
            h = self.failed_durations[error_type] = DurationHistogram()
        return h

    def is_empty(self) -> bool:
        return self.calls == 0 and not (
            self.numeric or self.categorical or self.predictions or self.classes or self.quality
        )

    def merge(
        self,
        other: ModelWindow,
        *,
        max_features: int = 1000,
        max_classes: int = 100,
        adopt: bool = False,
    ) -> None:
        """Add ``other`` into this window.

        Sketches are merged, or copied when new here; with ``adopt=True`` new ones are
        taken over instead of copied (the caller gives ``other`` up).
        """
        self.calls += other.calls
        self.rows += other.rows
        for k, v in other.errors.items():
            bounded_add(self.errors, k, v, MAX_ERROR_TYPES)
        self.duration.merge(other.duration)
        for k, h in other.failed_durations.items():
            self._failed(k).merge(h)
        for name, s in other.numeric.items():
            mine = self.numeric.get(name)
            if mine is not None:
                mine.merge(s)
            elif len(self.numeric) + len(self.categorical) < max_features:
                self.numeric[name] = s if adopt else s.copy()
        for name, c in other.categorical.items():
            cmine = self.categorical.get(name)
            if cmine is not None:
                cmine.merge(c)
            elif len(self.numeric) + len(self.categorical) < max_features:
                self.categorical[name] = c if adopt else c.copy()
        for name, s in other.predictions.items():
            pmine = self.predictions.get(name)
            if pmine is not None:
                pmine.merge(s)
            elif len(self.predictions) < max_classes + 1 or (
                # a multiclass output's argmax:<class> streams, one per class column
                name.startswith(semconv.PREDICTION_OUTPUT_ARGMAX_PREFIX)
                and len(self.predictions) < 2 * max_classes + 1
            ):
                self.predictions[name] = s if adopt else s.copy()
        for k, v in other.classes.items():
            bounded_add(self.classes, k, v, max_classes)
        self.quality.update(other.quality)
