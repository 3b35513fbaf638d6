"""The demo: a real model on a real dataset, simulated production traffic, a report.

``otel-ml demo`` runs it (:mod:`otel_ml.demo._command`). The pieces are reusable:

- data (:mod:`otel_ml.demo._data`): :func:`load_dataset`, :func:`split`,
  :func:`resample`, :func:`apply_shifts` with the :data:`SCANNER_RECALIBRATION`
  covariate shift, and :func:`concept_change`;
- the story (:mod:`otel_ml.demo._scenario`): :class:`Scenario` (phases, traffic,
  label delays), :class:`Phase`, :class:`SimulatedClock`;
- the run (:mod:`otel_ml.demo._run`): :func:`run_demo` with :class:`DemoOptions`,
  returning a :class:`DemoResult` of :class:`WindowSummary` rows and alert
  transitions, from which the console summary, ``summary.json`` and ``report.html``
  are made.
"""

from otel_ml.demo._data import (
    SCANNER_RECALIBRATION,
    Dataset,
    Shift,
    apply_shifts,
    concept_change,
    load_dataset,
    resample,
    split,
)
from otel_ml.demo._findings import WindowSummary
from otel_ml.demo._run import DemoOptions, DemoResult, run_demo
from otel_ml.demo._scenario import Phase, Scenario, SimulatedClock

__all__ = [
    "SCANNER_RECALIBRATION",
    "Dataset",
    "DemoOptions",
    "DemoResult",
    "Phase",
    "Scenario",
    "Shift",
    "SimulatedClock",
    "WindowSummary",
    "apply_shifts",
    "concept_change",
    "load_dataset",
    "resample",
    "run_demo",
    "split",
]
