"""Store part: the windows table (which windows have data, which are dirty), the
per-window counters and example trace ids, and the reports of evaluated windows."""

from __future__ import annotations

from collections.abc import Iterable

from otel_ml import semconv as sc
from otel_ml.evaluator._store_database import Database
from otel_ml.evaluator._windows import WindowData, Windowing, WindowKey
from otel_ml.sketch import categorical_sketch

__all__ = [
    "DROPPED",
    "LABELS_DROPPED",
    "MAX_TRACES_PER_WINDOW",
    "PREDICTED",
    "CounterKey",
    "WindowTable",
]

MAX_TRACES_PER_WINDOW = 20
#: Counter row holding the number of prediction ids seen per window (not an OTel signal).
PREDICTED = "_predicted"
#: Counter rows: prediction rows an SDK reported dropped, labels that met one of them.
DROPPED = "_dropped"
LABELS_DROPPED = "_labels_dropped"
#: (model, version, window start, metric, feature, key) of one counter row.
CounterKey = tuple[str, str, float, str, str, str]
_WindowRow = tuple[str, str, float]
_NOT_QUARANTINED = (
    "NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.model=w.model AND q.version=w.version "
    "AND q.start=w.start)"
)


class WindowTable:
    """The ``windows``, ``counters``, ``traces`` and ``reports`` tables."""

    def __init__(self, db: Database, windowing: Windowing) -> None:
        self.db = db
        self.windowing = windowing

    # ---- writes (inside Store.write's transaction) -------------------------------------
    def touch(self, keys: Iterable[_WindowRow]) -> None:
        """Mark windows as having new data (created if new)."""
        self.db.executemany(
            "INSERT INTO windows(model, version, start, dirty) VALUES (?, ?, ?, 1) "
            "ON CONFLICT(model, version, start) DO UPDATE SET dirty=1",
            list(set(keys)),
        )

    def add_counters(self, sums: dict[CounterKey, float]) -> None:
        """Add window deltas to the counters (and mark their windows dirty)."""
        self.db.executemany(
            "INSERT INTO counters(model, version, start, metric, feature, key, value) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(model, version, start, metric, feature, key) "
            "DO UPDATE SET value = value + excluded.value",
            [(*k, v) for k, v in sums.items()],
        )
        self.touch(k[:3] for k in sums)

    def add_traces(self, traces: set[tuple[str, str, float, str]]) -> None:
        """Keep up to :data:`MAX_TRACES_PER_WINDOW` example trace ids per window."""
        for model, v, start, tid in traces:
            n = self.db.scalar(
                "SELECT COUNT(*) FROM traces WHERE model=? AND version=? AND start=?",
                (model, v, start),
            )
            if n < MAX_TRACES_PER_WINDOW:
                self.db.execute(
                    "INSERT OR IGNORE INTO traces VALUES (?, ?, ?, ?)", (model, v, start, tid)
                )

    def expire(self, before: float) -> None:
        """Forget windows (and their counters, traces, reports) that started before ``before``."""
        for table in ("windows", "counters", "traces", "reports", "quarantine"):
            self.db.execute(f"DELETE FROM {table} WHERE start < ?", (before,))

    # ---- reads -------------------------------------------------------------------------
    def counts(self, key: WindowKey) -> WindowData:
        """The window with what the counters and traces tables hold for it (the sketches
        and labelled rows are left empty: their tables fill them in)."""
        k = (key.model, key.version, key.start)
        with self.db.lock:
            ctr = self.db.fetchall(
                "SELECT metric, feature, key, value FROM counters "
                "WHERE model=? AND version=? AND start=?",
                k,
            )
            tr = self.db.fetchall(
                "SELECT trace_id FROM traces WHERE model=? AND version=? AND start=? "
                "ORDER BY trace_id",
                k,
            )
        cat_counts: dict[str, dict[str, int]] = {}
        class_counts: dict[str, int] = {}
        errors: dict[str, float] = {}
        quality: dict[tuple[str, str], float] = {}
        calls = rows = 0.0
        n_predicted = n_dropped = n_labels_dropped = 0
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
            elif metric == PREDICTED:
                n_predicted += int(value)
            elif metric == DROPPED:
                n_dropped += int(value)
            elif metric == LABELS_DROPPED:
                n_labels_dropped += int(value)
        return WindowData(
            key=key,
            categorical={f: categorical_sketch(c) for f, c in cat_counts.items()},
            prediction_classes=categorical_sketch(class_counts) if class_counts else None,
            calls=calls,
            rows=rows,
            errors=errors,
            quality=quality,
            n_predicted=n_predicted,
            n_dropped=n_dropped,
            n_labels_dropped=n_labels_dropped,
            trace_ids=tuple(r[0] for r in tr),
        )

    def dirty(self, closed_before: float) -> list[WindowKey]:
        """Windows with new data since their last evaluation that are closed."""
        size = self.windowing.size
        rows = self.db.fetchall(
            "SELECT model, version, start FROM windows w WHERE dirty=1 AND start <= ? "
            f"AND {_NOT_QUARANTINED} ORDER BY start, model, version",
            (closed_before,),
        )
        return [WindowKey(m, v, s, s + size) for m, v, s in rows]

    def oldest_dirty_start(self) -> float | None:
        row = self.db.fetchone(
            f"SELECT MIN(start) FROM windows w WHERE dirty=1 AND {_NOT_QUARANTINED}"
        )
        return None if row is None or row[0] is None else float(row[0])

    # ---- quarantine --------------------------------------------------------------------
    def quarantine(self, key: WindowKey, reason: str, *, now: float) -> None:
        """Set aside a window that cannot be evaluated: never evaluated again (late data
        included) until it leaves the retention; listed by :meth:`quarantined`."""
        self.db.execute(
            "INSERT OR REPLACE INTO quarantine(model, version, start, reason, at) "
            "VALUES (?, ?, ?, ?, ?)",
            (key.model, key.version, key.start, reason[:500], now),
        )

    def quarantined(
        self, model: str | None = None, *, limit: int = 20
    ) -> list[tuple[WindowKey, str]]:
        """The latest quarantined windows (of ``model``, or of all), newest first, with why."""
        where, args = ("WHERE model=?", (model,)) if model is not None else ("", ())
        rows = self.db.fetchall(
            f"SELECT model, version, start, reason FROM quarantine {where} "
            "ORDER BY start DESC, model, version LIMIT ?",
            (*args, limit),
        )
        size = self.windowing.size
        return [(WindowKey(m, v, s, s + size), r) for m, v, s, r in rows]

    def count_quarantined(self) -> int:
        return self.db.scalar("SELECT COUNT(*) FROM quarantine")

    def model_page(self, *, after: str, limit: int) -> list[tuple[str, list[str]]]:
        """Up to ``limit`` model names sorted after ``after``, each with its versions."""
        rows = self.db.fetchall(
            "SELECT model, version FROM windows WHERE model IN (SELECT DISTINCT model FROM "
            "windows WHERE model > ? ORDER BY model LIMIT ?) GROUP BY model, version "
            "ORDER BY model, version",
            (after, limit),
        )
        out: dict[str, list[str]] = {}
        for m, v in rows:
            out.setdefault(m, []).append(v)
        return list(out.items())

    def count_models(self) -> int:
        return self.db.scalar("SELECT COUNT(DISTINCT model) FROM windows")

    def models(self) -> list[tuple[str, str]]:
        """Every (model, version) with stored windows."""
        rows = self.db.fetchall(
            "SELECT DISTINCT model, version FROM windows ORDER BY model, version"
        )
        return [(m, v) for m, v in rows]

    # ---- reports -----------------------------------------------------------------------
    def save_report(self, key: WindowKey, report_json: str, *, now: float) -> None:
        """Store a window's report and mark the window clean, in one transaction."""
        with self.db.transaction() as c:
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

    def reports(self, model: str, *, limit: int = 50) -> list[tuple[WindowKey, str]]:
        """The latest stored reports of ``model`` (any version), newest first."""
        rows = self.db.fetchall(
            "SELECT model, version, start, end_, data FROM reports WHERE model=? "
            "ORDER BY start DESC, version DESC LIMIT ?",
            (model, limit),
        )
        return [(WindowKey(m, v, s, e), d) for m, v, s, e, d in rows]

    def reports_saved_after(self, at: float, *, limit: int) -> list[str]:
        """The report JSON of the windows (last) evaluated after ``at``, oldest first, at
        most the last ``limit`` of them."""
        rows = self.db.fetchall(
            "SELECT data FROM (SELECT data, at, start FROM reports WHERE at > ? "
            "ORDER BY at DESC, start DESC LIMIT ?) ORDER BY at, start",
            (at, limit),
        )
        return [str(r[0]) for r in rows]

    def latest_reports(self) -> list[str]:
        """The report JSON of the latest evaluated window of every model version."""
        rows = self.db.fetchall(
            "SELECT r.data FROM reports r JOIN (SELECT model, version, MAX(start) AS s "
            "FROM reports GROUP BY model, version) m ON r.model=m.model AND "
            "r.version=m.version AND r.start=m.s ORDER BY r.model, r.version"
        )
        return [str(r[0]) for r in rows]
