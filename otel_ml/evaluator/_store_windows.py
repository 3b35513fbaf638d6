"""Store part: reading windows back, and the reports of evaluated windows."""

from __future__ import annotations

import json

from otel_ml import semconv as sc
from otel_ml.evaluator._store_codec import _categorical, _explicit_from_json
from otel_ml.evaluator._store_schema import _FEATURE, _PREDICTED, _float_or_nan, _StoreState
from otel_ml.evaluator._windows import LabelledRows, WindowData, WindowKey
from otel_ml.sketch import CategoricalSketch, NumericSketch


class _WindowReader(_StoreState):
    """Dirty windows, :meth:`load_window`, and the stored reports."""

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
