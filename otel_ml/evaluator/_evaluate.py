"""``evaluate(window, reference, policy) -> ModelReport``: the pure heart of the evaluator.

No I/O, no clock: the same :class:`~otel_ml.evaluator.WindowData` and reference
give the same report. What it computes:

- **drift** of every feature and prediction output present in both the window and the
  reference, with ``otel_ml.stats.compare_features`` (the foundation's statistics and
  :class:`~otel_ml.stats.DriftPolicy`; the window's numeric features in one NumPy pass),
  counting every comparison of the window as one test for the multiple-testing
  correction; no verdict below ``min_rows`` rows;
- **multivariate drift**: the SDK's ``multivariate.reconstruction_error`` sketch against
  the reference profile's multivariate model (``otel_ml.stats.multivariate_drift``, one
  test of its own); that sketch is not listed as a feature;
- **data quality**: the SDK's issue counts over the window's rows (missing,
  non-finite, schema mismatch), plus what only the reference can tell —
  values outside the reference ``[min, max]`` (estimated from the buckets,
  linear inside a bucket) and categories the reference never saw (exact when the
  reference sketch has no overflow);
- **performance** from the label join of the predictions made in the window:
  classification or regression metrics, label coverage and delay;
- **estimated performance** (CBPE) of a binary classifier from the window's score
  sketch and the reference's calibration (``otel_ml.stats.estimate_performance``),
  whether or not labels arrived: kept apart from the realised metrics;
- **operations**: calls, error rate and latency p50/p95 (linear interpolation
  inside the explicit buckets of ``ml.predict.duration``, as Prometheus'
  ``histogram_quantile``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from otel_ml import semconv as sc
from otel_ml.evaluator._records import ExplicitBuckets
from otel_ml.evaluator._report import (
    FeatureReport,
    ModelReport,
    OperationsReport,
    PerformanceReport,
    QualityRate,
)
from otel_ml.evaluator._windows import LabelledRows, WindowData
from otel_ml.sketch import (
    CategoricalSketch,
    FeatureKind,
    FeatureProfile,
    NumericSketch,
    Profile,
)
from otel_ml.stats import (
    ClassificationMetrics,
    DriftPolicy,
    MultivariateDrift,
    NumericReference,
    RegressionMetrics,
    class_order,
    classification_metrics,
    compare_features,
    estimate_performance,
    multivariate_drift,
    out_of_range_count,
    regression_metrics,
    unseen_count,
)

__all__ = ["Reference", "evaluate", "explicit_quantile"]

_Sketch = NumericSketch | CategoricalSketch
_RefSketch = NumericReference | CategoricalSketch


@dataclass(frozen=True)
class Reference:
    """A reference profile in use, with the label shown in reports and alerts.

    Its numeric sketches are prepared for comparison (:class:`~otel_ml.stats.NumericReference`)
    the first time a window meets them and kept with it, so the reference-side work is
    done once per reference, not once per window.
    """

    profile: Profile
    label: str
    _prepared: dict[tuple[str, str], NumericReference] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def sketch(self, part: str, name: str) -> _RefSketch | None:
        """The sketch of feature (``part="features"``) or output (``"predictions"``)
        ``name`` as compared: numeric ones prepared once, ``None`` when absent."""
        fps = self.profile.features if part == "features" else self.profile.predictions
        fp = fps.get(name)
        if fp is None:
            return None
        if not isinstance(fp.sketch, NumericSketch):
            return fp.sketch
        got = self._prepared.get((part, name))
        if got is None:
            # The profile is not changed once loaded (a new file is a new Reference).
            got = self._prepared[part, name] = NumericReference(fp.sketch, copy=False)
        return got


def explicit_quantile(b: ExplicitBuckets, q: float) -> float | None:
    """The ``q``-quantile of an explicit-bucket histogram (linear inside a bucket).

    >>> h = ExplicitBuckets(bounds=(1.0, 2.0), counts=(0, 10, 0), count=10, sum=15.0)
    >>> explicit_quantile(h, 0.5)
    1.5
    """
    if b.count <= 0:
        return None
    rank = q * b.count
    cum = 0.0
    for i, n in enumerate(b.counts):
        if n <= 0:
            continue
        if cum + n >= rank:
            lo = b.bounds[i - 1] if i > 0 else (b.min if b.min is not None else 0.0)
            hi = b.bounds[i] if i < len(b.bounds) else (b.max if b.max is not None else lo)
            lo = min(lo, hi)
            v = lo + (hi - lo) * (rank - cum) / n
            if b.min is not None:
                v = max(v, b.min)
            if b.max is not None:
                v = min(v, b.max)
            return float(v)
        cum += n
    return b.max


def _rate(count: float, n: float) -> float:
    return count / n if n > 0 else 0.0


def _summary(s: NumericSketch | CategoricalSketch) -> tuple[int, float | None, float | None]:
    if isinstance(s, NumericSketch):
        return s.count, (s.mean if s.count else None), (s.quantile(0.5) if s.count else None)
    return s.count, None, None


def _compare_all(
    pairs: Sequence[tuple[str, _RefSketch | None, _Sketch]],
    policy: DriftPolicy,
    min_rows: int,
    n_tests: int,
    text: frozenset[str] = frozenset(),
) -> tuple[FeatureReport, ...]:
    rows = []
    compared: list[tuple[str, _RefSketch, _Sketch]] = []
    for name, ref, cur in pairs:
        n, mean, p50 = _summary(cur)
        kind = FeatureKind.NUMERIC if isinstance(cur, NumericSketch) else FeatureKind.CATEGORICAL
        if name in text and kind is FeatureKind.NUMERIC:
            kind = FeatureKind.TEXT  # the sketch of a free-text column's lengths
        ref_sketch = ref.sketch if isinstance(ref, NumericReference) else ref
        ref_mean = None
        if isinstance(ref_sketch, NumericSketch) and ref_sketch.count:
            ref_mean = ref_sketch.mean
        reason = ""
        if ref is None:
            reason = "no reference for this feature"
        elif type(ref_sketch) is not type(cur):
            reason = f"reference is {type(ref_sketch).__name__}, window has {type(cur).__name__}"
        elif n < min_rows:
            reason = f"{n} rows < min_rows {min_rows}: no verdict yet"
        else:
            compared.append((name, ref, cur))
        rows.append((name, kind, n, reason, mean, p50, ref_mean))
    # The window's features together: their numeric statistics in one NumPy pass.
    drifts = iter(compare_features(compared, policy=policy, n_tests=max(n_tests, 1)))
    return tuple(
        FeatureReport(
            name, kind, n, None if reason else next(drifts), reason, mean, p50, ref_mean
        )
        for name, kind, n, reason, mean, p50, ref_mean in rows
    )


def _reference_counts(
    w: WindowData, ref_feats: Mapping[str, FeatureProfile]
) -> dict[tuple[str, str], float]:
    """What only the reference can tell: values outside its range, categories it never saw
    (only against a reference that kept every value, so the count is exact)."""
    counts: dict[tuple[str, str], float] = {}
    for name, s in w.numeric.items():
        fp = ref_feats.get(name)
        if fp is not None and isinstance(fp.sketch, NumericSketch) and fp.sketch.count:
            counts[name, sc.QUALITY_OUT_OF_RANGE] = out_of_range_count(s, fp.min, fp.max)
    for name, c in w.categorical.items():
        fp = ref_feats.get(name)
        if fp is not None and isinstance(fp.sketch, CategoricalSketch) and not fp.sketch.overflow:
            counts[name, sc.QUALITY_UNSEEN_CATEGORY] = float(unseen_count(fp.categories, c))
    return counts


def _reference_rate(fp: FeatureProfile | None, issue: str) -> float | None:
    if fp is None:
        return None
    if issue == sc.QUALITY_MISSING:
        return float(fp.missing_rate)
    if issue == sc.QUALITY_NON_FINITE:
        return float(fp.non_finite_rate)
    if issue in (sc.QUALITY_OUT_OF_RANGE, sc.QUALITY_UNSEEN_CATEGORY):
        return 0.0
    return None


def _feature_rows(w: WindowData, feature: str) -> float:
    sk: _Sketch | None = w.numeric.get(feature)
    if sk is None:
        sk = w.categorical.get(feature)
    return float(sk.total) if sk is not None else 0.0


def _quality(w: WindowData, reference: Reference | None, n_rows: float) -> tuple[QualityRate, ...]:
    ref_feats = reference.profile.features if reference is not None else {}
    # The SDK's own counts (missing, non-finite, schema mismatch...) win over estimates.
    counts = {**_reference_counts(w, ref_feats), **w.quality}
    return tuple(
        QualityRate(
            feature,
            issue,
            float(count),
            _rate(count, n_rows if n_rows > 0 else _feature_rows(w, feature)),
            _reference_rate(ref_feats.get(feature), issue),
        )
        for (feature, issue), count in sorted(counts.items())
    )


def _multivariate(
    errors: NumericSketch | CategoricalSketch | None,
    reference: Reference | None,
    policy: DriftPolicy,
    min_rows: int,
) -> MultivariateDrift | None:
    """The window's reconstruction errors against the reference's (``None`` without the
    reference's model, without the SDK's sketch, or below ``min_rows`` rows)."""
    model = reference.profile.multivariate if reference is not None else None
    if model is None or not isinstance(errors, NumericSketch) or errors.total < min_rows:
        return None
    return multivariate_drift(model, errors, policy=policy)


def _performance(window: WindowData) -> PerformanceReport | None:
    lab, n_predicted = window.labelled, window.n_predicted
    if n_predicted == 0 and lab.n_total == 0 and window.n_dropped == 0:
        return None
    n = len(lab)
    delays = np.asarray(lab.delays, dtype=float)
    d50 = float(np.percentile(delays, 50)) if n else None
    d95 = float(np.percentile(delays, 95)) if n else None
    metrics: ClassificationMetrics | RegressionMetrics | None = None
    task = "classification"
    if n:
        is_class = any(a is not None for a in lab.actual_labels)
        if is_class:
            metrics = _classification(lab)
        else:
            task = "regression"
            metrics = _regression(lab)
    total = lab.n_total
    coverage = min(total / n_predicted, 1.0) if n_predicted else 1.0
    return PerformanceReport(
        task,
        metrics,
        total,
        max(n_predicted, total),
        coverage,
        d50,
        d95,
        n_sampled=n,
        n_dropped=window.n_dropped,
        n_labels_dropped=window.n_labels_dropped,
    )


def _predicted_labels(lab: LabelledRows) -> tuple[str | None, ...]:
    """Predicted classes; a binary score without a class is thresholded at 0.5.

    The positive class is ``"1"`` or ``"True"`` when present among the labels seen,
    else the last in class order (numeric labels numerically, as scikit-learn's
    ``classes_`` and as ``classification_metrics`` reads scores).
    """
    if all(p is not None for p in lab.predicted):
        return lab.predicted
    classes = list(
        class_order(
            {a for a in lab.actual_labels if a is not None}
            | {p for p in lab.predicted if p is not None}
        )
    )
    if not 1 <= len(classes) <= 2:
        return lab.predicted
    positive = next((c for c in ("1", "True") if c in classes), classes[-1])
    others = [c for c in classes if c != positive]
    negative = others[0] if others else {"1": "0", "True": "False"}.get(positive)
    out: list[str | None] = []
    for p, s in zip(lab.predicted, lab.scores, strict=True):
        if p is None and math.isfinite(s) and negative is not None:
            p = positive if s >= 0.5 else negative
        out.append(p)
    return tuple(out)


def _classification(lab: LabelledRows) -> ClassificationMetrics | None:
    predicted = _predicted_labels(lab)
    rows = [
        i
        for i, (p, a) in enumerate(zip(predicted, lab.actual_labels, strict=True))
        if p is not None and a is not None
    ]
    if not rows:
        return None
    y_true = np.array([lab.actual_labels[i] for i in rows], dtype=object).astype(str)
    y_pred = np.array([predicted[i] for i in rows], dtype=object).astype(str)
    scores = np.array([lab.scores[i] for i in rows], dtype=float)
    y_score = scores if np.isfinite(scores).all() and len(set(y_true) | set(y_pred)) <= 2 else None
    return classification_metrics(y_true, y_pred, y_score)


def _regression(lab: LabelledRows) -> RegressionMetrics | None:
    y_true = np.asarray(lab.actual_values, dtype=float)
    y_pred = np.asarray(lab.scores, dtype=float)
    ok = np.isfinite(y_true) & np.isfinite(y_pred)
    if not ok.any():
        return None
    return regression_metrics(y_true[ok], y_pred[ok])


def _operations(w: WindowData) -> OperationsReport:
    errors = sum(w.errors.values())
    d = w.duration
    return OperationsReport(
        calls=w.calls,
        rows=w.rows,
        errors=dict(w.errors),
        error_rate=min(errors / w.calls, 1.0) if w.calls > 0 else None,
        latency_p50=explicit_quantile(d, 0.5) if d is not None else None,
        latency_p95=explicit_quantile(d, 0.95) if d is not None else None,
    )


def _text_features(profile: Profile | None) -> frozenset[str]:
    """The reference's free-text features (their windows hold the sketch of lengths)."""
    if profile is None:
        return frozenset()
    return frozenset(n for n, f in profile.features.items() if f.kind is FeatureKind.TEXT)


def evaluate(
    window: WindowData, reference: Reference | None, policy: DriftPolicy, *, min_rows: int = 1
) -> ModelReport:
    """The report of one window against its reference (``None``: no drift, the rest still).

    ``policy`` is an ``otel_ml.stats.DriftPolicy``; ``min_rows`` is the fewest rows
    of a feature before it gets a drift verdict.
    """
    ref = reference.profile if reference is not None else None
    pairs: list[tuple[str, _RefSketch | None, _Sketch]] = []
    current: dict[str, NumericSketch | CategoricalSketch] = {**window.categorical, **window.numeric}
    errors = current.pop(sc.MULTIVARIATE_ERROR_FEATURE, None)  # not a feature of its own
    for name in sorted(current):
        r = reference.sketch("features", name) if reference is not None else None
        pairs.append((name, r, current[name]))
    pred_pairs: list[tuple[str, _RefSketch | None, _Sketch]] = []
    for name in sorted(window.predictions):
        if name.startswith(sc.PREDICTION_OUTPUT_ARGMAX_PREFIX):
            continue  # a multiclass estimate's input, not an output of its own
        r = reference.sketch("predictions", name) if reference is not None else None
        pred_pairs.append((name, r, window.predictions[name]))
    if window.prediction_classes is not None:
        classes: CategoricalSketch | None = None
        if ref is not None:
            classes = next(
                (p.sketch for p in ref.predictions.values()
                 if isinstance(p.sketch, CategoricalSketch)),
                None,
            )
        pred_pairs.append(("class", classes, window.prediction_classes))
    n_tests = sum(1 for _, r, _ in pairs + pred_pairs if r is not None)
    n_rows = window.rows
    if n_rows <= 0:
        n_rows = max((s.total for s in current.values()), default=0)
    notes = []
    if reference is None:
        notes.append("no reference profile for this model version: no drift verdicts")
    return ModelReport(
        model=window.key.model,
        version=window.key.version,
        window_start=window.key.start,
        window_end=window.key.end,
        n_rows=int(n_rows),
        verdict_ready=reference is not None and n_rows >= min_rows,
        reference=reference.label if reference is not None else None,
        features=_compare_all(pairs, policy, min_rows, n_tests, _text_features(ref)),
        predictions=_compare_all(pred_pairs, policy, min_rows, n_tests),
        quality=_quality(window, reference, n_rows),
        performance=_performance(window),
        estimated=estimate_performance(ref.calibration, window.predictions)
        if ref is not None
        else None,
        operations=_operations(window),
        trace_ids=window.trace_ids,
        notes=tuple(notes),
        change_detectors=window.change_detectors,
        changes=window.changes if window.change_detectors else (),
        multivariate=_multivariate(errors, reference, policy, min_rows),
    )
