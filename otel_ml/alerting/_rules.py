"""Alert rules: what breaches, how long before firing, how long before resolving.

Seventeen rules are built in (``BUILTIN_RULES``), with the thresholds of the seed
design: accuracy below 0.85 (critical), precision below 0.80, recall below 0.75,
F1 below 0.80 (all four judged on windows with at least 50 labelled rows), the
same four on the performance estimated from the scores without labels
(``estimated_accuracy_low`` and co., windows with at least 50 scored rows), PSI
above 0.2 for a feature or the predictions, the multivariate drift verdict (the PCA
reconstruction errors, ``docs/drift.md``), a data-quality rate above 5 %, p95
latency above 100 ms, an error rate above 5 % (critical), label coverage
below 50 % (info; off unless enabled, see ``docs/alerting.md``), a change
detector's verdict on the per-prediction error (``performance_change``, one
alert per detector), and a feature whose graded drift verdict is ``minor`` or
``drift`` (``feature_drift_minor``; info, off unless enabled). The
``alerts:`` section overrides any field of a rule, adds rules, and overrides
again per model.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from otel_ml.alerting._observation import Observation, ObservationKind
from otel_ml.alerting._severity import Severity

__all__ = [
    "BUILTIN_RULES",
    "ESTIMATED_METRIC_NAMES",
    "AlertKey",
    "Comparison",
    "RuleConfig",
    "default_comparison",
]

# Performance metrics where a larger value is worse (regression errors, losses).
_ERROR_METRICS = frozenset({"rmse", "mse", "mae", "mape", "log_loss", "brier", "max_error"})


class Comparison(str, enum.Enum):
    """How a value breaches a threshold: strictly ``above`` or strictly ``below`` it."""

    ABOVE = "above"
    BELOW = "below"

    def breached(self, value: float, threshold: float) -> bool:
        """Whether ``value`` breaches ``threshold``.

        Examples
        --------
        >>> Comparison.BELOW.breached(0.80, 0.85), Comparison.ABOVE.breached(0.2, 0.2)
        (True, False)
        """
        return value > threshold if self is Comparison.ABOVE else value < threshold


def default_comparison(kind: ObservationKind, metric: str | None) -> Comparison:
    """``below`` for performance scores and label coverage, ``above`` otherwise.

    Examples
    --------
    >>> default_comparison(ObservationKind.PERFORMANCE, "accuracy").value
    'below'
    >>> default_comparison(ObservationKind.PERFORMANCE, "rmse").value
    'above'
    """
    if kind is ObservationKind.LABEL_COVERAGE:
        return Comparison.BELOW
    performance = (ObservationKind.PERFORMANCE, ObservationKind.ESTIMATED_PERFORMANCE)
    if kind in performance and metric not in _ERROR_METRICS:
        return Comparison.BELOW
    return Comparison.ABOVE


@dataclass(frozen=True)
class AlertKey:
    """The stable identity of an alert: model, rule, feature and metric.

    The version is deliberately not part of it: a new model version keeps the
    alert of the old one (and resolves it once its windows are clear).

    Examples
    --------
    >>> key = AlertKey("churn", "feature_drift", "age", "psi")
    >>> key.alert_id
    '0408bb29f077fbbf'
    >>> key.alert_id == AlertKey("churn", "feature_drift", "age", "psi").alert_id
    True
    """

    model: str
    rule: str
    feature: str | None
    metric: str | None

    @property
    def alert_id(self) -> str:
        """16 hex digits: the dedup key for Alertmanager, PagerDuty, webhooks and email."""
        raw = "\x1f".join((self.model, self.rule, self.feature or "", self.metric or ""))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class RuleConfig:
    """One alert rule.

    Parameters
    ----------
    name
        The rule's name (``ml.alert.rule``); unique.
    kind
        Which observations it reads.
    metric
        Which metric / drift method / quality issue; ``None`` for any.
    threshold
        The limit; ``None`` to fire on the evaluator's own verdict
        (``threshold: verdict`` in YAML; drift rules).
    comparison
        Breach when the value is ``above`` or ``below`` the threshold.
    severity
        info, warning or critical.
    for_windows
        Consecutive breaching windows before the alert fires.
    for_seconds
        And the breach must have lasted this long (first breaching window
        start to the current window end).
    resolve_after_windows
        Consecutive clear windows before a firing alert resolves.
    repeat_interval
        Seconds between repeated notifications of a still-firing alert
        (``None``: never repeat).
    min_rows
        Observations with fewer rows are ignored (no verdict either way).
    resolve_if_absent
        Resolve a firing alert that has had no observation for this many
        seconds (the model stopped serving, the feature disappeared);
        ``None``: wait for clear windows.
    features
        Only these features (empty: all).
    enabled
        ``False`` switches the rule off (per model, typically).
    """

    name: str
    kind: ObservationKind
    metric: str | None
    threshold: float | None
    comparison: Comparison
    severity: Severity
    for_windows: int = 2
    for_seconds: float = 0.0
    resolve_after_windows: int = 2
    repeat_interval: float | None = 4 * 3600.0
    min_rows: int = 0
    resolve_if_absent: float | None = None
    features: tuple[str, ...] = ()
    enabled: bool = True

    def applies_to(self, obs: Observation) -> bool:
        """Whether this rule has something to say about ``obs``."""
        if obs.kind is not self.kind or obs.n_rows < self.min_rows:
            return False
        if self.features and obs.feature not in self.features:
            return False
        if self.threshold is None:
            return obs.verdict is not None and (self.metric is None or self.metric == obs.metric)
        return obs.statistic(self.metric) is not None

    def breached(self, obs: Observation) -> bool:
        """Whether ``obs`` (which the rule applies to) breaches the rule."""
        if self.threshold is None:
            return bool(obs.verdict)
        value = obs.statistic(self.metric)
        return value is not None and self.comparison.breached(value, self.threshold)

    def key(self, obs: Observation) -> AlertKey:
        """The identity of the alert ``obs`` belongs to under this rule."""
        return AlertKey(obs.model, self.name, obs.feature, self.metric or obs.metric)


def _builtin(
    name: str,
    kind: ObservationKind,
    metric: str | None,
    threshold: float | None,
    severity: Severity,
    *,
    min_rows: int = 0,
    enabled: bool = True,
) -> RuleConfig:
    return RuleConfig(
        name=name,
        kind=kind,
        metric=metric,
        threshold=threshold,
        comparison=default_comparison(kind, metric),
        severity=severity,
        min_rows=min_rows,
        enabled=enabled,
    )


ESTIMATED_METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "roc_auc")
"""The metrics estimated from the scores (``otel_ml.stats.ESTIMATED_METRICS``): the
only metrics an ``estimated_performance`` rule can watch."""

PERFORMANCE_MIN_ROWS = 50
"""Labelled rows a window needs before the built-in performance rules judge it."""

_K = ObservationKind
_S = Severity
_PERF_ROWS = PERFORMANCE_MIN_ROWS
BUILTIN_RULES: tuple[RuleConfig, ...] = (
    _builtin("accuracy_low", _K.PERFORMANCE, "accuracy", 0.85, _S.CRITICAL, min_rows=_PERF_ROWS),
    _builtin("precision_low", _K.PERFORMANCE, "precision", 0.80, _S.WARNING, min_rows=_PERF_ROWS),
    _builtin("recall_low", _K.PERFORMANCE, "recall", 0.75, _S.WARNING, min_rows=_PERF_ROWS),
    _builtin("f1_low", _K.PERFORMANCE, "f1", 0.80, _S.WARNING, min_rows=_PERF_ROWS),
    # The same thresholds on the estimate from the scores (CBPE), before labels arrive.
    _builtin("estimated_accuracy_low", _K.ESTIMATED_PERFORMANCE, "accuracy", 0.85, _S.CRITICAL,
             min_rows=_PERF_ROWS),
    _builtin("estimated_precision_low", _K.ESTIMATED_PERFORMANCE, "precision", 0.80,
             _S.WARNING, min_rows=_PERF_ROWS),
    _builtin("estimated_recall_low", _K.ESTIMATED_PERFORMANCE, "recall", 0.75, _S.WARNING,
             min_rows=_PERF_ROWS),
    _builtin("estimated_f1_low", _K.ESTIMATED_PERFORMANCE, "f1", 0.80, _S.WARNING,
             min_rows=_PERF_ROWS),
    _builtin("feature_drift", _K.FEATURE_DRIFT, "psi", 0.2, _S.WARNING),
    _builtin("prediction_drift", _K.PREDICTION_DRIFT, "psi", 0.2, _S.WARNING),
    # The policy's verdict on the PCA reconstruction errors (docs/drift.md).
    _builtin("multivariate_drift", _K.MULTIVARIATE_DRIFT, None, None, _S.WARNING),
    _builtin("data_quality", _K.DATA_QUALITY, None, 0.05, _S.WARNING),
    _builtin("latency_p95_high", _K.LATENCY_P95, None, 0.1, _S.WARNING),
    _builtin("error_rate_high", _K.ERROR_RATE, None, 0.05, _S.CRITICAL),
    # Off by default: fires on every certain shift (graded verdict minor or drift), which
    # large windows find in most real features; enable it to watch small, real changes.
    RuleConfig(
        name="feature_drift_minor",
        kind=_K.FEATURE_DRIFT_MINOR,
        metric=None,
        threshold=None,
        comparison=Comparison.ABOVE,
        severity=_S.INFO,
        enabled=False,
    ),
    # Off by default: with labels arriving later than a window is evaluated, the newest
    # window's coverage is always low. Enable it when labels come within window + grace.
    _builtin("label_coverage_low", _K.LABEL_COVERAGE, None, 0.5, _S.INFO, enabled=False),
    # A change detector found a rise of the error stream: fires at the first such window
    # (the evaluator sends it at once, before the window closes), resolves after two
    # windows with labels and no rise.
    RuleConfig(
        name="performance_change",
        kind=_K.PERFORMANCE_CHANGE,
        metric=None,
        threshold=None,
        comparison=Comparison.ABOVE,
        severity=_S.WARNING,
        for_windows=1,
    ),
)
"""The rules every model gets unless the configuration changes them."""
