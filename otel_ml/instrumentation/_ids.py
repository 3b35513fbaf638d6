"""Prediction ids: taken from the input or an argument, or generated; learnt via a contextvar.

Generated ids are ``<process prefix>-<counter>``: unique across processes (a
random 64-bit prefix, renewed after ``fork``) and cheap (no per-row UUID). They
are materialized only when someone reads them, so a 10,000-row call does not
build 10,000 strings on the hot path.

Examples
--------
>>> ids = PredictionIds.generated(3)
>>> len(ids), len(set(ids.as_tuple()))
(3, 3)
>>> PredictionIds.explicit(["a", 7]).as_tuple()
('a', '7')
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterable
from contextvars import ContextVar

__all__ = ["PredictionIds", "last_prediction_ids"]


class _Generator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def reserve(self, n: int) -> int:
        """First number of a block of ``n`` fresh ids."""
        with self._lock:
            start = next(self._counter)
            if n > 1:
                # Skip ahead: count() has no "advance", so rebuild it past the block.
                self._counter = itertools.count(start + n)
            return start


_GENERATOR = _Generator()
os.register_at_fork(after_in_child=_GENERATOR._reset)


class PredictionIds:
    """The ids of the rows of one call, explicit or generated lazily."""

    __slots__ = ("_explicit", "_prefix", "_start", "_n", "_cache")

    def __init__(self, explicit: tuple[str, ...] | None, prefix: str, start: int, n: int) -> None:
        self._explicit = explicit
        self._prefix = prefix
        self._start = start
        self._n = n if explicit is None else len(explicit)
        self._cache: tuple[str, ...] | None = explicit

    @classmethod
    def generated(cls, n: int) -> PredictionIds:
        n = max(int(n), 0)
        start = _GENERATOR.reserve(n) if n else 0
        return cls(None, _GENERATOR.prefix, start, n)

    @classmethod
    def explicit(cls, ids: Iterable[object]) -> PredictionIds:
        return cls(tuple(str(i) for i in ids), "", 0, 0)

    def __len__(self) -> int:
        return self._n

    def as_tuple(self) -> tuple[str, ...]:
        if self._cache is None:
            p = self._prefix
            self._cache = tuple(f"{p}-{i}" for i in range(self._start, self._start + self._n))
        return self._cache

    @property
    def generated_prefix(self) -> str | None:
        """The process prefix of generated ids (``<prefix>-<n>``); ``None`` for given ids."""
        return None if self._explicit is not None else self._prefix

    def number(self, row: int) -> int:
        """The counter of row ``row``'s generated id."""
        return self._start + row

    def text_size(self, start: int, stop: int) -> int:
        """Characters of the ids of rows ``start:stop`` (the wire size of their text)."""
        stop = min(stop, self._n)
        if stop <= start:
            return 0
        if self._explicit is not None:
            return sum(map(len, self._explicit[start:stop]))
        # <prefix>-<counter>: every counter has at most as many digits as the last one
        return (len(self._prefix) + 1 + len(str(self._start + stop))) * (stop - start)

    def slice(self, start: int, stop: int) -> list[str]:
        if self._cache is not None:
            return list(self._cache[start:stop])
        p, s = self._prefix, self._start
        return [f"{p}-{i}" for i in range(s + start, s + min(stop, self._n))]


_LAST_IDS: ContextVar[PredictionIds | None] = ContextVar(
    "otel_ml_last_prediction_ids", default=None
)


def _set_last(ids: PredictionIds) -> None:
    _LAST_IDS.set(ids)


def last_prediction_ids() -> tuple[str, ...]:
    """The prediction ids of the last monitored call made in this context.

    The decorated function returns the model's result unchanged; a service that
    needs the ids (to return them to its client, who later reports outcomes)
    reads them right after the call. The value is per thread / per asyncio task
    (a :class:`contextvars.ContextVar`), so concurrent requests never see each
    other's ids. Empty before any monitored call.

    >>> import contextvars
    >>> contextvars.Context().run(last_prediction_ids)  # a fresh context: no call yet
    ()
    """
    ids = _LAST_IDS.get()
    return () if ids is None else ids.as_tuple()
