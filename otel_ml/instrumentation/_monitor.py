"""``ModelMonitor``: runs one predict call under monitoring; shared by ``@monitor`` and
``SklearnInstrumentor``.

``call`` and ``acall`` (for coroutine functions) share one observe step: ``_begin``
looks at the input once (:func:`~otel_ml.instrumentation._inputs.examine`: its row
count and, for a small input, a private copy), starts the span
(``"{operation} {model}"``) and the clock; ``_end`` records the outcome and ends the
span. On the calling thread: the call / row / error counts and the duration (a
lock-protected add into the aggregator, exported by the bridge), the prediction ids
(the contextvar behind :func:`otel_ml.last_prediction_ids`). Then either

- a small call (at most ``SMALL_BATCH`` rows of numpy / dict input): its copies go to
  the runtime's background worker as a ``Pending`` record, and the model's
  :class:`~otel_ml.instrumentation._batch.BatchBuilder` sketches many calls at once
  and emits their prediction events; or
- a bigger call: sketches and quality counts are built right away
  (``BatchBuilder.build_now``, vectorized, ~10-30 ns per value) and only the event is
  left to the worker.

Whatever happens inside otel_ml is caught, logged once and counted on
``otel_ml.internal.errors``; the user's result is returned as is (the same
object) and the user's exception propagates unchanged.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from opentelemetry import _logs, context, metrics, trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_ml import semconv
from otel_ml._version import __version__
from otel_ml.instrumentation import _clock
from otel_ml.instrumentation import _internal_errors as stages
from otel_ml.instrumentation._aggregator import Aggregator, default_aggregator
from otel_ml.instrumentation._batch import BatchBuilder, Pending
from otel_ml.instrumentation._features import reference_names
from otel_ml.instrumentation._ids import PredictionIds, _set_last
from otel_ml.instrumentation._inputs import RowsSnapshot, Snapshot, examine
from otel_ml.instrumentation._options import MonitorOptions, OneDimensionalInput
from otel_ml.instrumentation._outputs import Outputs, private_result
from otel_ml.instrumentation._runtime import (
    Runtime,
    default_runtime,
    flush,
    internal_errors,
    register_queue_gauge,
)
from otel_ml.instrumentation._window import ModelKey

__all__ = ["ModelMonitor", "flush", "internal_errors", "monitoring_active"]

#: The plain-string key ``opentelemetry.instrumentation.utils`` also honours.
_SUPPRESS_INSTRUMENTATION_KEY_PLAIN = "suppress_instrumentation"


def is_instrumentation_enabled() -> bool:
    """``opentelemetry.instrumentation.utils.is_instrumentation_enabled()`` without importing
    that module at start-up (it loads wrapt and asyncio: a third of the SDK's import time)."""
    return not (
        context.get_value(_SUPPRESS_INSTRUMENTATION_KEY)
        or context.get_value(_SUPPRESS_INSTRUMENTATION_KEY_PLAIN)
    )


R = TypeVar("R")

_ACTIVE = threading.local()


def monitoring_active() -> bool:
    """Whether a monitored call is running on this thread (for nested-call suppression)."""
    return bool(getattr(_ACTIVE, "depth", 0))


@dataclass(slots=True)
class _Call:
    """One monitored call in flight (between :meth:`ModelMonitor._begin` and ``_end``)."""

    span: trace.Span
    token: object
    n_rows: int
    snapshot: Snapshot | None
    operation: str
    inputs: object
    ids: object
    nested: bool
    t0: float


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
    runtime
        The worker and error counter to use (default: the process's
        :func:`~otel_ml.instrumentation.default_runtime`).
    """

    def __init__(
        self,
        options: MonitorOptions,
        *,
        aggregator: Aggregator | None = None,
        tracer_provider: trace.TracerProvider | None = None,
        logger_provider: _logs.LoggerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        self.options = options
        self.key = ModelKey(options.model, options.version)
        self._aggregator = aggregator if aggregator is not None else default_aggregator()
        self._tracer = trace.get_tracer(semconv.SCOPE_NAME, __version__, tracer_provider)
        self._runtime = runtime if runtime is not None else default_runtime()
        self._errors = self._runtime.errors
        if self._runtime.flush not in self._aggregator.before_collect:
            # Every export first drains the worker: it carries each call made before it.
            self._aggregator.before_collect.append(self._runtime.flush)
        register_queue_gauge(meter_provider)
        self._as_row = options.one_dimensional_input is OneDimensionalInput.ROW
        self._batch = BatchBuilder(
            options,
            key=self.key,
            names=options.feature_names or reference_names(options.reference),
            aggregator=self._aggregator,
            logger=_logs.get_logger(
                semconv.SCOPE_NAME, __version__, logger_provider=logger_provider
            ),
            errors=self._errors,
            budget=self._runtime.events,
        )
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
        self._no_id_column = options.id_column is None
        self._submit = self._runtime.worker.submit  # the hot path's one queue append

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
        call = self._begin(operation, inputs, ids, nested=True)
        if call is None:
            return fn(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            self._end(call, None, exc)
            raise
        self._end(call, result, None)
        return result

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
        """:meth:`call` for a coroutine function (awaited inside the span).

        Other tasks run on this thread while it awaits, so it does not mark the
        thread as inside a monitored call (nested-call suppression is per thread).
        """
        call = self._begin(operation, inputs, ids, nested=False)
        if call is None:
            return await fn(*args, **kwargs)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self._end(call, None, exc)
            raise
        self._end(call, result, None)
        return result

    def _begin(self, operation: str, inputs: object, ids: object, *, nested: bool) -> _Call | None:
        """The observe step's first half: look at the input once, start the span and the clock.

        ``None``: run the call unmonitored (instrumentation off, a nested call, or our
        own failure, counted).
        """
        if not is_instrumentation_enabled() or (self.options.skip_nested and monitoring_active()):
            return None
        try:
            n_rows, snap = examine(inputs, one_dimensional_as_row=self._as_row)
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
        except Exception as exc:  # noqa: BLE001 - counted; the model call goes on
            self._errors.report(stages.STAGE_RECORD, exc)
            return None
        token = context.attach(trace.set_span_in_context(span))
        if nested:
            _ACTIVE.depth = getattr(_ACTIVE, "depth", 0) + 1
        return _Call(span, token, n_rows, snap, operation, inputs, ids, nested, time.perf_counter())

    def _end(self, call: _Call, result: object, exc: BaseException | None) -> None:
        """The observe step's second half: record the outcome, end the span (never raises)."""
        seconds = time.perf_counter() - call.t0
        try:
            if exc is not None:
                self._failed(call.span, exc, seconds)
            else:
                self._succeeded(call, result, seconds)
        finally:
            if call.nested:
                _ACTIVE.depth -= 1
            context.detach(call.token)  # type: ignore[arg-type]
            call.span.end()

    def _failed(self, span: trace.Span, exc: BaseException, seconds: float) -> None:
        try:
            error_type = type(exc).__qualname__
            span.set_attribute(semconv.ERROR_TYPE, error_type)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{error_type}: {exc}"[:256]))
            self._aggregator.record_call(self.key, seconds, rows=0, error_type=error_type)
        except Exception as ours:  # noqa: BLE001 - counted; the user's exception propagates
            self._errors.report(stages.STAGE_RECORD, ours)

    def _succeeded(self, call: _Call, result: object, seconds: float) -> None:
        """Count the call; queue a small one for the worker, sketch a bigger one now."""
        try:
            o, batch, snap = self.options, self._batch, call.snapshot
            self._aggregator.record_call(self.key, seconds, rows=call.n_rows, error_type=None)
            sampled = self._sample and (self._always or random.random() < o.feature_sample_rate)
            ids = None if call.ids is None and self._no_id_column else self._given_ids(call)
            kept: Outputs | np.ndarray[Any, Any] | None
            if snap is not None:
                kept = private_result(result, o.task, o.class_names, operation=call.operation)
                counted = False
            else:
                kept, table_ids = batch.build_now(
                    call.inputs, result, operation=call.operation, sampled=sampled
                )
                counted = True
                if ids is None and table_ids is not None:
                    ids = PredictionIds.explicit(table_ids)
            if ids is None:
                ids = PredictionIds.generated(call.n_rows)
            _set_last(ids)
            pending = Pending(
                builder=batch,
                inputs=snap if sampled else None,
                result=kept,
                ids=ids,
                span_context=call.span.get_span_context(),
                end_ns=_clock.time_ns(),
            )
            if counted:
                pending.outputs_counted = True
            if o.capture_raw_inputs:
                pending.raw_rows = batch.raw_rows(snap if snap is not None else call.inputs)
            self._submit(pending)
        except Exception as exc:  # noqa: BLE001 - counted; the user's result is returned
            self._errors.report(stages.STAGE_RECORD, exc)

    def _given_ids(self, call: _Call) -> PredictionIds | None:
        """Ids passed as an argument, or found in a small input's ``id_column``."""
        given = call.ids
        if given is not None:
            return PredictionIds.explicit(
                [given] if isinstance(given, (str, bytes, int)) else given  # type: ignore[arg-type]
            )
        col, snap = self.options.id_column, call.snapshot
        if col is not None and isinstance(snap, RowsSnapshot):
            rows = snap.rows
            if rows and all(col in r for r in rows):
                return PredictionIds.explicit([r[col] for r in rows])
        return None

    def flush(self) -> None:
        """Process this monitor's runtime's buffered calls now (see :func:`flush`)."""
        self._runtime.flush()
