"""What the evaluator computes for one window of one model version: a :class:`ModelReport`.

Frozen dataclasses, with :meth:`ModelReport.to_dict` / :meth:`ModelReport.from_dict`
(the JSON the API serves and the store keeps) and :meth:`ModelReport.observations`
(what the alert engine receives).

Examples
--------
>>> r = ModelReport(model="m", version="1", window_start=0.0, window_end=60.0, n_rows=10,
...                 verdict_ready=False)
>>> ModelReport.from_dict(r.to_dict()) == r
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from otel_ml.alerting import Observation, ObservationKind
from otel_ml.stats import DriftPolicy, DriftReport, FeatureDrift

__all__ = [
    "FeatureReport",
    "ModelReport",
    "OperationsReport",
    "PerformanceReport",
    "QualityRate",
]


def _num(x: float | None) -> float | None:
    """JSON has no NaN: NaN and infinities become null."""
    return None if x is None or not math.isfinite(x) else float(x)


def _nan(x: object) -> float:
    return math.nan if x is None else float(x)  # type: ignore[arg-type]


@dataclass(frozen=True)
class QualityRate:
    """``count`` values of ``feature`` (``""``: the whole row / schema) with ``issue``;
    ``rate = count / rows``; ``reference_rate`` where the reference knows it."""

    feature: str
    issue: str
    count: float
    rate: float
    reference_rate: float | None = None


@dataclass(frozen=True)
class FeatureReport:
    """A feature (or prediction output) in the window: its size, drift verdict and summary.

    ``drift`` is ``None`` when there is no verdict (no reference, too few rows), and
    ``reason`` then says why.
    """

    name: str
    kind: str
    n: int
    drift: FeatureDrift | None = None
    reason: str = ""
    mean: float | None = None
    p50: float | None = None
    reference_mean: float | None = None


@dataclass(frozen=True)
class PerformanceReport:
    """The label join for the window's predictions (by prediction time).

    ``metrics`` is empty while no prediction of the window has its label;
    ``coverage = n_labelled / n_predicted``; delays are outcome time minus
    prediction time, in seconds. Metrics and delays come from ``n_sampled`` rows:
    all the labelled rows, or a uniform sample of them in very large windows
    (``Store.max_labelled``), so memory stays bounded.
    """

    task: str  # classification | regression
    metrics: Mapping[str, float]
    n_labelled: int
    n_predicted: int
    coverage: float
    delay_p50: float | None
    delay_p95: float | None
    n_sampled: int = 0


@dataclass(frozen=True)
class OperationsReport:
    """Calls, errors and latency from the SDK's counters and duration histogram."""

    calls: float = 0.0
    rows: float = 0.0
    errors: Mapping[str, float] = field(default_factory=dict)
    error_rate: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None


@dataclass(frozen=True)
class ModelReport:
    """Everything computed for one window of one model version."""

    model: str
    version: str
    window_start: float
    window_end: float
    n_rows: int
    verdict_ready: bool
    reference: str | None = None
    features: tuple[FeatureReport, ...] = ()
    predictions: tuple[FeatureReport, ...] = ()
    quality: tuple[QualityRate, ...] = ()
    performance: PerformanceReport | None = None
    operations: OperationsReport = OperationsReport()
    trace_ids: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.drift is not None and f.drift.drifted)

    def drift_report(self, policy: DriftPolicy) -> DriftReport:
        """The window's verdicts as the :class:`~otel_ml.stats.DriftReport` that
        :mod:`otel_ml.report` draws (features without a verdict are left out)."""
        return DriftReport.of(
            [f.drift for f in self.features if f.drift is not None],
            policy,
            predictions=[f.drift for f in self.predictions if f.drift is not None],
        )

    # ---- JSON -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        def feat(f: FeatureReport) -> dict[str, Any]:
            d = {k: v for k, v in asdict(f).items() if k != "drift"}
            for k in ("mean", "p50", "reference_mean"):
                d[k] = _num(d[k])
            d["drift"] = None if f.drift is None else f.drift.to_dict()
            return d

        def perf(p: PerformanceReport | None) -> dict[str, Any] | None:
            if p is None:
                return None
            d = asdict(p)
            d["metrics"] = {k: _num(v) for k, v in p.metrics.items()}
            return d

        ops = asdict(self.operations)
        return {
            "model": self.model,
            "version": self.version,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "n_rows": self.n_rows,
            "verdict_ready": self.verdict_ready,
            "reference": self.reference,
            "drifted_features": list(self.drifted_features),
            "features": [feat(f) for f in self.features],
            "predictions": [feat(f) for f in self.predictions],
            "quality": [asdict(q) for q in self.quality],
            "performance": perf(self.performance),
            "operations": ops,
            "trace_ids": list(self.trace_ids),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelReport:
        def feat(x: Mapping[str, Any]) -> FeatureReport:
            return FeatureReport(
                name=x["name"],
                kind=x["kind"],
                n=int(x["n"]),
                drift=None if x["drift"] is None else FeatureDrift.from_dict(x["drift"]),
                reason=x.get("reason", ""),
                mean=x.get("mean"),
                p50=x.get("p50"),
                reference_mean=x.get("reference_mean"),
            )

        def perf(x: Mapping[str, Any] | None) -> PerformanceReport | None:
            if x is None:
                return None
            return PerformanceReport(
                task=x["task"],
                metrics={k: _nan(v) for k, v in x["metrics"].items()},
                n_labelled=int(x["n_labelled"]),
                n_predicted=int(x["n_predicted"]),
                coverage=float(x["coverage"]),
                delay_p50=x["delay_p50"],
                delay_p95=x["delay_p95"],
                n_sampled=int(x.get("n_sampled", x["n_labelled"])),
            )

        o = d["operations"]
        return cls(
            model=d["model"],
            version=d["version"],
            window_start=float(d["window_start"]),
            window_end=float(d["window_end"]),
            n_rows=int(d["n_rows"]),
            verdict_ready=bool(d["verdict_ready"]),
            reference=d.get("reference"),
            features=tuple(feat(x) for x in d["features"]),
            predictions=tuple(feat(x) for x in d["predictions"]),
            quality=tuple(QualityRate(**q) for q in d["quality"]),
            performance=perf(d.get("performance")),
            operations=OperationsReport(
                calls=o["calls"],
                rows=o["rows"],
                errors=dict(o["errors"]),
                error_rate=o["error_rate"],
                latency_p50=o["latency_p50"],
                latency_p95=o["latency_p95"],
            ),
            trace_ids=tuple(d.get("trace_ids", ())),
            notes=tuple(d.get("notes", ())),
        )

    # ---- alerting ---------------------------------------------------------------------
    def observations(self) -> list[Observation]:
        """The values the alert engine judges for this window."""
        base = dict(
            model=self.model,
            version=self.version or None,
            window_start=self.window_start,
            window_end=self.window_end,
            reference=self.reference,
            trace_ids=self.trace_ids,
        )
        out: list[Observation] = []
        for kind, feats in (
            (ObservationKind.FEATURE_DRIFT, self.features),
            (ObservationKind.PREDICTION_DRIFT, self.predictions),
        ):
            for f in feats:
                d = f.drift
                if d is None or not math.isfinite(d.statistic):
                    continue
                out.append(
                    Observation(
                        kind=kind,
                        value=d.statistic,
                        n_rows=d.n_current,
                        metric=d.method,
                        feature=f.name,
                        verdict=d.drifted,
                        p_value=d.p_value if math.isfinite(d.p_value) else None,
                        details={k: v for k, v in d.statistics.items() if math.isfinite(v)},
                        **base,  # type: ignore[arg-type]
                    )
                )
        for q in self.quality:
            out.append(
                Observation(
                    kind=ObservationKind.DATA_QUALITY,
                    value=q.rate,
                    n_rows=self.n_rows,
                    metric=q.issue,
                    feature=q.feature or None,
                    details={} if q.reference_rate is None else {"reference": q.reference_rate},
                    **base,  # type: ignore[arg-type]
                )
            )
        ops = self.operations
        if ops.calls > 0 and ops.latency_p95 is not None:
            out.append(
                Observation(
                    kind=ObservationKind.LATENCY_P95,
                    value=ops.latency_p95,
                    n_rows=int(ops.calls),
                    **base,  # type: ignore[arg-type]
                )
            )
        if ops.calls > 0 and ops.error_rate is not None:
            out.append(
                Observation(
                    kind=ObservationKind.ERROR_RATE,
                    value=ops.error_rate,
                    n_rows=int(ops.calls),
                    **base,  # type: ignore[arg-type]
                )
            )
        perf = self.performance
        if perf is not None:
            for name, value in perf.metrics.items():
                if math.isfinite(value):
                    out.append(
                        Observation(
                            kind=ObservationKind.PERFORMANCE,
                            value=value,
                            n_rows=perf.n_labelled,
                            metric=name,
                            **base,  # type: ignore[arg-type]
                        )
                    )
        lab = self.performance
        if lab is not None and lab.n_predicted > 0:
            out.append(
                Observation(
                    kind=ObservationKind.LABEL_COVERAGE,
                    value=lab.coverage,
                    n_rows=lab.n_predicted,
                    **base,  # type: ignore[arg-type]
                )
            )
        return out
