"""``summary.json``: the demo's outcome for scripts and tests.

Per window: phase, rows, true and evaluator accuracy, the evaluator's accuracy
estimated from the scores without labels, labelled rows, drifted
features, PSI per feature; every alert transition (as the alert engine wrote it);
the endpoints; the run time.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from otel_ml.demo._run import DemoResult

__all__ = ["SUMMARY_FILE", "summary_dict", "write_summary"]

SUMMARY_FILE = "summary.json"


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def summary_dict(result: DemoResult) -> dict[str, Any]:
    sc = result.scenario
    return {
        "scenario": {
            "n_windows": sc.n_windows,
            "window_seconds": sc.window_seconds,
            "rows_per_window": sc.rows_per_window,
            "shift_start": sc.shift_start if sc.drift else None,
            "concept_start": sc.concept_start if sc.drift else None,
            "label_fraction": sc.label_fraction,
            "label_delay": list(sc.label_delay),
        },
        "start": result.start,
        "embedded_evaluator": result.embedded,
        "holdout_accuracy": result.holdout_accuracy,
        "n_train": result.n_train,
        "windows": [
            {
                "index": w.index,
                "start": w.start,
                "end": w.end,
                "phase": w.phase.value,
                "rows": w.rows,
                "true_accuracy": _num(w.true_accuracy),
                "accuracy": _num(w.accuracy),
                "estimated_accuracy": _num(w.estimated_accuracy),
                "labelled": w.labelled,
                "coverage": _num(w.coverage),
                "drifted_features": list(w.drifted),
                "prediction_drift": list(w.prediction_drifted),
                "psi": {name: _num(v) for name, v in w.psi},
            }
            for w in result.windows
        ],
        "alerts": [json.loads(t.to_json()) for t in result.alerts],
        "endpoints": result.endpoints,
        "seconds": result.seconds,
    }


def write_summary(result: DemoResult, path: Path) -> None:
    path.write_text(json.dumps(summary_dict(result), indent=1), encoding="utf-8")
