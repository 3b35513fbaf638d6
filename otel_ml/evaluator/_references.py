"""Reference profiles named in the configuration: loaded, matched, reloaded on change.

A window of model ``m`` version ``v`` uses the reference declared for ``(m, v)``,
else the one declared for ``m`` without a version. Files are checked for changes
(modification time and size) at most every ``check_interval`` seconds and
reloaded when they change; a file that becomes unreadable keeps the last good
profile in use and is reported once (and counted in :attr:`ReferenceSet.errors`).
The references in use (path and SHA-256 of the file) are written to the store,
so a restart can tell whether the reference changed under a window.

Examples
--------
>>> import tempfile, pathlib, numpy as np
>>> from otel_ml.sketch import Profile
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> Profile.from_data({"x": np.arange(10.0)}, model="m", version="1").save(d / "m.json")
>>> refs = ReferenceSet([ReferenceSpec(model="m", path=d / "m.json")])
>>> refs.get("m", "7").label.startswith("m@any")
True
>>> refs.get("other", "1") is None
True
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from otel_ml._errors import ConfigurationError, OtelMlError
from otel_ml.evaluator._config_options import ReferenceSpec
from otel_ml.evaluator._evaluate import Reference
from otel_ml.sketch import Profile

__all__ = ["ReferenceSet", "ReferenceSpec"]

_log = logging.getLogger(__name__)


@dataclass
class _Loaded:
    spec: ReferenceSpec
    reference: Reference
    stamp: tuple[float, int]
    sha256: str


def _stamp(spec: ReferenceSpec) -> tuple[float, int]:
    st = os.stat(spec.path)
    return (st.st_mtime, st.st_size)


def _load(spec: ReferenceSpec) -> _Loaded:
    data = spec.path.read_bytes()
    profile = Profile.load(spec.path)
    label = f"{spec.model}@{spec.version or 'any'} ({spec.path.name})"
    return _Loaded(spec, Reference(profile, label), _stamp(spec), hashlib.sha256(data).hexdigest())


class ReferenceSet:
    """The configured references (thread-safe).

    Raises :class:`~otel_ml.ConfigurationError` at construction when a file cannot
    be read as a profile (start-up stops, naming ``references[i].path``).
    """

    def __init__(
        self,
        specs: Sequence[ReferenceSpec],
        *,
        check_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[ReferenceSpec, str], None] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._interval = check_interval
        self._last_check = clock()
        self._on_change = on_change
        self.errors = 0
        self.reloads = 0
        self._loaded: list[_Loaded] = []
        for i, spec in enumerate(specs):
            try:
                self._loaded.append(_load(spec))
            except (OSError, OtelMlError, ValueError) as exc:
                raise ConfigurationError(
                    f"references[{i}].path: {spec.path} is not a readable profile ({exc}); "
                    "rebuild it with `otel-ml profile` or fix the path"
                ) from exc
        for item in self._loaded:
            if on_change is not None:
                on_change(item.spec, item.sha256)

    def _refresh(self) -> None:
        now = self._clock()
        if now - self._last_check < self._interval:
            return
        self._last_check = now
        for i, item in enumerate(self._loaded):
            try:
                if _stamp(item.spec) == item.stamp:
                    continue
                new = _load(item.spec)
            except (OSError, OtelMlError, ValueError) as exc:
                self.errors += 1
                _log.warning(
                    "reference %s not reloaded, keeping the last good one: %s", item.spec.path, exc
                )
                continue
            self._loaded[i] = new
            self.reloads += 1
            _log.info("reference %s reloaded", item.spec.path)
            if self._on_change is not None:
                self._on_change(new.spec, new.sha256)

    def get(self, model: str, version: str | None) -> Reference | None:
        """The reference of ``model`` at ``version`` (exact version first), or ``None``."""
        with self._lock:
            self._refresh()
            fallback = None
            for item in self._loaded:
                if item.spec.model != model:
                    continue
                if item.spec.version is not None and item.spec.version == (version or None):
                    return item.reference
                if item.spec.version is None and fallback is None:
                    fallback = item.reference
            return fallback

    def in_use(self) -> list[tuple[ReferenceSpec, str]]:
        """``(spec, sha256)`` of every loaded reference."""
        with self._lock:
            return [(x.spec, x.sha256) for x in self._loaded]
