"""Store part: the label join.

Pending predictions wait for their label and labels for their prediction (labels may
come first), each with a TTL and a size bound (oldest evicted first, and counted):
at most ``max_pending`` predictions in all, and at most ``max_pending`` labels *per
model*, so that one client's labels cannot push out another model's. Labels for a
model the evaluator has no window of (no point or prediction of it seen within the
retention) wait in a pool of their own, bounded by ``max_pending_unknown`` and
counted apart; they never evict a known model's labels. A
prediction meeting its outcome becomes a ``joined`` row keyed by the window of the
*prediction* time, with a uniform random ``u`` that bounds what a window loads.

Labels fit their model's task (:mod:`~otel_ml.evaluator._store_tasks`): a label event
that does not fit is rejected whole, with a reason; integral numbers sent for a
classification model are read as the classes ``"0"``, ``"1"``, ... (as the SDK writes
its predicted labels).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from otel_ml.evaluator._records import DroppedPredictions, OutcomeEvent, PredictionEvent, Rejection
from otel_ml.evaluator._store_changes import ChangeTable
from otel_ml.evaluator._store_database import Database, float_or_nan, version_key
from otel_ml.evaluator._store_dropped import DroppedTable, generated_number
from otel_ml.evaluator._store_tasks import CLASSIFICATION, REGRESSION, TaskTable
from otel_ml.evaluator._store_windows import PREDICTED, CounterKey, WindowTable
from otel_ml.evaluator._windows import LabelledRows, WindowKey

__all__ = [
    "I_RELABEL",
    "I_REPEATED",
    "R_NOT_CLASSES",
    "R_NOT_NUMBERS",
    "LabelStats",
    "LabelTable",
    "LabelsWritten",
]

R_NOT_NUMBERS = "ml.outcome.values are classes but the model is a regression model"
R_NOT_CLASSES = "ml.outcome.values are not integers but the model is a classification model"
#: Labels ignored (their event was used): named in the partial success message.
I_RELABEL = "label for an id already labelled with another value (the first is kept)"
I_REPEATED = "id given twice in one ml.outcome event (the first label is kept)"


@dataclass(frozen=True)
class LabelsWritten:
    """What :meth:`LabelTable.write_outcomes` made of one batch's label events."""

    rejected: tuple[Rejection, ...] = ()
    ignored: tuple[Rejection, ...] = ()


def _task_of(actuals: tuple[str, ...] | tuple[float, ...]) -> str:
    return CLASSIFICATION if actuals and isinstance(actuals[0], str) else REGRESSION


def _as_classes(actuals: tuple[float, ...]) -> tuple[str, ...] | None:
    """Integral numbers as class texts (``1.0`` -> ``"1"``); ``None`` if one is not."""
    if not all(v.is_integer() and abs(v) < 2**53 for v in actuals):
        return None
    return tuple(str(int(v)) for v in actuals)


@dataclass(frozen=True)
class LabelStats:
    """Pending rows of the label join, and what was evicted or ignored since start-up."""

    pending_predictions: int
    pending_outcomes: int
    evicted_predictions: int
    evicted_outcomes: int
    duplicate_prediction_ids: int
    #: Of ``pending_outcomes``/``evicted_outcomes``: labels of models without a window.
    pending_outcomes_unknown_model: int = 0
    evicted_outcomes_unknown_model: int = 0
    #: Prediction rows SDKs reported dropped (never sent), and labels that met one of
    #: them (not waiting, not counted as evicted).
    dropped_predictions: int = 0
    labels_of_dropped_predictions: int = 0


class LabelTable:
    """The ``predictions``, ``outcomes`` and ``joined`` tables.

    Parameters
    ----------
    db
        The database.
    windows
        Where the per-window prediction counts and trace ids go.
    label_ttl, max_pending, max_pending_unknown
        Pending rows older than ``label_ttl`` seconds are dropped by
        :meth:`expire_pending`; beyond ``max_pending`` predictions, ``max_pending``
        labels of one model or ``max_pending_unknown`` labels of unknown models, the
        oldest are evicted.
    """

    def __init__(
        self,
        db: Database,
        windows: WindowTable,
        *,
        label_ttl: float,
        max_pending: int,
        max_pending_unknown: int = 100_000,
    ) -> None:
        self.db = db
        self.windows = windows
        self.label_ttl = label_ttl
        self.max_pending = max_pending
        self.max_pending_unknown = max_pending_unknown
        self._rng = random.Random()
        self._pending_p = 0
        self._known: set[str] = set()  # models with a window
        self._pending_o: dict[str, int] = {}  # pending labels of each known model
        self._pending_unknown = 0  # pending labels of the other models, together
        self._evicted_p = 0
        self._evicted_o = 0
        self._evicted_unknown = 0
        self._dup_ids = 0
        self.tasks = TaskTable(db)
        #: Where each joined prediction is queued for the change detectors (``None``:
        #: change detection is off); set by the evaluator service.
        self.error_queue: ChangeTable | None = None
        self.dropped = DroppedTable(db, windows)
        self.resync()
        self._committed = self.stats()
        db.watch(self)

    def stats(self) -> LabelStats:
        return LabelStats(
            pending_predictions=self._pending_p,
            pending_outcomes=sum(self._pending_o.values()) + self._pending_unknown,
            evicted_predictions=self._evicted_p,
            evicted_outcomes=self._evicted_o,
            duplicate_prediction_ids=self._dup_ids,
            pending_outcomes_unknown_model=self._pending_unknown,
            evicted_outcomes_unknown_model=self._evicted_unknown,
            dropped_predictions=self.dropped.totals()[0],
            labels_of_dropped_predictions=self.dropped.totals()[1],
        )

    def resync(self) -> None:
        """Read the pending counts (and which models are known) back from the tables."""
        with self.db.lock:
            self._pending_p = self.db.scalar("SELECT COUNT(*) FROM predictions")
            self._known = {r[0] for r in self.db.fetchall("SELECT DISTINCT model FROM windows")}
            counts = self.db.fetchall("SELECT model, COUNT(*) FROM outcomes GROUP BY model")
        self._pending_o = {m: n for m, n in counts if m in self._known}
        self._pending_unknown = sum(n for m, n in counts if m not in self._known)

    def learn_models(self, models: set[str]) -> None:
        """Models that may have got their first window in this transaction: their waiting
        labels move from the unknown-model pool to their own."""
        for m in models - self._known:
            if self.db.fetchone("SELECT 1 FROM windows WHERE model=? LIMIT 1", (m,)) is None:
                continue
            self._known.add(m)
            n = self.db.scalar("SELECT COUNT(*) FROM outcomes WHERE model=?", (m,))
            if n:
                self._pending_unknown -= n
                self._pending_o[m] = n

    def _add_outcome(self, model: str, n: int) -> None:
        if model in self._known:
            self._pending_o[model] = self._pending_o.get(model, 0) + n
        else:
            self._pending_unknown += n

    # ---- a TransactionListener of the database -----------------------------------------
    def committed(self) -> None:
        self._committed = self.stats()

    def rolled_back(self) -> None:
        """Count nothing of a failed transaction: eviction and duplicate counts go back to
        the last commit, pending counts are read back from the tables (whatever state the
        failure left them in)."""
        self._evicted_p = self._committed.evicted_predictions
        self._evicted_o = self._committed.evicted_outcomes
        self._evicted_unknown = self._committed.evicted_outcomes_unknown_model
        self._dup_ids = self._committed.duplicate_prediction_ids
        self.resync()

    # ---- writes (inside Store.write's transaction) -------------------------------------
    def write_predictions(self, events: list[PredictionEvent]) -> None:
        if not events:
            return
        db = self.db
        w = self.windows.windowing
        counts: dict[CounterKey, float] = {}
        traces: set[tuple[str, str, float, str]] = set()
        for e in events:
            if e.labels is not None:
                self.tasks.fix(e.model, CLASSIFICATION)
            t = e.time_unix_nano / 1e9
            start = w.start_of(t)
            v = version_key(e.version)
            if e.trace_id:
                traces.add((e.model, v, start, e.trace_id))
            for i, pid in enumerate(e.ids):
                score = e.values[i] if e.values is not None and i < len(e.values) else None
                label = e.labels[i] if e.labels is not None and i < len(e.labels) else None
                cur = db.execute(
                    "INSERT OR IGNORE INTO predictions(model, id, version, t, score, label, "
                    "trace_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (e.model, pid, v, t, score, label, e.trace_id),
                )
                if cur.rowcount == 0 or self._is_joined(e.model, pid):
                    if cur.rowcount:
                        db.execute("DELETE FROM predictions WHERE model=? AND id=?", (e.model, pid))
                    self._dup_ids += 1
                    continue
                self._pending_p += 1
                key = (e.model, v, start, PREDICTED, "", "")
                counts[key] = counts.get(key, 0.0) + 1
                out = db.fetchone(
                    "SELECT actual_label, actual_value, t FROM outcomes WHERE model=? AND id=?",
                    (e.model, pid),
                )
                if out is not None:
                    self._join(e.model, pid, out[0], out[1], out[2])
        self.windows.add_counters(counts)
        self.windows.add_traces(traces)

    def write_dropped(self, reports: list[DroppedPredictions]) -> None:
        """Keep what SDKs reported dropped; labels already waiting for one of those ids
        stop waiting and are counted as labels of dropped predictions."""
        for model, v, t, prefix, first, last in self.dropped.write(reports):
            waiting = self.db.fetchall(
                "SELECT id FROM outcomes WHERE model=? AND id > ? AND id < ?",
                (model, prefix + "-", prefix + "."),  # "." sorts right after "-"
            )
            for (pid,) in waiting:
                n = generated_number(prefix, pid)
                if n is not None and first <= n <= last:
                    self.db.execute("DELETE FROM outcomes WHERE model=? AND id=?", (model, pid))
                    self._add_outcome(model, -1)
                    self.dropped.count_label(model, v, t)

    def _is_joined(self, model: str, pid: str) -> bool:
        return (
            self.db.fetchone("SELECT 1 FROM joined WHERE model=? AND id=?", (model, pid))
            is not None
        )

    def _fit(
        self, e: OutcomeEvent
    ) -> tuple[tuple[str, ...] | tuple[float, ...] | None, str | None]:
        """The event's labels as its model's task reads them, or ``None`` and the reason."""
        task = self.tasks.task(e.model)
        kind = _task_of(e.actuals)
        if task is None:
            self.tasks.fix(e.model, kind)
            return e.actuals, None
        if task == kind:
            return e.actuals, None
        if task == CLASSIFICATION:
            classes = _as_classes(e.actuals)  # type: ignore[arg-type]
            return (classes, None) if classes is not None else (None, R_NOT_CLASSES)
        return None, R_NOT_NUMBERS

    def write_outcomes(self, events: tuple[OutcomeEvent, ...]) -> LabelsWritten:
        """Store one batch's label events; say what was rejected or ignored.

        A label for an id that already has one is ignored (the first label is kept);
        it is reported when its value differs, or when the id repeats within one event.
        """
        db = self.db
        rejected: Counter[str] = Counter()
        ignored: Counter[str] = Counter()
        for e in events:
            actuals, reason = self._fit(e)
            if actuals is None:
                rejected[str(reason)] += 1
                continue
            t = e.time_unix_nano / 1e9
            seen: set[str] = set()
            for pid, actual in zip(e.ids, actuals, strict=False):
                a_label = actual if isinstance(actual, str) else None
                a_value = None if isinstance(actual, str) else float(actual)  # type: ignore[arg-type]
                if pid in seen:
                    ignored[I_REPEATED] += 1
                    self._dup_ids += 1
                    continue
                seen.add(pid)
                before = db.fetchone(
                    "SELECT actual_label, actual_value FROM joined WHERE model=? AND id=?",
                    (e.model, pid),
                )
                if before is None:
                    if db.fetchone(
                        "SELECT 1 FROM predictions WHERE model=? AND id=?", (e.model, pid)
                    ):
                        self._join(e.model, pid, a_label, a_value, t)
                        continue
                    if self.dropped.claims(e.model, pid):
                        continue  # its prediction was dropped by the SDK: counted, not kept
                    cur = db.execute(
                        "INSERT OR IGNORE INTO outcomes(model, id, actual_label, actual_value, t) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (e.model, pid, a_label, a_value, t),
                    )
                    if cur.rowcount:
                        self._add_outcome(e.model, 1)
                        continue
                    before = db.fetchone(
                        "SELECT actual_label, actual_value FROM outcomes WHERE model=? AND id=?",
                        (e.model, pid),
                    )
                if tuple(before) != (a_label, a_value):  # the id keeps its first label
                    ignored[I_RELABEL] += 1
                self._dup_ids += 1
        return LabelsWritten(
            rejected=tuple(Rejection(r, n) for r, n in sorted(rejected.items())),
            ignored=tuple(Rejection(r, n) for r, n in sorted(ignored.items())),
        )

    def _join(
        self, model: str, pid: str, a_label: str | None, a_value: float | None, t_label: float
    ) -> None:
        db = self.db
        version, t_pred, score, label = db.fetchone(
            "SELECT version, t, score, label FROM predictions WHERE model=? AND id=?", (model, pid)
        )
        start = self.windows.windowing.start_of(t_pred)
        db.execute(
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
        db.execute("DELETE FROM predictions WHERE model=? AND id=?", (model, pid))
        if self.error_queue is not None:
            self.error_queue.enqueue(model, version, t_pred, score, label, a_label, a_value)
        self._pending_p -= 1
        if db.execute("DELETE FROM outcomes WHERE model=? AND id=?", (model, pid)).rowcount:
            self._add_outcome(model, -1)
        self.windows.touch([(model, version, start)])

    def bound_pending(self) -> None:
        """Evict the oldest pending rows beyond the bounds (counted)."""
        if self._pending_p > self.max_pending:
            n = self._evict("predictions", "1", (), self._pending_p - self.max_pending)
            self._pending_p -= n
            self._evicted_p += n
        for model, count in list(self._pending_o.items()):
            if count > self.max_pending:
                n = self._evict("outcomes", "model=?", (model,), count - self.max_pending)
                self._pending_o[model] = count - n
                self._evicted_o += n
        if self._pending_unknown > self.max_pending_unknown:
            unknown = "NOT EXISTS (SELECT 1 FROM windows w WHERE w.model=outcomes.model)"
            over = self._pending_unknown - self.max_pending_unknown
            n = self._evict("outcomes", unknown, (), over)
            self._pending_unknown -= n
            self._evicted_o += n
            self._evicted_unknown += n

    def _evict(self, table: str, where: str, args: tuple[str, ...], n: int) -> int:
        """Delete the ``n`` oldest rows of ``table`` matching ``where``; how many went."""
        return self.db.execute(
            f"DELETE FROM {table} WHERE rowid IN "
            f"(SELECT rowid FROM {table} WHERE {where} ORDER BY t LIMIT ?)",
            (*args, n),
        ).rowcount

    def expire_pending(self, now: float) -> None:
        """Drop pending predictions and outcomes older than ``label_ttl`` (counted as
        evicted); the caller then calls :meth:`resync` (models may have lost their windows)."""
        cut = now - self.label_ttl
        db = self.db
        n = db.execute("DELETE FROM predictions WHERE t < ?", (cut,)).rowcount
        self._pending_p -= n
        self._evicted_p += n
        self._evicted_o += db.execute("DELETE FROM outcomes WHERE t < ?", (cut,)).rowcount
        self.dropped.expire(cut)

    def expire(self, before: float) -> None:
        """Forget the joined rows of windows that started before ``before``."""
        self.db.execute("DELETE FROM joined WHERE start < ?", (before,))

    # ---- reads -------------------------------------------------------------------------
    def labelled(self, key: WindowKey, limit: int) -> LabelledRows:
        """The joined rows of one window: all counted, at most ``limit`` loaded (a uniform
        random sample: ``u`` was drawn at join time)."""
        k = (key.model, key.version, key.start)
        with self.db.lock:
            n_joined = self.db.scalar(
                "SELECT COUNT(*) FROM joined WHERE model=? AND version=? AND start=?", k
            )
            jn = self.db.fetchall(
                "SELECT id, score, label, actual_label, actual_value, delay FROM joined "
                "WHERE model=? AND version=? AND start=? ORDER BY u LIMIT ?",
                (*k, limit),
            )
        jn.sort(key=lambda r: r[0])
        return LabelledRows(
            ids=tuple(r[0] for r in jn),
            scores=tuple(float_or_nan(r[1]) for r in jn),
            predicted=tuple(r[2] for r in jn),
            actual_labels=tuple(r[3] for r in jn),
            actual_values=tuple(float_or_nan(r[4]) for r in jn),
            delays=tuple(float(r[5]) for r in jn),
            n_total=n_joined,
        )
