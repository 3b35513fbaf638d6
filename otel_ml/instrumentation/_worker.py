"""The background worker: turns buffered small calls into sketches and events, off the hot path.

A predict call of a few rows only appends a record to a deque (a few hundred
nanoseconds); this daemon thread drains it every ``interval`` seconds or as
soon as ``wake_at`` records are waiting, and every metric collection drains it
first (so an export carries every call made before it). The queue is bounded:
past ``capacity`` records the calling thread drains it itself (nothing is lost,
memory stays bounded); only if another thread is draining at that moment and
the queue is at twice its capacity is a record dropped, and counted.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Worker"]

T = TypeVar("T")


class Worker(Generic[T]):
    """A bounded queue of records processed in batches by ``process`` on a daemon thread.

    ``process`` receives each batch as a list it may empty, to let records go early.
    """

    def __init__(
        self,
        process: Callable[[list[T]], None],
        *,
        on_drop: Callable[[], None],
        after_drain: Callable[[bool], None] | None = None,
        capacity: int = 20_000,
        wake_at: int = 2048,
        interval: float = 0.5,
        name: str = "otel_ml-worker",
    ) -> None:
        self._process = process
        self._on_drop = on_drop
        self._after_drain = after_drain
        self.capacity = capacity
        self._wake_at = wake_at
        self._interval = interval
        self._name = name
        self._exit_hook = False
        self._init_state()
        reinit = weakref.WeakMethod(self._init_state)  # a dead worker is not kept alive

        def after_fork_in_child() -> None:
            method = reinit()
            if method is not None:
                method()

        os.register_at_fork(after_in_child=after_fork_in_child)

    def _init_state(self) -> None:
        self._queue: deque[T] = deque()
        self._drain_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._queue)

    def submit(self, item: T) -> None:
        """Hot path: enqueue, waking or (when full) draining; never raises."""
        q = self._queue
        n = len(q)
        if n >= self.capacity:
            if self._drain_lock.acquire(blocking=False):
                try:
                    self._drain_locked(force=False)
                finally:
                    self._drain_lock.release()
            elif n >= 2 * self.capacity:
                self._on_drop()
                return
        q.append(item)
        if self._thread is None:
            self._start()
        elif n + 1 == self._wake_at:
            self._wake.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                t = threading.Thread(target=self._run, name=self._name, daemon=True)
                t.start()
                self._thread = t
                if not self._exit_hook:
                    # Registered after the app's providers (first monitored call), so it
                    # runs before their own exit shutdown: buffered events still go out.
                    atexit.register(self.drain)
                    self._exit_hook = True

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._drain_lock:
                self._drain_locked(force=False)

    def drain(self) -> None:
        """Process everything queued so far (called by collectors, flush and at exit);
        ``after_drain(True)`` then sends what waits to be sent."""
        with self._drain_lock:
            self._drain_locked(force=True)

    def _drain_locked(self, *, force: bool) -> None:
        q = self._queue
        while q:
            batch: list[T] = []
            pop = q.popleft
            try:
                for _ in range(min(len(q), 4096)):
                    batch.append(pop())
            except IndexError:
                pass
            self._process(batch)
        if self._after_drain is not None:
            self._after_drain(force)

    def stop(self, timeout: float = 5.0) -> None:
        """Drain and stop the thread (it restarts on the next submit)."""
        self._stop.set()
        self._wake.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
        self.drain()
        self._thread = None
        self._stop.clear()
