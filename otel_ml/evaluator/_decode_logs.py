"""``ExportLogsServiceRequest`` to :class:`PredictionEvent` / :class:`OutcomeEvent` records.

A log record is *ours* when its event name (the ``event_name`` field, or the older
``event.name`` attribute) is ``ml.prediction``, ``ml.prediction.dropped`` or
``ml.outcome``; other records are counted as ignored.

An ``ml.prediction`` record is either one call (its trace and span are the
record's) or, batched, the rows of many calls: ``ml.prediction.call.offsets``
(each call's first row), ``.trace_ids``, ``.span_ids`` (hex) and ``.times``
(Unix ns), one entry per call; it is decoded into one :class:`PredictionEvent`
per call. Both forms are read (the per-call form is what SDKs before batching
send). An ``ml.prediction.dropped`` record becomes a :class:`DroppedPredictions`:
rows the SDK did not send, generated ids as ranges.

Ours but rejected (with a reason): no ``ml.model.name`` (point or resource
attribute), no ids, ``ml.prediction.call.*`` lists that do not describe the
rows, a malformed dropped report, values/labels/actuals whose length differs from the
ids', non-numeric or non-finite scores, outcome values mixing strings and numbers,
outcome values of another type (booleans, bytes, maps, nested lists) or beyond
:data:`MAX_ABS_OUTCOME`.
Ids and labels given as numbers are turned into their text (``7`` -> ``"7"``); a
single value where a list is expected counts as a list of one.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from otel_ml import semconv
from otel_ml.evaluator._otlp_attributes import attributes, resource_identity
from otel_ml.evaluator._records import (
    Attributes,
    AttributeValue,
    DroppedPredictions,
    IngestBatch,
    OutcomeEvent,
    PredictionEvent,
    Rejection,
    ResourceIdentity,
    Signal,
    attribute,
)

__all__ = ["decode_logs"]

R_NO_MODEL = "event without ml.model.name"
R_NO_IDS = "event without ml.prediction.ids"
R_LENGTH = "values, labels or outcomes do not have one entry per id"
R_SCORES = "ml.prediction.values must be finite numbers"
R_NO_OUTCOME = "ml.outcome event without ml.outcome.values"
R_OUTCOMES = "ml.outcome.values must be finite numbers"
R_MIXED = "ml.outcome.values mixes strings and numbers"
R_OUTCOME_TYPE = "ml.outcome.values must be strings or numbers (not booleans, bytes, maps or lists)"
R_OUTCOME_RANGE = "ml.outcome.values beyond +-1e100 (the range regression metrics carry)"
R_CALLS = (
    "ml.prediction.call.* must have one entry per call: offsets increasing from 0, "
    "hex trace/span ids, integer times"
)
R_DROPPED = (
    "ml.prediction.dropped needs ml.prediction.dropped.rows and id_prefixes/id_first/id_last "
    "of one length (first <= last)"
)

#: Numeric labels beyond this magnitude are rejected: squared errors of up to ~1e9
#: labelled rows then stay far from the float range (one 1e308 label made RMSE inf).
MAX_ABS_OUTCOME = 1e100
_LABEL_KINDS = frozenset({"string_value", "int_value", "double_value"})
R_BAD_TEXT = "ids and labels must be strings or integers"

_EVENTS = frozenset(
    {semconv.EVENT_PREDICTION, semconv.EVENT_OUTCOME, semconv.EVENT_PREDICTION_DROPPED}
)
_HEX = frozenset("0123456789abcdef")


class _Reject(Exception):
    """An event of ours that cannot be used; the message is the reason."""


def _as_tuple(value: AttributeValue) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


def _texts(value: AttributeValue | None, reason: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = _as_tuple(value)
    if not all(isinstance(v, (str, int)) for v in items):
        raise _Reject(reason)
    return tuple(str(v) for v in items)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _numbers(value: AttributeValue | None) -> tuple[float, ...] | None:
    if value is None:
        return None
    items = _as_tuple(value)
    if not all(_is_number(v) for v in items):
        raise _Reject(R_SCORES)
    out = tuple(float(v) for v in items)
    if not all(math.isfinite(v) for v in out):
        raise _Reject(R_SCORES)
    return out


def _check_label_kinds(record: Any) -> None:
    """Labels are strings or numbers; booleans, bytes and nested values would be read as
    their text (``True``, ``b'...'``, ``{a=...}``), so they are refused."""
    raw = None
    for kv in record.attributes:  # the last of duplicate keys wins, as in attributes()
        if kv.key == semconv.ML_OUTCOME_VALUES:
            raw = kv.value
    if raw is None or raw.WhichOneof("value") is None:
        return
    kind = raw.WhichOneof("value")
    values = raw.array_value.values if kind == "array_value" else [raw]
    if any(v.WhichOneof("value") not in _LABEL_KINDS for v in values):
        raise _Reject(R_OUTCOME_TYPE)


def _actuals(value: AttributeValue | None) -> tuple[str, ...] | tuple[float, ...]:
    if value is None:
        raise _Reject(R_NO_OUTCOME)
    items = _as_tuple(value)
    if all(_is_number(v) for v in items):
        numbers = tuple(float(v) for v in items)
        if not all(math.isfinite(v) for v in numbers):
            raise _Reject(R_OUTCOMES)
        if not all(abs(v) <= MAX_ABS_OUTCOME for v in numbers):
            raise _Reject(R_OUTCOME_RANGE)
        return numbers
    if any(_is_number(v) for v in items):
        raise _Reject(R_MIXED)
    return tuple(str(v) for v in items)


def _id_hex(raw: bytes) -> str:
    return raw.hex() if any(raw) else ""


def _ints(value: AttributeValue | None, reason: str) -> tuple[int, ...]:
    items = _as_tuple(value) if value is not None else ()
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in items):
        raise _Reject(reason)
    return items


def _hex_ids(value: AttributeValue | None, width: int) -> tuple[str, ...]:
    items = _as_tuple(value) if value is not None else ()
    for v in items:
        if not isinstance(v, str) or (v and (len(v) != width or not set(v) <= _HEX)):
            raise _Reject(R_CALLS)
    return items


def _dropped(
    attrs: Attributes, model: str, version: str | None, record: Any, resource: ResourceIdentity,
    now: int,
) -> DroppedPredictions:  # fmt: skip
    rows = attribute(attrs, semconv.ML_DROPPED_ROWS)
    prefixes = _texts(attribute(attrs, semconv.ML_DROPPED_ID_PREFIXES), R_DROPPED) or ()
    first = _ints(attribute(attrs, semconv.ML_DROPPED_ID_FIRST), R_DROPPED)
    last = _ints(attribute(attrs, semconv.ML_DROPPED_ID_LAST), R_DROPPED)
    if (
        not isinstance(rows, int)
        or isinstance(rows, bool)
        or not len(prefixes) == len(first) == len(last)
        or any(a > b or a < 0 for a, b in zip(first, last, strict=True))
        or rows < sum(b - a + 1 for a, b in zip(first, last, strict=True))
    ):
        raise _Reject(R_DROPPED)
    return DroppedPredictions(
        model=model,
        version=version,
        rows=rows,
        ranges=tuple(zip(prefixes, first, last, strict=True)),
        time_unix_nano=record.time_unix_nano or record.observed_time_unix_nano or now,
        resource=resource,
    )


def _calls(
    attrs: Attributes, n_rows: int
) -> list[tuple[int, int, str, str, int]] | None:
    """A batched record's calls: (first row, end row, trace id, span id, time); ``None``
    for a record of one call."""
    offsets_value = attribute(attrs, semconv.ML_PREDICTION_CALL_OFFSETS)
    if offsets_value is None:
        return None
    offsets = _ints(offsets_value, R_CALLS)
    traces = _hex_ids(attribute(attrs, semconv.ML_PREDICTION_CALL_TRACE_IDS), 32)
    spans = _hex_ids(attribute(attrs, semconv.ML_PREDICTION_CALL_SPAN_IDS), 16)
    times = _ints(attribute(attrs, semconv.ML_PREDICTION_CALL_TIMES), R_CALLS)
    ends = (*offsets[1:], n_rows)
    if (
        not offsets
        or offsets[0] != 0
        or not len(offsets) == len(traces) == len(spans) == len(times)
        or any(a >= b for a, b in zip(offsets, ends, strict=True))
        or any(t <= 0 for t in times)
    ):
        raise _Reject(R_CALLS)
    if not all(int(t, 16) for t in traces if t) or not all(int(s, 16) for s in spans if s):
        raise _Reject(R_CALLS)  # all-zero ids are "no span": sent as ""
    return list(zip(offsets, ends, traces, spans, times, strict=True))


def _event(
    record: Any, name: str, resource_attrs: Attributes, resource: ResourceIdentity, now: int
) -> list[PredictionEvent] | OutcomeEvent | DroppedPredictions:
    attrs = attributes(record.attributes)
    model = attribute(attrs, semconv.ML_MODEL_NAME) or attribute(
        resource_attrs, semconv.ML_MODEL_NAME
    )
    if not isinstance(model, str) or not model:
        raise _Reject(R_NO_MODEL)
    version = attribute(attrs, semconv.ML_MODEL_VERSION)
    if version is None:
        version = attribute(resource_attrs, semconv.ML_MODEL_VERSION)
    if name == semconv.EVENT_PREDICTION_DROPPED:
        return _dropped(
            attrs, model, None if version is None else str(version), record, resource, now
        )
    ids = _texts(attribute(attrs, semconv.ML_PREDICTION_IDS), R_BAD_TEXT)
    if not ids:
        raise _Reject(R_NO_IDS)
    when = record.time_unix_nano or record.observed_time_unix_nano or now
    if name == semconv.EVENT_OUTCOME:
        _check_label_kinds(record)
        actuals = _actuals(attribute(attrs, semconv.ML_OUTCOME_VALUES))
        if len(actuals) != len(ids):
            raise _Reject(R_LENGTH)
        return OutcomeEvent(
            model=model,
            version=None if version is None else str(version),
            ids=ids,
            actuals=actuals,
            time_unix_nano=when,
            resource=resource,
        )
    values = _numbers(attribute(attrs, semconv.ML_PREDICTION_VALUES))
    labels = _texts(attribute(attrs, semconv.ML_PREDICTION_LABELS), R_BAD_TEXT)
    if (values is not None and len(values) != len(ids)) or (
        labels is not None and len(labels) != len(ids)
    ):
        raise _Reject(R_LENGTH)
    observed = record.observed_time_unix_nano or now
    v = None if version is None else str(version)
    calls = _calls(attrs, len(ids))
    if calls is None:
        calls = [(0, len(ids), _id_hex(record.trace_id), _id_hex(record.span_id), when)]
    return [
        PredictionEvent(
            model=model,
            version=v,
            ids=ids[lo:hi],
            values=None if values is None else values[lo:hi],
            labels=None if labels is None else labels[lo:hi],
            time_unix_nano=t,
            observed_time_unix_nano=observed,
            trace_id=trace_id,
            span_id=span_id,
            resource=resource,
        )
        for lo, hi, trace_id, span_id, t in calls
    ]


def _event_name(record: Any) -> str:
    if record.event_name:
        return str(record.event_name)
    for kv in record.attributes:  # older SDKs: the name as an attribute
        if kv.key == semconv.EVENT_NAME and kv.value.WhichOneof("value") == "string_value":
            return str(kv.value.string_value)
    return ""


def decode_logs(
    request: ExportLogsServiceRequest, *, batch_id: str, received_time_unix_nano: int
) -> IngestBatch:
    """Decode otel_ml's prediction and outcome events from a parsed request."""
    predictions: list[PredictionEvent] = []
    outcomes: list[OutcomeEvent] = []
    dropped: list[DroppedPredictions] = []
    rejected: Counter[str] = Counter()
    ignored = 0
    for rl in request.resource_logs:
        resource_attrs = attributes(rl.resource.attributes)
        resource = resource_identity(resource_attrs)
        for sl in rl.scope_logs:
            for record in sl.log_records:
                name = _event_name(record)
                if name not in _EVENTS:
                    ignored += 1
                    continue
                try:
                    event = _event(record, name, resource_attrs, resource, received_time_unix_nano)
                except _Reject as reason:
                    rejected[str(reason)] += 1
                    continue
                if isinstance(event, list):
                    predictions.extend(event)
                elif isinstance(event, DroppedPredictions):
                    dropped.append(event)
                else:
                    outcomes.append(event)
    return IngestBatch(
        batch_id=batch_id,
        signal=Signal.LOGS,
        predictions=tuple(predictions),
        outcomes=tuple(outcomes),
        dropped=tuple(dropped),
        rejected=tuple(Rejection(r, n) for r, n in sorted(rejected.items())),
        ignored=ignored,
        received_time_unix_nano=received_time_unix_nano,
    )
