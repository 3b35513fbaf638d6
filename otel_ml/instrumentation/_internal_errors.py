"""otel_ml's own failures: logged once per cause, counted on ``otel_ml.internal.errors``.

Nothing here raises: this is what the hot path calls when something of ours
went wrong, and the user's call must go on.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter as _Tally

from opentelemetry import metrics

from otel_ml import semconv
from otel_ml._version import __version__

__all__ = ["InternalErrors", "STAGES"]

_logger = logging.getLogger("otel_ml")

#: Where a failure happened (the ``otel_ml.stage`` attribute).
STAGE_INPUTS = "inputs"
STAGE_OUTPUTS = "outputs"
STAGE_FEATURES = "features"
STAGE_EVENTS = "events"
STAGE_RECORD = "record"
STAGE_EXPORT = "export"
STAGE_WORKER = "worker"
STAGES = (
    STAGE_INPUTS,
    STAGE_OUTPUTS,
    STAGE_FEATURES,
    STAGE_EVENTS,
    STAGE_RECORD,
    STAGE_EXPORT,
    STAGE_WORKER,
)


class InternalErrors:
    """Counts (and logs once per ``(stage, error type)``) otel_ml's own failures.

    ``counts`` is kept in process too, so tests and ``otel-ml`` diagnostics
    can read it without an exporter.
    """

    def __init__(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        meter = metrics.get_meter(semconv.SCOPE_NAME, __version__, meter_provider)
        self._counter = meter.create_counter(
            semconv.METRIC_INTERNAL_ERRORS,
            unit=semconv.UNIT_ERRORS,
            description="otel_ml's own failures, by stage and error type (never the model's).",
        )
        self._lock = threading.Lock()
        self._logged: set[tuple[str, str]] = set()
        self.counts: _Tally[tuple[str, str]] = _Tally()

    def report(self, stage: str, exc: BaseException) -> None:
        """Count one failure of ours (``error.type`` is the exception's class name)."""
        self.count(stage, type(exc).__qualname__, exc=exc)

    def count(
        self, stage: str, error_type: str, n: int = 1, *, exc: BaseException | None = None
    ) -> None:
        """Count ``n`` failures (or dropped items) of one cause; log the first of each cause."""
        key = (stage, error_type)
        try:
            with self._lock:
                self.counts[key] += n
                first = key not in self._logged
                self._logged.add(key)
            if first:
                _logger.warning(
                    "otel_ml: internal failure at stage %r (%s: %s); the model call is "
                    "unaffected. Further %s failures at this stage are counted on %s, "
                    "not logged.",
                    stage,
                    error_type,
                    exc if exc is not None else "telemetry dropped",
                    error_type,
                    semconv.METRIC_INTERNAL_ERRORS,
                    exc_info=exc,
                )
            self._counter.add(n, {semconv.INTERNAL_STAGE: stage, semconv.ERROR_TYPE: error_type})
        except Exception:
            _logger.debug("otel_ml: could not count an internal failure", exc_info=True)

    def total(self) -> int:
        with self._lock:
            return sum(self.counts.values())
