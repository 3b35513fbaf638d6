"""What the evaluator's SQLite database holds, and the state its parts share.

The tables are described in :mod:`otel_ml.evaluator._store`. :class:`_StoreState`
declares the connection, lock and counters that the parts of
:class:`~otel_ml.evaluator._store.Store` (sketch writes, label join, window reads)
share, and the two row writers more than one of them uses.
"""

from __future__ import annotations

import math
import random
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path

from otel_ml.evaluator._windows import Windowing
from otel_ml.sketch import NumericSketch

MAX_TRACES_PER_WINDOW = 20
#: Counter row holding the number of prediction ids seen per window (not an OTel signal).
_PREDICTED = "_predicted"
_FEATURE, _PREDICTION = "feature", "prediction"
_SketchKey = tuple[str, str, float, str, str]
_CounterKey = tuple[str, str, float, str, str, str]

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


def _connect(path: str | Path) -> sqlite3.Connection:
    """Open (and create) the database: WAL, ``synchronous=FULL``, explicit transactions."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(_SCHEMA)
    return conn


def _v(version: str | None) -> str:
    return version or ""


def _float_or_nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


class _StoreState:
    """The state shared by the parts of ``Store`` (set by ``Store.__init__``)."""

    windowing: Windowing
    label_ttl: float
    max_pending: int
    cache_size: int
    max_labelled: int
    _conn: sqlite3.Connection
    _lock: threading.RLock
    _rng: random.Random
    _cache: OrderedDict[_SketchKey, NumericSketch]
    _cache_pending: dict[_SketchKey, NumericSketch]
    _pending_p: int
    _pending_o: int
    _evicted_p: int
    _evicted_o: int
    _dup_ids: int

    def _scalar(self, sql: str, args: Sequence[object] = ()) -> int:
        row = self._conn.execute(sql, args).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _touch(self, keys: Iterable[tuple[str, str, float]]) -> None:
        self._conn.executemany(
            "INSERT INTO windows(model, version, start, dirty) VALUES (?, ?, ?, 1) "
            "ON CONFLICT(model, version, start) DO UPDATE SET dirty=1",
            list(set(keys)),
        )

    def _add_counters(self, sums: dict[_CounterKey, float]) -> None:
        self._conn.executemany(
            "INSERT INTO counters(model, version, start, metric, feature, key, value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(model, version, start, metric, feature, key) "
            "DO UPDATE SET value = value + excluded.value",
            [(*k, v) for k, v in sums.items()],
        )
        self._touch(k[:3] for k in sums)
