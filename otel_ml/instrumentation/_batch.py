"""The batch builder: a monitored call's rows and results into sketches, counts and events.

Each :class:`~otel_ml.instrumentation.ModelMonitor` owns one :class:`BatchBuilder`.
A small call reaches it as a :class:`Pending` record on the runtime's worker,
together with many other small calls (:meth:`BatchBuilder.process`: one table
per input shape, one vectorized update per column, results read together); a
bigger call is sketched on the calling thread (:meth:`BatchBuilder.build_now`)
and only its rows' ids and outputs are left to the worker. Either way a call's
rows go into its model's ``ml.prediction`` records in one place,
:meth:`BatchBuilder.emit`, on the worker thread (batched with other calls' rows,
bounded in bytes: :mod:`~otel_ml.instrumentation._events`).

Every failure here is counted on the runtime's ``otel_ml.internal.errors`` by
stage (``features``, ``outputs``, ``events``, ``inputs``) and never raised.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from opentelemetry._logs import Logger
from opentelemetry.trace import SpanContext

from otel_ml import semconv
from otel_ml.instrumentation import _internal_errors as stages
from otel_ml.instrumentation._aggregator import Aggregator
from otel_ml.instrumentation._events import EventBudget, PredictionEvents
from otel_ml.instrumentation._features import capture, reconstruction_errors
from otel_ml.instrumentation._ids import PredictionIds
from otel_ml.instrumentation._inputs import (
    ArraySnapshot,
    RowsSnapshot,
    Snapshot,
    Table,
    tables_from_snapshots,
    to_table,
)
from otel_ml.instrumentation._internal_errors import InternalErrors
from otel_ml.instrumentation._options import EventMode, MonitorOptions, OneDimensionalInput
from otel_ml.instrumentation._outputs import Outputs, interpret
from otel_ml.instrumentation._window import ModelKey, ModelWindow, bounded_add

__all__ = ["BatchBuilder", "Pending"]

_Result = Outputs | np.ndarray[Any, Any] | None


@dataclass(slots=True, kw_only=True)
class Pending:
    """One monitored call waiting for the worker (its sketches and its prediction event)."""

    builder: BatchBuilder
    #: the call's input rows to sketch (``None``: sketched already, or not sampled)
    inputs: Snapshot | None
    #: a private copy of a numpy result (``_outputs.private_result``, read with the batch),
    #: or the outputs read already
    result: _Result
    ids: PredictionIds
    span_context: SpanContext | None
    end_ns: int
    raw_rows: str | None = None
    #: outputs already added to the sketches (bigger calls, built on the calling thread)
    outputs_counted: bool = False


class BatchBuilder:
    """Builds one model's windows and events; see the module docstring."""

    def __init__(
        self,
        options: MonitorOptions,
        *,
        key: ModelKey,
        names: Sequence[str] | None,
        aggregator: Aggregator,
        logger: Logger,
        errors: InternalErrors,
        budget: EventBudget,
    ) -> None:
        self.options = options
        self.key = key
        self.names = names
        self.aggregator = aggregator
        self.logger = logger
        self.errors = errors
        self._as_row = options.one_dimensional_input is OneDimensionalInput.ROW
        self._events_on = options.event_mode is not EventMode.OFF
        self.events = PredictionEvents(
            logger,
            budget,
            model=options.model,
            version=options.version,
            per_call=options.event_mode is EventMode.PER_CALL,
            max_rows=options.max_event_rows,
        )

    # ---- calling thread ----------------------------------------------------------------
    def build_now(
        self, inputs: object, result: object, *, operation: str, sampled: bool
    ) -> tuple[Outputs | None, list[object] | None]:
        """Sketch a bigger call's input and outputs now; its outputs and input ids."""
        o = self.options
        window = ModelWindow()
        ids: list[object] | None = None
        try:
            table = to_table(
                inputs,
                names=self.names,
                id_column=o.id_column,
                one_dimensional_as_row=self._as_row,
            )
            if table is not None:
                ids = table.ids
                if sampled:
                    window = capture(table, o, o.reference)
                    self._add_reconstruction_errors(window, table)
        except Exception as exc:  # noqa: BLE001 - counted
            self.errors.report(stages.STAGE_FEATURES, exc)
        outputs = None
        try:
            outputs = interpret(result, o.task, o.class_names, operation=operation)
            self._add_outputs(window, [outputs])
        except Exception as exc:  # noqa: BLE001 - counted
            self.errors.report(stages.STAGE_OUTPUTS, exc)
        self.aggregator.merge(self.key, window)
        return outputs, ids

    def raw_rows(self, inputs: object) -> str | None:
        """Opt-in raw rows (``capture_raw_inputs``) as JSON, allow/deny lists applied."""
        o = self.options
        try:
            if isinstance(inputs, (ArraySnapshot, RowsSnapshot)):
                tables = tables_from_snapshots([inputs], names=self.names, id_column=None)
            else:
                table = to_table(inputs, names=self.names)
                tables = [table] if table is not None else []
            rows: list[dict[str, object]] = []
            for t in tables:
                keep = [j for j, n in enumerate(t.names) if o.wants_feature(n)]
                for i in range(min(t.n_rows, o.max_raw_rows - len(rows))):
                    rows.append({t.names[j]: t.columns[j][i] for j in keep})
            return json.dumps(rows, default=str)
        except Exception as exc:  # noqa: BLE001 - counted
            self.errors.report(stages.STAGE_INPUTS, exc)
            return None

    # ---- worker thread -----------------------------------------------------------------
    def process(self, items: list[Pending]) -> None:
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
                for table in tables_from_snapshots(snaps, names=self.names, id_column=o.id_column):
                    part = capture(table, o, o.reference)
                    self._add_reconstruction_errors(part, table)
                    window.merge(part, max_features=o.max_features, adopt=True)
        except Exception as exc:  # noqa: BLE001 - counted
            self.errors.report(stages.STAGE_FEATURES, exc)
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
                if r is not None and not it.outputs_counted:
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
                if self._events_on:
                    start, g = 0, len(reads)
                    reads.append(whole)
                    for i, arr in zip(idx, arrays, strict=True):
                        read_of[i], row_start[i] = g, start
                        start += len(arr)  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - counted
                self.errors.report(stages.STAGE_OUTPUTS, exc)
        try:
            self._add_outputs(window, to_add)
        except Exception as exc:  # noqa: BLE001 - counted
            self.errors.report(stages.STAGE_OUTPUTS, exc)
        if not window.is_empty():
            self.aggregator.merge(self.key, window)
        if not self._events_on:
            return
        del snaps
        pending = deque(items)
        items.clear()
        for i in range(len(pending)):
            it = pending.popleft()
            out = outputs[i]
            if read_of[i] >= 0:
                s = row_start[i]
                out = reads[read_of[i]].rows(s, s + len(it.result))  # type: ignore[arg-type]
            self.emit(it, out)

    def emit(self, item: Pending, outputs: Outputs | None) -> None:
        """One call's rows into its ``ml.prediction`` record(s): the one place they go."""
        try:
            self.events.add(
                item.ids, outputs, item.span_context, item.end_ns, raw_rows=item.raw_rows
            )
        except Exception as exc:  # noqa: BLE001 - counted
            self.errors.report(stages.STAGE_EVENTS, exc)

    def _add_reconstruction_errors(self, window: ModelWindow, table: Table) -> None:
        """The multivariate feature (:func:`reconstruction_errors`) into ``window``; a
        failure is counted (stage ``features``) and leaves the other features alone."""
        if self.options.reference is None or self.options.reference.multivariate is None:
            return
        try:
            sketch = reconstruction_errors(table, self.options, self.options.reference)
        except Exception as exc:  # noqa: BLE001 - counted
            self.errors.report(stages.STAGE_FEATURES, exc)
            return
        if sketch is not None:
            window.numeric[semconv.MULTIVARIATE_ERROR_FEATURE] = sketch

    def _add_outputs(self, window: ModelWindow, outputs: Sequence[Outputs]) -> None:
        from otel_ml.sketch import NumericSketch, argmax_sketches

        by_output: dict[str, list[np.ndarray[Any, Any]]] = {}
        labels: list[np.ndarray[Any, Any]] = []
        for out in outputs:
            for name, v in out.scores.items():
                by_output.setdefault(name, []).append(v)
            if out.labels is not None:
                labels.append(out.labels)
        columns = {
            name: np.concatenate(parts) if len(parts) > 1 else parts[0]
            for name, parts in by_output.items()
        }
        for name, values in columns.items():
            s = NumericSketch()
            s.update(values)
            window.predictions[name] = s
        if labels and len(columns) >= 3:
            # A multiclass probability output: per class its probability on the rows it
            # won (argmax:<class>), what estimated performance needs; one argmax for the
            # batch. Not compared as prediction drift (the evaluator skips them).
            for name, s in argmax_sketches(columns).items():
                if s.count:
                    window.predictions[name] = s
        if labels:
            uniq, cnt = np.unique(np.concatenate(labels), return_counts=True)
            limit = self.options.max_categories
            for k, c in zip(uniq.tolist(), cnt.tolist(), strict=True):
                bounded_add(window.classes, k, c, limit)
