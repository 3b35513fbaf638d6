"""The process-wide, thread-safe store of per-model windows, read by exporters as deltas.

Predict calls add into the *current* windows under one short lock. Each
consumer (the OTLP bridge of a metric reader, the Prometheus collector) calls
:meth:`Consumer.collect` on its own schedule and gets what arrived since its
previous collect: the current windows are swapped out and handed to every
consumer's pending store, so two consumers never steal data from each other
and nothing is counted twice.

Examples
--------
>>> agg = Aggregator()
>>> a, b = agg.register(), agg.register()
>>> key = ModelKey("m", "1")
>>> agg.record_call(key, 0.01, rows=5, error_type=None)
>>> a.collect().windows[key].rows, b.collect().windows[key].rows
(5, 5)
>>> a.collect().windows
{}
>>> agg.record_call(key, 0.01, rows=1, error_type=None)
>>> late = agg.register()  # sees only what comes after it
>>> late.collect().windows, a.collect().windows[key].rows
({}, 1)
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from otel_ml.instrumentation import _clock
from otel_ml.instrumentation._window import ModelKey, ModelWindow

__all__ = ["Aggregator", "Consumer", "Delta", "default_aggregator"]


@dataclass(frozen=True)
class Delta:
    """Windows accumulated between ``start_time_unix_nano`` and ``time_unix_nano``."""

    start_time_unix_nano: int
    time_unix_nano: int
    windows: dict[ModelKey, ModelWindow]


class Consumer:
    """One reader of the aggregator (see :meth:`Aggregator.register`)."""

    def __init__(self, aggregator: Aggregator, start_ns: int) -> None:
        self._aggregator = aggregator
        self._pending: dict[ModelKey, ModelWindow] = {}
        self._start_ns = start_ns

    def collect(self) -> Delta:
        """Everything recorded since this consumer's previous collect (a DELTA)."""
        return self._aggregator._collect_for(self)

    def close(self) -> None:
        self._aggregator._unregister(self)


class Aggregator:
    """Thread-safe per-model windows; see the module docstring."""

    def __init__(self, *, max_features: int = 1000, max_classes: int = 100) -> None:
        self._lock = threading.Lock()
        self._current: dict[ModelKey, ModelWindow] = {}
        self._consumers: list[Consumer] = []
        self.max_features = max_features
        self.max_classes = max_classes
        #: hooks run by every collect before the swap (the worker's drain)
        self.before_collect: list[Callable[[], None]] = []
        _LIVE.add(self)

    def _after_fork_in_child(self) -> None:
        # The parent exports what it gathered; the child starts empty (no double counting)
        # and with a fresh lock (another parent thread may have held it at fork time).
        self._lock = threading.Lock()
        self._current = {}
        for c in self._consumers:
            c._pending = {}

    # ---- writers (hot path / worker) ---------------------------------------------------
    def record_call(
        self, key: ModelKey, seconds: float, *, rows: int, error_type: str | None
    ) -> None:
        with self._lock:
            w = self._current.get(key)
            if w is None:
                w = self._current[key] = ModelWindow()
            w.add_call(seconds, rows=rows, error_type=error_type)

    def merge(self, key: ModelKey, window: ModelWindow) -> None:
        """Add a window built outside the lock (features of one batch); the caller gives it up."""
        with self._lock:
            w = self._current.get(key)
            if w is None:
                w = self._current[key] = ModelWindow()
            w.merge(
                window, max_features=self.max_features, max_classes=self.max_classes, adopt=True
            )

    # ---- readers -----------------------------------------------------------------------
    def register(self) -> Consumer:
        """A new consumer; it sees what is recorded from now on.

        What was recorded before goes to the existing consumers only (or nowhere).
        """
        for hook in list(self.before_collect):
            hook()
        with self._lock:
            self._hand_out_current()
            c = Consumer(self, _clock.time_ns())
            self._consumers.append(c)
            return c

    @property
    def n_consumers(self) -> int:
        return len(self._consumers)

    def _unregister(self, consumer: Consumer) -> None:
        with self._lock:
            if consumer in self._consumers:
                self._consumers.remove(consumer)

    def _hand_out_current(self) -> None:
        """Move the current windows into every consumer's pending store (lock held)."""
        current, self._current = self._current, {}
        for c in self._consumers:
            for key, w in current.items():
                mine = c._pending.get(key)
                if mine is None:
                    mine = c._pending[key] = ModelWindow()
                mine.merge(w, max_features=self.max_features, max_classes=self.max_classes)

    def _collect_for(self, consumer: Consumer) -> Delta:
        for hook in list(self.before_collect):
            hook()
        now = _clock.time_ns()
        with self._lock:
            self._hand_out_current()
            pending, consumer._pending = consumer._pending, {}
            start, consumer._start_ns = consumer._start_ns, now
        return Delta(start, now, {k: w for k, w in pending.items() if not w.is_empty()})


_LIVE: weakref.WeakSet[Aggregator] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for agg in list(_LIVE):
        agg._after_fork_in_child()


os.register_at_fork(after_in_child=_reset_after_fork)

_DEFAULT: Aggregator | None = None
_DEFAULT_LOCK = threading.Lock()


def default_aggregator() -> Aggregator:
    """The process-wide aggregator shared by every monitor and exporter bridge."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Aggregator()
        return _DEFAULT
