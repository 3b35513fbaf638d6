"""Store part: merging incoming histogram and counter points into their windows.

Sketches of the same (model, version, window, signal, name) are merged into one row;
the merged sketches last written stay in a write-through LRU cache (``Store.write``
moves them from ``_cache_pending`` into ``_cache`` only once the transaction commits).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from otel_ml import semconv as sc
from otel_ml.evaluator._records import CounterPoint, ExplicitBuckets, HistogramPoint, attribute
from otel_ml.evaluator._store_codec import _explicit_from_json, _explicit_to_json, _merge_explicit
from otel_ml.evaluator._store_schema import (
    _FEATURE,
    _PREDICTION,
    _CounterKey,
    _SketchKey,
    _StoreState,
    _v,
)
from otel_ml.sketch import NumericSketch


class _SketchWriter(_StoreState):
    """Writes feature/prediction sketches, durations and counters (inside ``Store.write``)."""

    def _write_histograms(self, points: Iterable[HistogramPoint]) -> None:
        merged: dict[_SketchKey, NumericSketch] = {}
        durations: dict[tuple[str, str, float], ExplicitBuckets] = {}
        w = self.windowing
        for p in points:
            start = w.start_of_ns(p.time_unix_nano)
            mv = (p.model, _v(p.version), start)
            if isinstance(p.buckets, ExplicitBuckets):
                if p.metric == sc.METRIC_PREDICT_DURATION:
                    prev = durations.get(mv)
                    durations[mv] = p.buckets if prev is None else _merge_explicit(prev, p.buckets)
                continue
            if p.metric == sc.METRIC_FEATURE_VALUES and p.feature:
                key = (*mv, _FEATURE, p.feature)
            elif p.metric == sc.METRIC_PREDICTION_VALUES:
                output = attribute(p.attributes, sc.ML_PREDICTION_OUTPUT)
                key = (*mv, _PREDICTION, str(output) if output is not None else "score")
            else:
                continue
            sk = NumericSketch.from_exponential(p.buckets)
            if key in merged:
                merged[key].merge(sk)
            else:
                merged[key] = sk
        c = self._conn
        for key, sk in merged.items():
            cached = self._cache.get(key)
            if cached is not None:
                old: NumericSketch | None = cached.copy()
            else:
                row = c.execute(
                    "SELECT data FROM sketches WHERE model=? AND version=? AND start=? "
                    "AND signal=? AND name=?",
                    key,
                ).fetchone()
                old = None if row is None else NumericSketch.from_dict(json.loads(row[0]))
            if old is not None:
                old.merge(sk)
                sk = old
            self._cache_pending[key] = sk
            c.execute(
                "INSERT OR REPLACE INTO sketches(model, version, start, signal, name, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (*key, json.dumps(sk.to_dict())),
            )
        for mv, eb in durations.items():
            row = c.execute(
                "SELECT data FROM durations WHERE model=? AND version=? AND start=?", mv
            ).fetchone()
            if row is not None:
                eb = _merge_explicit(_explicit_from_json(row[0]), eb)
            c.execute(
                "INSERT OR REPLACE INTO durations(model, version, start, data) VALUES (?,?,?,?)",
                (*mv, _explicit_to_json(eb)),
            )
        self._touch([k[:3] for k in merged] + list(durations))

    def _write_counters(self, points: Iterable[CounterPoint]) -> None:
        sums: dict[_CounterKey, float] = {}
        w = self.windowing
        for p in points:
            if p.metric == sc.METRIC_FEATURE_CATEGORIES:
                k = attribute(p.attributes, sc.ML_FEATURE_VALUE)
            elif p.metric == sc.METRIC_PREDICTION_CLASSES:
                k = attribute(p.attributes, sc.ML_PREDICTION_CLASS)
            elif p.metric == sc.METRIC_PREDICT_ERRORS:
                k = attribute(p.attributes, sc.ERROR_TYPE)
            elif p.metric == sc.METRIC_DATA_QUALITY_ISSUES:
                k = attribute(p.attributes, sc.ML_DATA_QUALITY_ISSUE)
            elif p.metric in (sc.METRIC_PREDICT_CALLS, sc.METRIC_PREDICT_ROWS):
                k = ""
            else:
                continue
            key = (
                p.model,
                _v(p.version),
                w.start_of_ns(p.time_unix_nano),
                p.metric,
                p.feature or "",
                "" if k is None else str(k),
            )
            sums[key] = sums.get(key, 0.0) + p.value
        self._add_counters(sums)

    def _commit_cache(self) -> None:
        """Make the sketches of the committed transaction the cached ones (LRU bound)."""
        for key, sk in self._cache_pending.items():
            self._cache[key] = sk
            self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
