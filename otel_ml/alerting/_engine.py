"""The alert engine: observations in, transitions out, delivered reliably.

::

    evaluator ──observe(observations, now)──► rules + hysteresis (per alert identity)
                                                 │  one SQLite transaction:
                                                 │  alert records + outbox rows
                                                 ├─► ml.alert OTel log event
                                                 └─► outbox ──► one worker per notifier
                                                                (retries, backoff, metric)
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from opentelemetry._logs import LoggerProvider
from opentelemetry.metrics import CallbackOptions, MeterProvider, get_meter_provider
from opentelemetry.metrics import Observation as MetricPoint

from otel_ml import semconv
from otel_ml._version import __version__
from otel_ml.alerting._config import AlertingConfig
from otel_ml.alerting._delivery import Dispatcher
from otel_ml.alerting._log_event import AlertLogEmitter
from otel_ml.alerting._notifier_config import AlertmanagerConfig
from otel_ml.alerting._observation import Observation, ObservationKind
from otel_ml.alerting._rules import AlertKey, Comparison, RuleConfig
from otel_ml.alerting._senders import Sender, make_sender
from otel_ml.alerting._state_machine import FIRING, FIRING_MARK, AlertRecord, step
from otel_ml.alerting._store import AlertStore
from otel_ml.alerting._transition import AlertState, AlertTransition

__all__ = ["AlertEngine", "STATE_FILE"]

STATE_FILE = "alerting.sqlite3"


class AlertEngine:
    """Applies the alert rules to each window's observations and delivers the transitions.

    Parameters
    ----------
    config
        From :func:`parse_alerting_config`.
    state_dir
        Directory of the SQLite file (``alerting.sqlite3``) holding alert
        state and undelivered notifications; ``None`` keeps them in memory
        (lost on restart: tests only).
    logger_provider, meter_provider
        OTel providers for the ``ml.alert`` log events and the
        ``otel_ml.notifications`` / ``ml.alerts.firing`` metrics (global ones
        by default).
    clock
        Current time, Unix seconds (delivery, and ``observe`` without ``now``).
    rng
        Jitter source for retry backoff.
    senders
        Replace the sender of a notifier by name (tests that need a fault).
    poll_interval
        Longest a delivery worker sleeps between looks at the outbox.

    Examples
    --------
    >>> from otel_ml.alerting import parse_alerting_config
    >>> engine = AlertEngine(parse_alerting_config({}))
    >>> def window(i, acc):
    ...     return [Observation("churn", "3", "performance", acc, 60.0 * i, 60.0 * i + 60,
    ...                         500, metric="accuracy")]
    >>> [t.state.value for i, a in enumerate([0.8, 0.8, 0.9, 0.9])
    ...  for t in engine.observe(window(i, a), now=60.0 * i + 61)]
    ['firing', 'resolved']
    >>> engine.close()
    """

    def __init__(
        self,
        config: AlertingConfig,
        *,
        state_dir: str | Path | None = None,
        logger_provider: LoggerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        senders: Mapping[str, Sender] | None = None,
        poll_interval: float = 5.0,
    ) -> None:
        self._config = config
        self._clock = clock
        self._closed = False
        path: str | Path = ":memory:" if state_dir is None else Path(state_dir) / STATE_FILE
        self._store = AlertStore(path)
        self._log_events = AlertLogEmitter(logger_provider)
        all_senders = {n.name: make_sender(n) for n in config.notifiers}
        all_senders.update(senders or {})
        self._dispatcher = Dispatcher(
            self._store,
            config.notifiers,
            all_senders,
            clock=clock,
            meter_provider=meter_provider,
            rng=rng,
            poll_interval=poll_interval,
        )
        meter = (meter_provider or get_meter_provider()).get_meter(
            semconv.EVALUATOR_SCOPE_NAME, __version__
        )
        meter.create_observable_gauge(
            semconv.METRIC_ALERTS_FIRING,
            callbacks=[self._firing_gauge],
            unit="{alert}",
            description="Alerts firing, by model, rule and severity",
        )

    @property
    def config(self) -> AlertingConfig:
        """The configuration in use."""
        return self._config

    def observe(
        self, observations: Iterable[Observation], now: float | None = None
    ) -> list[AlertTransition]:
        """Apply one evaluation's observations; return the alerts that changed state.

        Observations of several windows may come in one call (they are applied
        in ``window_end`` order); several observations of the same alert and
        window (e.g. two model versions) count as one window, breaching if any
        of them breaches. A firing alert whose rule was removed or disabled, or
        that saw no observation for the rule's ``resolve_if_absent``, resolves
        here too. The new state and the notifications are written in
        one transaction, then each transition is emitted as an ``ml.alert`` log
        event and the delivery workers are woken.

        Raises
        ------
        sqlite3.Error
            If the state directory cannot be written (nothing was changed).
        """
        at = self._clock() if now is None else now
        by_alert: dict[AlertKey, dict[float, list[tuple[RuleConfig, Observation]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        rules_by_kind: dict[tuple[str, ObservationKind], list[RuleConfig]] = {}
        for obs in observations:
            rules = rules_by_kind.get((obs.model, obs.kind))
            if rules is None:
                rules = [r for r in self._config.rules_for(obs.model) if r.kind is obs.kind]
                rules_by_kind[(obs.model, obs.kind)] = rules
            for rule in rules:
                if rule.applies_to(obs):
                    by_alert[rule.key(obs)][obs.window_end].append((rule, obs))
        transitions: list[AlertTransition] = []
        with self._store.transaction() as tx:
            stored = dict(self._store.records())
            for key, windows in by_alert.items():
                alert_id = key.alert_id
                record = AlertRecord.from_json(stored.get(alert_id))
                before = record
                for window_end in sorted(windows):
                    rule, obs = _worst(windows[window_end])
                    record, transition = step(
                        record, rule, obs, now=at, jaeger_url=self._config.jaeger_url
                    )
                    if transition is not None:
                        transitions.append(transition)
                        tx.enqueue_many(self._routes(transition), at)
                if record is not before:
                    stored[alert_id] = record.to_json()
                    tx.put_record(alert_id, stored[alert_id])
            for alert_id, record in self._stale(stored, at):
                transition = dataclasses.replace(
                    AlertTransition.from_json(record.firing or ""),
                    state=AlertState.RESOLVED, repeat=False, ends_at=at, at=at,
                )
                transitions.append(transition)
                tx.enqueue_many(self._routes(transition), at)
                tx.put_record(alert_id, AlertRecord(last_window_end=record.last_window_end,
                                                    last_notified_at=at).to_json())
        for transition in transitions:
            self._log_events.emit(transition)
        if transitions:
            self._dispatcher.wake()
        return transitions

    def _stale(self, stored: Mapping[str, str], now: float) -> list[tuple[str, AlertRecord]]:
        """Firing alerts to resolve without a clear window: their rule was removed or
        disabled, or nothing was observed for ``resolve_if_absent``."""
        out = []
        for alert_id, raw in stored.items():
            if FIRING_MARK not in raw:
                continue
            record = AlertRecord.from_json(raw)
            if record.state != FIRING or record.firing is None:
                continue
            firing = AlertTransition.from_json(record.firing)
            rule = self._config.rule_named(firing.model, firing.rule)
            last = record.last_window_end if record.last_window_end is not None else now
            if (
                rule is None
                or not rule.enabled
                or (rule.resolve_if_absent is not None and now - last > rule.resolve_if_absent)
            ):
                out.append((alert_id, record))
        return out

    def _routes(self, t: AlertTransition) -> list[tuple[str, str, str]]:
        payload = t.to_json()
        out = []
        for notifier in self._config.notifiers:
            if not notifier.route.matches(t.severity, t.model):
                continue
            if t.state is AlertState.RESOLVED and not notifier.send_resolved:
                continue
            if t.repeat and isinstance(notifier, AlertmanagerConfig):
                continue  # Alertmanager repeats by itself (its repeat_interval)
            out.append((notifier.name, t.alert_id, payload))
        return out

    def firing(self) -> list[AlertTransition]:
        """The alerts firing now (their latest firing transition), for reports."""
        out = []
        for _, raw in self._store.records():
            if FIRING_MARK not in raw:
                continue
            record = AlertRecord.from_json(raw)
            if record.state == FIRING and record.firing is not None:
                out.append(AlertTransition.from_json(record.firing))
        return sorted(out, key=lambda t: (t.model, t.rule, t.feature or "", t.metric or ""))

    def pending_notifications(self, notifier: str | None = None) -> int:
        """Notifications queued and not yet delivered."""
        return self._store.pending(notifier)

    def deliver_pending(self, now: float | None = None) -> int:
        """Deliver what is due now, synchronously (without the worker threads)."""
        return self._dispatcher.run_once(now)

    def next_delivery_due(self) -> float | None:
        """When the next queued notification is due (for a stepping caller)."""
        return self._dispatcher.next_due()

    def start(self) -> None:
        """Start the background delivery workers (one per notifier)."""
        self._dispatcher.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the workers and close the store; queued notifications stay on disk."""
        self._closed = True
        self._dispatcher.stop(timeout)
        self._store.close()

    def _firing_gauge(self, options: CallbackOptions) -> Iterable[MetricPoint]:
        if self._closed:
            return []
        counts: dict[tuple[str, str, str], int] = defaultdict(int)
        for t in self.firing():
            counts[(t.model, t.rule, t.severity.value)] += 1
        return [
            MetricPoint(
                n,
                {semconv.ML_MODEL_NAME: m, semconv.ML_ALERT_RULE: r, semconv.ML_ALERT_SEVERITY: s},
            )
            for (m, r, s), n in counts.items()
        ]


def _worst(candidates: list[tuple[RuleConfig, Observation]]) -> tuple[RuleConfig, Observation]:
    """Of several observations of one alert and window, the one that matters most."""
    breaching = [c for c in candidates if c[0].breached(c[1])]
    if not breaching:
        return candidates[-1]

    def severity(c: tuple[RuleConfig, Observation]) -> float:
        rule, obs = c
        value = obs.statistic(rule.metric)
        if value is None or rule.threshold is None:
            return 0.0
        gap = value - rule.threshold
        return gap if rule.comparison is Comparison.ABOVE else -gap

    return max(breaching, key=severity)
