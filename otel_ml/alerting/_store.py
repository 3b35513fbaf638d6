"""Alert state and the notification outbox, in one SQLite file (WAL).

Alert records and the notifications a transition causes are written in one
transaction, so after a crash either both exist or neither: a firing or a
resolution the engine decided is never lost, and delivery resumes from the
outbox after a restart.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from otel_ml._errors import ConfigurationError

__all__ = ["AlertStore", "OutboxItem"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    notifier TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    transition TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (notifier, alert_id, id);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sent (
    notifier TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    sent_at REAL NOT NULL,
    PRIMARY KEY (notifier, alert_id)
);
"""


@dataclass(frozen=True)
class OutboxItem:
    """A notification waiting for delivery."""

    id: int
    notifier: str
    alert_id: str
    transition: str
    created_at: float
    attempts: int
    next_attempt_at: float


class AlertStore:
    """SQLite-backed alert records and outbox; safe to share between threads.

    Examples
    --------
    >>> store = AlertStore(":memory:")
    >>> with store.transaction() as tx:
    ...     tx.put_record("a1", '{"state": "firing"}')
    ...     tx.enqueue("slack", "a1", "{}", now=10.0)
    >>> store.record("a1"), [i.notifier for i in store.due("slack", now=10.0)]
    ('{"state": "firing"}', ['slack'])
    """

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.RLock()
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(
                f"state_dir: cannot open the alert store {path} ({exc}); "
                "give a writable directory"
            ) from None

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        """One atomic write (records and outbox together)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def record(self, alert_id: str) -> str | None:
        """The stored record of an alert (JSON), if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM alerts WHERE alert_id = ?", (alert_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    def records(self) -> list[tuple[str, str]]:
        """Every (alert_id, record JSON)."""
        with self._lock:
            rows = self._db.execute("SELECT alert_id, record FROM alerts ORDER BY alert_id")
            return [(str(a), str(r)) for a, r in rows]

    def due(self, notifier: str, now: float, limit: int = 100) -> list[OutboxItem]:
        """The oldest pending item of each alert for ``notifier``, if due by ``now``.

        Only the head of each alert's queue is returned, so a resolution is
        never delivered before the firing queued ahead of it.
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT id, notifier, alert_id, transition, created_at, attempts, next_attempt_at"
                " FROM outbox WHERE id IN (SELECT MIN(id) FROM outbox WHERE notifier = ?"
                " GROUP BY alert_id) AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                (notifier, now, limit),
            ).fetchall()
        return [OutboxItem(*row) for row in rows]

    def next_due(self, notifier: str) -> float | None:
        """When the earliest head item for ``notifier`` is due, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE id IN (SELECT MIN(id) FROM outbox"
                " WHERE notifier = ? GROUP BY alert_id)",
                (notifier,),
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def pending(self, notifier: str | None = None) -> int:
        """Number of undelivered notifications (for one notifier, or all)."""
        with self._lock:
            if notifier is None:
                row = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            else:
                row = self._db.execute(
                    "SELECT COUNT(*) FROM outbox WHERE notifier = ?", (notifier,)
                ).fetchone()
        return int(row[0])

    def delivered(self, item: OutboxItem, now: float) -> None:
        """Remove a delivered item and remember when the alert was last sent there."""
        with self.transaction() as tx:
            tx.db.execute("DELETE FROM outbox WHERE id = ?", (item.id,))
            tx.db.execute(
                "INSERT OR REPLACE INTO sent (notifier, alert_id, sent_at) VALUES (?, ?, ?)",
                (item.notifier, item.alert_id, now),
            )

    def dropped(self, item: OutboxItem) -> None:
        """Remove an item that will not be delivered."""
        with self.transaction() as tx:
            tx.db.execute("DELETE FROM outbox WHERE id = ?", (item.id,))

    def retry_later(self, item: OutboxItem, at: float, error: str) -> None:
        """Count a failed attempt and schedule the next one."""
        with self.transaction() as tx:
            tx.db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
                " WHERE id = ?",
                (at, error[:500], item.id),
            )

    def drop_other_notifiers(self, keep: Iterable[str]) -> dict[str, int]:
        """Remove queued items of notifiers no longer configured; count them by notifier."""
        names = set(keep)
        with self.transaction() as tx:
            rows = tx.db.execute("SELECT notifier, COUNT(*) FROM outbox GROUP BY notifier")
            gone = {str(n): int(c) for n, c in rows.fetchall() if n not in names}
            for name in gone:
                tx.db.execute("DELETE FROM outbox WHERE notifier = ?", (name,))
        return gone

    def meta(self, key: str) -> str | None:
        """A value its owner keeps next to the outbox (:meth:`_Tx.set_meta`)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def last_sent(self, notifier: str, alert_id: str) -> float | None:
        """When ``alert_id`` was last delivered to ``notifier``."""
        with self._lock:
            row = self._db.execute(
                "SELECT sent_at FROM sent WHERE notifier = ? AND alert_id = ?",
                (notifier, alert_id),
            ).fetchone()
        return None if row is None else float(row[0])


class _Tx:
    """Writes inside :meth:`AlertStore.transaction`."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def put_record(self, alert_id: str, record: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO alerts (alert_id, record) VALUES (?, ?)", (alert_id, record)
        )

    def enqueue(self, notifier: str, alert_id: str, transition: str, now: float) -> None:
        self.db.execute(
            "INSERT INTO outbox (notifier, alert_id, transition, created_at, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (notifier, alert_id, transition, now, now),
        )

    def has_pending(self, notifier: str, alert_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM outbox WHERE notifier = ? AND alert_id = ? LIMIT 1",
            (notifier, alert_id),
        ).fetchone()
        return row is not None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def trim(self, notifier: str, keep: int) -> int:
        """Remove the oldest items of ``notifier`` beyond the newest ``keep``; how many went."""
        cursor = self.db.execute(
            "DELETE FROM outbox WHERE notifier = ? AND id NOT IN (SELECT id FROM outbox"
            " WHERE notifier = ? ORDER BY id DESC LIMIT ?)",
            (notifier, notifier, max(keep, 0)),
        )
        return max(cursor.rowcount, 0)

    def enqueue_many(self, items: Iterable[tuple[str, str, str]], now: float) -> None:
        for notifier, alert_id, transition in items:
            self.enqueue(notifier, alert_id, transition, now)
