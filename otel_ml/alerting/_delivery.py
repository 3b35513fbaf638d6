"""Asynchronous delivery of a SQLite outbox, one worker per channel.

:class:`OutboxDispatcher` is the machinery: each channel (a notifier, or the
evaluator's MLflow sink) has its own thread, so a slow or failing channel never
delays the others. A worker takes the oldest pending item of each key (an alert,
a model version) from the outbox, sends it, and on a retryable failure schedules
the next attempt with exponential backoff and jitter (bounded by ``max_backoff``;
given up after ``max_age``). Each outcome — delivered | retried | failed |
dropped — is reported to the owner's counter.

:class:`Dispatcher` delivers alert notifications with it: outcomes are counted
on ``otel_ml.notifications`` (``otel_ml.notifier``, ``otel_ml.outcome``), and
Alertmanager notifiers also re-post firing alerts every ``resend_interval`` so
Alertmanager does not expire them.

``run_once`` does the same work synchronously, for tests and one-shot use.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from opentelemetry.metrics import MeterProvider, get_meter_provider

from otel_ml import semconv
from otel_ml._version import __version__
from otel_ml.alerting._notifier_config import AlertmanagerConfig, NotifierConfig, RetryPolicy
from otel_ml.alerting._senders import DeliveryError, Sender
from otel_ml.alerting._state_machine import FIRING, FIRING_MARK, AlertRecord
from otel_ml.alerting._store import AlertStore, OutboxItem
from otel_ml.alerting._transition import AlertTransition

__all__ = ["Channel", "Dispatcher", "OutboxDispatcher"]

_log = logging.getLogger("otel_ml.alerting")

DELIVERED = "delivered"
RETRIED = "retried"
FAILED = "failed"
DROPPED = "dropped"

#: ``count(channel, outcome, n)``: where a dispatcher reports what happened to its items.
OutcomeCounter = Callable[[str, str, int], None]


@dataclass(frozen=True)
class Channel:
    """One destination of an outbox.

    ``name`` is the outbox's ``notifier`` column; ``send(payload, now)`` delivers one
    item's payload or raises :class:`DeliveryError`; ``refresh(now)``, if given, runs
    before each pass over the channel's items (it may queue more). ``what`` names an
    item in log lines ("notification", "window").
    """

    name: str
    retry: RetryPolicy
    send: Callable[[str, float], None]
    refresh: Callable[[float], None] | None = None
    what: str = "notification"


class OutboxDispatcher:
    """Delivers the outbox of an :class:`AlertStore` to its channels.

    Parameters
    ----------
    store
        The store holding the outbox.
    channels
        Where items go, by the outbox's ``notifier`` column. Items of other
        channels are removed at start (counted as dropped).
    count
        ``count(channel, outcome, n)`` for every outcome.
    clock
        Current time, Unix seconds.
    rng
        Jitter source.
    poll_interval
        Longest a worker sleeps before looking at the outbox again.
    log_prefix, thread_prefix
        How log lines start ("otel_ml alerting") and worker threads are named.
    """

    def __init__(
        self,
        store: AlertStore,
        channels: Sequence[Channel],
        *,
        count: OutcomeCounter,
        clock: Callable[[], float],
        rng: random.Random | None = None,
        poll_interval: float = 5.0,
        log_prefix: str = "otel_ml alerting",
        thread_prefix: str = "otel-ml-notify",
    ) -> None:
        self._store = store
        self._channels = {c.name: c for c in channels}
        self._count = count
        self._clock = clock
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._poll = poll_interval
        self._prefix = log_prefix
        self._thread_prefix = thread_prefix
        self._stop = threading.Event()
        self._wake = {name: threading.Event() for name in self._channels}
        self._threads: list[threading.Thread] = []
        self._warned: set[tuple[str, str]] = set()
        for name, n in store.drop_other_notifiers(self._channels).items():
            self._count(name, DROPPED, n)
            _log.warning(
                "%s: dropped %d queued items for %s, which is no longer configured",
                self._prefix, n, name,
            )

    # -- synchronous API -------------------------------------------------------------
    def run_once(self, now: float | None = None) -> int:
        """Deliver everything due now to every channel; return how many were delivered."""
        delivered = 0
        for name in self._channels:
            delivered += self._run_channel(name, now)
        return delivered

    def next_due(self) -> float | None:
        """The earliest time some queued item is due."""
        times = [t for t in (self._store.next_due(n) for n in self._channels) if t is not None]
        return min(times) if times else None

    # -- threads -----------------------------------------------------------------------
    def start(self) -> None:
        """Start one delivery thread per channel (idempotent)."""
        if self._threads:
            return
        self._stop.clear()
        for name in self._channels:
            thread = threading.Thread(
                target=self._worker, args=(name,), name=f"{self._thread_prefix}-{name}", daemon=True
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
                self._run_channel(name, None)
            except Exception:  # noqa: BLE001 - the worker must survive; counted and logged
                self._count(name, FAILED, 1)
                _log.exception("%s: delivery worker %s failed; retrying", self._prefix, name)
            due = self._store.next_due(name)
            delay = self._poll if due is None else min(self._poll, max(0.0, due - self._clock()))
            if wake.wait(delay):
                wake.clear()

    # -- one channel -------------------------------------------------------------------
    def _run_channel(self, name: str, now: float | None) -> int:
        channel = self._channels[name]
        if channel.refresh is not None:
            channel.refresh(self._now(now))
        delivered = 0
        for item in self._store.due(name, self._now(now)):
            if self._stop.is_set() and now is None:
                break
            delivered += self._deliver(channel, item, self._now(now))
        return delivered

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def _deliver(self, channel: Channel, item: OutboxItem, now: float) -> int:
        name = channel.name
        if now - item.created_at > channel.retry.max_age:
            self._store.dropped(item)
            self._count(name, DROPPED, 1)
            _log.error(
                "%s: gave up on %s %s for %s after %d attempts",
                self._prefix, name, channel.what, item.alert_id, item.attempts,
            )
            return 0
        try:
            channel.send(item.transition, now)
        except DeliveryError as exc:
            if not exc.retryable:
                self._store.dropped(item)
                self._count(name, FAILED, 1)
                _log.error(
                    "%s: %s rejected %s %s (%s); not retrying",
                    self._prefix, name, channel.what, item.alert_id, exc,
                )
                return 0
            with self._rng_lock:
                delay = channel.retry.backoff(item.attempts + 1, self._rng)
            self._store.retry_later(item, now + delay, str(exc))
            self._count(name, RETRIED, 1)
            cause = (name, str(exc)[:80])
            if cause not in self._warned:
                if len(self._warned) > 1000:  # bounded, whatever the errors look like
                    self._warned.clear()
                self._warned.add(cause)
                _log.warning(
                    "%s: %s delivery failed (%s); retrying with backoff", self._prefix, name, exc,
                )
            return 0
        self._store.delivered(item, now)
        self._count(name, DELIVERED, 1)
        return 1


class Dispatcher(OutboxDispatcher):
    """Delivers the notification outbox of an :class:`AlertStore` to the configured notifiers.

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
        meter = (meter_provider or get_meter_provider()).get_meter(
            semconv.EVALUATOR_SCOPE_NAME, __version__
        )
        counter = meter.create_counter(
            semconv.METRIC_NOTIFICATIONS,
            unit="{notification}",
            description="Alert notifications by notifier and outcome",
        )

        def count(name: str, outcome: str, n: int) -> None:
            counter.add(n, {semconv.NOTIFIER: name, semconv.OUTCOME: outcome})

        channels = [
            Channel(
                n.name,
                n.retry,
                functools.partial(_send_transition, senders[n.name]),
                functools.partial(self._refresh_firing, n)
                if isinstance(n, AlertmanagerConfig) else None,
            )
            for n in notifiers
        ]
        super().__init__(
            store, channels, count=count, clock=clock, rng=rng, poll_interval=poll_interval
        )

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


def _send_transition(sender: Sender, payload: str, now: float) -> None:
    sender(AlertTransition.from_json(payload), now)
