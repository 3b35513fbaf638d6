"""The evaluator's durable state: one SQLite database in WAL mode.

What it holds
-------------
- ``batches``: ids of the ingested batches (a hash of the request body), so a
  batch retried by an exporter after a lost acknowledgement is stored once.
- ``sketches``: one merged :class:`~otel_ml.stats.NumericSketch` per model,
  version, window and feature (``signal='feature'``) or prediction output
  (``signal='prediction'``).
- ``counters``: window deltas of the SDK's sums (calls, rows, errors by type,
  quality issues by feature, categories by value, predicted classes).
- ``durations``: the merged ``ml.predict.duration`` histogram of each window.
- ``traces``: a few example trace ids per window.
- ``predictions`` / ``outcomes``: pending predictions waiting for their label and
  labels waiting for their prediction (labels may come first), each with a TTL
  and a size bound (oldest evicted first, and counted).
- ``joined``: predictions with their outcome, keyed by the prediction's window.
- ``windows``: which windows have data, and whether they changed since their
  last evaluation (``dirty``); ``reports``: the JSON report of each evaluated window.
- ``meta``: the references in use and other small facts.
- ``streams``: the latest point of each cumulative stream, written with the batch
  whose deltas were computed from it, so the differencing resumes after a restart.

Every batch is written in one transaction together with its id, and the
transaction commits (``synchronous=FULL``) before the receiver answers 200:
an acknowledged batch survives ``SIGKILL``, a retried one is not counted twice.
:meth:`Store.write` commits several batches at once (group commit).

All methods are thread-safe (one connection behind a lock).
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
import threading
import time
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from otel_ml import semconv as sc
from otel_ml.evaluator._records import (
    CounterPoint,
    ExplicitBuckets,
    HistogramPoint,
    IngestBatch,
    OutcomeEvent,
    PredictionEvent,
    attribute,
)
from otel_ml.evaluator._stream_state import decode_point, encode_point, stream_key
from otel_ml.evaluator._temporality import DEFAULT_MAX_STREAMS
from otel_ml.evaluator._windows import LabelledRows, WindowData, Windowing, WindowKey
from otel_ml.stats import CategoricalSketch, NumericSketch

__all__ = ["MAX_TRACES_PER_WINDOW", "Store", "StoreStats", "WriteOutcome"]

MAX_TRACES_PER_WINDOW = 20
#: Counter row holding the number of prediction ids seen per window (not an OTel signal).
_PREDICTED = "_predicted"
_FEATURE, _PREDICTION = "feature", "prediction"
_SketchKey = tuple[str, str, float, str, str]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS batches_at ON batches(at);
CREATE TABLE IF NOT EXISTS windows (
  model TEXT, version TEXT, start REAL, dirty INTEGER NOT NULL DEFAULT 1,
  evaluated_at REAL, PRIMARY KEY (model, version, start));
CREATE INDEX IF NOT EXISTS windows_dirty ON windows(dirty, start);
CREATE TABLE IF NOT EXISTS sketches (
  model TEXT, version TEXT, start REAL, signal TEXT, name TEXT, data TEXT NOT NULL,
  PRIMARY KEY (model, version, start, signal, name));
CREATE TABLE IF NOT EXISTS counters (
  model TEXT, version TEXT, start REAL, metric TEXT, feature TEXT, key TEXT,
  value REAL NOT NULL, PRIMARY KEY (model, version, start, metric, feature, key));
CREATE TABLE IF NOT EXISTS durations (
  model TEXT, version TEXT, start REAL, data TEXT NOT NULL,
  PRIMARY KEY (model, version, start));
CREATE TABLE IF NOT EXISTS traces (
  model TEXT, version TEXT, start REAL, trace_id TEXT,
  PRIMARY KEY (model, version, start, trace_id));
CREATE TABLE IF NOT EXISTS predictions (
  model TEXT, id TEXT, version TEXT, t REAL NOT NULL, score REAL, label TEXT,
  trace_id TEXT, PRIMARY KEY (model, id));
CREATE INDEX IF NOT EXISTS predictions_t ON predictions(t);
CREATE TABLE IF NOT EXISTS outcomes (
  model TEXT, id TEXT, actual_label TEXT, actual_value REAL, t REAL NOT NULL,
  PRIMARY KEY (model, id));
CREATE INDEX IF NOT EXISTS outcomes_t ON outcomes(t);
CREATE TABLE IF NOT EXISTS joined (
  model TEXT, id TEXT, version TEXT, start REAL, score REAL, label TEXT,
  actual_label TEXT, actual_value REAL, delay REAL, u REAL NOT NULL, PRIMARY KEY (model, id));
CREATE INDEX IF NOT EXISTS joined_window ON joined(model, version, start, u);
CREATE TABLE IF NOT EXISTS reports (
  model TEXT, version TEXT, start REAL, end_ REAL, data TEXT NOT NULL, at REAL,
  PRIMARY KEY (model, version, start));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS streams (key TEXT PRIMARY KEY, point TEXT NOT NULL, t INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS streams_t ON streams(t);
"""


@dataclass(frozen=True)
class WriteOutcome:
    """Result of writing one batch: stored, or a duplicate of an already stored batch."""

    batch_id: str
    duplicate: bool


@dataclass(frozen=True)
class StoreStats:
    pending_predictions: int
    pending_outcomes: int
    evicted_predictions: int
    evicted_outcomes: int
    duplicate_prediction_ids: int


def _v(version: str | None) -> str:
    return version or ""


def _float_or_nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


class Store:
    """SQLite-backed state of the evaluator (see the module docstring).

    Parameters
    ----------
    path
        The database file (``":memory:"`` for tests that need no restart).
    windowing
        How point times map to windows.
    label_ttl, max_pending
        Pending predictions / outcomes older than ``label_ttl`` seconds are dropped
        by :meth:`housekeep`; beyond ``max_pending`` rows the oldest are evicted.
    max_labelled
        At most this many labelled predictions of a window are loaded for its
        performance metrics (a uniform random sample; counts stay exact).
    cache_size
        Merged sketches kept in memory for the next write to the same window
        (a few KiB each); saves a read and a decode per incoming point.
    """

    def __init__(
        self,
        path: str | Path,
        windowing: Windowing,
        *,
        label_ttl: float = 7 * 86400.0,
        max_pending: int = 1_000_000,
        cache_size: int = 20_000,
        max_labelled: int = 200_000,
    ) -> None:
        self.windowing = windowing
        self.label_ttl = label_ttl
        self.max_pending = max_pending
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
            self._pending_p = self._scalar("SELECT COUNT(*) FROM predictions")
            self._pending_o = self._scalar("SELECT COUNT(*) FROM outcomes")
        # Write-through cache of the merged sketches last written (saves a read and a
        # decode per point); updated only after a commit succeeds, so it never runs ahead.
        self.cache_size = cache_size
        self.max_labelled = max_labelled
        self._rng = random.Random()
        self._cache: OrderedDict[_SketchKey, NumericSketch] = OrderedDict()
        self._cache_pending: dict[_SketchKey, NumericSketch] = {}
        self._evicted_p = 0
        self._evicted_o = 0
        self._dup_ids = 0

    # ---- helpers ----------------------------------------------------------------------
    def _scalar(self, sql: str, args: Sequence[object] = ()) -> int:
        row = self._conn.execute(sql, args).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def stats(self) -> StoreStats:
        return StoreStats(
            self._pending_p, self._pending_o, self._evicted_p, self._evicted_o, self._dup_ids
        )

    # ---- ingest -----------------------------------------------------------------------
    def write(
        self, batches: Sequence[IngestBatch], *, now: float | None = None
    ) -> list[WriteOutcome]:
        """Store batches in one transaction (group commit); duplicates are skipped.

        Returns one :class:`WriteOutcome` per batch, in order, once committed.
        """
        now = time.time() if now is None else now
        out: list[WriteOutcome] = []
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                self._cache_pending = {}
                fresh: list[IngestBatch] = []
                seen: set[str] = set()
                for b in batches:
                    dup = b.batch_id in seen or (
                        c.execute("SELECT 1 FROM batches WHERE id=?", (b.batch_id,)).fetchone()
                        is not None
                    )
                    out.append(WriteOutcome(b.batch_id, dup))
                    if not dup:
                        seen.add(b.batch_id)
                        fresh.append(b)
                        c.execute("INSERT INTO batches(id, at) VALUES (?, ?)", (b.batch_id, now))
                self._write_histograms(h for b in fresh for h in b.histograms)
                self._write_counters(p for b in fresh for p in b.counters)
                self._write_predictions([e for b in fresh for e in b.predictions])
                self._write_outcomes([e for b in fresh for e in b.outcomes])
                self._write_stream_state(p for b in batches for p in b.stream_state)
                self._bound_pending()
                c.execute("COMMIT")
                for key, sk in self._cache_pending.items():
                    self._cache[key] = sk
                    self._cache.move_to_end(key)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            except BaseException:
                c.execute("ROLLBACK")
                self._cache.clear()
                self._pending_p = self._scalar("SELECT COUNT(*) FROM predictions")
                self._pending_o = self._scalar("SELECT COUNT(*) FROM outcomes")
                raise
        return out

    def _write_stream_state(self, points: Iterable[HistogramPoint | CounterPoint]) -> None:
        self._conn.executemany(
            "INSERT INTO streams(key, point, t) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE "
            "SET point=excluded.point, t=excluded.t WHERE excluded.t > streams.t",
            [(stream_key(p), encode_point(p), p.time_unix_nano) for p in points],
        )

    def stream_state(self, limit: int) -> list[HistogramPoint | CounterPoint]:
        """The latest stored point of the ``limit`` most recent cumulative streams,
        oldest first (for ``CumulativeToDelta.restore``); older ones are forgotten."""
        with self._lock:
            self._prune_streams(limit)
            rows = self._conn.execute("SELECT point FROM streams ORDER BY t").fetchall()
        return [decode_point(r[0]) for r in rows]

    def _prune_streams(self, limit: int) -> None:
        self._conn.execute(
            "DELETE FROM streams WHERE key IN "
            "(SELECT key FROM streams ORDER BY t DESC LIMIT -1 OFFSET ?)",
            (limit,),
        )

    def _touch(self, keys: Iterable[tuple[str, str, float]]) -> None:
        self._conn.executemany(
            "INSERT INTO windows(model, version, start, dirty) VALUES (?, ?, ?, 1) "
            "ON CONFLICT(model, version, start) DO UPDATE SET dirty=1",
            list(set(keys)),
        )

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
        sums: dict[tuple[str, str, float, str, str, str], float] = {}
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

    def _add_counters(self, sums: dict[tuple[str, str, float, str, str, str], float]) -> None:
        self._conn.executemany(
            "INSERT INTO counters(model, version, start, metric, feature, key, value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(model, version, start, metric, feature, key) "
            "DO UPDATE SET value = value + excluded.value",
            [(*k, v) for k, v in sums.items()],
        )
        self._touch(k[:3] for k in sums)

    def _write_predictions(self, events: list[PredictionEvent]) -> None:
        if not events:
            return
        c = self._conn
        w = self.windowing
        counts: dict[tuple[str, str, float, str, str, str], float] = {}
        traces: set[tuple[str, str, float, str]] = set()
        for e in events:
            t = e.time_unix_nano / 1e9
            start = w.start_of(t)
            v = _v(e.version)
            if e.trace_id:
                traces.add((e.model, v, start, e.trace_id))
            for i, pid in enumerate(e.ids):
                score = e.values[i] if e.values is not None and i < len(e.values) else None
                label = e.labels[i] if e.labels is not None and i < len(e.labels) else None
                cur = c.execute(
                    "INSERT OR IGNORE INTO predictions(model, id, version, t, score, label, "
                    "trace_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (e.model, pid, v, t, score, label, e.trace_id),
                )
                if cur.rowcount == 0 or self._is_joined(e.model, pid):
                    if cur.rowcount:
                        c.execute("DELETE FROM predictions WHERE model=? AND id=?", (e.model, pid))
                    self._dup_ids += 1
                    continue
                self._pending_p += 1
                key = (e.model, v, start, _PREDICTED, "", "")
                counts[key] = counts.get(key, 0.0) + 1
                out = c.execute(
                    "SELECT actual_label, actual_value, t FROM outcomes WHERE model=? AND id=?",
                    (e.model, pid),
                ).fetchone()
                if out is not None:
                    self._join(e.model, pid, out[0], out[1], out[2])
        self._add_counters(counts)
        self._add_traces(traces)

    def _is_joined(self, model: str, pid: str) -> bool:
        return (
            self._conn.execute(
                "SELECT 1 FROM joined WHERE model=? AND id=?", (model, pid)
            ).fetchone()
            is not None
        )

    def _add_traces(self, traces: set[tuple[str, str, float, str]]) -> None:
        c = self._conn
        for model, v, start, tid in traces:
            n = self._scalar(
                "SELECT COUNT(*) FROM traces WHERE model=? AND version=? AND start=?",
                (model, v, start),
            )
            if n < MAX_TRACES_PER_WINDOW:
                c.execute(
                    "INSERT OR IGNORE INTO traces VALUES (?, ?, ?, ?)", (model, v, start, tid)
                )

    def _write_outcomes(self, events: list[OutcomeEvent]) -> None:
        c = self._conn
        for e in events:
            t = e.time_unix_nano / 1e9
            for pid, actual in zip(e.ids, e.actuals, strict=False):
                a_label = actual if isinstance(actual, str) else None
                a_value = None if isinstance(actual, str) else float(actual)  # type: ignore[arg-type]
                if self._is_joined(e.model, pid):
                    self._dup_ids += 1
                    continue
                pred = c.execute(
                    "SELECT 1 FROM predictions WHERE model=? AND id=?", (e.model, pid)
                ).fetchone()
                if pred is not None:
                    self._join(e.model, pid, a_label, a_value, t)
                else:
                    cur = c.execute(
                        "INSERT OR IGNORE INTO outcomes(model, id, actual_label, actual_value, t) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (e.model, pid, a_label, a_value, t),
                    )
                    if cur.rowcount:
                        self._pending_o += 1
                    else:
                        self._dup_ids += 1

    def _join(
        self, model: str, pid: str, a_label: str | None, a_value: float | None, t_label: float
    ) -> None:
        c = self._conn
        p = c.execute(
            "SELECT version, t, score, label FROM predictions WHERE model=? AND id=?", (model, pid)
        ).fetchone()
        version, t_pred, score, label = p
        start = self.windowing.start_of(t_pred)
        c.execute(
            "INSERT OR REPLACE INTO joined(model, id, version, start, score, label, actual_label, "
            "actual_value, delay, u) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                model,
                pid,
                version,
                start,
                score,
                label,
                a_label,
                a_value,
                max(0.0, t_label - t_pred),
                self._rng.random(),
            ),
        )
        c.execute("DELETE FROM predictions WHERE model=? AND id=?", (model, pid))
        self._pending_p -= 1
        if c.execute("DELETE FROM outcomes WHERE model=? AND id=?", (model, pid)).rowcount:
            self._pending_o -= 1
        self._touch([(model, version, start)])

    def _bound_pending(self) -> None:
        c = self._conn
        if self._pending_p > self.max_pending:
            n = self._pending_p - self.max_pending
            c.execute(
                "DELETE FROM predictions WHERE rowid IN "
                "(SELECT rowid FROM predictions ORDER BY t LIMIT ?)",
                (n,),
            )
            self._pending_p -= n
            self._evicted_p += n
        if self._pending_o > self.max_pending:
            n = self._pending_o - self.max_pending
            c.execute(
                "DELETE FROM outcomes WHERE rowid IN "
                "(SELECT rowid FROM outcomes ORDER BY t LIMIT ?)",
                (n,),
            )
            self._pending_o -= n
            self._evicted_o += n

    # ---- housekeeping -----------------------------------------------------------------
    def housekeep(self, now: float, *, retention: float, batch_id_ttl: float = 86400.0) -> None:
        """Drop expired pending rows, old windows and old batch ids."""
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                cut = now - self.label_ttl
                n = c.execute("DELETE FROM predictions WHERE t < ?", (cut,)).rowcount
                self._pending_p -= n
                self._evicted_p += n
                n = c.execute("DELETE FROM outcomes WHERE t < ?", (cut,)).rowcount
                self._pending_o -= n
                self._evicted_o += n
                old = now - retention
                for table in (
                    "windows",
                    "sketches",
                    "counters",
                    "durations",
                    "traces",
                    "joined",
                    "reports",
                ):
                    c.execute(f"DELETE FROM {table} WHERE start < ?", (old,))  # noqa: S608
                c.execute("DELETE FROM batches WHERE at < ?", (now - batch_id_ttl,))
                self._prune_streams(DEFAULT_MAX_STREAMS)  # restarted apps leave old streams
                c.execute("COMMIT")
                self._cache.clear()
            except BaseException:
                c.execute("ROLLBACK")
                raise

    # ---- windows ----------------------------------------------------------------------
    def dirty_windows(self, closed_before: float) -> list[WindowKey]:
        """Windows with new data since their last evaluation that are closed."""
        size = self.windowing.size
        with self._lock:
            rows = self._conn.execute(
                "SELECT model, version, start FROM windows WHERE dirty=1 AND start <= ? "
                "ORDER BY start, model, version",
                (closed_before,),
            ).fetchall()
        return [WindowKey(m, v, s, s + size) for m, v, s in rows]

    def oldest_dirty_start(self) -> float | None:
        with self._lock:
            row = self._conn.execute("SELECT MIN(start) FROM windows WHERE dirty=1").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def load_window(self, key: WindowKey) -> WindowData:
        """Everything stored for one window."""
        k = (key.model, key.version, key.start)
        with self._lock:
            c = self._conn
            sk = c.execute(
                "SELECT signal, name, data FROM sketches WHERE model=? AND version=? AND start=?", k
            ).fetchall()
            ctr = c.execute(
                "SELECT metric, feature, key, value FROM counters "
                "WHERE model=? AND version=? AND start=?",
                k,
            ).fetchall()
            dur = c.execute(
                "SELECT data FROM durations WHERE model=? AND version=? AND start=?", k
            ).fetchone()
            tr = c.execute(
                "SELECT trace_id FROM traces WHERE model=? AND version=? AND start=? "
                "ORDER BY trace_id",
                k,
            ).fetchall()
            n_joined = self._scalar(
                "SELECT COUNT(*) FROM joined WHERE model=? AND version=? AND start=?", k
            )
            # a uniform random sample (u drawn at join time) bounds memory per window
            jn = c.execute(
                "SELECT id, score, label, actual_label, actual_value, delay FROM joined "
                "WHERE model=? AND version=? AND start=? ORDER BY u LIMIT ?",
                (*k, self.max_labelled),
            ).fetchall()
            jn.sort(key=lambda r: r[0])
        numeric: dict[str, NumericSketch] = {}
        preds: dict[str, NumericSketch] = {}
        for signal, name, data in sk:
            (numeric if signal == _FEATURE else preds)[name] = NumericSketch.from_dict(
                json.loads(data)
            )
        categorical: dict[str, CategoricalSketch] = {}
        classes: CategoricalSketch | None = None
        errors: dict[str, float] = {}
        quality: dict[tuple[str, str], float] = {}
        calls = rows = 0.0
        n_pred = 0
        cat_counts: dict[str, dict[str, int]] = {}
        class_counts: dict[str, int] = {}
        for metric, feature, ckey, value in ctr:
            if metric == sc.METRIC_FEATURE_CATEGORIES:
                cat_counts.setdefault(feature, {})[ckey] = int(round(value))
            elif metric == sc.METRIC_PREDICTION_CLASSES:
                class_counts[ckey] = int(round(value))
            elif metric == sc.METRIC_PREDICT_ERRORS:
                errors[ckey] = errors.get(ckey, 0.0) + value
            elif metric == sc.METRIC_DATA_QUALITY_ISSUES:
                quality[(feature, ckey)] = value
            elif metric == sc.METRIC_PREDICT_CALLS:
                calls += value
            elif metric == sc.METRIC_PREDICT_ROWS:
                rows += value
            elif metric == _PREDICTED:
                n_pred += int(value)
        for feature, counts in cat_counts.items():
            categorical[feature] = _categorical(counts)
        if class_counts:
            classes = _categorical(class_counts)
        labelled = LabelledRows(
            ids=tuple(r[0] for r in jn),
            scores=tuple(_float_or_nan(r[1]) for r in jn),
            predicted=tuple(r[2] for r in jn),
            actual_labels=tuple(r[3] for r in jn),
            actual_values=tuple(_float_or_nan(r[4]) for r in jn),
            delays=tuple(float(r[5]) for r in jn),
            n_total=n_joined,
        )
        return WindowData(
            key=key,
            numeric=numeric,
            categorical=categorical,
            predictions=preds,
            prediction_classes=classes,
            calls=calls,
            rows=rows,
            errors=errors,
            quality=quality,
            duration=_explicit_from_json(dur[0]) if dur else None,
            n_predicted=n_pred,
            labelled=labelled,
            trace_ids=tuple(r[0] for r in tr),
        )

    def save_report(self, key: WindowKey, report_json: str, *, now: float) -> None:
        """Store a window's report and mark the window clean, in one transaction."""
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            c.execute(
                "INSERT OR REPLACE INTO reports(model, version, start, end_, data, at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key.model, key.version, key.start, key.end, report_json, now),
            )
            c.execute(
                "UPDATE windows SET dirty=0, evaluated_at=? "
                "WHERE model=? AND version=? AND start=?",
                (now, key.model, key.version, key.start),
            )
            c.execute("COMMIT")

    def models(self) -> list[tuple[str, str]]:
        """Every (model, version) with stored windows."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT model, version FROM windows ORDER BY model, version"
            ).fetchall()
        return [(m, v) for m, v in rows]

    def reports(self, model: str, *, limit: int = 50) -> list[tuple[WindowKey, str]]:
        """The latest stored reports of ``model`` (any version), newest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT model, version, start, end_, data FROM reports WHERE model=? "
                "ORDER BY start DESC, version DESC LIMIT ?",
                (model, limit),
            ).fetchall()
        return [(WindowKey(m, v, s, e), d) for m, v, s, e, d in rows]

    def latest_reports(self) -> list[str]:
        """The report JSON of the latest evaluated window of every model version."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT r.data FROM reports r JOIN (SELECT model, version, MAX(start) AS s "
                "FROM reports GROUP BY model, version) m ON r.model=m.model AND "
                "r.version=m.version AND r.start=m.s ORDER BY r.model, r.version"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value)
            )

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def count(self, table: str) -> int:
        """Row count of a table (tests and health only)."""
        if table not in ("batches", "predictions", "outcomes", "joined", "windows", "reports"):
            raise ValueError(f"unknown table {table}")
        with self._lock:
            return self._scalar(f"SELECT COUNT(*) FROM {table}")  # noqa: S608


def _categorical(counts: dict[str, int]) -> CategoricalSketch:
    overflow = counts.pop(sc.OVERFLOW_CATEGORY, 0)
    kept = {k: v for k, v in counts.items() if v > 0}
    return CategoricalSketch.from_dict(
        {"max_categories": max(len(kept), 100), "counts": kept, "overflow": max(overflow, 0)}
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
