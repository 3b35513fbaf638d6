"""The hysteresis of one alert: inactive → pending → firing → resolved.

Each alert keeps the verdicts of its most recent windows (at most
``history_size(rule)``), keyed by window. It fires once the latest windows hold
an unbroken run of ``for_windows`` breaching windows spanning ``for_seconds``;
a firing alert resolves only after a run of ``resolve_after_windows`` clear
windows, so a flapping signal keeps one alert firing instead of a storm of them.

A window the evaluator evaluates again (late labels make the accuracy of an old
window more exact) replaces that window's verdict instead of counting twice;
the same window sent twice with the same verdict changes nothing. Windows older
than the kept history are ignored.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from otel_ml import semconv
from otel_ml.alerting._observation import Observation
from otel_ml.alerting._rules import RuleConfig
from otel_ml.alerting._transition import AlertState, AlertTransition

__all__ = ["AlertRecord", "history_size", "step"]

INACTIVE = "inactive"
PENDING = "pending"
FIRING = semconv.ALERT_STATE_FIRING
FIRING_MARK = f'"state": "{FIRING}"'  # how a firing record's JSON says so (cheap pre-filter)


def history_size(rule: RuleConfig) -> int:
    """How many recent windows an alert of ``rule`` remembers."""
    return max(rule.for_windows, rule.resolve_after_windows) + 4


@dataclass
class AlertRecord:
    """The persisted state of one alert identity.

    ``windows`` holds ``[window_start, window_end, breached]`` of the most
    recent windows, oldest first.
    """

    state: str = INACTIVE
    windows: list[list[float]] = field(default_factory=list)
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

    def trailing_run(self) -> tuple[bool, int, float]:
        """(breached?, length, start) of the run of equal verdicts ending at the newest window."""
        if not self.windows:
            return False, 0, 0.0
        newest = bool(self.windows[-1][2])
        length, start = 0, self.windows[-1][0]
        for w_start, _, breached in reversed(self.windows):
            if bool(breached) != newest:
                break
            length, start = length + 1, w_start
        return newest, length, start


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
    breached = rule.breached(obs)
    entry = [obs.window_start, obs.window_end, float(breached)]
    windows = [list(w) for w in record.windows]
    ends = [w[1] for w in windows]
    if obs.window_end in ends:
        i = ends.index(obs.window_end)
        if bool(windows[i][2]) == breached:
            return record, None  # the same verdict again: nothing changes
        windows[i] = entry
    else:
        limit = history_size(rule)
        if len(windows) >= limit and obs.window_end < ends[0]:
            return record, None  # older than the history: too late to matter
        windows.append(entry)
        windows.sort(key=lambda w: w[1])
        windows = windows[-limit:]
    rec = dataclasses.replace(record, windows=windows)  # lists are replaced, never mutated
    newest_is_this = windows[-1][1] == obs.window_end
    rec.last_window_end = windows[-1][1]
    run_breached, run, run_start = rec.trailing_run()
    if rec.state != FIRING:  # while firing, breach_since stays the episode's start
        if run_breached and run == len(windows) and record.breach_since is not None:
            run_start = min(run_start, record.breach_since)  # the run is older than the history
        rec.breach_since = run_start if run_breached else None
    if breached and obs.trace_ids:
        rec.trace_ids, rec.span_ids = list(obs.trace_ids), list(obs.span_ids)
    fire_now = repeat = resolve_now = False
    if rec.state == FIRING:
        if not run_breached and run >= rule.resolve_after_windows:
            resolve_now = True
        elif (
            newest_is_this
            and breached
            and rule.repeat_interval is not None
            and rec.last_notified_at is not None
            and now - rec.last_notified_at >= rule.repeat_interval
        ):
            repeat = True
    elif run_breached and run >= rule.for_windows and (
        windows[-1][1] - (rec.breach_since or run_start) >= rule.for_seconds
    ):
        fire_now = True
    else:
        rec.state = PENDING if run_breached else INACTIVE
    if not (fire_now or repeat or resolve_now):
        return rec, None
    transition = _transition(
        rec, rule, obs, now=now, jaeger_url=jaeger_url, repeat=repeat, resolved=resolve_now
    )
    if resolve_now:
        rec.state, rec.breach_since, rec.firing, rec.fired_at = INACTIVE, None, None, None
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
