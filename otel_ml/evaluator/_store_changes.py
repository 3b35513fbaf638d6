"""Store part: the error stream of the change detectors, their state and what they found.

- ``error_queue``: one row per joined prediction (written by the label join, in the
  transaction that joins it, while change detection is on): its model, version,
  prediction time, prediction and outcome. :mod:`~otel_ml.evaluator._change_detection`
  takes rows off the front, feeds them to the detectors and deletes them.
- ``change_state``: each model version's detector state (JSON), written in the same
  transaction that deletes the rows it consumed, so after a restart (even a
  ``SIGKILL``) every joined prediction has been fed exactly once.
- ``changes``: the changes found, by the window of the prediction at which each was
  found; kept as long as windows are (``windows.retention``).
- ``change_counts``: changes found per model, version, detector and direction since
  the state began (the ``ml.performance.changes`` counter).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from otel_ml.evaluator._report import FoundChange
from otel_ml.evaluator._store_database import Database
from otel_ml.evaluator._windows import Windowing, WindowKey

__all__ = ["ChangeTable", "FoundChange", "QueuedError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS error_queue (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, version TEXT NOT NULL,
  t REAL NOT NULL, score REAL, label TEXT, actual_label TEXT, actual_value REAL);
CREATE INDEX IF NOT EXISTS error_queue_t ON error_queue(t);
CREATE TABLE IF NOT EXISTS change_state (
  model TEXT, version TEXT, state TEXT NOT NULL, PRIMARY KEY (model, version));
CREATE TABLE IF NOT EXISTS changes (
  model TEXT, version TEXT, detector TEXT, idx INTEGER, start REAL NOT NULL,
  data TEXT NOT NULL, PRIMARY KEY (model, version, detector, idx));
CREATE INDEX IF NOT EXISTS changes_window ON changes(model, version, start);
CREATE TABLE IF NOT EXISTS change_counts (
  model TEXT, version TEXT, detector TEXT, direction TEXT, n INTEGER NOT NULL,
  PRIMARY KEY (model, version, detector, direction));
"""


@dataclass(frozen=True)
class QueuedError:
    """A joined prediction waiting to be fed: prediction time ``t`` (Unix s), the score
    and class predicted, the outcome (a class, or a value: NaN-free ``None`` if absent)."""

    seq: int
    model: str
    version: str
    t: float
    score: float | None
    label: str | None
    actual_label: str | None
    actual_value: float | None


class ChangeTable:
    """The ``error_queue``, ``change_state``, ``changes`` and ``change_counts`` tables."""

    def __init__(self, db: Database, windowing: Windowing) -> None:
        self.db = db
        self.windowing = windowing
        with db.lock:
            db.conn.executescript(_SCHEMA)

    # ---- the queue (written inside the label join's transaction) ----------------------
    def enqueue(
        self,
        model: str,
        version: str,
        t: float,
        score: float | None,
        label: str | None,
        actual_label: str | None,
        actual_value: float | None,
    ) -> None:
        self.db.execute(
            "INSERT INTO error_queue(model, version, t, score, label, actual_label, "
            "actual_value) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (model, version, t, score, label, actual_label, actual_value),
        )

    def queued(self) -> int:
        return self.db.scalar("SELECT COUNT(*) FROM error_queue")

    def last(self) -> int:
        """The ``seq`` of the newest queued row (0: none)."""
        return self.db.scalar("SELECT COALESCE(MAX(seq), 0) FROM error_queue")

    def take(
        self, limit: int, through: int | None = None, *, predicted_before: float = math.inf
    ) -> list[QueuedError]:
        """The ``limit`` oldest queued rows (in join order), up to ``seq`` ``through``
        if given, of predictions made before ``predicted_before``; nothing is deleted
        yet."""
        rows = self.db.fetchall(
            "SELECT seq, model, version, t, score, label, actual_label, actual_value "
            "FROM error_queue WHERE seq <= ? AND t < ? ORDER BY seq LIMIT ?",
            (
                through if through is not None else 2**63 - 1,
                predicted_before if math.isfinite(predicted_before) else 1e300,
                limit,
            ),
        )
        return [QueuedError(*r) for r in rows]

    # ---- detector state ----------------------------------------------------------------
    def state(self, model: str, version: str) -> dict[str, Any] | None:
        row = self.db.fetchone(
            "SELECT state FROM change_state WHERE model=? AND version=?", (model, version)
        )
        return None if row is None else json.loads(row[0])

    def commit(
        self,
        consumed: Iterable[int],
        states: dict[tuple[str, str], dict[str, Any]],
        found: Iterable[FoundChange],
    ) -> None:
        """In one transaction: forget the queued rows ``consumed`` (their ``seq``), keep
        the detectors' new ``states`` and the changes ``found``."""
        with self.db.transaction() as c:
            c.executemany("DELETE FROM error_queue WHERE seq = ?", [(q,) for q in consumed])
            c.executemany(
                "INSERT OR REPLACE INTO change_state(model, version, state) VALUES (?, ?, ?)",
                [(m, v, json.dumps(s)) for (m, v), s in states.items()],
            )
            for f in found:
                t = f.change.time if f.change.time is not None else 0.0
                c.execute(
                    "INSERT OR REPLACE INTO changes(model, version, detector, idx, start, data) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        f.model,
                        f.version,
                        f.change.detector,
                        f.change.index,
                        self.windowing.start_of(t),
                        json.dumps(f.to_dict()),
                    ),
                )
                c.execute(
                    "INSERT INTO change_counts(model, version, detector, direction, n) "
                    "VALUES (?, ?, ?, ?, 1) ON CONFLICT(model, version, detector, direction) "
                    "DO UPDATE SET n = n + 1",
                    (f.model, f.version, f.change.detector, f.change.direction),
                )

    # ---- reads -------------------------------------------------------------------------
    def in_window(self, key: WindowKey) -> tuple[FoundChange, ...]:
        """The changes found at a prediction of this window, in stream order."""
        rows = self.db.fetchall(
            "SELECT data FROM changes WHERE model=? AND version=? AND start=? "
            "ORDER BY idx, detector",
            (key.model, key.version, key.start),
        )
        return tuple(FoundChange.from_dict(json.loads(r[0])) for r in rows)

    def recent(self, model: str, *, limit: int = 50) -> list[FoundChange]:
        """The latest changes of ``model`` (any version), newest first."""
        rows = self.db.fetchall(
            "SELECT data FROM changes WHERE model=? ORDER BY start DESC, idx DESC LIMIT ?",
            (model, limit),
        )
        return [FoundChange.from_dict(json.loads(r[0])) for r in rows]

    def counts(self) -> list[tuple[str, str, str, str, int]]:
        """(model, version, detector, direction, changes found) since the state began."""
        return [
            (str(m), str(v), str(d), str(x), int(n))
            for m, v, d, x, n in self.db.fetchall(
                "SELECT model, version, detector, direction, n FROM change_counts"
            )
        ]

    def expire(self, before: float) -> None:
        """Forget the changes found in windows that started before ``before``, and the
        detectors and counts of model versions that have no window left (bounded by the
        versions the store holds)."""
        self.db.execute("DELETE FROM changes WHERE start < ?", (before,))
        for table in ("change_state", "change_counts"):
            self.db.execute(
                f"DELETE FROM {table} WHERE NOT EXISTS (SELECT 1 FROM windows w "
                f"WHERE w.model={table}.model AND w.version={table}.version)"
            )
