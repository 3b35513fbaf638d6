"""The hysteresis of one alert: inactive → pending → firing → resolved.

A breaching window moves an alert towards firing; it fires once it has
breached for ``for_windows`` consecutive windows and ``for_seconds``. A firing
alert resolves only after ``resolve_after_windows`` consecutive clear windows,
so a flapping signal keeps one alert firing instead of a storm of them. Every
window counts once: an observation whose ``window_end`` is not after the last
one seen for this alert is ignored.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from otel_ml import semconv
from otel_ml.alerting._observation import Observation
from otel_ml.alerting._rules import RuleConfig
from otel_ml.alerting._transition import AlertState, AlertTransition

__all__ = ["AlertRecord", "step"]

INACTIVE = "inactive"
PENDING = "pending"
FIRING = semconv.ALERT_STATE_FIRING
FIRING_MARK = f'"state": "{FIRING}"'  # how a firing record's JSON says so (cheap pre-filter)


@dataclass
class AlertRecord:
    """The persisted state of one alert identity."""

    state: str = INACTIVE
    breach_count: int = 0
    clear_count: int = 0
    breach_since: float | None = None
    last_window_end: float | None = None
    fired_at: float | None = None
    last_notified_at: float | None = None
    trace_ids: list[str] = field(default_factory=list)
    span_ids: list[str] = field(default_factory=list)
    firing: str | None = None  # JSON of the last firing transition (re-posted to Alertmanager)

    def to_json(self) -> str:
        """Serialise for the store."""
        return json.dumps(vars(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> AlertRecord:
        """Inverse of :meth:`to_json` (``None`` gives a fresh, inactive record)."""
        return cls() if text is None else cls(**json.loads(text))


def step(
    record: AlertRecord,
    rule: RuleConfig,
    obs: Observation,
    *,
    now: float,
    jaeger_url: str | None,
) -> tuple[AlertRecord, AlertTransition | None]:
    """Apply one window's observation to an alert; return the new record and transition.

    Examples
    --------
    >>> from otel_ml.alerting._rules import BUILTIN_RULES
    >>> rule = BUILTIN_RULES[0]  # accuracy below 0.85, 2 windows to fire, 2 to resolve
    >>> rec, out = AlertRecord(), []
    >>> for i, acc in enumerate([0.9, 0.8, 0.8, 0.9, 0.8, 0.9, 0.9]):
    ...     o = Observation("m", "1", "performance", acc, 60.0 * i, 60.0 * (i + 1), 100,
    ...                     metric="accuracy")
    ...     rec, t = step(rec, rule, o, now=60.0 * (i + 1), jaeger_url=None)
    ...     out.append(t.state.value if t else "-")
    >>> out
    ['-', '-', 'firing', '-', '-', '-', 'resolved']
    """
    if record.last_window_end is not None and obs.window_end <= record.last_window_end:
        return record, None
    rec = dataclasses.replace(record)  # lists are replaced below, never mutated
    rec.last_window_end = obs.window_end
    breached = rule.breached(obs)
    fire_now = repeat = resolve_now = False
    if breached:
        rec.clear_count = 0
        if rec.state != FIRING and (rec.breach_count == 0 or rec.breach_since is None):
            rec.breach_since = obs.window_start
        rec.breach_count += 1
        if obs.trace_ids:
            rec.trace_ids, rec.span_ids = list(obs.trace_ids), list(obs.span_ids)
        if rec.state == FIRING:
            if (
                rule.repeat_interval is not None
                and rec.last_notified_at is not None
                and now - rec.last_notified_at >= rule.repeat_interval
            ):
                repeat = True
        elif (
            rec.breach_count >= rule.for_windows
            and obs.window_end - (rec.breach_since or obs.window_start) >= rule.for_seconds
        ):
            fire_now = True
        else:
            rec.state = PENDING
    else:
        rec.breach_count = 0
        if rec.state == FIRING:
            rec.clear_count += 1
            resolve_now = rec.clear_count >= rule.resolve_after_windows
        else:
            rec.state, rec.breach_since, rec.clear_count = INACTIVE, None, 0
    if not (fire_now or repeat or resolve_now):
        return rec, None
    assert rec.breach_since is not None
    transition = _transition(
        rec, rule, obs, now=now, jaeger_url=jaeger_url, repeat=repeat, resolved=resolve_now
    )
    if resolve_now:
        rec.state, rec.breach_since, rec.clear_count, rec.firing = INACTIVE, None, 0, None
        rec.fired_at = None
        rec.trace_ids, rec.span_ids = [], []
    else:
        rec.state = FIRING
        rec.fired_at = rec.fired_at if repeat else now
        rec.firing = transition.to_json()
    rec.last_notified_at = now
    return rec, transition


def _transition(
    rec: AlertRecord,
    rule: RuleConfig,
    obs: Observation,
    *,
    now: float,
    jaeger_url: str | None,
    repeat: bool,
    resolved: bool,
) -> AlertTransition:
    key = rule.key(obs)
    value = obs.statistic(rule.metric)
    if rule.threshold is None or value is None:
        value = obs.value
    trace_ids = tuple(rec.trace_ids)
    links = tuple(f"{jaeger_url}/trace/{tid}" for tid in trace_ids) if jaeger_url else ()
    details = dict(obs.details)
    if obs.p_value is not None:
        details["p_value"] = obs.p_value
    return AlertTransition(
        alert_id=key.alert_id,
        model=key.model,
        rule=key.rule,
        feature=key.feature,
        metric=key.metric,
        state=AlertState.RESOLVED if resolved else AlertState.FIRING,
        repeat=repeat,
        severity=rule.severity,
        kind=rule.kind,
        value=float(value),
        threshold=rule.threshold,
        comparison=rule.comparison,
        window_start=obs.window_start,
        window_end=obs.window_end,
        n_rows=obs.n_rows,
        version=obs.version,
        reference=obs.reference,
        trace_ids=trace_ids,
        span_ids=tuple(rec.span_ids),
        starts_at=rec.breach_since if rec.breach_since is not None else obs.window_start,
        ends_at=now if resolved else None,
        at=now,
        jaeger_links=links,
        details=tuple(sorted((str(k), float(v)) for k, v in details.items())),
    )
