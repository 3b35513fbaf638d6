"""Cardinality limits: how many models, features and categories clients can make the store hold.

Model, feature and category names come from whoever can reach the receiver. Without a
bound, 100,000 distinct model names opened 62,000 windows (a 144 MB database, a 21 MB
``/api/models``), and 100,000 features of one model a 17 MB HTML page. A record that
would pass a limit is rejected with a reason (OTLP partial success, counted on
``otel_ml.evaluator.points.rejected``); the records within the limits are stored.

- ``models``: distinct model names with stored windows (names leave with their last
  window, after ``windows.retention``). A new model's metric points and prediction
  events are rejected once the limit is reached.
- ``features_per_model``: distinct features and prediction outputs of one model version
  in one window (what one report and one page hold).
- ``categories_per_feature``: distinct keys of one keyed counter in one window: a
  feature's categories, the predicted classes, error types, quality issues. The SDK's
  overflow category (``__other__``) always fits.

:class:`Admission` checks each batch inside :meth:`Store.write`'s transaction against
what is stored, so the limits are exact across group commits and restarts. It keeps the
names of the windows it saw last in memory (read from the database the first time a
window is touched, then kept up to date by the admissions themselves); a failed
transaction or housekeeping empties that memory, so it never runs ahead of the database.

Examples
--------
>>> from otel_ml.evaluator._store_database import Database
>>> from otel_ml.evaluator._windows import Windowing
>>> from otel_ml.evaluator._records import IngestBatch, PredictionEvent, Signal
>>> admission = Admission(CardinalityLimits(models=1), Database(":memory:"), Windowing(60.0))
>>> def event(model):
...     return PredictionEvent(model, "1", ("a",), None, None, 60_000_000_000, 0, "", "")
>>> batch = IngestBatch("b", Signal.LOGS, predictions=(event("m1"), event("m2")))
>>> (kept,), rejected = admission.admit([batch])
>>> [e.model for e in kept.predictions], rejected[id(kept)]
(['m1'], (Rejection(reason='model limit reached (limits.models)', count=1),))
"""

from __future__ import annotations

import dataclasses
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from otel_ml import semconv as sc
from otel_ml.evaluator._records import (
    CounterPoint,
    HistogramPoint,
    IngestBatch,
    PredictionEvent,
    Rejection,
    attribute,
)
from otel_ml.evaluator._store_database import Database, version_key
from otel_ml.evaluator._windows import Windowing

__all__ = ["COUNTER_KEYS", "Admission", "CardinalityLimits"]

#: The keyed counters: metric -> the attribute whose value is the counter's key.
COUNTER_KEYS: dict[str, str] = {
    sc.METRIC_FEATURE_CATEGORIES: sc.ML_FEATURE_VALUE,
    sc.METRIC_PREDICTION_CLASSES: sc.ML_PREDICTION_CLASS,
    sc.METRIC_PREDICT_ERRORS: sc.ERROR_TYPE,
    sc.METRIC_DATA_QUALITY_ISSUES: sc.ML_DATA_QUALITY_ISSUE,
}

R_MODELS = "model limit reached (limits.models)"
R_FEATURES = "feature limit of the model's window reached (limits.features_per_model)"
R_CATEGORIES = "category limit of the feature's window reached (limits.categories_per_feature)"

_Window = tuple[str, str, float]
_R = TypeVar("_R", HistogramPoint, CounterPoint, PredictionEvent)
#: Prediction outputs share the features' budget, apart from feature names.
_OUTPUT = "\0output:"


@dataclass(frozen=True)
class CardinalityLimits:
    """The limits (see the module docstring); defaults as in ``docs/evaluator.md``."""

    models: int = 1000
    features_per_model: int = 1000
    categories_per_feature: int = 1000


def _keep(
    records: tuple[_R, ...], reason_of: Callable[[_R], str | None], reasons: Counter[str]
) -> tuple[_R, ...]:
    out = []
    for r in records:
        why = reason_of(r)
        if why is None:
            out.append(r)
        else:
            reasons[why] += 1
    return tuple(out)


class Admission:
    """Admits batches against :class:`CardinalityLimits` (see the module docstring).

    Used by one writer at a time, inside the write transaction; it watches the
    database's transactions to forget what a failed one admitted.
    """

    #: Windows (and keyed counters of windows) whose names stay in memory.
    MAX_WINDOWS = 1024
    MAX_COUNTERS = 16_384

    def __init__(self, limits: CardinalityLimits, db: Database, windowing: Windowing) -> None:
        self.limits = limits
        self.db = db
        self.windowing = windowing
        self._known_models: set[str] = set()
        self._n_models: int | None = None
        self._names: OrderedDict[_Window, set[str]] = OrderedDict()
        self._keys: OrderedDict[tuple[_Window, str, str], set[str]] = OrderedDict()
        self._start: tuple[int, float] = (-1, 0.0)  # the last point time and its window start
        db.watch(self)

    def admit(
        self, batches: Sequence[IngestBatch]
    ) -> tuple[list[IngestBatch], dict[int, tuple[Rejection, ...]]]:
        """``batches`` without the records beyond the limits (inside a transaction).

        Returns the batches (the same object when nothing was rejected) and, keyed by
        the ``id`` of a returned batch, its rejections by reason.
        """
        kept: list[IngestBatch] = []
        rejected: dict[int, tuple[Rejection, ...]] = {}
        for b in batches:
            reasons: Counter[str] = Counter()
            histograms = _keep(b.histograms, self.histogram, reasons)
            counters = _keep(b.counters, self.counter, reasons)
            predictions = _keep(b.predictions, self.prediction, reasons)
            if reasons:
                b = dataclasses.replace(
                    b, histograms=histograms, counters=counters, predictions=predictions
                )
                rejected[id(b)] = tuple(Rejection(r, n) for r, n in sorted(reasons.items()))
            kept.append(b)
        # trimmed only now: a window read again from the database in the middle of one
        # admission would miss the names admitted before it (not written yet)
        while len(self._names) > self.MAX_WINDOWS:
            self._names.popitem(last=False)
        while len(self._keys) > self.MAX_COUNTERS:
            self._keys.popitem(last=False)
        return kept, rejected

    def forget(self) -> None:
        """Read everything from the database again (after a failed transaction, or once
        housekeeping deleted windows)."""
        self._known_models.clear()
        self._n_models = None
        self._names.clear()
        self._keys.clear()

    # ---- a TransactionListener of the database -----------------------------------------
    def committed(self) -> None:
        """What was admitted is stored: the names in memory stay right."""

    def rolled_back(self) -> None:
        self.forget()

    # ---- per record -------------------------------------------------------------------
    def histogram(self, p: HistogramPoint) -> str | None:
        if p.metric == sc.METRIC_FEATURE_VALUES and p.feature:
            name = p.feature
        elif p.metric == sc.METRIC_PREDICTION_VALUES:
            output = attribute(p.attributes, sc.ML_PREDICTION_OUTPUT)
            name = _OUTPUT + (str(output) if output is not None else "score")
        elif p.metric == sc.METRIC_PREDICT_DURATION:
            name = ""
        else:
            return None  # not stored
        return self._model(p.model) or self._name(self._window(p), name)

    def counter(self, p: CounterPoint) -> str | None:
        key_attr = COUNTER_KEYS.get(p.metric)
        if key_attr is None and p.metric not in (sc.METRIC_PREDICT_CALLS, sc.METRIC_PREDICT_ROWS):
            return None  # not stored
        window = self._window(p)
        why = self._model(p.model) or self._name(window, p.feature or "")
        if why is None and key_attr is not None:
            key = attribute(p.attributes, key_attr)
            why = self._key(window, p.metric, p.feature or "", "" if key is None else str(key))
        return why

    def prediction(self, e: PredictionEvent) -> str | None:
        return self._model(e.model)

    # ---- the limits -------------------------------------------------------------------
    def _window(self, p: HistogramPoint | CounterPoint) -> _Window:
        t = p.time_unix_nano
        if t != self._start[0]:  # the points of one export share their time
            self._start = (t, self.windowing.start_of_ns(t))
        return (p.model, version_key(p.version), self._start[1])

    def _model(self, model: str) -> str | None:
        if model in self._known_models:
            return None
        known = self.db.fetchone("SELECT 1 FROM windows WHERE model=? LIMIT 1", (model,))
        if known is None:
            if self._n_models is None:
                self._n_models = self.db.scalar("SELECT COUNT(DISTINCT model) FROM windows")
            if self._n_models >= self.limits.models:
                return R_MODELS
            self._n_models += 1
        self._known_models.add(model)
        return None

    def _name(self, window: _Window, name: str) -> str | None:
        if not name:
            return None
        names = self._names.get(window)
        if names is not None:
            self._names.move_to_end(window)
        else:
            rows = self.db.fetchall(
                "SELECT signal, name FROM sketches WHERE model=? AND version=? AND start=?",
                window,
            )
            names = {n if s == "feature" else _OUTPUT + n for s, n in rows}
            names.update(
                r[0]
                for r in self.db.fetchall(
                    "SELECT DISTINCT feature FROM counters WHERE model=? AND version=? "
                    "AND start=? AND feature != ''",
                    window,
                )
            )
            self._names[window] = names
        if name in names:
            return None
        if len(names) >= self.limits.features_per_model:
            return R_FEATURES
        names.add(name)
        return None

    def _key(self, window: _Window, metric: str, feature: str, key: str) -> str | None:
        if key == sc.OVERFLOW_CATEGORY:
            return None
        slot = (window, metric, feature)
        keys = self._keys.get(slot)
        if keys is not None:
            self._keys.move_to_end(slot)
        else:
            keys = {
                r[0]
                for r in self.db.fetchall(
                    "SELECT key FROM counters WHERE model=? AND version=? AND start=? "
                    "AND metric=? AND feature=?",
                    (*window, metric, feature),
                )
            }
            keys.discard(sc.OVERFLOW_CATEGORY)
            self._keys[slot] = keys
        if key in keys:
            return None
        if len(keys) >= self.limits.categories_per_feature:
            return R_CATEGORIES
        keys.add(key)
        return None
