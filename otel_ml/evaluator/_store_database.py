"""The evaluator's SQLite database: the connection, its lock, the schema and transactions.

:class:`Database` is handed to the parts of the store (:class:`~otel_ml.evaluator.
_store_windows.WindowTable`, :class:`~otel_ml.evaluator._store_sketches.SketchTable`,
:class:`~otel_ml.evaluator._store_labels.LabelTable`,
:class:`~otel_ml.evaluator._stream_state.StreamTable`); each reads and writes its
own tables through it. What every table holds is described in
:mod:`otel_ml.evaluator._store`.

Examples
--------
>>> db = Database(":memory:")
>>> with db.transaction():
...     db.execute("INSERT INTO meta(key, value) VALUES ('a', 'b')").rowcount
1
>>> db.scalar("SELECT COUNT(*) FROM meta")
1
>>> db.close()
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from otel_ml import semconv as sc
from otel_ml._errors import ConfigurationError

__all__ = ["Database", "TransactionListener", "state_error"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS batches_at ON batches(at);
CREATE TABLE IF NOT EXISTS windows (
  model TEXT, version TEXT, start REAL, dirty INTEGER NOT NULL DEFAULT 1,
  evaluated_at REAL, PRIMARY KEY (model, version, start));
CREATE INDEX IF NOT EXISTS windows_dirty ON windows(dirty, start);
CREATE TABLE IF NOT EXISTS sketches (
  model TEXT, version TEXT, start REAL, signal TEXT, name TEXT, data TEXT NOT NULL,
  PRIMARY KEY (model, version, start, signal, name));
CREATE TABLE IF NOT EXISTS counters (
  model TEXT, version TEXT, start REAL, metric TEXT, feature TEXT, key TEXT,
  value REAL NOT NULL, PRIMARY KEY (model, version, start, metric, feature, key));
CREATE TABLE IF NOT EXISTS durations (
  model TEXT, version TEXT, start REAL, data TEXT NOT NULL,
  PRIMARY KEY (model, version, start));
CREATE TABLE IF NOT EXISTS traces (
  model TEXT, version TEXT, start REAL, trace_id TEXT,
  PRIMARY KEY (model, version, start, trace_id));
CREATE TABLE IF NOT EXISTS predictions (
  model TEXT, id TEXT, version TEXT, t REAL NOT NULL, score REAL, label TEXT,
  trace_id TEXT, PRIMARY KEY (model, id));
CREATE INDEX IF NOT EXISTS predictions_t ON predictions(t);
CREATE TABLE IF NOT EXISTS outcomes (
  model TEXT, id TEXT, actual_label TEXT, actual_value REAL, t REAL NOT NULL,
  PRIMARY KEY (model, id));
CREATE INDEX IF NOT EXISTS outcomes_t ON outcomes(t);
CREATE INDEX IF NOT EXISTS outcomes_model_t ON outcomes(model, t);
CREATE TABLE IF NOT EXISTS dropped (
  model TEXT, version TEXT, t REAL NOT NULL, prefix TEXT, first INTEGER, last INTEGER);
CREATE INDEX IF NOT EXISTS dropped_ids ON dropped(model, prefix, first);
CREATE INDEX IF NOT EXISTS dropped_t ON dropped(t);
CREATE TABLE IF NOT EXISTS joined (
  model TEXT, id TEXT, version TEXT, start REAL, score REAL, label TEXT,
  actual_label TEXT, actual_value REAL, delay REAL, u REAL NOT NULL, PRIMARY KEY (model, id));
CREATE INDEX IF NOT EXISTS joined_window ON joined(model, version, start, u);
CREATE TABLE IF NOT EXISTS reports (
  model TEXT, version TEXT, start REAL, end_ REAL, data TEXT NOT NULL, at REAL,
  PRIMARY KEY (model, version, start));
CREATE TABLE IF NOT EXISTS tasks (model TEXT PRIMARY KEY, task TEXT NOT NULL,
  declared INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS quarantine (
  model TEXT, version TEXT, start REAL, reason TEXT NOT NULL, at REAL NOT NULL,
  PRIMARY KEY (model, version, start));
CREATE TABLE IF NOT EXISTS streams (key TEXT PRIMARY KEY, point TEXT NOT NULL, t INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS streams_t ON streams(t);
"""


class TransactionListener(Protocol):
    """A table that keeps some state in memory next to its rows (a cache, counts)."""

    def committed(self) -> None:
        """The transaction committed: what it wrote is durable."""

    def rolled_back(self) -> None:
        """The transaction failed: forget or re-read what it changed in memory."""


def state_error(path: str | Path, exc: BaseException) -> ConfigurationError:
    """The one-line start-up error for a state database that cannot be used.

    SQLite writes nothing to a file it cannot read as a database, so the file is left
    as it was; the message says so, and what to do.
    """
    name = str(getattr(exc, "sqlite_errorname", ""))
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "malformed" in str(exc):
        fix = (
            "it is not an intact SQLite database and was left untouched; restore it from "
            "a backup, or move it away to start from an empty state"
        )
    else:
        fix = (
            "the evaluator needs to read and write it and to create files beside it "
            "(-wal, -shm) in its directory; fix the permissions or choose another state_dir"
        )
    return ConfigurationError(f"state_dir: cannot use the state database {path} ({exc}): {fix}")


def version_key(version: str | None) -> str:
    """How a model version is stored: a point without one (or with ``""``) is the SDK's
    ``unknown``."""
    return version or sc.UNKNOWN_VERSION


def float_or_nan(x: float | None) -> float:
    """A stored REAL that may be NULL, as a float."""
    return math.nan if x is None else float(x)


class Database:
    """One SQLite connection (WAL, ``synchronous=FULL``, explicit transactions) behind a lock.

    The lock is re-entrant: a table method that takes it may be called inside
    :meth:`transaction`, which holds it until the transaction ends.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._listeners: list[TransactionListener] = []
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise state_error(path, exc) from None
        try:
            # read every page once before writing any: a damaged file is refused, not
            # written into (about 0.4 s per 150 MB)
            problems = self.conn.execute("PRAGMA quick_check(3)").fetchall()
            if problems != [("ok",)]:
                raise sqlite3.DatabaseError(
                    "database disk image is malformed: " + "; ".join(str(r[0]) for r in problems)
                )
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(_SCHEMA)
            # a read-only file opens (read-only) without complaint: try a write, undone
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('-', '-')")
            finally:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            self.conn.close()
            raise state_error(path, exc) from None

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def watch(self, listener: TransactionListener) -> None:
        """Tell ``listener`` about every transaction's end (in order of registration)."""
        self._listeners.append(listener)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` under the lock; rolled back if the body raises.

        Correct whatever state a failure leaves: when ``COMMIT`` itself fails (disk
        full: SQLite has already rolled back) or a statement made SQLite roll back,
        no ``ROLLBACK`` is sent (it would raise "no transaction is active" and hide
        the cause). Either way the listeners' :meth:`~TransactionListener.rolled_back`
        runs, so in-memory state never keeps what the database does not.
        """
        with self.lock:
            c = self.conn
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
                c.execute("COMMIT")
            except BaseException:
                try:
                    if c.in_transaction:
                        c.execute("ROLLBACK")
                finally:
                    for listener in self._listeners:
                        listener.rolled_back()
                raise
            for listener in self._listeners:
                listener.committed()

    def execute(self, sql: str, args: Sequence[object] = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, args)

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with self.lock:
            self.conn.executemany(sql, rows)

    def fetchall(self, sql: str, args: Sequence[object] = ()) -> list[Any]:
        with self.lock:
            return self.conn.execute(sql, args).fetchall()

    def fetchone(self, sql: str, args: Sequence[object] = ()) -> Any:
        with self.lock:
            return self.conn.execute(sql, args).fetchone()

    def scalar(self, sql: str, args: Sequence[object] = ()) -> int:
        """The first column of the first row as an int (0 for no row or NULL)."""
        with self.lock:
            row = self.conn.execute(sql, args).fetchone()
        return int(row[0]) if row and row[0] is not None else 0
