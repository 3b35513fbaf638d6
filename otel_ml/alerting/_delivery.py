"""Asynchronous delivery of queued notifications, one worker per notifier.

Each notifier has its own thread, so a slow or failing notifier never delays
the others. A worker takes the oldest pending notification of each alert from
the SQLite outbox, sends it, and on a retryable failure schedules the next
attempt with exponential backoff and jitter (bounded by ``max_backoff``; given up
after ``max_age``). Outcomes are counted on ``otel_ml.notifications``
(``otel_ml.notifier``, ``otel_ml.outcome`` = delivered | retried | failed |
dropped). Alertmanager notifiers also re-post firing alerts every
``resend_interval`` so Alertmanager does not expire them.

``run_once`` does the same work synchronously, for tests and one-shot use.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence

from opentelemetry.metrics import MeterProvider, get_meter_provider

from otel_ml import semconv
from otel_ml._version import __version__
from otel_ml.alerting._notifier_config import AlertmanagerConfig, NotifierConfig
from otel_ml.alerting._senders import DeliveryError, Sender
from otel_ml.alerting._state_machine import FIRING, FIRING_MARK, AlertRecord
from otel_ml.alerting._store import AlertStore, OutboxItem
from otel_ml.alerting._transition import AlertTransition

__all__ = ["Dispatcher"]

_log = logging.getLogger("otel_ml.alerting")

DELIVERED = "delivered"
RETRIED = "retried"
FAILED = "failed"
DROPPED = "dropped"


class Dispatcher:
    """Delivers the outbox of an :class:`AlertStore` to the configured notifiers.

    Parameters
    ----------
    store
        The alert store (records and outbox).
    notifiers
        The notifier configurations.
    senders
        The sender of each notifier, by name.
    clock
        Current time, Unix seconds.
    meter_provider
        Where ``otel_ml.notifications`` is counted (global provider by default).
    rng
        Jitter source.
    poll_interval
        Longest a worker sleeps before looking at the outbox again.
    """

    def __init__(
        self,
        store: AlertStore,
        notifiers: Sequence[NotifierConfig],
        senders: Mapping[str, Sender],
        *,
        clock: Callable[[], float],
        meter_provider: MeterProvider | None = None,
        rng: random.Random | None = None,
        poll_interval: float = 5.0,
    ) -> None:
        self._store = store
        self._notifiers = {n.name: n for n in notifiers}
        self._senders = dict(senders)
        self._clock = clock
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._poll = poll_interval
        meter = (meter_provider or get_meter_provider()).get_meter(
            semconv.EVALUATOR_SCOPE_NAME, __version__
        )
        self._counter = meter.create_counter(
            semconv.METRIC_NOTIFICATIONS,
            unit="{notification}",
            description="Alert notifications by notifier and outcome",
        )
        self._stop = threading.Event()
        self._wake = {name: threading.Event() for name in self._notifiers}
        self._threads: list[threading.Thread] = []
        self._warned: set[tuple[str, str]] = set()
        for name, count in store.drop_other_notifiers(self._notifiers).items():
            self._counter.add(count, {semconv.NOTIFIER: name, semconv.OUTCOME: DROPPED})
            _log.warning(
                "otel_ml alerting: dropped %d queued notifications for notifier %s, "
                "which is no longer configured", count, name,
            )

    # -- synchronous API -------------------------------------------------------------
    def run_once(self, now: float | None = None) -> int:
        """Deliver everything due now to every notifier; return how many were delivered."""
        delivered = 0
        for name in self._notifiers:
            delivered += self._run_notifier(name, now)
        return delivered

    def next_due(self) -> float | None:
        """The earliest time some queued notification is due."""
        times = [t for t in (self._store.next_due(n) for n in self._notifiers) if t is not None]
        return min(times) if times else None

    # -- threads -----------------------------------------------------------------------
    def start(self) -> None:
        """Start one delivery thread per notifier (idempotent)."""
        if self._threads:
            return
        self._stop.clear()
        for name in self._notifiers:
            thread = threading.Thread(
                target=self._worker, args=(name,), name=f"otel-ml-notify-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        """Tell every worker that something was queued."""
        for event in self._wake.values():
            event.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads; whatever is still queued stays in the outbox."""
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def _worker(self, name: str) -> None:
        wake = self._wake[name]
        while not self._stop.is_set():
            try:
                self._run_notifier(name, None)
            except Exception:  # noqa: BLE001 - the worker must survive; counted and logged
                self._counter.add(1, {semconv.NOTIFIER: name, semconv.OUTCOME: FAILED})
                _log.exception("otel_ml alerting: delivery worker %s failed; retrying", name)
            due = self._store.next_due(name)
            delay = self._poll if due is None else min(self._poll, max(0.0, due - self._clock()))
            if wake.wait(delay):
                wake.clear()

    # -- one notifier ------------------------------------------------------------------
    def _run_notifier(self, name: str, now: float | None) -> int:
        config = self._notifiers[name]
        if isinstance(config, AlertmanagerConfig):
            self._refresh_firing(config, self._now(now))
        delivered = 0
        for item in self._store.due(name, self._now(now)):
            if self._stop.is_set() and now is None:
                break
            delivered += self._deliver(config, item, self._now(now))
        return delivered

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def _deliver(self, config: NotifierConfig, item: OutboxItem, now: float) -> int:
        attrs = {semconv.NOTIFIER: config.name}
        if now - item.created_at > config.retry.max_age:
            self._store.dropped(item)
            self._counter.add(1, {**attrs, semconv.OUTCOME: DROPPED})
            _log.error(
                "otel_ml alerting: gave up on %s notification for alert %s after %d attempts",
                config.name, item.alert_id, item.attempts,
            )
            return 0
        transition = AlertTransition.from_json(item.transition)
        try:
            self._senders[config.name](transition, now)
        except DeliveryError as exc:
            if not exc.retryable:
                self._store.dropped(item)
                self._counter.add(1, {**attrs, semconv.OUTCOME: FAILED})
                _log.error(
                    "otel_ml alerting: %s rejected alert %s (%s); not retrying",
                    config.name, item.alert_id, exc,
                )
                return 0
            with self._rng_lock:
                delay = config.retry.backoff(item.attempts + 1, self._rng)
            self._store.retry_later(item, now + delay, str(exc))
            self._counter.add(1, {**attrs, semconv.OUTCOME: RETRIED})
            cause = (config.name, str(exc)[:80])
            if cause not in self._warned:
                if len(self._warned) > 1000:  # bounded, whatever the errors look like
                    self._warned.clear()
                self._warned.add(cause)
                _log.warning(
                    "otel_ml alerting: %s delivery failed (%s); retrying with backoff",
                    config.name, exc,
                )
            return 0
        self._store.delivered(item, now)
        self._counter.add(1, {**attrs, semconv.OUTCOME: DELIVERED})
        return 1

    def _refresh_firing(self, config: AlertmanagerConfig, now: float) -> None:
        """Queue a re-post of every firing alert Alertmanager has not heard of lately."""
        for alert_id, raw in self._store.records():
            if FIRING_MARK not in raw:
                continue
            record = AlertRecord.from_json(raw)
            if record.state != FIRING or record.firing is None:
                continue
            last = self._store.last_sent(config.name, alert_id)
            if last is not None and now - last < config.resend_interval:
                continue
            firing = AlertTransition.from_json(record.firing)
            if not config.route.matches(firing.severity, firing.model):
                continue
            with self._store.transaction() as tx:
                if not tx.has_pending(config.name, alert_id):
                    tx.enqueue(config.name, alert_id, record.firing, now)
