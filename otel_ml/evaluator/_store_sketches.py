"""Store part: merging incoming histogram and counter points into their windows.

Sketches of the same (model, version, window, signal, name) are merged into one row;
the merged sketches last written stay in a write-through LRU cache, updated only
once the transaction that wrote them commits (:meth:`SketchTable.committed`) and
emptied when one fails, so it never runs ahead of the database.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from otel_ml import semconv as sc
from otel_ml.evaluator._cardinality import COUNTER_KEYS
from otel_ml.evaluator._ingest_bounds import merge_rejection
from otel_ml.evaluator._records import CounterPoint, ExplicitBuckets, HistogramPoint, attribute
from otel_ml.evaluator._store_codec import (
    _explicit_from_json,
    _explicit_to_json,
    _merge_explicit,
    sketch_from_stored,
    sketch_to_blob,
)
from otel_ml.evaluator._store_database import Database, version_key
from otel_ml.evaluator._store_windows import CounterKey, WindowTable
from otel_ml.evaluator._windows import WindowKey
from otel_ml.sketch import ExponentialBuckets, NumericSketch, merge_points

__all__ = ["SketchTable"]

_FEATURE, _PREDICTION = "feature", "prediction"
#: (model, version, window start, signal, name) of one sketch row.
_SketchKey = tuple[str, str, float, str, str]


class SketchTable:
    """The ``sketches`` and ``durations`` tables, and the counters the SDK sends.

    Parameters
    ----------
    db
        The database.
    windows
        Where counters go and which windows get marked dirty.
    cache_size
        Merged sketches kept in memory for the next write to the same window.
    """

    def __init__(self, db: Database, windows: WindowTable, *, cache_size: int) -> None:
        self.db = db
        self.windows = windows
        self.cache_size = cache_size
        self._cache: OrderedDict[_SketchKey, NumericSketch] = OrderedDict()
        self._written: dict[_SketchKey, NumericSketch] = {}
        db.watch(self)

    # ---- writes (inside Store.write's transaction) -------------------------------------
    def _stored(self, key: _SketchKey) -> NumericSketch | None:
        """The stored sketch of ``key`` (the cached object itself: never modify it)."""
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        row = self.db.fetchone(
            "SELECT data FROM sketches WHERE model=? AND version=? AND start=? "
            "AND signal=? AND name=?",
            key,
        )
        return None if row is None else sketch_from_stored(row[0])

    def write_histograms(
        self, points: Iterable[HistogramPoint]
    ) -> list[tuple[HistogramPoint, str]]:
        """Merge ``points`` into their windows; returns the points refused, with the reason,
        because their window's count or sum would leave the bounds the statistics carry
        (:func:`~otel_ml.evaluator._ingest_bounds.merge_rejection`).

        The points of each sketch are collected first, then every sketch is merged at once
        (:func:`~otel_ml.sketch.merge_points`: the same sketches as merging one point after
        the other, for a few NumPy calls per transaction instead of a dozen per point).
        """
        held: dict[_SketchKey, NumericSketch | None] = {}
        incoming: dict[_SketchKey, list[ExponentialBuckets]] = {}
        totals: dict[_SketchKey, tuple[int, float]] = {}
        durations: dict[tuple[str, str, float], ExplicitBuckets | None] = {}
        refused: list[tuple[HistogramPoint, str]] = []
        w = self.windows.windowing
        db = self.db
        last_t, start = -1, 0.0
        for p in points:
            if p.time_unix_nano != last_t:  # the points of one export share their time
                last_t, start = p.time_unix_nano, w.start_of_ns(p.time_unix_nano)
            mv = (p.model, version_key(p.version), start)
            if isinstance(p.buckets, ExplicitBuckets):
                if p.metric != sc.METRIC_PREDICT_DURATION:
                    continue
                if mv not in durations:
                    row = db.fetchone(
                        "SELECT data FROM durations WHERE model=? AND version=? AND start=?", mv
                    )
                    durations[mv] = None if row is None else _explicit_from_json(row[0])
                prev = durations[mv]
                why = merge_rejection(
                    0 if prev is None else prev.count,
                    0.0 if prev is None else prev.sum,
                    p.buckets.count,
                    p.buckets.sum,
                )
                if why is not None:
                    refused.append((p, why))
                    continue
                durations[mv] = p.buckets if prev is None else _merge_explicit(prev, p.buckets)
                continue
            if p.metric == sc.METRIC_FEATURE_VALUES and p.feature:
                key = (*mv, _FEATURE, p.feature)
            elif p.metric == sc.METRIC_PREDICTION_VALUES:
                output = attribute(p.attributes, sc.ML_PREDICTION_OUTPUT)
                key = (*mv, _PREDICTION, str(output) if output is not None else "score")
            else:
                continue
            so_far = totals.get(key)
            if so_far is None:
                stored = held[key] = self._stored(key)
                so_far = (0, 0.0) if stored is None else (stored.count, stored.sum)
                incoming[key] = []
            b = p.buckets
            why = merge_rejection(so_far[0], so_far[1], b.count, b.sum)
            if why is not None:
                refused.append((p, why))
                totals[key] = so_far
                continue
            totals[key] = (so_far[0] + b.count, so_far[1] + b.sum)
            incoming[key].append(b)
        keys = [k for k, pts in incoming.items() if pts]
        merged = dict(zip(keys, merge_points([(held[k], incoming[k]) for k in keys]), strict=True))
        for key, sk in merged.items():
            self._written[key] = sk
        db.executemany(
            "INSERT OR REPLACE INTO sketches(model, version, start, signal, name, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(*key, sketch_to_blob(sk)) for key, sk in merged.items()],
        )
        kept = {mv: eb for mv, eb in durations.items() if eb is not None}
        for mv, eb in kept.items():
            db.execute(
                "INSERT OR REPLACE INTO durations(model, version, start, data) VALUES (?,?,?,?)",
                (*mv, _explicit_to_json(eb)),
            )
        self.windows.touch([k[:3] for k in merged] + list(kept))
        return refused

    def write_counters(self, points: Iterable[CounterPoint]) -> list[tuple[CounterPoint, str]]:
        """Add ``points`` to their windows' counters; returns the points refused, with the
        reason, because the counter would pass the largest count the store holds."""
        sums: dict[CounterKey, float] = {}
        held: dict[CounterKey, float] = {}
        refused: list[tuple[CounterPoint, str]] = []
        w = self.windows.windowing
        for p in points:
            key_attribute = COUNTER_KEYS.get(p.metric)
            if key_attribute is not None:
                k = attribute(p.attributes, key_attribute)
            elif p.metric in (sc.METRIC_PREDICT_CALLS, sc.METRIC_PREDICT_ROWS):
                k = ""
            else:
                continue
            key = (
                p.model,
                version_key(p.version),
                w.start_of_ns(p.time_unix_nano),
                p.metric,
                p.feature or "",
                "" if k is None else str(k),
            )
            if key not in held:
                row = self.db.fetchone(
                    "SELECT value FROM counters WHERE model=? AND version=? AND start=? "
                    "AND metric=? AND feature=? AND key=?",
                    key,
                )
                held[key] = 0.0 if row is None else float(row[0])
            so_far = int(held[key] + sums.get(key, 0.0))
            why = merge_rejection(so_far, 0.0, int(p.value), 0.0)
            if why is not None:
                refused.append((p, why))
                continue
            sums[key] = sums.get(key, 0.0) + p.value
        self.windows.add_counters(sums)
        return refused

    def expire(self, before: float) -> None:
        """Forget the sketches and durations of windows that started before ``before``."""
        for table in ("sketches", "durations"):
            self.db.execute(f"DELETE FROM {table} WHERE start < ?", (before,))

    # ---- the cache (a TransactionListener of the database) ------------------------------
    def committed(self) -> None:
        """Make the sketches of the committed transaction the cached ones (LRU bound)."""
        for key, sk in self._written.items():
            self._cache[key] = sk
            self._cache.move_to_end(key)
        self._written = {}
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def rolled_back(self) -> None:
        """Forget every cached sketch: what the failed transaction merged was not stored."""
        self.drop_cache()

    def drop_cache(self) -> None:
        """Forget every cached sketch (after a failed transaction or a deletion)."""
        self._cache.clear()
        self._written = {}

    # ---- reads -------------------------------------------------------------------------
    def read(
        self, key: WindowKey
    ) -> tuple[dict[str, NumericSketch], dict[str, NumericSketch], ExplicitBuckets | None]:
        """The feature sketches, prediction sketches and duration histogram of one window.

        Sketches still in the cache (the committed ones, as the rows hold them) are copied
        from it instead of decoded from their rows.
        """
        k = (key.model, key.version, key.start)
        with self.db.lock:
            sk = self.db.fetchall(
                "SELECT signal, name, data FROM sketches WHERE model=? AND version=? AND start=?", k
            )
            dur = self.db.fetchone(
                "SELECT data FROM durations WHERE model=? AND version=? AND start=?", k
            )
            cached = [self._cache.get((*k, signal, name)) for signal, name, _ in sk]
            copies = [c.copy() if c is not None else None for c in cached]
        numeric: dict[str, NumericSketch] = {}
        preds: dict[str, NumericSketch] = {}
        for (signal, name, data), copy in zip(sk, copies, strict=True):
            (numeric if signal == _FEATURE else preds)[name] = (
                copy if copy is not None else sketch_from_stored(data)
            )
        return numeric, preds, _explicit_from_json(dur[0]) if dur else None
