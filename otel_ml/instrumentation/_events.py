"""The ``ml.prediction`` records (batched, bounded in bytes), what was dropped, and ``ml.outcome``.

All are OpenTelemetry log records with ``event_name`` set (the Events API was
folded into ``Logger.emit(event_name=...)`` in SDK 1.44), no body. Attribute
names come from :mod:`otel_ml.semconv`.

**Batched** (``prediction_events=True``, the default): the worker appends each
call's rows to its model's open record, which holds the rows of many calls and
leaves when it reaches :data:`MAX_RECORD_BYTES`, when it is
:data:`MAX_DELAY` seconds old, and on every flush (each metric export,
``otel_ml.flush()``, shutdown, exit). A bigger call is split over several
records. Attributes: ``ml.model.name``, ``ml.model.version``,
``ml.prediction.ids`` (one per row), ``ml.prediction.values`` and/or
``ml.prediction.labels`` (one per row), and one entry per call (or per part of a
split call): ``ml.prediction.call.offsets`` (its first row in the record),
``.trace_ids`` and ``.span_ids`` (hex, ``""`` outside a span) and ``.times``
(Unix ns). The record's own trace context is empty and its time is its first
call's.

**Per call** (``prediction_events="per_call"``, and any call with
``capture_raw_inputs``): one record per call in the call's span context (trace
and span id set), split at :data:`MAX_RECORD_BYTES`, as before batching.

**The byte budget** (:class:`EventBudget`, one per runtime): every row is
charged its estimated wire size while it waits in an open record and for
``hold`` seconds after its record was handed to the log SDK (the SDK does not
tell when it has exported a record; ``hold`` is the batch log processor's
export delay). A call that does not fit keeps the rows that do and drops the
rest: counted on ``otel_ml.predictions.dropped`` and reported in an
``ml.prediction.dropped`` record (generated ids ``<prefix>-<n>`` as ranges
``(prefix, first, last)``, user-given ids as a count in
``ml.prediction.dropped.rows``), so the evaluator can tell labels of dropped
predictions from labels of ids it never saw.

Why :data:`MAX_RECORD_BYTES` is 8 KiB: an OTLP request carries up to the
processor's ``max_export_batch_size`` records (512 by the SDK's default, 4,096
as :func:`otel_ml.configure` sets it), so one request stays under 32 MiB even at
4,096 full records, half the 64 MiB an exporter refuses, and 4 MiB at the SDK's
default; the size is an estimate of the protobuf encoding (ids counted in
characters).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from opentelemetry import metrics
from opentelemetry._logs import Logger, SeverityNumber
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, set_span_in_context

from otel_ml import semconv
from otel_ml._version import __version__
from otel_ml.instrumentation._ids import PredictionIds
from otel_ml.instrumentation._outputs import Outputs

__all__ = [
    "DEFAULT_BUDGET_BYTES",
    "MAX_DELAY",
    "MAX_RECORD_BYTES",
    "EventBudget",
    "PredictionEvents",
    "emit_outcome",
]

_AttrValue = str | int | list[str] | list[float] | list[int]

#: Estimated wire bytes one ``ml.prediction`` record holds at most (see the module docstring).
MAX_RECORD_BYTES = 8 * 1024
#: Seconds an open batched record waits at most before it leaves.
MAX_DELAY = 5.0
#: Bytes of prediction records a runtime holds or has recently handed to the SDK.
DEFAULT_BUDGET_BYTES = 16 * 1024 * 1024
#: Seconds a record handed to the log SDK stays charged to the budget.
DEFAULT_HOLD = 5.0
#: Ranges of dropped ids one ``ml.prediction.dropped`` record holds at most (~7 KiB).
MAX_DROPPED_RANGES = 200

# Estimated protobuf bytes: an AnyValue in an array (tags and lengths), a double, a
# call's entries (offset, two hex ids, a time).
_VALUE_OVERHEAD = 4
_DOUBLE = 11
_CALL_BYTES = 4 + 6 + (32 + 4) + (16 + 4) + 11


class EventBudget:
    """The byte budget of one runtime's prediction records, and their open batches.

    Thread-safe; the batches themselves are touched only under the worker's drain lock.
    """

    def __init__(
        self,
        max_bytes: int = DEFAULT_BUDGET_BYTES,
        *,
        hold: float = DEFAULT_HOLD,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.max_bytes = int(max_bytes)
        self.hold = float(hold)
        meter = metrics.get_meter(semconv.SCOPE_NAME, __version__, meter_provider)
        self._dropped_counter = meter.create_counter(
            semconv.METRIC_PREDICTIONS_DROPPED,
            unit=semconv.UNIT_ROWS,
            description="Prediction rows whose ids and values were not sent: the "
            "event byte budget was spent (listed in ml.prediction.dropped records).",
        )
        #: rows dropped per (model, version), in process (tests, diagnostics)
        self.dropped: Counter[tuple[str, str]] = Counter()
        self._init_state()
        reinit = weakref.WeakMethod(self._init_state)

        def after_fork_in_child() -> None:  # the parent sends what it held, not the child
            method = reinit()
            if method is not None:
                method()

        os.register_at_fork(after_in_child=after_fork_in_child)

    def _init_state(self) -> None:
        # After a fork the child forgets what the parent held open: the parent sends it.
        for events in getattr(self, "_open", {}).values():
            events.forget()
        self._lock = threading.Lock()
        self._waiting = 0
        self._sent: deque[tuple[float, int]] = deque()
        self._sent_bytes = 0
        self._open: dict[int, PredictionEvents] = {}

    def used(self) -> int:
        """Bytes charged now (waiting in open records + recently handed to the SDK)."""
        with self._lock:
            self._expire(time.monotonic())
            return self._waiting + self._sent_bytes

    def _expire(self, now: float) -> None:
        sent = self._sent
        while sent and sent[0][0] <= now:
            self._sent_bytes -= sent.popleft()[1]

    def grant(self, rows: int, row_bytes: int, overhead: int) -> int:
        """How many of ``rows`` rows fit (charged as waiting); the rest is to be dropped."""
        with self._lock:
            self._expire(time.monotonic())
            free = self.max_bytes - self._waiting - self._sent_bytes - overhead
            k = rows if free >= rows * row_bytes else max(0, free // row_bytes)
            if k:
                self._waiting += overhead + k * row_bytes
            return k

    def handed(self, nbytes: int) -> None:
        """``nbytes`` waiting bytes went to the log SDK: charged ``hold`` seconds more."""
        with self._lock:
            self._waiting -= nbytes
            self._sent.append((time.monotonic() + self.hold, nbytes))
            self._sent_bytes += nbytes

    def count_dropped(self, model: str, version: str, rows: int) -> None:
        with self._lock:
            self.dropped[(model, version)] += rows
        self._dropped_counter.add(
            rows, {semconv.ML_MODEL_NAME: model, semconv.ML_MODEL_VERSION: version}
        )

    def mark_open(self, events: PredictionEvents) -> None:
        self._open[id(events)] = events

    def flush(self, *, force: bool) -> None:
        """Send open records (all of them, or those older than :data:`MAX_DELAY`)."""
        now = time.monotonic()
        for key, events in list(self._open.items()):
            if events.flush(now, force=force):
                self._open.pop(key, None)


@dataclass(slots=True)
class _Part:
    """Rows ``lo:hi`` of one call in an open record."""

    ids: PredictionIds
    lo: int
    hi: int
    values: np.ndarray[Any, Any] | None
    labels: np.ndarray[Any, Any] | None
    span_context: SpanContext | None
    time_ns: int


def _label_bytes(labels: np.ndarray[Any, Any]) -> int:
    if labels.dtype.kind == "U":
        return int(labels.dtype.itemsize // 4)
    if labels.dtype.kind == "S":
        return int(labels.dtype.itemsize)
    return max((len(str(v)) for v in labels[:64].tolist()), default=0)


class PredictionEvents:
    """One model version's ``ml.prediction`` records (see the module docstring)."""

    def __init__(
        self,
        logger: Logger,
        budget: EventBudget,
        *,
        model: str,
        version: str,
        per_call: bool,
        max_rows: int = 10_000,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self.logger = logger
        self.budget = budget
        self.model = model
        self.version = version
        self.per_call = per_call
        self.max_record_bytes = max_record_bytes
        self.max_rows = max_rows
        self._rows = 0
        self._parts: list[_Part] = []
        self._bytes = 0
        self._shape = (False, False)
        self._opened = 0.0
        self._drop_rows = 0
        self._drop_prefixes: list[str] = []
        self._drop_first: list[int] = []
        self._drop_last: list[int] = []

    def add(
        self,
        ids: PredictionIds,
        outputs: Outputs | None,
        span_context: SpanContext | None,
        time_ns: int,
        raw_rows: str | None = None,
    ) -> None:
        """One call's rows: into the open record, or a record of its own; what does not
        fit the budget is dropped and reported."""
        n = len(ids)
        if n == 0:
            return
        values = labels = None
        if outputs is not None:
            if outputs.values is not None and len(outputs.values) == n:
                values = outputs.values
            if outputs.labels is not None and len(outputs.labels) == n:
                labels = outputs.labels
        row_bytes = _VALUE_OVERHEAD + -(-ids.text_size(0, n) // n)
        if values is not None:
            row_bytes += _DOUBLE
        if labels is not None:
            row_bytes += _VALUE_OVERHEAD + _label_bytes(labels)
        extra = len(raw_rows) if raw_rows is not None else 0
        kept = self.budget.grant(n, row_bytes, _CALL_BYTES + extra)
        if kept < n:
            self._note_dropped(ids, kept, n)
        if kept == 0:
            return
        if raw_rows is not None or self.per_call:
            self._emit_call(ids, kept, values, labels, span_context, time_ns, row_bytes, raw_rows)
            self.budget.handed(_CALL_BYTES + extra + kept * row_bytes)
            return
        shape = (values is not None, labels is not None)
        if self._parts and shape != self._shape:
            self._emit_open()
        self._shape = shape
        lo = 0
        while lo < kept:
            room = min(
                (self.max_record_bytes - self._bytes - _CALL_BYTES) // row_bytes,
                self.max_rows - self._rows,
            )
            if room < 1 and self._parts:
                self._emit_open()
                continue
            hi = min(kept, lo + max(1, room))
            if not self._parts:
                self._opened = time.monotonic()
                self.budget.mark_open(self)
            self._parts.append(
                _Part(
                    ids,
                    lo,
                    hi,
                    None if values is None else values[lo:hi],
                    None if labels is None else labels[lo:hi],
                    span_context,
                    time_ns,
                )
            )
            self._bytes += _CALL_BYTES + (hi - lo) * row_bytes
            self._rows += hi - lo
            lo = hi
        full = self._bytes + _CALL_BYTES + row_bytes > self.max_record_bytes
        if full or self._rows >= self.max_rows:
            self._emit_open()

    def flush(self, now: float, *, force: bool) -> bool:
        """Send the open record if forced or old enough, and the dropped report;
        ``True`` when nothing is left open."""
        if self._parts and (force or now - self._opened >= MAX_DELAY):
            self._emit_open()
        if self._drop_rows and (force or not self._parts):
            self._emit_dropped()
        return not self._parts and not self._drop_rows

    def forget(self) -> None:
        """Drop the open record and the dropped report unsent (a forked child's copy)."""
        self._parts, self._bytes, self._rows = [], 0, 0
        self._drop_rows = 0
        self._drop_prefixes, self._drop_first, self._drop_last = [], [], []

    # ---- records ----------------------------------------------------------------------
    def _base(self) -> dict[str, _AttrValue]:
        return {semconv.ML_MODEL_NAME: self.model, semconv.ML_MODEL_VERSION: self.version}

    def _emit_open(self) -> None:
        parts, nbytes = self._parts, self._bytes
        self._parts, self._bytes, self._rows = [], 0, 0
        if not parts:
            return
        try:
            attrs = self._base()
            ids: list[str] = []
            offsets: list[int] = []
            traces: list[str] = []
            spans: list[str] = []
            times: list[int] = []
            for p in parts:
                offsets.append(len(ids))
                ids.extend(p.ids.slice(p.lo, p.hi))
                ctx = p.span_context
                valid = ctx is not None and ctx.is_valid
                traces.append(format(ctx.trace_id, "032x") if valid else "")  # type: ignore[union-attr]
                spans.append(format(ctx.span_id, "016x") if valid else "")  # type: ignore[union-attr]
                times.append(p.time_ns)
            attrs[semconv.ML_PREDICTION_IDS] = ids
            if self._shape[0]:
                attrs[semconv.ML_PREDICTION_VALUES] = _joined([p.values for p in parts])
            if self._shape[1]:
                attrs[semconv.ML_PREDICTION_LABELS] = _joined([p.labels for p in parts])
            attrs[semconv.ML_PREDICTION_CALL_OFFSETS] = offsets
            attrs[semconv.ML_PREDICTION_CALL_TRACE_IDS] = traces
            attrs[semconv.ML_PREDICTION_CALL_SPAN_IDS] = spans
            attrs[semconv.ML_PREDICTION_CALL_TIMES] = times
            self.logger.emit(
                timestamp=times[0],
                observed_timestamp=time.time_ns(),
                context=Context(),  # no span: the calls' spans are in the attributes
                severity_number=SeverityNumber.INFO,
                event_name=semconv.EVENT_PREDICTION,
                attributes=attrs,
            )
        finally:
            self.budget.handed(nbytes)

    def _emit_call(
        self,
        ids: PredictionIds,
        n: int,
        values: np.ndarray[Any, Any] | None,
        labels: np.ndarray[Any, Any] | None,
        span_context: SpanContext | None,
        time_ns: int,
        row_bytes: int,
        raw_rows: str | None,
    ) -> None:
        """One call's record(s) in its span's context (the per-call form)."""
        ctx = None
        if span_context is not None and span_context.is_valid:
            ctx = set_span_in_context(NonRecordingSpan(span_context))
        step = max(1, min((self.max_record_bytes - _CALL_BYTES) // row_bytes, self.max_rows))
        for start in range(0, n, step):
            stop = min(start + step, n)
            attrs = self._base()
            attrs[semconv.ML_PREDICTION_IDS] = ids.slice(start, stop)
            if values is not None:
                attrs[semconv.ML_PREDICTION_VALUES] = values[start:stop].tolist()
            if labels is not None:
                attrs[semconv.ML_PREDICTION_LABELS] = labels[start:stop].tolist()
            if raw_rows is not None and start == 0:
                attrs[semconv.ML_FEATURE_VALUES_CAPTURED] = raw_rows
            self.logger.emit(
                timestamp=time_ns,
                observed_timestamp=time_ns,
                context=ctx,
                severity_number=SeverityNumber.INFO,
                event_name=semconv.EVENT_PREDICTION,
                attributes=attrs,
            )

    def _note_dropped(self, ids: PredictionIds, lo: int, hi: int) -> None:
        self.budget.count_dropped(self.model, self.version, hi - lo)
        self._drop_rows += hi - lo
        prefix = ids.generated_prefix
        if prefix is not None:
            first, last = ids.number(lo), ids.number(hi - 1)
            if (
                self._drop_prefixes
                and self._drop_prefixes[-1] == prefix
                and self._drop_last[-1] + 1 == first
            ):
                self._drop_last[-1] = last
            else:
                self._drop_prefixes.append(prefix)
                self._drop_first.append(first)
                self._drop_last.append(last)
        self.budget.mark_open(self)
        if len(self._drop_prefixes) >= MAX_DROPPED_RANGES:
            self._emit_dropped()

    def _emit_dropped(self) -> None:
        attrs = self._base()
        attrs[semconv.ML_DROPPED_ROWS] = self._drop_rows
        if self._drop_prefixes:
            attrs[semconv.ML_DROPPED_ID_PREFIXES] = self._drop_prefixes
            attrs[semconv.ML_DROPPED_ID_FIRST] = self._drop_first
            attrs[semconv.ML_DROPPED_ID_LAST] = self._drop_last
        self._drop_rows = 0
        self._drop_prefixes, self._drop_first, self._drop_last = [], [], []
        now = time.time_ns()
        self.logger.emit(
            timestamp=now,
            observed_timestamp=now,
            context=Context(),
            severity_number=SeverityNumber.WARN,
            event_name=semconv.EVENT_PREDICTION_DROPPED,
            attributes=attrs,
        )


def _joined(parts: Sequence[np.ndarray[Any, Any] | None]) -> list[Any]:
    arrays = [p for p in parts if p is not None]
    if not arrays:
        return []
    return (np.concatenate(arrays) if len(arrays) > 1 else arrays[0]).tolist()  # type: ignore[no-any-return]


def emit_outcome(
    logger: Logger,
    *,
    model: str,
    version: str | None,
    ids: Sequence[str],
    actuals: list[str] | list[float],
    time_unix_nano: int,
) -> None:
    """Emit one ``ml.outcome`` event (ground truth for predictions made earlier)."""
    attrs: dict[str, _AttrValue] = {
        semconv.ML_MODEL_NAME: model,
        semconv.ML_PREDICTION_IDS: list(ids),
        semconv.ML_OUTCOME_VALUES: actuals,
    }
    if version is not None:
        attrs[semconv.ML_MODEL_VERSION] = version
    logger.emit(
        timestamp=time_unix_nano,
        observed_timestamp=time_unix_nano,
        severity_number=SeverityNumber.INFO,
        event_name=semconv.EVENT_OUTCOME,
        attributes=attrs,
    )
