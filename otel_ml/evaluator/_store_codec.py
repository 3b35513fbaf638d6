"""How the store encodes what is not a sketch: explicit histograms as JSON (categorical
counts become a sketch through :func:`otel_ml.sketch.categorical_sketch`)."""

from __future__ import annotations

import json
import math
from bisect import bisect_left

from otel_ml.evaluator._records import ExplicitBuckets


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
