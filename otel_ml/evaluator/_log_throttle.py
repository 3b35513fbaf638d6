"""Logging a recurring cause at most once per interval, with how often it happened since.

A flood of bad requests must show in the log without becoming the log: the first
occurrence of each cause is logged at once, later ones at most every ``interval``
seconds with the number seen in between.

Examples
--------
>>> import logging
>>> t = [0.0]
>>> log = ThrottledLog(logging.getLogger("example"), interval=60.0, clock=lambda: t[0])
>>> log.should_log("404")
(True, 0)
>>> log.should_log("404"), log.should_log("404")
((False, 0), (False, 0))
>>> t[0] = 61.0
>>> log.should_log("404")
(True, 2)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["ThrottledLog"]

#: Causes remembered at once (causes are bounded labels; this is a backstop).
_MAX_CAUSES = 1024


class ThrottledLog:
    """Logs to ``logger`` at most once per ``interval`` seconds per cause."""

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}  # cause -> (logged at, suppressed since)

    def should_log(self, cause: str) -> tuple[bool, int]:
        """Whether to log ``cause`` now, and how many were suppressed since the last time."""
        now = self._clock()
        with self._lock:
            last = self._last.get(cause)
            if last is not None and now - last[0] < self._interval:
                self._last[cause] = (last[0], last[1] + 1)
                return False, 0
            if last is None and len(self._last) >= _MAX_CAUSES:
                self._last.clear()
            self._last[cause] = (now, 0)
            return True, 0 if last is None else last[1]

    def warning(self, cause: str, msg: str, *args: object) -> None:
        """``logger.warning(msg, *args)`` unless ``cause`` was logged within the interval."""
        log, suppressed = self.should_log(cause)
        if log:
            if suppressed:
                msg += " (%d more since the last such message)"
                args = (*args, suppressed)
            self._logger.warning(msg, *args)
