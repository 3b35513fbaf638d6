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
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from otel_ml.alerting import Observation, ObservationKind
from otel_ml.sketch import FeatureKind
from otel_ml.stats import (
    Change,
    ClassificationMetrics,
    DriftPolicy,
    DriftReport,
    EstimatedPerformance,
    FeatureDrift,
    Grade,
    MultivariateDrift,
    RegressionMetrics,
)

__all__ = [
    "FeatureReport",
    "FoundChange",
    "ModelReport",
    "OperationsReport",
    "PerformanceReport",
    "QualityRate",
    "change_observations",
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "issue": self.issue,
            "count": self.count,
            "rate": self.rate,
            "reference_rate": self.reference_rate,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QualityRate:
        return cls(d["feature"], d["issue"], d["count"], d["rate"], d.get("reference_rate"))


@dataclass(frozen=True)
class FeatureReport:
    """A feature (or prediction output) in the window: its size, drift verdict and summary.

    ``drift`` is ``None`` when there is no verdict (no reference, too few rows), and
    ``reason`` then says why.
    """

    name: str
    kind: FeatureKind
    n: int
    drift: FeatureDrift | None = None
    reason: str = ""
    mean: float | None = None
    p50: float | None = None
    reference_mean: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``drift`` is the :class:`~otel_ml.stats.FeatureDrift`'s own."""
        return {
            "name": self.name,
            "kind": self.kind.value,
            "n": self.n,
            "reason": self.reason,
            "mean": _num(self.mean),
            "p50": _num(self.p50),
            "reference_mean": _num(self.reference_mean),
            "drift": None if self.drift is None else self.drift.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureReport:
        return cls(
            name=d["name"],
            kind=FeatureKind(d["kind"]),
            n=int(d["n"]),
            drift=None if d["drift"] is None else FeatureDrift.from_dict(d["drift"]),
            reason=d.get("reason", ""),
            mean=d.get("mean"),
            p50=d.get("p50"),
            reference_mean=d.get("reference_mean"),
        )


@dataclass(frozen=True)
class PerformanceReport:
    """The label join for the window's predictions (by prediction time).

    ``metrics`` is ``None`` while no prediction of the window has its label;
    ``coverage = n_labelled / n_predicted``; delays are outcome time minus
    prediction time, in seconds. Metrics and delays come from ``n_sampled`` rows:
    all the labelled rows, or a uniform sample of them in very large windows
    (``Store.max_labelled``), so memory stays bounded. ``n_dropped`` counts the
    window's prediction rows an SDK reported dropped (its event byte budget was
    spent: never sent, not in ``n_predicted``) and ``n_labels_dropped`` the labels
    that arrived for those: told apart from labels for ids never seen, which wait
    and are evicted.
    """

    task: str  # classification | regression
    metrics: ClassificationMetrics | RegressionMetrics | None
    n_labelled: int
    n_predicted: int
    coverage: float
    delay_p50: float | None
    delay_p95: float | None
    n_sampled: int = 0
    n_dropped: int = 0
    n_labels_dropped: int = 0

    def values(self) -> dict[str, float]:
        """Every metric by name, ``{}`` without labels: what the alert rules and the
        ``ml.performance.value`` gauge key on."""
        return {} if self.metrics is None else self.metrics.as_dict()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``metrics`` is :meth:`values` (``{}`` without labels)."""
        return {
            "task": self.task,
            "metrics": {k: _num(v) for k, v in self.values().items()},
            "n_labelled": self.n_labelled,
            "n_predicted": self.n_predicted,
            "coverage": self.coverage,
            "delay_p50": self.delay_p50,
            "delay_p95": self.delay_p95,
            "n_sampled": self.n_sampled,
            "n_dropped": self.n_dropped,
            "n_labels_dropped": self.n_labels_dropped,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PerformanceReport:
        metrics: ClassificationMetrics | RegressionMetrics | None = None
        if d["metrics"]:
            kind = RegressionMetrics if d["task"] == "regression" else ClassificationMetrics
            metrics = kind.from_dict(d["metrics"])
        return cls(
            task=d["task"],
            metrics=metrics,
            n_labelled=int(d["n_labelled"]),
            n_predicted=int(d["n_predicted"]),
            coverage=float(d["coverage"]),
            delay_p50=d["delay_p50"],
            delay_p95=d["delay_p95"],
            n_sampled=int(d.get("n_sampled", d["n_labelled"])),
            n_dropped=int(d.get("n_dropped", 0)),
            n_labels_dropped=int(d.get("n_labels_dropped", 0)),
        )


@dataclass(frozen=True)
class OperationsReport:
    """Calls, errors and latency from the SDK's counters and duration histogram."""

    calls: float = 0.0
    rows: float = 0.0
    errors: Mapping[str, float] = field(default_factory=dict)
    error_rate: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OperationsReport:
        return cls(
            calls=d["calls"],
            rows=d["rows"],
            errors=dict(d["errors"]),
            error_rate=d["error_rate"],
            latency_p50=d["latency_p50"],
            latency_p95=d["latency_p95"],
        )


@dataclass(frozen=True)
class FoundChange:
    """A change one detector found on one model version's error stream.

    ``change.time`` is the prediction time at which it was found, ``change.start_time``
    the estimated start; ``task`` says what the error is (``classification``: 0/1,
    ``regression``: absolute error). The means before and after are in the units of
    the error; a regression model's errors were fed divided by ``scale``.
    """

    model: str
    version: str
    task: str
    change: Change
    scale: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "task": self.task,
            "scale": self.scale,
            **self.change.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FoundChange:
        return cls(
            model=str(d["model"]),
            version=str(d["version"]),
            task=str(d["task"]),
            change=Change.from_dict(d),
            scale=float(d.get("scale", 1.0)),
        )



def change_observations(
    template: Observation,
    detectors: tuple[str, ...],
    changes: tuple[FoundChange, ...],
    n_labelled: int,
) -> list[Observation]:
    """One ``performance_change`` observation per detector for the window of
    ``template``: breaching (``verdict``) when the detector found a rise of the error at
    a prediction of the window, clear when it did not although ``n_labelled`` of the
    window's predictions have their label; nothing without either. The value is the
    rise (mean error after minus before); ``details`` give both means, the estimated
    start and the detection time (Unix s) and the delay (predictions)."""
    out = []
    for name in detectors:
        ups = [c for c in changes if c.change.detector == name and c.change.rising]
        if not ups:
            if n_labelled > 0:
                obs = replace(template, kind=ObservationKind.PERFORMANCE_CHANGE, value=0.0,
                              n_rows=n_labelled, metric=name, verdict=False)
                out.append(obs)
            continue
        worst = max(ups, key=lambda c: c.change.mean_after - c.change.mean_before)
        ch = worst.change
        details = {"mean_before": ch.mean_before, "mean_after": ch.mean_after,
                   "delay": float(ch.delay)}
        if ch.time is not None:
            details["detected_at"] = ch.time
        if ch.start_time is not None:
            details["change_start"] = ch.start_time
        out.append(
            replace(
                template,
                kind=ObservationKind.PERFORMANCE_CHANGE,
                value=ch.mean_after - ch.mean_before,
                n_rows=max(ch.n, n_labelled),
                metric=name,
                verdict=True,
                details={k: v for k, v in details.items() if math.isfinite(v)},
            )
        )
    return out


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
    #: The change detectors run on the error stream (empty: change detection off), and
    #: the changes they found at a prediction of this window.
    change_detectors: tuple[str, ...] = ()
    changes: tuple[FoundChange, ...] = ()
    estimated: EstimatedPerformance | None = None
    """The performance the window's scores promise (CBPE), without labels; apart from
    ``performance``, the realised one."""
    #: the PCA reconstruction-error check, when the reference has its model
    multivariate: MultivariateDrift | None = None

    @property
    def drifted_features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features if f.drift is not None and f.drift.drifted)

    @property
    def minor_features(self) -> tuple[str, ...]:
        """Features graded ``minor``: a certain shift, its effect below the threshold."""
        return tuple(
            f.name for f in self.features if f.drift is not None and f.drift.verdict is Grade.MINOR
        )

    def drift_report(self, policy: DriftPolicy) -> DriftReport:
        """The window's verdicts as the :class:`~otel_ml.stats.DriftReport` that
        :mod:`otel_ml.report` draws (features without a verdict are left out)."""
        return DriftReport.of(
            [f.drift for f in self.features if f.drift is not None],
            policy,
            predictions=[f.drift for f in self.predictions if f.drift is not None],
            multivariate=self.multivariate,
        )

    # ---- JSON -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON the store keeps and the API serves (each part's own ``to_dict``)."""
        return {
            "model": self.model,
            "version": self.version,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "n_rows": self.n_rows,
            "verdict_ready": self.verdict_ready,
            "reference": self.reference,
            "drifted_features": list(self.drifted_features),
            "minor_features": list(self.minor_features),
            "features": [f.to_dict() for f in self.features],
            "predictions": [f.to_dict() for f in self.predictions],
            "quality": [q.to_dict() for q in self.quality],
            "performance": None if self.performance is None else self.performance.to_dict(),
            "operations": self.operations.to_dict(),
            "trace_ids": list(self.trace_ids),
            "notes": list(self.notes),
            "change_detection": None
            if not self.change_detectors
            else {
                "detectors": list(self.change_detectors),
                "changes": [c.to_dict() for c in self.changes],
            },
            "estimated_performance": None if self.estimated is None else self.estimated.to_dict(),
            "multivariate": None if self.multivariate is None else self.multivariate.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelReport:
        """Inverse of :meth:`to_dict`; reads the reports of older evaluators too."""
        perf = d.get("performance")
        cd = d.get("change_detection")
        est = d.get("estimated_performance")
        mv = d.get("multivariate")
        return cls(
            model=d["model"],
            version=d["version"],
            window_start=float(d["window_start"]),
            window_end=float(d["window_end"]),
            n_rows=int(d["n_rows"]),
            verdict_ready=bool(d["verdict_ready"]),
            reference=d.get("reference"),
            features=tuple(FeatureReport.from_dict(x) for x in d["features"]),
            predictions=tuple(FeatureReport.from_dict(x) for x in d["predictions"]),
            quality=tuple(QualityRate.from_dict(q) for q in d["quality"]),
            performance=None if perf is None else PerformanceReport.from_dict(perf),
            operations=OperationsReport.from_dict(d["operations"]),
            trace_ids=tuple(d.get("trace_ids", ())),
            notes=tuple(d.get("notes", ())),
            change_detectors=tuple(cd["detectors"]) if cd else (),
            changes=tuple(FoundChange.from_dict(c) for c in cd["changes"]) if cd else (),
            estimated=None if est is None else EstimatedPerformance.from_dict(est),
            multivariate=None if mv is None else MultivariateDrift.from_dict(mv),
        )

    # ---- alerting ---------------------------------------------------------------------
    def observations(self) -> list[Observation]:
        """The values the alert engine judges for this window: drift of each feature and
        output, quality rates, latency and error rate, performance metrics, label coverage,
        changes of the error stream, estimated performance (its band in ``details``:
        ``lower``, ``upper``)."""
        window = Observation(
            model=self.model,
            version=self.version or None,
            kind=ObservationKind.FEATURE_DRIFT,  # a template: each observation sets its own
            value=0.0,
            window_start=self.window_start,
            window_end=self.window_end,
            n_rows=0,
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
                if d is not None and math.isfinite(d.statistic):
                    out.append(
                        replace(
                            window,
                            kind=kind,
                            value=d.statistic,
                            n_rows=d.n_current,
                            metric=d.method,
                            feature=f.name,
                            verdict=d.drifted,
                            p_value=d.p_value if math.isfinite(d.p_value) else None,
                            details={k: v for k, v in d.statistics.items() if math.isfinite(v)},
                        )
                    )
        mv = self.multivariate
        if mv is not None and math.isfinite(mv.statistic):
            out.append(
                replace(
                    window,
                    kind=ObservationKind.MULTIVARIATE_DRIFT,
                    value=mv.statistic,
                    n_rows=mv.n_current,
                    metric=mv.effect,
                    verdict=mv.drifted,
                    p_value=mv.p_value if math.isfinite(mv.p_value) else None,
                    details={
                        k: v
                        for k, v in (("mean_error", mv.mean_error),
                                     ("reference_mean_error", mv.reference_mean_error))
                        if math.isfinite(v)
                    },
                )
            )
        for f in self.features:
            d = f.drift
            if d is not None and math.isfinite(d.statistic):
                out.append(
                    replace(
                        window,
                        kind=ObservationKind.FEATURE_DRIFT_MINOR,
                        value=d.statistic,
                        n_rows=d.n_current,
                        metric=d.method,
                        feature=f.name,
                        verdict=None if d.verdict is Grade.TOO_FEW_ROWS else d.verdict.certain,
                        p_value=d.p_value if math.isfinite(d.p_value) else None,
                        details={"alpha": d.alpha} if math.isfinite(d.alpha) else {},
                    )
                )
        out += [
            replace(
                window,
                kind=ObservationKind.DATA_QUALITY,
                value=q.rate,
                n_rows=self.n_rows,
                metric=q.issue,
                feature=q.feature or None,
                details={} if q.reference_rate is None else {"reference": q.reference_rate},
            )
            for q in self.quality
        ]
        ops, calls = self.operations, int(self.operations.calls)
        for kind, ops_value in (
            (ObservationKind.LATENCY_P95, ops.latency_p95),
            (ObservationKind.ERROR_RATE, ops.error_rate),
        ):
            if ops.calls > 0 and ops_value is not None:
                out.append(replace(window, kind=kind, value=ops_value, n_rows=calls))
        perf = self.performance
        if perf is not None:
            out += [
                replace(
                    window,
                    kind=ObservationKind.PERFORMANCE,
                    value=value,
                    n_rows=perf.n_labelled,
                    metric=name,
                )
                for name, value in perf.values().items()
                if math.isfinite(value)
            ]
            if perf.n_predicted > 0:
                kind = ObservationKind.LABEL_COVERAGE
                out.append(replace(window, kind=kind, value=perf.coverage, n_rows=perf.n_predicted))
        n_labelled = perf.n_labelled if perf is not None else 0
        out += change_observations(window, self.change_detectors, self.changes, n_labelled)
        est = self.estimated
        if est is not None:
            out += [
                replace(
                    window,
                    kind=ObservationKind.ESTIMATED_PERFORMANCE,
                    value=m.value,
                    n_rows=est.n_rows,
                    metric=name,
                    details={
                        k: v for k, v in (("lower", m.lower), ("upper", m.upper))
                        if math.isfinite(v)
                    },
                )
                for name, m in est.metrics().items()
                if math.isfinite(m.value)
            ]
        return out
