"""Store part: the label join.

Pending predictions wait for their label and labels for their prediction (labels may
come first), each with a TTL and a size bound (oldest evicted first, and counted). A
prediction meeting its outcome becomes a ``joined`` row keyed by the window of the
*prediction* time, with a uniform random ``u`` that bounds what a window loads.
"""

from __future__ import annotations

from otel_ml.evaluator._records import OutcomeEvent, PredictionEvent
from otel_ml.evaluator._store_schema import (
    _PREDICTED,
    MAX_TRACES_PER_WINDOW,
    _CounterKey,
    _StoreState,
    _v,
)


class _LabelJoin(_StoreState):
    """Writes prediction and outcome events and joins them (inside ``Store.write``)."""

    def _write_predictions(self, events: list[PredictionEvent]) -> None:
        if not events:
            return
        c = self._conn
        w = self.windowing
        counts: dict[_CounterKey, float] = {}
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

    def _expire_pending(self, cut: float) -> None:
        """Drop pending predictions and outcomes older than ``cut`` (counted as evicted)."""
        c = self._conn
        n = c.execute("DELETE FROM predictions WHERE t < ?", (cut,)).rowcount
        self._pending_p -= n
        self._evicted_p += n
        n = c.execute("DELETE FROM outcomes WHERE t < ?", (cut,)).rowcount
        self._pending_o -= n
        self._evicted_o += n
