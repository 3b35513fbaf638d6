"""OTLP ``AnyValue`` / ``KeyValue`` lists to plain Python values (shared by the decoders)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from otel_ml import semconv
from otel_ml.evaluator._records import Attributes, AttributeValue, ResourceIdentity

__all__ = ["any_value", "attributes", "resource_identity"]

_Scalar = str | bool | int | float


def _scalar(value: Any) -> _Scalar | None:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("array_value", "kvlist_value", "bytes_value"):
        return str(any_value(value))  # nested structures flatten to text
    v: _Scalar = getattr(value, kind)
    return v


def any_value(value: Any) -> AttributeValue | None:
    """Decode an OTLP ``AnyValue``: scalars as is, arrays as tuples of scalars.

    Nested arrays and key-value lists become their text; an empty ``AnyValue``
    is ``None``.

    >>> from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue
    >>> any_value(AnyValue(array_value=ArrayValue(values=[AnyValue(int_value=3),
    ...     AnyValue(string_value="a")])))
    (3, 'a')
    >>> any_value(AnyValue()) is None
    True
    """
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        items = (_scalar(v) for v in value.array_value.values)
        return tuple(v for v in items if v is not None)
    if kind == "kvlist_value":
        inner = attributes(value.kvlist_value.values)
        return "{" + ", ".join(f"{k}={v!r}" for k, v in inner) + "}"
    decoded: AttributeValue = getattr(value, kind)
    return decoded


def attributes(key_values: Iterable[Any]) -> Attributes:
    """A ``repeated KeyValue`` as a key-sorted tuple (the last of duplicate keys wins).

    >>> from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    >>> attributes([KeyValue(key="b", value=AnyValue(int_value=1)),
    ...             KeyValue(key="a", value=AnyValue(bool_value=True))])
    (('a', True), ('b', 1))
    """
    out: dict[str, AttributeValue] = {}
    for kv in key_values:
        value = kv.value
        if value.WhichOneof("value") == "string_value":  # most attributes: no call
            out[kv.key] = value.string_value
            continue
        v = any_value(value)
        if v is not None:
            out[kv.key] = v
    return tuple(sorted(out.items()))


def resource_identity(resource_attributes: Attributes) -> ResourceIdentity:
    """``service.name`` and ``service.instance.id`` of a resource (``""`` when absent)."""
    found = dict(resource_attributes)
    name = found.get(semconv.SERVICE_NAME, "")
    instance = found.get(semconv.SERVICE_INSTANCE_ID, "")
    return ResourceIdentity(str(name), str(instance))
