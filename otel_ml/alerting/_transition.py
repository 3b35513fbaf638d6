"""What the engine reports: an alert starting to fire, firing again, or resolving."""

from __future__ import annotations

import datetime
import enum
import hashlib
import json
from dataclasses import dataclass, field, fields

from otel_ml import semconv
from otel_ml.alerting._observation import ObservationKind
from otel_ml.alerting._rules import AlertKey, Comparison
from otel_ml.alerting._severity import Severity

__all__ = ["AlertState", "AlertTransition"]


class AlertState(str, enum.Enum):
    """The state an alert moves into (``ml.alert.state``)."""

    FIRING = semconv.ALERT_STATE_FIRING
    RESOLVED = semconv.ALERT_STATE_RESOLVED


@dataclass(frozen=True)
class AlertTransition:
    """One alert changing state (or a reminder of a still-firing one).

    Parameters
    ----------
    alert_id
        The alert's stable identity (:attr:`AlertKey.alert_id`), its dedup key
        everywhere.
    model, rule, feature, metric
        The identity's parts.
    state
        ``firing`` or ``resolved``.
    repeat
        ``True`` for a reminder of an alert already firing (repeat interval).
    severity
        The rule's severity.
    kind
        The observation kind the rule reads.
    value
        The value observed in the window that caused the transition (for a
        resolution: the last, clear, value).
    threshold
        The rule's threshold (``None``: the evaluator's verdict).
    comparison
        ``above`` or ``below``: how the value breaches the threshold.
    window_start, window_end
        That window (Unix seconds).
    n_rows
        Rows behind the value.
    version
        The model version of that window.
    reference
        The reference profile the value was computed against.
    trace_ids, span_ids
        Example traces of the breaching windows (for a resolution: of the
        last breaching window).
    starts_at
        Start of the first breaching window of this episode.
    ends_at
        When it resolved (``None`` while firing).
    at
        When the transition happened (the engine's ``now``).
    jaeger_links
        ``{jaeger_url}/trace/{trace_id}`` per example trace when configured.
    details
        Extra numbers (drift statistics, p-value).
    """

    alert_id: str
    model: str
    rule: str
    feature: str | None
    metric: str | None
    state: AlertState
    repeat: bool
    severity: Severity
    kind: ObservationKind
    value: float
    threshold: float | None
    comparison: Comparison
    window_start: float
    window_end: float
    n_rows: int
    version: str | None
    reference: str | None
    trace_ids: tuple[str, ...]
    span_ids: tuple[str, ...]
    starts_at: float
    ends_at: float | None
    at: float
    jaeger_links: tuple[str, ...] = ()
    details: tuple[tuple[str, float], ...] = field(default=())

    @property
    def key(self) -> AlertKey:
        """The alert's identity."""
        return AlertKey(self.model, self.rule, self.feature, self.metric)

    @property
    def notification_id(self) -> str:
        """This notification's idempotency key: 32 hex digits, the same on every retry.

        Derived from the transition itself (alert id, state, reminder or not, and
        its time), which the outbox stores, so a delivery retried after a failure
        or a restart carries the same key; the next transition of the alert (a
        reminder, the resolution) gets another.

        Examples
        --------
        >>> t = _example()
        >>> t.notification_id == AlertTransition.from_json(t.to_json()).notification_id
        True
        >>> len(t.notification_id)
        32
        """
        text = f"{self.alert_id}|{self.state.value}|{int(self.repeat)}|{self.at!r}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def summary(self) -> str:
        """One line saying what and why.

        Examples
        --------
        >>> t = _example()
        >>> t.summary
        'FIRING [critical] churn accuracy_low: accuracy 0.7812 below 0.85'
        """
        what = " ".join(p for p in (self.model, self.rule) if p)
        subject = " ".join(p for p in (self.feature, self.metric) if p) or self.kind.value
        if self.threshold is None:
            cond = "flagged by the evaluator's drift policy"
        else:
            cond = f"{self.comparison.value} {self.threshold:g}"
        if self.state is AlertState.RESOLVED:
            cond = f"no longer {cond}"
        return (
            f"{self.state.value.upper()} [{self.severity.value}] {what}: "
            f"{subject} {self.value:.4g} {cond}"
        )

    @property
    def description(self) -> str:
        """Several lines: the rule, value, threshold, window, reference, traces."""
        lines = [
            self.summary,
            f"rule: {self.rule} ({self.kind.value}"
            + (f", metric {self.metric}" if self.metric else "")
            + (f", feature {self.feature}" if self.feature else "")
            + ")",
            f"observed: {self.value:.6g} over {self.n_rows} rows",
            "threshold: "
            + ("evaluator verdict" if self.threshold is None
               else f"{self.comparison.value} {self.threshold:g}"),
            f"window: {_iso(self.window_start)} to {_iso(self.window_end)}",
            f"model version: {self.version or 'unknown'}",
            f"reference: {self.reference or 'none'}",
            f"active since: {_iso(self.starts_at)}",
        ]
        if self.ends_at is not None:
            lines.append(f"resolved at: {_iso(self.ends_at)}")
        lines.extend(f"{name}: {value:.6g}" for name, value in self.details)
        if self.jaeger_links:
            lines.extend(f"example trace: {link}" for link in self.jaeger_links)
        elif self.trace_ids:
            lines.extend(f"example trace id: {tid}" for tid in self.trace_ids)
        return "\n".join(lines)

    def to_json(self) -> str:
        """JSON for the outbox (round-trips through :meth:`from_json`)."""
        raw = {f.name: getattr(self, f.name) for f in fields(self)}
        return json.dumps(raw, sort_keys=True)  # str enums encode as their values

    @classmethod
    def from_json(cls, text: str) -> AlertTransition:
        """Inverse of :meth:`to_json`.

        Examples
        --------
        >>> t = _example()
        >>> AlertTransition.from_json(t.to_json()) == t
        True
        """
        raw = json.loads(text)
        raw["state"] = AlertState(raw["state"])
        raw["severity"] = Severity(raw["severity"])
        raw["kind"] = ObservationKind(raw["kind"])
        raw["comparison"] = Comparison(raw["comparison"])
        for name in ("trace_ids", "span_ids", "jaeger_links"):
            raw[name] = tuple(raw[name])
        raw["details"] = tuple((str(k), float(v)) for k, v in raw["details"])
        return cls(**raw)


def _iso(ts: float) -> str:
    moment = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _example() -> AlertTransition:
    """A firing accuracy alert, for doctests."""
    return AlertTransition(
        alert_id="0123456789abcdef", model="churn", rule="accuracy_low", feature=None,
        metric="accuracy", state=AlertState.FIRING, repeat=False, severity=Severity.CRITICAL,
        kind=ObservationKind.PERFORMANCE, value=0.78125, threshold=0.85,
        comparison=Comparison.BELOW, window_start=1_700_000_000.0, window_end=1_700_000_060.0,
        n_rows=320, version="3", reference="churn@3",
        trace_ids=("0af7651916cd43dd8448eb211c80319c",),
        span_ids=(), starts_at=1_700_000_000.0, ends_at=None, at=1_700_000_061.0,
    )
