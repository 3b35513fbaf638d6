"""The last cumulative point of each stream, as JSON, so the differencing survives a restart.

:class:`~otel_ml.evaluator._temporality.CumulativeToDelta` turns a cumulative stream
into deltas by remembering the stream's previous point. The store keeps that point
(in the transaction that stores the deltas computed from it) and a restarted
evaluator starts from it: the interval between the last point stored before a crash
and the first one after it is counted once, neither lost nor counted twice.

Examples
--------
>>> from otel_ml.evaluator._records import CounterPoint, ResourceIdentity, Temporality
>>> p = CounterPoint("ml.predict.calls", "m", "1", None, (("ml.model.name", "m"),),
...                  ResourceIdentity("svc", "pod-1"), 10, 20, Temporality.CUMULATIVE, 5.0)
>>> decode_point(encode_point(p)) == p
True
>>> stream_key(p) == stream_key(decode_point(encode_point(p)))
True
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from otel_ml.evaluator._records import (
    AttributeValue,
    CounterPoint,
    ExplicitBuckets,
    HistogramPoint,
    ResourceIdentity,
    Temporality,
)
from otel_ml.evaluator._store_database import Database
from otel_ml.sketch import ExponentialBuckets

__all__ = ["StreamTable", "decode_point", "encode_point", "stream_key"]

_BYTES = "$bytes"


def _value(v: AttributeValue) -> Any:
    return {_BYTES: v.hex()} if isinstance(v, bytes) else v


def _attribute(v: Any) -> AttributeValue:
    if isinstance(v, dict):
        return bytes.fromhex(v[_BYTES])
    if isinstance(v, list):
        return tuple(v)
    value: AttributeValue = v
    return value


def _common(p: HistogramPoint | CounterPoint) -> dict[str, Any]:
    return {
        "metric": p.metric, "model": p.model, "version": p.version, "feature": p.feature,
        "attributes": [[k, _value(v)] for k, v in p.attributes],
        "resource": [p.resource.service_name, p.resource.service_instance_id],
        "start": p.start_time_unix_nano, "time": p.time_unix_nano,
    }


def stream_key(p: HistogramPoint | CounterPoint) -> str:
    """The stream's identity (metric, attributes, resource, start time) as a string."""
    c = _common(p)
    return json.dumps([type(p).__name__, c["metric"], c["attributes"], c["resource"], c["start"]])


def encode_point(p: HistogramPoint | CounterPoint) -> str:
    """JSON for a cumulative point (infinite min/max included)."""
    d = _common(p)
    if isinstance(p, CounterPoint):
        d["value"] = p.value
    elif isinstance(p.buckets, ExponentialBuckets):
        b = p.buckets
        d["exponential"] = [b.scale, b.zero_count, b.positive_offset, list(b.positive_counts),
                            b.negative_offset, list(b.negative_counts), b.count, b.sum, b.min,
                            b.max]
    else:
        e = p.buckets
        d["explicit"] = [list(e.bounds), list(e.counts), e.count, e.sum, e.min, e.max]
    return json.dumps(d)


def decode_point(text: str) -> HistogramPoint | CounterPoint:
    """The inverse of :func:`encode_point`."""
    d = json.loads(text)
    common = (
        d["metric"], d["model"], d["version"], d["feature"],
        tuple((k, _attribute(v)) for k, v in d["attributes"]),
        ResourceIdentity(*d["resource"]), d["start"], d["time"], Temporality.CUMULATIVE,
    )
    if "value" in d:
        return CounterPoint(*common, float(d["value"]))
    if "exponential" in d:
        s, z, po, pc, no, nc, n, total, lo, hi = d["exponential"]
        buckets: ExponentialBuckets | ExplicitBuckets = ExponentialBuckets(
            s, z, po, tuple(pc), no, tuple(nc), n, total, lo, hi
        )
    else:
        bounds, counts, n, total, lo, hi = d["explicit"]
        buckets = ExplicitBuckets(tuple(bounds), tuple(counts), n, total, lo, hi)
    return HistogramPoint(*common, buckets)


class StreamTable:
    """The ``streams`` table: the latest point of each cumulative stream."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def write(self, points: Iterable[HistogramPoint | CounterPoint]) -> None:
        """Keep each point unless its stream already has a later one (inside a transaction)."""
        self.db.executemany(
            "INSERT INTO streams(key, point, t) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE "
            "SET point=excluded.point, t=excluded.t WHERE excluded.t > streams.t",
            [(stream_key(p), encode_point(p), p.time_unix_nano) for p in points],
        )

    def latest(self, limit: int) -> list[HistogramPoint | CounterPoint]:
        """The latest point of the ``limit`` most recent streams, oldest first; older
        streams are forgotten."""
        with self.db.lock:
            self.prune(limit)
            rows = self.db.fetchall("SELECT point FROM streams ORDER BY t")
        return [decode_point(r[0]) for r in rows]

    def prune(self, limit: int) -> None:
        """Forget all but the ``limit`` most recent streams."""
        self.db.execute(
            "DELETE FROM streams WHERE key IN "
            "(SELECT key FROM streams ORDER BY t DESC LIMIT -1 OFFSET ?)",
            (limit,),
        )
