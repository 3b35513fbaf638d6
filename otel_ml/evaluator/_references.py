"""Reference profiles named in the configuration: loaded, matched, reloaded on change.

A window of model ``m`` version ``v`` uses the reference declared for ``(m, v)``,
else the one declared for ``m`` without a version. Files are checked for changes
(modification time and size) at most every ``check_interval`` seconds and
reloaded when they change; a file that becomes unreadable keeps the last good
profile in use and is reported once (and counted in :attr:`ReferenceSet.errors`).
The references in use (path or URI, and SHA-256 of the profile) are written to the store,
so a restart can tell whether the reference changed under a window.

An MLflow URI (``models:/m/3``, ``models:/m@champion``, ``runs:/<id>/path``) is resolved
once at start-up through the local cache (:mod:`otel_ml.mlflow`; start-up stops with a
one-line error when it cannot be). An alias is asked again every ``poll_interval``
seconds by :meth:`ReferenceSet.poll` (the ``otel-ml-references`` thread of
:meth:`ReferenceSet.start`, off the window thread: a slow tracking server never delays
an evaluation); when it has moved, the new version's profile is fetched, then swapped in
under the lock, and the change is logged. Each version the alias has named keeps its
profile, so a window of version 3's traffic is still compared with version 3's profile after
the alias moves to 4 (the last 16 versions it named), and any other version (or none) gets
the current champion's. While the tracking server is unreachable the current profile stays
in use; the failed polls are counted (:attr:`ReferenceSet.poll_failures`, the
``otel_ml.evaluator.references.poll_failures`` self-metric) and logged once per outage.

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
from dataclasses import dataclass, field
from pathlib import Path

from otel_ml._errors import ConfigurationError, OtelMlError
from otel_ml.evaluator._config_options import ReferenceSpec
from otel_ml.evaluator._evaluate import Reference
from otel_ml.mlflow import ResolvedProfile, parse_uri, resolve_profile
from otel_ml.sketch import Profile

__all__ = ["ReferenceSet", "ReferenceSpec"]

_log = logging.getLogger(__name__)


@dataclass
class _Loaded:
    spec: ReferenceSpec
    reference: Reference
    stamp: tuple[float, int]
    sha256: str
    resolved: ResolvedProfile | None = None
    #: an alias's profiles by the version it named (this process), the current one included
    versions: dict[str, Reference] = field(default_factory=dict)
    next_poll: float = 0.0
    failing: bool = False


def _stamp(spec: ReferenceSpec) -> tuple[float, int]:
    assert spec.path is not None
    st = os.stat(spec.path)
    return (st.st_mtime, st.st_size)


def _load(spec: ReferenceSpec, cache_dir: Path | None = None) -> _Loaded:
    if spec.uri is not None:
        return _from_resolved(spec, resolve_profile(spec.uri, tracking_uri=spec.tracking_uri,
                                                    cache_dir=cache_dir))
    assert spec.path is not None
    data = spec.path.read_bytes()
    profile = Profile.load(spec.path)
    label = f"{spec.model}@{spec.version or 'any'} ({spec.path.name})"
    return _Loaded(spec, Reference(profile, label), _stamp(spec), hashlib.sha256(data).hexdigest())


def _from_resolved(spec: ReferenceSpec, resolved: ResolvedProfile) -> _Loaded:
    data = resolved.path.read_bytes()
    profile = resolved.load()
    named = f"version {resolved.version}" if resolved.version is not None else resolved.run_id
    label = f"{spec.model}@{spec.version or 'any'} ({resolved.uri}: {named})"
    loaded = _Loaded(spec, Reference(profile, label), (0.0, 0), hashlib.sha256(data).hexdigest(),
                     resolved=resolved)
    if resolved.version is not None:
        loaded.versions[resolved.version] = loaded.reference
    return loaded


class ReferenceSet:
    """The configured references (thread-safe).

    An alias keeps the profiles of the last :attr:`max_alias_versions` versions it named.

    Raises :class:`~otel_ml.ConfigurationError` at construction when a file cannot
    be read as a profile or a URI cannot be resolved (start-up stops, naming
    ``references[i].path``). ``cache_dir`` is where MLflow profiles are cached (default:
    :func:`otel_ml.mlflow.default_cache_dir`).
    """

    #: how many versions an alias keeps the profile of (the current one included)
    max_alias_versions = 16

    def __init__(
        self,
        specs: Sequence[ReferenceSpec],
        *,
        check_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[ReferenceSpec, str], None] | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._clock = clock
        self._interval = check_interval
        self._last_check = clock()
        self._on_change = on_change
        self._cache_dir = cache_dir
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0
        self.reloads = 0
        self.poll_failures = 0
        self._loaded: list[_Loaded] = []
        for i, spec in enumerate(specs):
            try:
                item = _load(spec, cache_dir)
            except (OSError, OtelMlError, ValueError) as exc:
                if spec.uri is not None:
                    raise ConfigurationError(f"references[{i}].path: {exc}") from exc
                raise ConfigurationError(
                    f"references[{i}].path: {spec.path} is not a readable profile ({exc}); "
                    "rebuild it with `otel-ml profile` or fix the path"
                ) from exc
            item.next_poll = clock() + spec.poll_interval
            self._loaded.append(item)
        for item in self._loaded:
            if on_change is not None:
                on_change(item.spec, item.sha256)

    def _refresh(self) -> None:
        now = self._clock()
        if now - self._last_check < self._interval:
            return
        self._last_check = now
        for i, item in enumerate(self._loaded):
            if item.spec.uri is not None:
                continue  # polled by poll(), off the caller's thread
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

    # ---- MLflow aliases ---------------------------------------------------------------
    @property
    def polls_aliases(self) -> bool:
        """True when some reference is an MLflow alias (something for :meth:`poll` to do)."""
        return any(self._is_alias(item) for item in self._loaded)

    @staticmethod
    def _is_alias(item: _Loaded) -> bool:
        return item.spec.uri is not None and parse_uri(item.spec.uri).movable

    def poll(self, *, force: bool = False) -> int:
        """Ask the tracking server where each alias points now (those due, or all with
        ``force``); swap in a moved alias's profile. Returns how many references changed.

        Network calls happen outside the lock that :meth:`get` takes.
        """
        changed = 0
        with self._poll_lock:  # one poll at a time (the thread, or a test)
            for index, item in enumerate(list(self._loaded)):
                if not self._is_alias(item):
                    continue
                now = self._clock()
                if not force and now < item.next_poll:
                    continue
                item.next_poll = now + item.spec.poll_interval
                if self._poll_one(index, item):
                    changed += 1
        return changed

    def _poll_one(self, index: int, item: _Loaded) -> bool:
        spec = item.spec
        assert spec.uri is not None and item.resolved is not None
        try:
            resolved = resolve_profile(spec.uri, tracking_uri=spec.tracking_uri,
                                       cache_dir=self._cache_dir, stale_alias=False)
            if resolved.key == item.resolved.key:
                self._recovered(item)
                return False
            new = _from_resolved(spec, resolved)
        except (OSError, OtelMlError, ValueError) as exc:
            self.poll_failures += 1
            if not item.failing:
                item.failing = True
                _log.warning("reference %s not checked for a new version, keeping %s: %s",
                             spec.uri, item.reference.label, exc)
            return False
        self._recovered(item)
        new.next_poll = item.next_poll
        # the versions the alias named, oldest first, the current one last; bounded (each
        # keeps a profile in memory): a version dropped here gets the current champion's
        versions = {v: r for v, r in item.versions.items() if v not in new.versions}
        versions.update(new.versions)
        while len(versions) > max(self.max_alias_versions, 1):
            del versions[next(iter(versions))]
        with self._lock:
            new.versions = versions
            self._loaded[index] = new
            self.reloads += 1
        _log.info("reference %s moved: %s -> %s", spec.uri, item.reference.label,
                  new.reference.label)
        if self._on_change is not None:
            self._on_change(new.spec, new.sha256)
        return True

    @staticmethod
    def _recovered(item: _Loaded) -> None:
        if item.failing:
            item.failing = False
            _log.info("reference %s: MLflow tracking server reachable again", item.spec.uri)

    def start(self, *, tick: float = 1.0) -> None:
        """Poll aliases on a daemon thread (``otel-ml-references``) until :meth:`stop`."""
        if self._thread is not None or not self.polls_aliases:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(tick):
                try:
                    self.poll()
                except Exception:  # noqa: BLE001 (counted; a poll bug must not stop polling)
                    self.poll_failures += 1
                    _log.exception("reference poll failed")

        self._thread = threading.Thread(target=run, name="otel-ml-references", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    # ---- lookup -----------------------------------------------------------------------
    def get(self, model: str, version: str | None) -> Reference | None:
        """The reference of ``model`` at ``version`` (exact version first, including a
        version an alias named), or ``None``."""
        with self._lock:
            self._refresh()
            fallback = None
            for item in self._loaded:
                if item.spec.model != model:
                    continue
                if item.spec.version is not None and item.spec.version == (version or None):
                    return item.reference
                if item.spec.version is None and version is not None:
                    named = item.versions.get(version)
                    if named is not None:
                        return named
                if item.spec.version is None and fallback is None:
                    fallback = item.reference
            return fallback

    def in_use(self) -> list[tuple[ReferenceSpec, str]]:
        """``(spec, sha256)`` of every loaded reference."""
        with self._lock:
            return [(x.spec, x.sha256) for x in self._loaded]
