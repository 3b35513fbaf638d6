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

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from otel_ml.evaluator._records import CounterPoint, HistogramPoint, IngestBatch
from otel_ml.evaluator._store_labels import _LabelJoin
from otel_ml.evaluator._store_schema import MAX_TRACES_PER_WINDOW, _connect
from otel_ml.evaluator._store_sketches import _SketchWriter
from otel_ml.evaluator._store_windows import _WindowReader
from otel_ml.evaluator._stream_state import decode_point, encode_point, stream_key
from otel_ml.evaluator._temporality import DEFAULT_MAX_STREAMS
from otel_ml.evaluator._windows import Windowing

__all__ = ["MAX_TRACES_PER_WINDOW", "Store", "StoreStats", "WriteOutcome"]


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


class Store(_WindowReader, _LabelJoin, _SketchWriter):
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
        self._conn = _connect(path)
        self._lock = threading.RLock()
        with self._lock:
            self._pending_p = self._scalar("SELECT COUNT(*) FROM predictions")
            self._pending_o = self._scalar("SELECT COUNT(*) FROM outcomes")
        # Write-through cache of the merged sketches last written (saves a read and a
        # decode per point); updated only after a commit succeeds, so it never runs ahead.
        self.cache_size = cache_size
        self.max_labelled = max_labelled
        self._rng = random.Random()
        self._cache = OrderedDict()
        self._cache_pending = {}
        self._evicted_p = 0
        self._evicted_o = 0
        self._dup_ids = 0

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
                self._commit_cache()
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

    # ---- housekeeping -----------------------------------------------------------------
    def housekeep(self, now: float, *, retention: float, batch_id_ttl: float = 86400.0) -> None:
        """Drop expired pending rows, old windows and old batch ids."""
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                self._expire_pending(now - self.label_ttl)
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
