"""What one run of the demo served and found, per window.

:class:`WindowSummary` joins the truth (every served row, counted by the demo) with
the evaluator's findings (:class:`Found`, from its reports or from its API's history).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from otel_ml.demo._scenario import Phase, Scenario

if TYPE_CHECKING:
    from otel_ml.evaluator import ModelReport

__all__ = ["Found", "Truth", "WindowSummary", "summaries"]


@dataclass(frozen=True)
class WindowSummary:
    """One window of the run: what was served (truth) and what the evaluator found.

    ``accuracy`` and ``drifted`` are the evaluator's (NaN / empty without an embedded
    evaluator); ``true_accuracy`` is computed here from every served row;
    ``estimated_accuracy`` is the evaluator's estimate from the scores alone (CBPE).
    """

    index: int
    start: float
    end: float
    phase: Phase
    rows: int
    true_accuracy: float
    accuracy: float = math.nan
    labelled: int = 0
    coverage: float = math.nan
    drifted: tuple[str, ...] = ()
    psi: tuple[tuple[str, float], ...] = ()
    prediction_drifted: tuple[str, ...] = ()
    estimated_accuracy: float = math.nan


@dataclass
class Truth:
    """Rows served in a window and how many the model got right."""

    rows: int = 0
    correct: int = 0


@dataclass(frozen=True)
class Found:
    """What the evaluator found in one window."""

    accuracy: float = math.nan
    labelled: int = 0
    coverage: float = math.nan
    drifted: tuple[str, ...] = ()
    psi: tuple[tuple[str, float], ...] = ()
    prediction_drifted: tuple[str, ...] = ()
    estimated_accuracy: float = math.nan

    @classmethod
    def of_report(cls, r: ModelReport) -> Found:
        perf = r.performance
        return cls(
            accuracy=float(perf.values().get("accuracy", math.nan)) if perf else math.nan,
            labelled=perf.n_labelled if perf else 0,
            coverage=perf.coverage if perf else math.nan,
            drifted=r.drifted_features,
            psi=tuple(
                (f.name, float(f.drift.statistics.get("psi", f.drift.statistic)))
                for f in r.features
                if f.drift is not None
            ),
            prediction_drifted=tuple(
                f.name for f in r.predictions if f.drift is not None and f.drift.drifted
            ),
            estimated_accuracy=r.estimated.accuracy.value if r.estimated else math.nan,
        )

    @classmethod
    def of_history(cls, h: dict[str, Any]) -> Found:
        """From an entry of the API's report ``history`` (no PSI there)."""
        perf = h.get("performance") or {}
        acc = perf.get("accuracy")
        cov = h.get("label_coverage")
        est = ((h.get("estimated_performance") or {}).get("accuracy") or {}).get("value")
        return cls(
            accuracy=math.nan if acc is None else float(acc),
            labelled=0 if cov is None else round(float(cov) * int(h.get("n_rows", 0))),
            coverage=math.nan if cov is None else float(cov),
            drifted=tuple(h.get("drifted_features", ())),
            estimated_accuracy=math.nan if est is None else float(est),
        )


def summaries(
    sc: Scenario, t0: float, truths: list[Truth], found: dict[float, Found]
) -> list[WindowSummary]:
    out = []
    for i, truth in enumerate(truths):
        start = t0 + i * sc.window_seconds
        f = found.get(start, Found())
        out.append(
            WindowSummary(
                index=i,
                start=start,
                end=start + sc.window_seconds,
                phase=sc.phase(i),
                rows=truth.rows,
                true_accuracy=truth.correct / truth.rows if truth.rows else math.nan,
                accuracy=f.accuracy,
                labelled=f.labelled,
                coverage=f.coverage,
                drifted=f.drifted,
                psi=f.psi,
                prediction_drifted=f.prediction_drifted,
                estimated_accuracy=f.estimated_accuracy,
            )
        )
    return out
