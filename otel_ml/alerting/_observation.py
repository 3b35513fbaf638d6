"""What the evaluator tells the alerting engine after each evaluated window.

An :class:`Observation` is one measured value for one model (and feature, and
metric) over one window. The evaluator builds a sequence of them per window and
hands it to :meth:`otel_ml.alerting.AlertEngine.observe`; the rules decide.

By kind (``metric`` / ``feature`` / ``value``):

- ``performance``: ``accuracy``, ``f1``, ``roc_auc``, ``precision``, ``recall``,
  ``rmse``… / ``None`` / the metric.
- ``feature_drift``: the drift method (``psi``, ``ks``…) / the feature / the statistic.
- ``feature_drift_minor``: the method of the policy's effect size / the feature / that
  effect size; ``verdict`` is true when the graded verdict is ``minor`` or ``drift``
  (significant after the multiple-testing correction, whatever the effect), ``None``
  with too few rows.
- ``prediction_drift``: the drift method / the output (or ``None``) / the statistic.
- ``multivariate_drift``: the effect size (``wasserstein_normalised``) / ``None`` / its
  value, between the window's and the reference's PCA reconstruction errors.
- ``data_quality``: the issue (``missing``, ``non_finite``, ``out_of_range``,
  ``unseen_category``, ``schema_mismatch``) / the feature (or ``None``) / the rate
  (issues / rows, in [0, 1]).
- ``latency_p95``: ``None`` / ``None`` / seconds.
- ``error_rate``: ``None`` / ``None`` / failed calls / calls, in [0, 1].
- ``label_coverage``: ``None`` / ``None`` / labelled / predicted rows, in [0, 1].
- ``performance_change``: the change detector (``page_hinkley``, ``adwin``) / ``None``
  / the rise of the mean per-prediction error (0/1 error or absolute error) at a
  change the detector found at a prediction of the window; ``verdict`` True for a
  rise, False for a window with labels and none. ``details``: ``mean_before``,
  ``mean_after``, ``change_start`` and ``detected_at`` (prediction times, Unix s),
  ``delay`` (predictions between the two).
- ``estimated_performance``: ``accuracy``, ``precision``, ``recall``, ``f1``,
  ``roc_auc`` / ``None`` / the metric estimated from the scores without labels
  (CBPE; ``details``: the band's ``lower`` and ``upper``).

For drift, ``verdict`` carries the evaluator's own decision (the
``DriftPolicy`` verdict, ``FeatureDrift.drifted``) and ``details`` every
statistic it computed (``FeatureDrift.statistics``, e.g. ``{"psi": 0.31,
"ks": 0.12}``): a rule asking for ``metric: psi`` reads ``details["psi"]`` when
``metric`` is another method.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from otel_ml._errors import ConfigurationError

__all__ = ["Observation", "ObservationKind"]


class ObservationKind(str, enum.Enum):
    """What an :class:`Observation` measures; each kind has one built-in rule."""

    PERFORMANCE = "performance"
    FEATURE_DRIFT = "feature_drift"
    FEATURE_DRIFT_MINOR = "feature_drift_minor"
    PREDICTION_DRIFT = "prediction_drift"
    MULTIVARIATE_DRIFT = "multivariate_drift"
    DATA_QUALITY = "data_quality"
    LATENCY_P95 = "latency_p95"
    ERROR_RATE = "error_rate"
    LABEL_COVERAGE = "label_coverage"
    PERFORMANCE_CHANGE = "performance_change"
    ESTIMATED_PERFORMANCE = "estimated_performance"


@dataclass(frozen=True)
class Observation:
    """One value measured by the evaluator for one model over one window.

    Parameters
    ----------
    model
        ``ml.model.name``.
    version
        ``ml.model.version`` or ``None``. Not part of an alert's identity.
    kind
        An :class:`ObservationKind` (its string value is accepted too).
    value
        The measured value (see the module table for units).
    window_start, window_end
        The evaluated window, Unix seconds (``window_end`` exclusive). A window
        sent again replaces its earlier verdict (late labels); it never counts
        twice.
    n_rows
        Rows (or calls, or labelled predictions) behind the value.
    metric
        The performance metric, drift method or data-quality issue (see the
        module table); ``None`` for latency, error rate and label coverage.
    feature
        The feature (or prediction output) or ``None``.
    reference
        The reference profile used, e.g. ``"churn@3 (train-2026-10.json)"``.
    trace_ids
        Example traces of the window (32 hex digits each), most
        representative first; the first one becomes the alert log event's
        trace context and they turn into Jaeger links.
    span_ids
        Optional span ids (16 hex digits) parallel to ``trace_ids``.
    verdict
        The evaluator's own decision where it has one (drift policy), else
        ``None``. A rule with ``threshold: verdict`` fires on it.
    p_value
        The test's p-value, if any (reported, not used by the rules).
    details
        Other numbers worth showing with the alert (drift statistics by
        method, the reference rate...). A rule's ``metric`` is looked up here
        when it differs from ``metric``.

    Examples
    --------
    >>> obs = Observation(model="churn", version="3", kind="feature_drift", value=0.31,
    ...                   window_start=0.0, window_end=60.0, n_rows=500, metric="psi",
    ...                   feature="age", trace_ids=("4bf92f3577b34da6a3ce929d0e0e4736",))
    >>> obs.kind
    <ObservationKind.FEATURE_DRIFT: 'feature_drift'>
    >>> obs.statistic("psi"), obs.statistic("ks")
    (0.31, None)
    """

    model: str
    version: str | None
    kind: ObservationKind
    value: float
    window_start: float
    window_end: float
    n_rows: int
    metric: str | None = None
    feature: str | None = None
    reference: str | None = None
    trace_ids: tuple[str, ...] = ()
    span_ids: tuple[str, ...] = ()
    verdict: bool | None = None
    p_value: float | None = None
    details: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            kind = ObservationKind(self.kind)
        except ValueError:
            known = ", ".join(k.value for k in ObservationKind)
            raise ConfigurationError(
                f"Observation.kind {self.kind!r} is unknown; use one of {known}"
            ) from None
        object.__setattr__(self, "kind", kind)
        if not self.model:
            raise ConfigurationError("Observation.model is empty; pass the ml.model.name")
        if not self.window_end >= self.window_start:
            raise ConfigurationError(
                "Observation.window_end must be >= window_start (Unix seconds)"
            )
        object.__setattr__(self, "trace_ids", tuple(self.trace_ids))
        object.__setattr__(self, "span_ids", tuple(self.span_ids))
        object.__setattr__(self, "details", dict(self.details))

    def statistic(self, name: str | None) -> float | None:
        """The value a rule asking for metric ``name`` sees, or ``None`` if absent.

        ``None`` (any metric) gives :attr:`value`; the observation's own
        ``metric`` gives :attr:`value`; otherwise ``details[name]``. NaN counts
        as absent.

        Examples
        --------
        >>> o = Observation("m", None, "performance", 0.9, 0.0, 1.0, 10, metric="f1")
        >>> o.statistic(None), o.statistic("f1"), o.statistic("accuracy")
        (0.9, 0.9, None)
        """
        if name is None or name == self.metric:
            found: float | None = self.value
        else:
            found = self.details.get(name)
        if found is None or math.isnan(found):
            return None
        return float(found)
