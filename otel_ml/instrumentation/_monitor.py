"""``ModelMonitor``: runs one predict call under monitoring; shared by ``@monitor`` and
``SklearnInstrumentor``.

Per call, on the calling thread: one span (``"{operation} {model}"``), the call /
row / error counts and the duration (a lock-protected add into the process
aggregator, exported by the bridge), the prediction ids (the contextvar behind
:func:`otel_ml.last_prediction_ids`). Then either

- a small call (at most ``SMALL_BATCH`` rows of numpy / dict input): a private
  copy of input and output goes to the background :class:`Worker`, which builds
  sketches for many calls at once and emits the prediction events; or
- a bigger call: sketches and quality counts are built right away (vectorized,
  ~10-30 ns per value) and only the event is left to the worker.

Whatever happens inside otel_ml is caught, logged once and counted on
``otel_ml.internal.errors``; the user's result is returned as is (the same
object) and the user's exception propagates unchanged.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from opentelemetry import _logs, context, metrics, trace
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_ml import semconv
from otel_ml._version import __version__
from otel_ml.instrumentation import _clock
from otel_ml.instrumentation import _internal_errors as stages
from otel_ml.instrumentation._aggregator import Aggregator, default_aggregator
from otel_ml.instrumentation._events import emit_prediction
from otel_ml.instrumentation._features import capture, reference_names
from otel_ml.instrumentation._ids import PredictionIds, _set_last
from otel_ml.instrumentation._inputs import (
    Snapshot,
    batch_size,
    snapshot,
    tables_from_snapshots,
    to_table,
)
from otel_ml.instrumentation._options import MonitorOptions, OneDimensionalInput
from otel_ml.instrumentation._outputs import Outputs, interpret, private_result
from otel_ml.instrumentation._runtime import (
    Pending,
    flush,
    internal_errors,
    register_queue_gauge,
    worker,
)
from otel_ml.instrumentation._window import ModelKey, ModelWindow, bounded_add

__all__ = ["ModelMonitor", "flush", "internal_errors", "monitoring_active"]

R = TypeVar("R")

_ACTIVE = threading.local()


def monitoring_active() -> bool:
    """Whether a monitored call is running on this thread (for nested-call suppression)."""
    return bool(getattr(_ACTIVE, "depth", 0))


class ModelMonitor:
    """Monitors calls of one model (see the module docstring).

    Parameters
    ----------
    options
        The model's :class:`MonitorOptions`.
    aggregator
        Where counts and sketches go (default: the process aggregator the export
        bridge reads).
    tracer_provider, logger_provider, meter_provider
        Default: the global providers (as any OpenTelemetry instrumentation).
    """

    def __init__(
        self,
        options: MonitorOptions,
        *,
        aggregator: Aggregator | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        logger_provider: _logs.LoggerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.options = options
        self.key = ModelKey(options.model, options.version)
        self._aggregator = aggregator if aggregator is not None else default_aggregator()
        self._tracer = trace.get_tracer(semconv.SCOPE_NAME, __version__, tracer_provider)
        self._logger = _logs.get_logger(
            semconv.SCOPE_NAME, __version__, logger_provider=logger_provider
        )
        self._errors = internal_errors()
        self._worker = worker()
        if flush not in self._aggregator.before_collect:
            # Every export first drains the worker: it carries each call made before it.
            self._aggregator.before_collect.append(flush)
        register_queue_gauge(meter_provider)
        self._as_row = options.one_dimensional_input is OneDimensionalInput.ROW
        self._names = options.feature_names or reference_names(options.reference)
        # Per operation: the span name, its attributes without the batch size, and the
        # whole attribute dict of a one-row call (built once; the SDK copies it).
        self._operations: dict[str, tuple[str, dict[str, str], dict[str, str | int]]] = {}
        self._base_attrs: dict[str, str] = {
            semconv.ML_MODEL_NAME: options.model,
            semconv.ML_MODEL_VERSION: options.version,
            semconv.ML_MODEL_FRAMEWORK: options.framework,
            semconv.ML_MODEL_TASK: options.task.value,
        }
        self._sample = options.capture_features and options.feature_sample_rate > 0.0
        self._always = options.feature_sample_rate >= 1.0

    # ---- hot path ----------------------------------------------------------------------
    def call(
        self,
        fn: Callable[..., R],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        *,
        operation: str,
        inputs: object,
        ids: object = None,
    ) -> R:
        """Run ``fn(*args, **kwargs)`` under monitoring; return its result untouched.

        ``inputs`` is the feature input to describe (normally one of ``args``);
        ``ids`` optionally the prediction ids (a sequence, one per row).
        """
        if not is_instrumentation_enabled() or (self.options.skip_nested and monitoring_active()):
            return fn(*args, **kwargs)
        start = self._start(operation, inputs)
        if start is None:
            return fn(*args, **kwargs)
        span, n_rows = start
        token = context.attach(trace.set_span_in_context(span))
        _ACTIVE.depth = getattr(_ACTIVE, "depth", 0) + 1
        try:
            t0 = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self._failed(span, exc, time.perf_counter() - t0)
                raise
            self._succeeded(
                span, result, inputs, ids, time.perf_counter() - t0, n_rows, operation
            )
            return result
        finally:
            _ACTIVE.depth -= 1
            context.detach(token)
            span.end()

    async def acall(
        self,
        fn: Callable[..., Awaitable[R]],
        args: Sequence[Any],
        kwargs: Mapping[str, Any],
        *,
        operation: str,
        inputs: object,
        ids: object = None,
    ) -> R:
        """:meth:`call` for a coroutine function (awaited inside the span)."""
        if not is_instrumentation_enabled() or (self.options.skip_nested and monitoring_active()):
            return await fn(*args, **kwargs)
        start = self._start(operation, inputs)
        if start is None:
            return await fn(*args, **kwargs)
        span, n_rows = start
        token = context.attach(trace.set_span_in_context(span))
        try:
            t0 = time.perf_counter()
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                self._failed(span, exc, time.perf_counter() - t0)
                raise
            self._succeeded(
                span, result, inputs, ids, time.perf_counter() - t0, n_rows, operation
            )
            return result
        finally:
            context.detach(token)
            span.end()

    def _start(self, operation: str, inputs: object) -> tuple[trace.Span, int] | None:
        """The call's span (not yet current) and its batch size; ``None`` if that failed."""
        try:
            n_rows = batch_size(inputs, one_dimensional_as_row=self._as_row)
            op = self._operations.get(operation)
            if op is None:
                attrs = {**self._base_attrs, semconv.ML_OPERATION: operation}
                one: dict[str, str | int] = {**attrs, semconv.ML_BATCH_SIZE: 1}
                op = self._operations[operation] = (f"{operation} {self.options.model}", attrs, one)
            name, op_attrs, one_row = op
            span = self._tracer.start_span(
                name,
                kind=SpanKind.INTERNAL,
                attributes=one_row if n_rows == 1 else {**op_attrs, semconv.ML_BATCH_SIZE: n_rows},
            )
            return span, n_rows
        except Exception as exc:  # noqa: BLE001 - counted; the model call goes on
            self._errors.report(stages.STAGE_RECORD, exc)
            return None

    def _failed(self, span: trace.Span, exc: BaseException, seconds: float) -> None:
        try:
            error_type = type(exc).__qualname__
            span.set_attribute(semconv.ERROR_TYPE, error_type)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{error_type}: {exc}"[:256]))
            self._aggregator.record_call(self.key, seconds, rows=0, error_type=error_type)
        except Exception as ours:  # noqa: BLE001 - counted; the user's exception propagates
            self._errors.report(stages.STAGE_RECORD, ours)

    def _succeeded(
        self,
        span: trace.Span,
        result: object,
        inputs: object,
        ids_arg: object,
        seconds: float,
        n_rows: int,
        operation: str,
    ) -> None:
        try:
            self._aggregator.record_call(self.key, seconds, rows=n_rows, error_type=None)
            sampled = self._sample and (
                self._always or random.random() < self.options.feature_sample_rate
            )
            snap = snapshot(inputs, n_rows, one_dimensional_as_row=self._as_row)
            ids: PredictionIds | None = None
            if ids_arg is not None:
                ids = PredictionIds.explicit(
                    [ids_arg] if isinstance(ids_arg, (str, bytes, int)) else ids_arg  # type: ignore[arg-type]
                )
            elif self.options.id_column is not None and snap is not None:
                ids = self._ids_from_snapshot(snap)
            if snap is not None:
                if ids is None:
                    ids = PredictionIds.generated(n_rows)
                _set_last(ids)
                o = self.options
                res = private_result(result, o.task, o.class_names, operation=operation)
                self._worker.submit(
                    Pending(
                        self,
                        snap if sampled else None,
                        res,
                        ids,
                        span.get_span_context(),
                        _clock.time_ns(),
                        self._raw(snap) if self.options.capture_raw_inputs else None,
                        False,
                    )
                )
                return
            self._record_batch(span, result, inputs, ids, n_rows, sampled, operation)
        except Exception as exc:  # noqa: BLE001 - counted; the user's result is returned
            self._errors.report(stages.STAGE_RECORD, exc)

    def _ids_from_snapshot(self, snap: Snapshot) -> PredictionIds | None:
        kind, obj = snap
        col = self.options.id_column
        if kind == "row" and col in obj:
            return PredictionIds.explicit([obj[col]])
        if kind == "rows" and obj and all(col in r for r in obj):
            return PredictionIds.explicit([r[col] for r in obj])
        return None

    def _raw(self, inputs: object) -> str | None:
        """Opt-in raw rows (``capture_raw_inputs``), allow/deny lists applied."""
        try:
            snap = inputs if isinstance(inputs, tuple) else None
            tables = (
                tables_from_snapshots([snap], names=self._names, id_column=None)
                if snap is not None
                else [t for t in [to_table(inputs, names=self._names)] if t is not None]
            )
            rows: list[dict[str, object]] = []
            for t in tables:
                keep = [j for j, n in enumerate(t.names) if self.options.wants_feature(n)]
                for i in range(min(t.n_rows, self.options.max_raw_rows - len(rows))):
                    rows.append({t.names[j]: t.columns[j][i] for j in keep})
            return json.dumps(rows, default=str)
        except Exception as exc:  # noqa: BLE001 - counted
            self._errors.report(stages.STAGE_INPUTS, exc)
            return None

    # ---- bigger calls: processed on the calling thread ---------------------------------
    def _record_batch(
        self,
        span: trace.Span,
        result: object,
        inputs: object,
        ids: PredictionIds | None,
        n_rows: int,
        sampled: bool,
        operation: str,
    ) -> None:
        o = self.options
        window = ModelWindow()
        table = None
        try:
            table = to_table(
                inputs,
                names=self._names,
                id_column=o.id_column,
                one_dimensional_as_row=self._as_row,
            )
            if sampled and table is not None:
                window = capture(table, o, o.reference)
        except Exception as exc:  # noqa: BLE001 - counted
            self._errors.report(stages.STAGE_FEATURES, exc)
        if ids is None and table is not None and table.ids is not None:
            ids = PredictionIds.explicit(table.ids)
        if ids is None:
            ids = PredictionIds.generated(n_rows)
        _set_last(ids)
        outputs = None
        try:
            outputs = interpret(result, o.task, o.class_names, operation=operation)
            self._add_outputs(window, [outputs])
        except Exception as exc:  # noqa: BLE001 - counted
            self._errors.report(stages.STAGE_OUTPUTS, exc)
        self._aggregator.merge(self.key, window)
        raw = self._raw(inputs) if o.capture_raw_inputs else None
        self._worker.submit(
            Pending(self, None, outputs, ids, span.get_span_context(), _clock.time_ns(), raw, True)
        )

    def _add_outputs(self, window: ModelWindow, outputs: Sequence[Outputs]) -> None:
        from otel_ml.sketch import NumericSketch

        by_output: dict[str, list[np.ndarray[Any, Any]]] = {}
        labels: list[np.ndarray[Any, Any]] = []
        for out in outputs:
            for name, v in out.scores.items():
                by_output.setdefault(name, []).append(v)
            if out.labels is not None:
                labels.append(out.labels)
        for name, parts in by_output.items():
            s = NumericSketch()
            s.update(np.concatenate(parts) if len(parts) > 1 else parts[0])
            window.predictions[name] = s
        if labels:
            uniq, cnt = np.unique(np.concatenate(labels), return_counts=True)
            limit = self.options.max_categories
            for k, c in zip(uniq.tolist(), cnt.tolist(), strict=True):
                bounded_add(window.classes, k, c, limit)

    # ---- worker side -------------------------------------------------------------------
    def _process_batch(self, items: list[Pending]) -> None:
        """Sketches for many buffered calls at once, then one event per call.

        Empties ``items``: each record is let go right after its event, so the
        cyclic GC sees its frees between the event's allocations (a burst of frees
        at the end would count as new allocations and make it run more often).
        """
        o = self.options
        window = ModelWindow()
        snaps = [it.inputs for it in items if it.inputs is not None]
        try:
            if snaps:
                for table in tables_from_snapshots(snaps, names=self._names, id_column=o.id_column):
                    part = capture(table, o, o.reference)
                    window.merge(part, max_features=o.max_features, adopt=True)
        except Exception as exc:  # noqa: BLE001 - counted
            self._errors.report(stages.STAGE_FEATURES, exc)
        outputs: list[Outputs | None] = [None] * len(items)
        # Results read together: which read holds call i's rows (-1: none) and where they
        # start. Each call's slice is cut when its event is emitted and dropped right
        # after, rather than kept for the whole batch (fewer objects freed in a burst,
        # which the cyclic GC counts as new allocations), and not at all without events.
        read_of: list[int] = [-1] * len(items)
        row_start: list[int] = [0] * len(items)
        reads: list[Outputs] = []
        to_add: list[Outputs] = []
        groups: dict[tuple[int, tuple[int, ...], str], list[int]] = {}
        for i, it in enumerate(items):
            r = it.result
            if isinstance(r, np.ndarray) and r.ndim in (1, 2):
                groups.setdefault((r.ndim, r.shape[1:], r.dtype.str), []).append(i)
            elif isinstance(r, np.ndarray):
                groups.setdefault((r.ndim, (i,), ""), []).append(i)  # read alone
            else:
                outputs[i] = r
                if r is not None and not it.counted:  # bigger calls were added already
                    to_add.append(r)
        for idx in groups.values():
            try:
                # Many small results read at once, then split per call.
                arrays = [items[i].result for i in idx]
                whole = interpret(
                    np.concatenate(arrays) if len(arrays) > 1 else arrays[0],  # type: ignore[arg-type]
                    o.task,
                    o.class_names,
                )
                to_add.append(whole)
                if o.prediction_events:
                    start, g = 0, len(reads)
                    reads.append(whole)
                    for i, arr in zip(idx, arrays, strict=True):
                        read_of[i], row_start[i] = g, start
                        start += len(arr)  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - counted
                self._errors.report(stages.STAGE_OUTPUTS, exc)
        try:
            self._add_outputs(window, to_add)
        except Exception as exc:  # noqa: BLE001 - counted
            self._errors.report(stages.STAGE_OUTPUTS, exc)
        if not window.is_empty():
            self._aggregator.merge(self.key, window)
        if not o.prediction_events:
            return
        del snaps
        pending = deque(items)
        items.clear()
        for i in range(len(pending)):
            it = pending.popleft()
            try:
                out = outputs[i]
                if read_of[i] >= 0:
                    s = row_start[i]
                    out = reads[read_of[i]].rows(s, s + len(it.result))  # type: ignore[arg-type]
                emit_prediction(
                    self._logger,
                    model=o.model,
                    version=o.version,
                    ids=it.ids,
                    outputs=out,
                    span_context=it.span_context,
                    time_unix_nano=it.end_ns,
                    max_rows=o.max_event_rows,
                    raw_rows=it.raw_rows,
                )
            except Exception as exc:  # noqa: BLE001 - counted
                self._errors.report(stages.STAGE_EVENTS, exc)

    def flush(self) -> None:
        """Process this process's buffered calls now (see :func:`flush`)."""
        self._worker.drain()
