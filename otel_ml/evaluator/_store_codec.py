"""How the store encodes its rows: numeric sketches as a compact binary record, explicit
histograms as JSON (categorical counts become a sketch through
:func:`otel_ml.sketch.categorical_sketch`).

A sketch row is written as :func:`sketch_to_blob` (a fixed header, then the bucket
counts as little-endian ``uint32``, or ``int64`` when a count does not fit): about a
microsecond to write and to read, where ``json.dumps`` of the sketch's dictionary was a
tenth of the ingest time. Rows written as JSON text by earlier versions are still read
(:func:`sketch_from_stored` takes either).

Examples
--------
>>> from otel_ml.sketch import NumericSketch
>>> s = NumericSketch(); s.update([-2.0, 0.0, 0.5, 8.0, float("nan")])
>>> sketch_from_stored(sketch_to_blob(s)) == s
True
>>> import json
>>> sketch_from_stored(json.dumps(s.to_dict())) == s
True
"""

from __future__ import annotations

import json
import math
import struct
from bisect import bisect_left

import numpy as np

from otel_ml._errors import SketchError
from otel_ml.evaluator._records import ExplicitBuckets
from otel_ml.sketch import NumericSketch

__all__ = ["sketch_from_stored", "sketch_to_blob"]

# magic, bytes per count, scale, max_size, count, sum, min, max, zero, nan, +inf, -inf,
# positive offset and length, negative offset and length
_HEADER = struct.Struct("<2sBbiqdddqqqqqiqi")
_MAGIC = b"S1"
_U32_MAX = 2**32 - 1


def sketch_to_blob(s: NumericSketch) -> bytes:
    """The stored form of a numeric sketch (see the module docstring)."""
    pos, neg = s.positive_counts, s.negative_counts
    wide = (pos.size and int(pos.max()) > _U32_MAX) or (neg.size and int(neg.max()) > _U32_MAX)
    dtype = "<i8" if wide else "<u4"
    header = _HEADER.pack(
        _MAGIC, 8 if wide else 4, s.scale, s.max_size, s.count, s.sum, s.min, s.max,
        s.zero_count, s.nan_count, s.posinf_count, s.neginf_count,
        s.positive_offset, pos.size, s.negative_offset, neg.size,
    )
    return header + pos.astype(dtype).tobytes() + neg.astype(dtype).tobytes()


def sketch_from_stored(data: bytes | str) -> NumericSketch:
    """A stored sketch row: :func:`sketch_to_blob` bytes, or the JSON text of earlier
    versions. Raises :class:`~otel_ml.SketchError` when it cannot be read."""
    if isinstance(data, str):
        return NumericSketch.from_dict(json.loads(data))
    try:
        (magic, width, scale, max_size, count, total, lo, hi, zero, nan, pinf, ninf,
         pos_off, n_pos, neg_off, n_neg) = _HEADER.unpack_from(data)
        if magic != _MAGIC or width not in (4, 8):
            raise ValueError("not a stored sketch")
        dtype = "<i8" if width == 8 else "<u4"
        at = _HEADER.size
        pos = np.frombuffer(data, dtype, n_pos, at).astype(np.int64)
        neg = np.frombuffer(data, dtype, n_neg, at + width * n_pos).astype(np.int64)
        if at + width * (n_pos + n_neg) != len(data):
            raise ValueError("stored sketch of the wrong length")
    except (struct.error, ValueError) as exc:
        raise SketchError(f"bad stored sketch: {exc}") from None
    return NumericSketch(
        max_size=max_size, scale=scale, count=count, sum=total, min=lo, max=hi,
        zero_count=zero, nan_count=nan, posinf_count=pinf, neginf_count=ninf,
        positive_offset=pos_off, positive_counts=pos,
        negative_offset=neg_off, negative_counts=neg,
    )


def _explicit_to_json(b: ExplicitBuckets) -> str:
    return json.dumps(
        {
            "bounds": list(b.bounds),
            "counts": list(b.counts),
            "count": b.count,
            "sum": b.sum,
            "min": b.min,
            "max": b.max,
        }
    )


def _explicit_from_json(s: str) -> ExplicitBuckets:
    d = json.loads(s)
    return ExplicitBuckets(
        bounds=tuple(float(x) for x in d["bounds"]),
        counts=tuple(int(x) for x in d["counts"]),
        count=int(d["count"]),
        sum=float(d["sum"]),
        min=d["min"],
        max=d["max"],
    )


def _merge_explicit(a: ExplicitBuckets, b: ExplicitBuckets) -> ExplicitBuckets:
    """Add two explicit histograms; ``b`` is re-binned onto ``a``'s bounds if they differ
    (each bucket of ``b`` goes to the bucket of ``a`` holding its upper bound)."""
    counts = list(a.counts)
    if a.bounds == b.bounds:
        counts = [x + y for x, y in zip(a.counts, b.counts, strict=True)]
    else:
        for i, n in enumerate(b.counts):
            upper = b.bounds[i] if i < len(b.bounds) else math.inf
            counts[min(bisect_left(a.bounds, upper), len(a.bounds))] += n
    mins = [x for x in (a.min, b.min) if x is not None]
    maxs = [x for x in (a.max, b.max) if x is not None]
    return ExplicitBuckets(
        bounds=a.bounds,
        counts=tuple(counts),
        count=a.count + b.count,
        sum=a.sum + b.sum,
        min=min(mins) if mins else None,
        max=max(maxs) if maxs else None,
    )
