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
- ``quarantine``: windows whose evaluation failed, with the reason; never evaluated again.
- ``error_queue``, ``change_state``, ``changes``, ``change_counts``: the joined
  predictions waiting for the change detectors, their state, and what they found
  (``_store_changes``).

Every batch is written in one transaction together with its id, and the
transaction commits (``synchronous=FULL``) before the receiver answers 200:
an acknowledged batch survives ``SIGKILL``, a retried one is not counted twice.
:meth:`Store.write` commits several batches at once (group commit).

All methods are thread-safe (one connection behind a lock).

Layout: :class:`Store` is a thin front over a
:class:`~otel_ml.evaluator._store_database.Database` (connection, lock, schema,
transactions) and the tables it is handed to: ``WindowTable`` (windows, counters,
traces, reports), ``SketchTable`` (sketches, durations, the sketch cache),
``LabelTable`` (predictions, outcomes, joined), ``StreamTable`` (streams) and
``ChangeTable`` (the change detectors' queue, state and findings). The
front owns the batch ids, ``meta`` and the transaction of :meth:`Store.write`.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from otel_ml.evaluator._cardinality import Admission, CardinalityLimits
from otel_ml.evaluator._records import CounterPoint, HistogramPoint, IngestBatch, Rejection
from otel_ml.evaluator._store_changes import ChangeTable
from otel_ml.evaluator._store_database import Database, state_error
from otel_ml.evaluator._store_labels import LabelStats, LabelTable
from otel_ml.evaluator._store_sketches import SketchTable
from otel_ml.evaluator._store_windows import MAX_TRACES_PER_WINDOW, WindowTable
from otel_ml.evaluator._stream_state import StreamTable
from otel_ml.evaluator._temporality import DEFAULT_MAX_STREAMS
from otel_ml.evaluator._windows import WindowData, Windowing, WindowKey

__all__ = ["MAX_TRACES_PER_WINDOW", "Store", "StoreStats", "WriteOutcome"]

#: Pending rows of the label join and what was evicted or ignored (``Store.stats``).
StoreStats = LabelStats


@dataclass(frozen=True)
class WriteOutcome:
    """Result of writing one batch: stored, or a duplicate of an already stored batch;
    with what of it the store rejected (e.g. labels that do not fit their model's task)
    or ignored (see :class:`~otel_ml.evaluator._records.SubmitResult`)."""

    batch_id: str
    duplicate: bool
    rejected: tuple[Rejection, ...] = ()
    ignored: tuple[Rejection, ...] = ()


class Store:
    """SQLite-backed state of the evaluator (see the module docstring).

    Parameters
    ----------
    path
        The database file (``":memory:"`` for tests that need no restart).
    windowing
        How point times map to windows.
    label_ttl, max_pending, max_pending_unknown
        Pending predictions / outcomes older than ``label_ttl`` seconds are dropped
        by :meth:`housekeep`; beyond ``max_pending`` predictions, ``max_pending``
        outcomes of one model, or ``max_pending_unknown`` outcomes of models without
        a window, the oldest are evicted (``_store_labels``).
    max_labelled
        At most this many labelled predictions of a window are loaded for its
        performance metrics (a uniform random sample; counts stay exact).
    cache_size
        Merged sketches kept in memory for the next write to the same window
        (a few KiB each); saves a read and a decode per incoming point.
    limits
        How many models, features and categories the store takes (records beyond
        are rejected, :mod:`~otel_ml.evaluator._cardinality`).
    """

    def __init__(
        self,
        path: str | Path,
        windowing: Windowing,
        *,
        label_ttl: float = 7 * 86400.0,
        max_pending: int = 1_000_000,
        max_pending_unknown: int = 100_000,
        cache_size: int = 20_000,
        max_labelled: int = 200_000,
        limits: CardinalityLimits | None = None,
    ) -> None:
        self.windowing = windowing
        self.max_labelled = max_labelled
        self.db = Database(path)
        try:  # the first reads: a damaged file may only show here
            self.windows = WindowTable(self.db, windowing)
            self.sketches = SketchTable(self.db, self.windows, cache_size=cache_size)
            self.labels = LabelTable(
                self.db,
                self.windows,
                label_ttl=label_ttl,
                max_pending=max_pending,
                max_pending_unknown=max_pending_unknown,
            )
            self.streams = StreamTable(self.db)
            self.changes = ChangeTable(self.db, windowing)
        except sqlite3.Error as exc:
            self.db.close()
            raise state_error(path, exc) from None
        self.admission = Admission(
            limits if limits is not None else CardinalityLimits(), self.db, windowing
        )

    def close(self) -> None:
        self.db.close()

    def stats(self) -> StoreStats:
        return self.labels.stats()

    # ---- ingest -----------------------------------------------------------------------
    def write(
        self, batches: Sequence[IngestBatch], *, now: float | None = None
    ) -> list[WriteOutcome]:
        """Store batches in one transaction (group commit); duplicates are skipped.

        Returns one :class:`WriteOutcome` per batch, in order, once committed.
        """
        now = time.time() if now is None else now
        out: list[WriteOutcome] = []
        with self.db.transaction() as c:
            fresh: list[IngestBatch | None] = []  # None: a duplicate
            seen: set[str] = set()
            for b in batches:
                dup = b.batch_id in seen or (
                    c.execute("SELECT 1 FROM batches WHERE id=?", (b.batch_id,)).fetchone()
                    is not None
                )
                fresh.append(None if dup else b)
                if not dup:
                    seen.add(b.batch_id)
                    c.execute("INSERT INTO batches(id, at) VALUES (?, ?)", (b.batch_id, now))
            admitted, limited = self.admission.admit([b for b in fresh if b is not None])
            kept = iter(admitted)
            fresh = [None if b is None else next(kept) for b in fresh]
            new = [b for b in fresh if b is not None]
            self.labels.tasks.declare(
                [*(p for b in new for p in b.histograms), *(p for b in new for p in b.counters)]
            )
            refused: list[tuple[HistogramPoint | CounterPoint, str]] = []
            refused += self.sketches.write_histograms(h for b in new for h in b.histograms)
            refused += self.sketches.write_counters(p for b in new for p in b.counters)
            self.labels.write_predictions([e for b in new for e in b.predictions])
            self.labels.write_dropped([d for b in new for d in b.dropped])
            self.labels.learn_models(
                {h.model for b in new for h in b.histograms}
                | {p.model for b in new for p in b.counters}
                | {e.model for b in new for e in b.predictions}
            )
            labels = [None if b is None else self.labels.write_outcomes(b.outcomes) for b in fresh]
            self.streams.write(p for b in batches for p in b.stream_state)
            self.labels.bound_pending()
        overflow = _refused_by_batch(new, refused)
        for b, f, written in zip(batches, fresh, labels, strict=True):
            if written is None:
                out.append(WriteOutcome(b.batch_id, True))
            else:
                rejected = (*written.rejected, *limited.get(id(f), ()), *overflow.get(id(f), ()))
                out.append(WriteOutcome(b.batch_id, False, rejected, written.ignored))
        return out

    def stream_state(self, limit: int) -> list[HistogramPoint | CounterPoint]:
        """The latest stored point of the ``limit`` most recent cumulative streams,
        oldest first (for ``CumulativeToDelta.restore``); older ones are forgotten."""
        return self.streams.latest(limit)

    # ---- windows ----------------------------------------------------------------------
    def dirty_windows(self, closed_before: float) -> list[WindowKey]:
        """Windows with new data since their last evaluation that are closed."""
        return self.windows.dirty(closed_before)

    def oldest_dirty_start(self) -> float | None:
        return self.windows.oldest_dirty_start()

    def load_window(self, key: WindowKey) -> WindowData:
        """Everything stored for one window."""
        with self.db.lock:
            numeric, predictions, duration = self.sketches.read(key)
            counted = self.windows.counts(key)
            labelled = self.labels.labelled(key, self.max_labelled)
            changes = self.changes.in_window(key)
        return dataclasses.replace(
            counted,
            numeric=numeric,
            predictions=predictions,
            duration=duration,
            labelled=labelled,
            changes=changes,
        )

    def save_report(self, key: WindowKey, report_json: str, *, now: float) -> None:
        """Store a window's report and mark the window clean, in one transaction."""
        self.windows.save_report(key, report_json, now=now)

    def quarantine(self, key: WindowKey, reason: str, *, now: float) -> None:
        """Set aside a window whose evaluation failed (never evaluated again)."""
        self.windows.quarantine(key, reason, now=now)

    def quarantined(
        self, model: str | None = None, *, limit: int = 20
    ) -> list[tuple[WindowKey, str]]:
        """The latest quarantined windows (of ``model``, or of all) with the reason."""
        return self.windows.quarantined(model, limit=limit)

    def count_quarantined(self) -> int:
        return self.windows.count_quarantined()

    def model_page(self, *, after: str = "", limit: int = 100) -> list[tuple[str, list[str]]]:
        """Up to ``limit`` models (name order) after the name ``after``, with their versions."""
        return self.windows.model_page(after=after, limit=limit)

    def count_models(self) -> int:
        """Distinct model names with stored windows."""
        return self.windows.count_models()

    def models(self) -> list[tuple[str, str]]:
        """Every (model, version) with stored windows."""
        return self.windows.models()

    def reports(self, model: str, *, limit: int = 50) -> list[tuple[WindowKey, str]]:
        """The latest stored reports of ``model`` (any version), newest first."""
        return self.windows.reports(model, limit=limit)

    def latest_reports(self) -> list[str]:
        """The report JSON of the latest evaluated window of every model version."""
        return self.windows.latest_reports()

    def reports_saved_after(self, at: float, *, limit: int) -> list[str]:
        """The report JSON of the windows evaluated after ``at`` (oldest first; at most the
        newest ``limit``): what a window sink replays after a crash."""
        return self.windows.reports_saved_after(at, limit=limit)

    # ---- housekeeping -----------------------------------------------------------------
    def housekeep(self, now: float, *, retention: float, batch_id_ttl: float = 86400.0) -> None:
        """Drop expired pending rows, old windows and old batch ids."""
        with self.db.lock:
            with self.db.transaction() as c:
                self.labels.expire_pending(now)
                old = now - retention
                self.windows.expire(old)
                self.sketches.expire(old)
                self.labels.expire(old)
                self.changes.expire(old)
                c.execute("DELETE FROM batches WHERE at < ?", (now - batch_id_ttl,))
                self.streams.prune(DEFAULT_MAX_STREAMS)  # restarted apps leave old streams
                self.admission.forget()  # deleted windows take their names along
                self.labels.resync()  # models may have lost their last window
            self.sketches.drop_cache()  # deleted sketches may be cached

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        row = self.db.fetchone("SELECT value FROM meta WHERE key=?", (key,))
        return None if row is None else str(row[0])

    def count(self, table: str) -> int:
        """Row count of a table (tests and health only)."""
        if table not in ("batches", "predictions", "outcomes", "joined", "windows", "reports"):
            raise ValueError(f"unknown table {table}")
        return self.db.scalar(f"SELECT COUNT(*) FROM {table}")


def _refused_by_batch(
    batches: Sequence[IngestBatch], refused: Sequence[tuple[HistogramPoint | CounterPoint, str]]
) -> dict[int, tuple[Rejection, ...]]:
    """The points the sketch table refused, counted by reason against the batch (by ``id``)
    that carried them."""
    if not refused:
        return {}
    owner = {id(p): id(b) for b in batches for p in (*b.histograms, *b.counters)}
    counts: dict[int, dict[str, int]] = {}
    for p, reason in refused:
        by_reason = counts.setdefault(owner[id(p)], {})
        by_reason[reason] = by_reason.get(reason, 0) + 1
    return {
        b: tuple(Rejection(r, n) for r, n in sorted(by_reason.items()))
        for b, by_reason in counts.items()
    }
