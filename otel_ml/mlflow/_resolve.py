"""Resolving an MLflow profile URI to a local file: once, through a local cache.

A URI is resolved to what it names right now -- a run and an artifact path (a model
version's run, the version an alias points to) -- and the artifact is downloaded once into
the cache, keyed by the tracking server and that run and path::

    <cache>/mlflow/<server>/runs/<run_id>/<artifact path>        the profile files
    <cache>/mlflow/<server>/models/<name>/<version>.json           version -> run and path
    <cache>/mlflow/<server>/models/<name>/@<alias>.json            the alias's last resolution

``<cache>`` is the ``cache_dir`` argument, else ``$OTEL_ML_CACHE_DIR``, else
``$XDG_CACHE_HOME/otel_ml`` (``~/.cache/otel_ml``). A run's artifact and a model version's
run never change, so ``runs:/`` and ``models:/<name>/<version>`` resolve from the cache
without the tracking server once fetched. An alias can move: it is asked of the server every
time (a moved alias names another run, hence another cache entry); when the server cannot
be reached, the alias's last resolution is used and a warning says so. Nothing else is
guessed: a URI that cannot be resolved raises :class:`~otel_ml.ProfileError` with one line
naming the URI, what is wrong (malformed, no such model / version / alias / run / artifact,
server unreachable) and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_ml._errors import ProfileError
from otel_ml.mlflow._uri import PROFILE_FILE, ProfileUri, parse_uri, redact_credentials
from otel_ml.sketch import Profile

__all__ = [
    "DEFAULT_ARTIFACT_PATH",
    "ENV_CACHE_DIR",
    "PROFILE_TAG",
    "ResolvedProfile",
    "default_cache_dir",
    "resolve_profile",
]

_log = logging.getLogger(__name__)

#: Environment variable naming the cache folder of resolved profiles.
ENV_CACHE_DIR = "OTEL_ML_CACHE_DIR"
#: Where :func:`log_profile` puts a profile in a run unless told otherwise.
DEFAULT_ARTIFACT_PATH = "otel_ml"
#: The model version tag :func:`log_profile` sets: the ``runs:/`` URI of the version's profile.
PROFILE_TAG = "otel_ml.profile"
_CONNECT_TIMEOUT = 3.0
_CONNECTION_FAILURES = ("Max retries exceeded", "Connection refused", "Connection aborted",
                        "ConnectionError", "Read timed out")


@dataclass(frozen=True)
class ResolvedProfile:
    """What an MLflow URI named when it was resolved, and the local copy of the profile."""

    uri: str
    tracking_uri: str
    run_id: str
    artifact_path: str
    path: Path
    """The profile file in the cache."""
    model: str | None = None
    version: str | None = None
    cached: bool = False
    """Resolved from the cache alone (no request to the tracking server)."""
    stale: bool = False
    """An alias resolved from its last known version because the server was unreachable."""

    @property
    def key(self) -> tuple[str, str, str | None]:
        """``(run_id, artifact_path, version)``: what changes when an alias moves."""
        return (self.run_id, self.artifact_path, self.version)

    @property
    def label(self) -> str:
        """``models:/m@champion -> version 4, run 0a1b…`` style description for logs."""
        where = f"run {self.run_id}"
        if self.version is not None:
            where = f"version {self.version}, {where}"
        return f"{self.uri} ({where})"

    def load(self) -> Profile:
        """The profile, with the model name and version filled in when it has none."""
        profile = Profile.load(self.path)
        if profile.model is None and self.model is not None:
            profile = _with_model(profile, self.model, profile.version or self.version)
        elif profile.version is None and self.version is not None:
            profile = _with_model(profile, profile.model, self.version)
        return profile


def _with_model(profile: Profile, model: str | None, version: str | None) -> Profile:
    return dataclasses.replace(profile, model=model, version=version)


def default_cache_dir() -> Path:
    """``$OTEL_ML_CACHE_DIR``, else ``$XDG_CACHE_HOME/otel_ml``, else ``~/.cache/otel_ml``."""
    explicit = os.environ.get(ENV_CACHE_DIR)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "otel_ml"


def _server_key(tracking_uri: str) -> str:
    """A folder name for a tracking server: readable, and unique per URI (credentials in
    the URI are left out: the same server, and no password in a folder name)."""
    server = redact_credentials(tracking_uri, mask="")
    readable = re.sub(r"[^A-Za-z0-9.-]+", "_", server.split("://", 1)[-1]).strip("_")
    digest = hashlib.sha256(server.encode()).hexdigest()[:10]
    return f"{readable[:60]}-{digest}"


def _safe(part: str) -> str:
    return urllib.parse.quote(part, safe="@")


class _Resolver:
    def __init__(self, uri: ProfileUri, tracking_uri: str, cache: Path, *,
                 stale_alias: bool = True) -> None:
        self.uri = uri
        self.stale_alias = stale_alias
        self.tracking_uri = tracking_uri
        self.shown = redact_credentials(tracking_uri)  # for messages: no password
        self.root = cache / "mlflow" / _server_key(tracking_uri)
        self._client: Any = None

    # ---- the tracking server ------------------------------------------------------------
    def _fail(self, problem: str, fix: str) -> ProfileError:
        return ProfileError(f"{self.uri.text}: {problem}; {fix}")

    def _unreachable(self, why: object) -> ProfileError:
        return self._fail(
            f"MLflow tracking server {self.shown} unreachable ({why})",
            "start it, or point MLFLOW_TRACKING_URI (or tracking_uri) at the right server",
        )

    def check_reachable(self) -> None:
        """Fail in seconds when an HTTP tracking server does not accept connections (the
        MLflow client would retry for minutes)."""
        parts = urllib.parse.urlsplit(self.tracking_uri)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname, port), timeout=_CONNECT_TIMEOUT):
                pass
        except OSError as exc:
            raise self._unreachable(exc.strerror or type(exc).__name__) from None

    def client(self) -> Any:
        if self._client is None:
            try:
                from mlflow.tracking import MlflowClient
            except ImportError as exc:
                raise self._fail(
                    f"MLflow is not installed ({exc})", "pip install 'otel-ml[mlflow]'"
                ) from None
            self._client = MlflowClient(tracking_uri=self.tracking_uri,
                                        registry_uri=self.tracking_uri)
        return self._client

    def _call(self, what: str, fn: Any, *args: Any) -> Any:
        """A client call; MLflow's 'does not exist' comes back as None, a connection failure
        as the unreachable error, anything else as a ProfileError naming ``what``."""
        from mlflow.exceptions import MlflowException

        try:
            return fn(*args)
        except MlflowException as exc:
            code = getattr(exc, "error_code", "")
            text = str(exc)
            if code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or "not found" in text.lower():
                return None
            if any(s in text for s in _CONNECTION_FAILURES):
                raise self._unreachable("connection failed") from None
            raise self._fail(f"{what} failed: {one_line(text)}",
                             "check the tracking server's log") from None
        except OSError as exc:
            raise self._unreachable(exc.strerror or type(exc).__name__) from None

    def _model_exists(self) -> bool:
        client = self.client()
        return self._call("get_registered_model", client.get_registered_model,
                          self.uri.model) is not None

    def version_of(self) -> Any:
        """The model version the URI names (by number or by alias)."""
        u, client = self.uri, self.client()
        if u.alias is not None:
            mv = self._call("get_model_version_by_alias", client.get_model_version_by_alias,
                            u.model, u.alias)
        else:
            mv = self._call("get_model_version", client.get_model_version, u.model, u.version)
        if mv is not None:
            return mv
        if not self._model_exists():
            raise self._fail(
                f"no registered model {u.model!r} on {self.shown}",
                "register it (mlflow.register_model) or fix the name",
            )
        if u.alias is not None:
            raise self._fail(
                f"registered model {u.model!r} has no alias {u.alias!r}",
                f"set it with MlflowClient().set_registered_model_alias({u.model!r}, "
                f"{u.alias!r}, <version>) or fix the alias",
            )
        raise self._fail(f"registered model {u.model!r} has no version {u.version}",
                         "use an existing version number or an @alias")

    def artifact_of(self, mv: Any) -> tuple[str, str]:
        """(run id, artifact path) of a model version's profile: the tag log_profile set,
        else ``otel_ml/profile.json`` in the version's run."""
        tags = dict(getattr(mv, "tags", None) or {})
        tagged = tags.get(PROFILE_TAG)
        if tagged:
            try:
                target = parse_uri(str(tagged))
            except ProfileError:
                target = None
            if target is not None and target.run_id is not None:
                assert target.artifact_path is not None
                return target.run_id, target.artifact_path
        if not mv.run_id:
            raise self._fail(
                f"version {mv.version} of {self.uri.model!r} has no run to hold its profile",
                "log one with otel_ml.mlflow.log_profile(profile, run_id=..., "
                "model_name=..., model_version=...)",
            )
        return str(mv.run_id), f"{DEFAULT_ARTIFACT_PATH}/{PROFILE_FILE}"

    # ---- the cache --------------------------------------------------------------------
    def target(self, run_id: str, artifact_path: str) -> Path:
        return self.root / "runs" / _safe(run_id) / Path(*artifact_path.split("/"))

    def index(self, name: str) -> Path:
        assert self.uri.model is not None
        return self.root / "models" / _safe(self.uri.model) / f"{_safe(name)}.json"

    @staticmethod
    def read_index(path: Path) -> dict[str, str] | None:
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(d, dict) or not all(isinstance(d.get(k), str)
                                              for k in ("run_id", "artifact_path", "version")):
            return None
        return {k: d[k] for k in ("run_id", "artifact_path", "version")}

    @staticmethod
    def write_index(path: Path, run_id: str, artifact_path: str, version: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"run_id": run_id, "artifact_path": artifact_path,
                                   "version": version, "resolved_at": time.time()}),
                       encoding="utf-8")
        os.replace(tmp, path)

    def download(self, run_id: str, artifact_path: str) -> Path:
        target = self.target(run_id, artifact_path)
        if target.is_file():
            return target
        self.check_reachable()
        client = self.client()
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=self.root))
        try:
            local = self._call("download_artifacts", client.download_artifacts, run_id,
                               artifact_path, str(tmp))
            if local is None or not Path(local).is_file():
                if self._call("get_run", client.get_run, run_id) is None:
                    raise self._fail(f"no run {run_id} on {self.shown}",
                                     "fix the run id (the run page's URL shows it)")
                raise self._fail(
                    f"run {run_id} has no profile artifact {artifact_path!r}",
                    "log it with otel_ml.mlflow.log_profile, or fix the path",
                )
            try:
                Profile.load(local)
            except ProfileError as exc:
                raise self._fail(f"artifact {artifact_path!r} of run {run_id} is not a "
                                 f"profile ({one_line(str(exc))})",
                                 "log one with otel_ml.mlflow.log_profile") from None
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(local, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target

    # ---- the three forms --------------------------------------------------------------
    def resolve(self) -> ResolvedProfile:
        u = self.uri
        if u.run_id is not None:
            assert u.artifact_path is not None
            target = self.target(u.run_id, u.artifact_path)
            cached = target.is_file()
            path = target if cached else self.download(u.run_id, u.artifact_path)
            return self._result(u.run_id, u.artifact_path, path, None, cached=cached)
        assert u.model is not None
        if u.version is not None:  # a version never moves: its index is enough
            known = self.read_index(self.index(u.version))
            if known is not None and self.target(known["run_id"],
                                                 known["artifact_path"]).is_file():
                return self._result(known["run_id"], known["artifact_path"],
                                    self.target(known["run_id"], known["artifact_path"]),
                                    u.version, cached=True)
        alias_index = self.index(f"@{u.alias}") if u.alias is not None else None
        try:
            self.check_reachable()
        except ProfileError:
            known = self.read_index(alias_index) if alias_index is not None else None
            if not self.stale_alias or known is None or not self.target(known["run_id"],
                                                known["artifact_path"]).is_file():
                raise
            _log.warning(
                "%s: MLflow tracking server %s unreachable; using the profile of version %s "
                "the alias named when last resolved", u.text, self.shown,
                known["version"],
            )
            return self._result(known["run_id"], known["artifact_path"],
                                self.target(known["run_id"], known["artifact_path"]),
                                known["version"], cached=True, stale=True)
        mv = self.version_of()
        version = str(mv.version)
        run_id, artifact_path = self.artifact_of(mv)
        path = self.download(run_id, artifact_path)
        self.write_index(self.index(version), run_id, artifact_path, version)
        if alias_index is not None:
            self.write_index(alias_index, run_id, artifact_path, version)
        return self._result(run_id, artifact_path, path, version)

    def _result(self, run_id: str, artifact_path: str, path: Path, version: str | None,
                *, cached: bool = False, stale: bool = False) -> ResolvedProfile:
        return ResolvedProfile(
            uri=self.uri.text, tracking_uri=self.tracking_uri, run_id=run_id,
            artifact_path=artifact_path, path=path, model=self.uri.model, version=version,
            cached=cached, stale=stale,
        )


def one_line(text: str, limit: int = 300) -> str:
    """An MLflow error's text on one line, without URL credentials, at most ``limit`` long."""
    return redact_credentials(" ".join(text.split()))[:limit]


def tracking_uri_or_default(tracking_uri: str | None) -> str:
    """``tracking_uri``, else MLflow's (``MLFLOW_TRACKING_URI``, ``mlflow.set_tracking_uri``)."""
    if tracking_uri:
        return tracking_uri
    from mlflow.tracking import get_tracking_uri

    return str(get_tracking_uri())


def resolve_profile(
    uri: str,
    *,
    tracking_uri: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    stale_alias: bool = True,
) -> ResolvedProfile:
    """Resolve an MLflow profile URI to a cached local file (see the module docstring).

    Parameters
    ----------
    uri
        ``models:/<name>/<version>``, ``models:/<name>@<alias>`` or ``runs:/<run_id>/<path>``.
    tracking_uri
        The tracking server (default: MLflow's, ``MLFLOW_TRACKING_URI``).
    cache_dir
        The cache folder (default: :func:`default_cache_dir`).
    stale_alias
        When the server is unreachable, resolve an alias to the version it named last time
        (with a warning; ``stale`` is set). False: raise instead (the evaluator's poll, which
        keeps its current profile and reports the outage itself).

    Raises :class:`~otel_ml.ProfileError` (one line: the URI, the problem, the fix).
    """
    parsed = parse_uri(uri)
    try:
        import mlflow  # noqa: F401  (the extra's presence, before anything else)
    except ImportError as exc:
        raise ProfileError(
            f"{uri}: an MLflow URI needs MLflow ({exc}); pip install 'otel-ml[mlflow]'"
        ) from None
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return _Resolver(parsed, tracking_uri_or_default(tracking_uri), cache,
                     stale_alias=stale_alias).resolve()
