"""The demo: a real model on a real dataset, simulated production traffic, a report.

``otel-ml demo`` runs it. The data side (:mod:`otel_ml.demo._data`) is reusable:
:func:`load_dataset`, :func:`split`, :func:`resample`, :func:`apply_shifts`
with the :data:`SCANNER_RECALIBRATION` covariate shift, and :func:`concept_change`.
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

__all__ = [
    "SCANNER_RECALIBRATION",
    "Dataset",
    "Shift",
    "apply_shifts",
    "concept_change",
    "load_dataset",
    "resample",
    "split",
]
