"""Store part: the task of each model (classification or regression), which its labels
must fit.

A model's task is *declared* by the ``ml.model.task`` attribute of its metric points
(``binary_classification``, ``multiclass_classification``, ``regression``; ``auto``
declares nothing), or else fixed by its first predictions that carry class labels
(classification) or, failing that, by its first labels (classes: classification;
numbers: regression). Only a declaration changes a task once known.
"""

from __future__ import annotations

from otel_ml import semconv as sc
from otel_ml.evaluator._records import CounterPoint, HistogramPoint, attribute
from otel_ml.evaluator._store_database import Database

__all__ = ["CLASSIFICATION", "REGRESSION", "TaskTable"]

CLASSIFICATION, REGRESSION = "classification", "regression"
_DECLARED = {
    "binary_classification": CLASSIFICATION,
    "multiclass_classification": CLASSIFICATION,
    "classification": CLASSIFICATION,
    "regression": REGRESSION,
}


class TaskTable:
    """The ``tasks`` table, mirrored in memory (one entry per model)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._tasks: dict[str, tuple[str, bool]] = {}
        self.reload()
        db.watch(self)

    def reload(self) -> None:
        rows = self.db.fetchall("SELECT model, task, declared FROM tasks")
        self._tasks = {m: (t, bool(d)) for m, t, d in rows}

    def committed(self) -> None:
        pass

    def rolled_back(self) -> None:
        self.reload()

    def task(self, model: str) -> str | None:
        """``"classification"``, ``"regression"``, or ``None`` while not known yet."""
        known = self._tasks.get(model)
        if known is not None:
            return known[0]
        # a state written before tasks were kept: what its stored labels say
        row = self.db.fetchone(
            "SELECT actual_label IS NOT NULL FROM joined WHERE model=? LIMIT 1", (model,)
        ) or self.db.fetchone(
            "SELECT actual_label IS NOT NULL FROM outcomes WHERE model=? LIMIT 1", (model,)
        )
        if row is None:
            return None
        task = CLASSIFICATION if row[0] else REGRESSION
        self.fix(model, task)
        return task

    def fix(self, model: str, task: str) -> None:
        """Set the task of a model whose task is not known yet (inside a transaction)."""
        if model not in self._tasks:
            self._set(model, task, declared=False)

    def declare(self, points: list[HistogramPoint | CounterPoint]) -> None:
        """Take the task the points' ``ml.model.task`` declares (inside a transaction)."""
        for p in points:
            declared = _DECLARED.get(str(attribute(p.attributes, sc.ML_MODEL_TASK)))
            if declared is not None and self._tasks.get(p.model) != (declared, True):
                self._set(p.model, declared, declared=True)

    def _set(self, model: str, task: str, *, declared: bool) -> None:
        self._tasks[model] = (task, declared)
        self.db.execute(
            "INSERT OR REPLACE INTO tasks(model, task, declared) VALUES (?, ?, ?)",
            (model, task, int(declared)),
        )
