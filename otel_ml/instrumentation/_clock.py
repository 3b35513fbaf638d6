"""The SDK's wall clock: the time of prediction and outcome events and of exported points.

Every timestamp otel_ml puts on a signal (a prediction event's time, an outcome
event's time, the start and end of an exported delta) is read through
:data:`time_ns`, the real ``time.time_ns`` unless a simulation replaced it with
:func:`use_clock` (``otel-ml demo`` serves hours of simulated traffic in seconds
this way). Call sites read ``_clock.time_ns()`` through the module, so a
replacement takes effect everywhere at once and costs nothing on the hot path.
Durations are measured with ``time.perf_counter`` and are never simulated.

Examples
--------
>>> from otel_ml.instrumentation import _clock
>>> _clock.use_clock(lambda: 1_700_000_000_000_000_000)
>>> _clock.time_ns()
1700000000000000000
>>> _clock.use_clock(None)
>>> _clock.time_ns() > 1_700_000_000_000_000_000
True
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["time_ns", "use_clock"]

#: The current Unix time in nanoseconds (replaced by :func:`use_clock`).
time_ns: Callable[[], int] = time.time_ns


def use_clock(clock: Callable[[], int] | None) -> None:
    """Read every otel_ml timestamp from ``clock`` (Unix ns); ``None`` restores the real one.

    Process-wide; meant for simulations and tests, set before any monitored call.
    """
    global time_ns
    time_ns = time.time_ns if clock is None else clock
