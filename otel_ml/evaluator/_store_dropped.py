"""Store part: what SDKs reported they dropped, so labels of those ids are told apart.

An SDK that spends its event byte budget drops prediction rows and says so in an
``ml.prediction.dropped`` record (:class:`~otel_ml.evaluator._records.DroppedPredictions`):
how many rows, and its generated ids among them as ranges ``<prefix>-<first>`` ...
``<prefix>-<last>``. The ranges are kept (``dropped`` table, expired with the pending
rows after ``label_ttl``); a label whose id falls in one is counted as *a label of a
dropped prediction* instead of waiting for a prediction that will never come (and
later counting as evicted, like a label for an id no one ever predicted). User-given
ids are only counted, so their labels cannot be told apart.

Per window (of the report's time): ``_dropped`` counts the rows an SDK dropped and
``_labels_dropped`` the labels that met a dropped prediction; since start-up, both in
:meth:`DroppedTable.totals`.
"""

from __future__ import annotations

from collections.abc import Iterable

from otel_ml.evaluator._records import DroppedPredictions
from otel_ml.evaluator._store_database import Database, version_key
from otel_ml.evaluator._store_windows import DROPPED, LABELS_DROPPED, CounterKey, WindowTable

__all__ = ["DroppedRange", "DroppedTable", "generated_number"]

#: (model, version key, time of the report, prefix, first, last) of one stored range.
DroppedRange = tuple[str, str, float, str, int, int]


def generated_number(prefix: str, pid: str) -> int | None:
    """The counter of a generated id ``<prefix>-<n>``, ``None`` if ``pid`` is not one.

    >>> [generated_number("ab12", i) for i in ("ab12-42", "ab12-x", "c-1")]
    [42, None, None]
    """
    head, sep, tail = pid.rpartition("-")
    if not sep or head != prefix or not tail.isdigit() or not tail.isascii():
        return None
    return int(tail)


class DroppedTable:
    """The ``dropped`` table and the counts of dropped rows and their labels."""

    def __init__(self, db: Database, windows: WindowTable) -> None:
        self.db = db
        self.windows = windows
        self._rows = 0
        self._labels = 0
        self._committed = (0, 0)
        db.watch(self)

    def totals(self) -> tuple[int, int]:
        """Rows SDKs reported dropped, and labels that met one, since start-up."""
        return self._rows, self._labels

    # ---- writes (inside Store.write's transaction) -------------------------------------
    def write(self, reports: Iterable[DroppedPredictions]) -> list[DroppedRange]:
        """Keep the reports' ranges and count their rows; the ranges stored."""
        counts: dict[CounterKey, float] = {}
        stored: list[DroppedRange] = []
        w = self.windows.windowing
        for r in reports:
            t = r.time_unix_nano / 1e9
            v = version_key(r.version)
            key = (r.model, v, w.start_of(t), DROPPED, "", "")
            counts[key] = counts.get(key, 0.0) + r.rows
            self._rows += r.rows
            for prefix, first, last in r.ranges:
                self.db.execute(
                    "INSERT INTO dropped(model, version, t, prefix, first, last) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (r.model, v, t, prefix, first, last),
                )
                stored.append((r.model, v, t, prefix, first, last))
        self.windows.add_counters(counts)
        return stored

    def claims(self, model: str, pid: str) -> bool:
        """Whether ``pid`` is a generated id an SDK reported dropped (then counted)."""
        prefix = pid.rpartition("-")[0]
        n = generated_number(prefix, pid)
        if n is None:
            return False
        row = self.db.fetchone(
            "SELECT version, t, last FROM dropped WHERE model=? AND prefix=? AND first<=? "
            "ORDER BY first DESC LIMIT 1",
            (model, prefix, n),
        )
        if row is None or row[2] < n:
            return False
        self.count_label(model, row[0], row[1])
        return True

    def count_label(self, model: str, version: str, t: float) -> None:
        """One label met a dropped prediction (reported at ``t``)."""
        self._labels += 1
        start = self.windows.windowing.start_of(t)
        self.windows.add_counters({(model, version, start, LABELS_DROPPED, "", ""): 1.0})

    def expire(self, before: float) -> None:
        """Forget ranges reported before ``before`` (as pending labels expire)."""
        self.db.execute("DELETE FROM dropped WHERE t < ?", (before,))

    # ---- a TransactionListener of the database -----------------------------------------
    def committed(self) -> None:
        self._committed = (self._rows, self._labels)

    def rolled_back(self) -> None:
        self._rows, self._labels = self._committed
