"""The demo's story: simulated time, phases of production traffic, delayed labels.

Production is a stream of biopsies scored by the model, window after window of
simulated time (60 s windows, the evaluator's smallest). It goes through three
phases:

1. **baseline** -- rows drawn from the whole dataset (:func:`~otel_ml.demo.resample`),
   as in training: nothing should fire;
2. **covariate shift** -- the imaging scanner is recalibrated
   (:data:`~otel_ml.demo.SCANNER_RECALIBRATION`: sizes read 20 % larger, noisier
   textures); the inputs drift, the model copes;
3. **concept change** -- the scanner is fixed (inputs look like training again),
   but a revised grading guideline re-labels part of the large, concave cases
   (:func:`~otel_ml.demo.concept_change`): nothing drifts in the inputs, yet the
   model's answers get worse -- only the joined labels can tell.

Labels (the pathologist's diagnosis) come back through ``record_outcome`` after a
random delay, some after the window has been evaluated (the evaluator evaluates it
again), and a few never.

Examples
--------
>>> s = Scenario.quick()
>>> [s.phase(i).value for i in range(s.n_windows)][::2]
['baseline', 'baseline', 'covariate_shift', 'covariate_shift', 'concept_change', 'concept_change']
>>> s.rows_per_window, s.window_seconds
(400, 60.0)
>>> clock = SimulatedClock(120.5)
>>> clock.now_ns()
120500000000
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass

import numpy as np

from otel_ml._errors import ConfigurationError
from otel_ml.demo._data import (
    SCANNER_RECALIBRATION,
    Dataset,
    apply_shifts,
    concept_change,
    resample,
)

__all__ = ["Phase", "Scenario", "SimulatedClock", "Traffic"]


class Phase(str, enum.Enum):
    """What production looks like in a window."""

    BASELINE = "baseline"
    COVARIATE_SHIFT = "covariate_shift"
    CONCEPT_CHANGE = "concept_change"

    @property
    def description(self) -> str:
        return {
            Phase.BASELINE: "baseline",
            Phase.COVARIATE_SHIFT: "scanner recalibrated (covariate shift)",
            Phase.CONCEPT_CHANGE: "new grading guideline (concept change)",
        }[self]


@dataclass(frozen=True)
class Scenario:
    """How long each phase lasts and how much traffic and labelling there is.

    Windows ``[0, shift_start)`` are baseline, ``[shift_start, concept_start)`` the
    covariate shift, ``[concept_start, n_windows)`` the concept change. Each window
    holds ``calls_per_window`` predict calls of ``rows_per_call`` rows, spread over
    ``steps_per_window`` steps; after each step the SDK exports and the evaluator
    looks at the clock. A ``label_fraction`` of the rows get their label back,
    ``label_delay`` seconds (uniform range) after the prediction.
    """

    n_windows: int = 18
    shift_start: int = 6
    concept_start: int = 12
    window_seconds: float = 60.0
    grace_seconds: float = 30.0
    calls_per_window: int = 24
    rows_per_call: int = 25
    steps_per_window: int = 6
    label_fraction: float = 0.9
    label_delay: tuple[float, float] = (5.0, 50.0)
    flip: float = 0.6
    drift: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.shift_start <= self.concept_start <= self.n_windows:
            raise ConfigurationError(
                "Scenario: need 0 < shift_start <= concept_start <= n_windows, got "
                f"{self.shift_start}, {self.concept_start}, {self.n_windows}"
            )
        if self.calls_per_window % self.steps_per_window:
            raise ConfigurationError(
                "Scenario.calls_per_window must be a multiple of steps_per_window"
            )

    @classmethod
    def quick(cls, *, drift: bool = True) -> Scenario:
        """The short run (tests, ``--quick``): 12 windows of 400 rows."""
        return cls(
            n_windows=12,
            shift_start=4,
            concept_start=8,
            calls_per_window=16,
            drift=drift,
            steps_per_window=4,
        )

    @property
    def rows_per_window(self) -> int:
        return self.calls_per_window * self.rows_per_call

    @property
    def step_seconds(self) -> float:
        return self.window_seconds / self.steps_per_window

    def phase(self, window: int) -> Phase:
        """The phase of window number ``window`` (0-based)."""
        if not self.drift or window < self.shift_start:
            return Phase.BASELINE
        if window < self.concept_start:
            return Phase.COVARIATE_SHIFT
        return Phase.CONCEPT_CHANGE


class SimulatedClock:
    """The demo's time: Unix seconds that jump where the simulation says.

    Read by the SDK (:func:`otel_ml.instrumentation.use_clock` with
    :meth:`now_ns`), the embedded evaluator and the alert engine.
    """

    def __init__(self, start: float) -> None:
        self._t = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._t

    def now_ns(self) -> int:
        with self._lock:
            return round(self._t * 1e9)

    def set(self, t: float) -> None:
        with self._lock:
            self._t = float(t)


class Traffic:
    """Batches of production rows for a window's phase (features and true labels).

    ``whole`` is the dataset rows are drawn from (the whole dataset: drawing from the
    held-out part alone would make its chance differences from the training split
    look like drift, see :mod:`otel_ml.demo._data`); ``reference`` scales the shifts.
    """

    def __init__(
        self, whole: Dataset, reference: Dataset, rng: np.random.Generator, *, flip: float
    ) -> None:
        self.whole = whole
        self.reference = reference
        self.rng = rng
        self.flip = flip

    def batch(self, phase: Phase, n_rows: int) -> Dataset:
        rows = resample(self.whole, n_rows, self.rng)
        if phase is Phase.COVARIATE_SHIFT:
            rows = apply_shifts(rows, SCANNER_RECALIBRATION, self.rng, reference=self.reference)
        elif phase is Phase.CONCEPT_CHANGE:
            rows = concept_change(rows, self.rng, flip=self.flip)
        return rows
