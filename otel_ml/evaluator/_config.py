"""The evaluator's configuration: one YAML file parsed once into typed, frozen options.

Every mistake stops start-up with a :class:`~otel_ml.ConfigurationError` that names
the key (as a dotted path) and says how to fix it: an unknown key (with the
closest valid one), a threshold of the wrong type or out of range, a reference
file that cannot be read. Secrets (bearer tokens) come from an environment
variable or a file, never from the YAML itself, and are never logged or shown in
``repr``.

A complete file::

    state_dir: ./evaluator-state       # SQLite database (WAL) lives here
    receivers:
      http: {host: 127.0.0.1, port: 4318}
      grpc: {host: 127.0.0.1, port: 4317}
      max_body_bytes: 16777216
    api: {host: 127.0.0.1, port: 8080}   # /api/models, /models/{name}, /metrics
    auth: {token_env: OTEL_ML_TOKEN}      # or token_file: path; optional
    tls: {cert_file: cert.pem, key_file: key.pem}   # optional
    windows: {size: 5m, grace: 30s, min_rows: 100, retention: 7d}
    labels: {ttl: 7d, max_pending: 1000000}
    ingest: {queue_size: 64, retry_after: 2s, submit_timeout: 10s}
    drift: {}                             # DriftPolicy fields (thresholds)
    references:
      - {model: churn, version: "3", path: churn-v3.profile.json}
    export:
      otlp: {endpoint: "http://127.0.0.1:4318", protocol: http, interval: 60s}
    alerts: []                            # parsed by otel_ml.alerting
    notifiers: []

Examples
--------
>>> cfg = parse_config({"windows": {"size": "10m", "min_rows": 50}})
>>> cfg.windows.size, cfg.windows.min_rows, cfg.receivers.http.host
(600.0, 50, '127.0.0.1')
>>> parse_config({"windowz": {}})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
otel_ml._errors.ConfigurationError: unknown key 'windowz' ...; did you mean 'windows'? ...
>>> parse_duration("90s"), parse_duration("1.5h"), parse_duration(30)
(90.0, 5400.0, 30.0)
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from otel_ml._errors import ConfigurationError
from otel_ml.evaluator._config_options import (
    ApiOptions,
    AuthOptions,
    EvaluatorConfig,
    ExportOptions,
    IngestOptions,
    LabelOptions,
    ListenOptions,
    ReceiverOptions,
    ReferenceSpec,
    TlsOptions,
    WindowOptions,
)

__all__ = ["load_config", "parse_config", "parse_duration"]

MIN_WINDOW_S = 60.0
MAX_WINDOW_S = 86400.0

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: object, *, key: str = "duration") -> float:
    """Seconds from ``30``, ``"30s"``, ``"5m"``, ``"1.5h"``, ``"7d"`` or ``"250ms"``."""
    if isinstance(value, bool):
        raise ConfigurationError(f"{key}: expected a duration such as '5m', got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ConfigurationError(
                f"{key}: {value!r} is not a duration; write a number of seconds or a number "
                "with a unit ms, s, m, h or d (e.g. '5m')"
            )
        seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if seconds < 0:
        raise ConfigurationError(f"{key}: a duration cannot be negative, got {value!r}")
    return seconds


# --- parsing ------------------------------------------------------------------------------
def _check_keys(d: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for k in d:
        if k not in allowed:
            near = difflib.get_close_matches(str(k), allowed, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            path = f"'{where}.{k}'" if where else f"'{k}'"
            place = "" if where else " in the evaluator configuration"
            raise ConfigurationError(
                f"unknown key {path}{place}{hint} Valid keys: {', '.join(allowed)}"
            )


def _section(d: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    v = d.get(key, {})
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise ConfigurationError(f"{_dot(where, key)}: expected a mapping, got {v!r}")
    return v


def _dot(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _int(d: Mapping[str, Any], key: str, default: int, where: str, *, lo: int, hi: int) -> int:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ConfigurationError(
            f"{_dot(where, key)}: expected an integer in [{lo}, {hi}], got {v!r}"
        )
    return v


def _dur(
    d: Mapping[str, Any], key: str, default: float, where: str, *, lo: float, hi: float
) -> float:
    v = parse_duration(d.get(key, default), key=_dot(where, key))
    if not lo <= v <= hi:
        raise ConfigurationError(
            f"{_dot(where, key)}: {d.get(key)!r} is outside the allowed range [{lo:g} s, {hi:g} s]"
        )
    return v


def _str(d: Mapping[str, Any], key: str, default: str, where: str) -> str:
    v = d.get(key, default)
    if not isinstance(v, str) or not v:
        raise ConfigurationError(f"{_dot(where, key)}: expected a non-empty string, got {v!r}")
    return v


def _bool(d: Mapping[str, Any], key: str, default: bool, where: str) -> bool:
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise ConfigurationError(f"{_dot(where, key)}: expected true or false, got {v!r}")
    return v


def _listen(d: Mapping[str, Any], where: str, default: ListenOptions) -> ListenOptions:
    _check_keys(d, ("host", "port", "enabled"), where)
    return ListenOptions(
        host=_str(d, "host", default.host, where),
        port=_int(d, "port", default.port, where, lo=0, hi=65535),
        enabled=_bool(d, "enabled", default.enabled, where),
    )


def _secret(d: Mapping[str, Any], where: str, base: Path) -> str | None:
    _check_keys(d, ("token_env", "token_file"), where)
    if "token_env" in d and "token_file" in d:
        raise ConfigurationError(f"{where}: set either token_env or token_file, not both")
    if "token_env" in d:
        name = _str(d, "token_env", "", where)
        value = os.environ.get(name)
        if not value:
            raise ConfigurationError(
                f"{where}.token_env: environment variable {name} is not set or empty; "
                "export it before starting the evaluator or remove the auth section"
            )
        return value.strip()
    if "token_file" in d:
        path = _path(_str(d, "token_file", "", where), base)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigurationError(
                f"{where}.token_file: cannot read {path} ({exc.strerror}); fix the path or "
                "its permissions"
            ) from exc
        if not value:
            raise ConfigurationError(f"{where}.token_file: {path} is empty")
        return value
    return None


def _path(p: str, base: Path) -> Path:
    q = Path(os.path.expanduser(p))
    return q if q.is_absolute() else base / q


def _references(v: object, base: Path) -> tuple[ReferenceSpec, ...]:
    if v is None:
        return ()
    if not isinstance(v, list):
        raise ConfigurationError("references: expected a list of {model, version, path}")
    out = []
    for i, item in enumerate(v):
        where = f"references[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigurationError(f"{where}: expected a mapping with model and path")
        _check_keys(item, ("model", "version", "path"), where)
        if "model" not in item or "path" not in item:
            raise ConfigurationError(f"{where}: both 'model' and 'path' are required")
        version = item.get("version")
        path = _path(_str(item, "path", "", where), base)
        if not path.is_file() or not os.access(path, os.R_OK):
            raise ConfigurationError(
                f"{where}.path: reference profile {path} cannot be read; build it with "
                "`otel-ml profile` or fix the path (relative paths start at the config file)"
            )
        out.append(
            ReferenceSpec(
                model=_str(item, "model", "", where),
                version=None if version is None else str(version),
                path=path,
            )
        )
    return tuple(out)


_TOP = (
    "state_dir",
    "receivers",
    "api",
    "auth",
    "tls",
    "windows",
    "labels",
    "ingest",
    "drift",
    "references",
    "export",
    "alerts",
    "notifiers",
)


def parse_config(raw: Mapping[str, Any] | None, *, base_dir: Path | None = None) -> EvaluatorConfig:
    """Typed options from the parsed YAML mapping (relative paths start at ``base_dir``)."""
    d: Mapping[str, Any] = raw or {}
    if not isinstance(d, Mapping):
        raise ConfigurationError("the evaluator configuration must be a YAML mapping")
    base = base_dir or Path.cwd()
    _check_keys(d, _TOP, "")
    rec = _section(d, "receivers", "")
    _check_keys(rec, ("http", "grpc", "max_body_bytes"), "receivers")
    receivers = ReceiverOptions(
        http=_listen(
            _section(rec, "http", "receivers"), "receivers.http", ListenOptions(port=4318)
        ),
        grpc=_listen(
            _section(rec, "grpc", "receivers"), "receivers.grpc", ListenOptions(port=4317)
        ),
        max_body_bytes=_int(rec, "max_body_bytes", 16 << 20, "receivers", lo=1024, hi=1 << 30),
    )
    api_l = _listen(_section(d, "api", ""), "api", ApiOptions())
    api = ApiOptions(host=api_l.host, port=api_l.port, enabled=api_l.enabled)
    auth = AuthOptions(token=_secret(_section(d, "auth", ""), "auth", base))
    t = _section(d, "tls", "")
    _check_keys(t, ("cert_file", "key_file"), "tls")
    tls = TlsOptions()
    if t:
        if "cert_file" not in t or "key_file" not in t:
            raise ConfigurationError("tls: both cert_file and key_file are required for TLS")
        cert, key = (
            _path(_str(t, "cert_file", "", "tls"), base),
            _path(_str(t, "key_file", "", "tls"), base),
        )
        for name, p in (("cert_file", cert), ("key_file", key)):
            if not p.is_file():
                raise ConfigurationError(f"tls.{name}: {p} does not exist; fix the path")
        tls = TlsOptions(cert_file=cert, key_file=key)
    w = _section(d, "windows", "")
    _check_keys(w, ("size", "grace", "min_rows", "retention"), "windows")
    size = _dur(w, "size", 300.0, "windows", lo=MIN_WINDOW_S, hi=MAX_WINDOW_S)
    windows = WindowOptions(
        size=size,
        grace=_dur(w, "grace", min(30.0, size), "windows", lo=0.0, hi=size),
        min_rows=_int(w, "min_rows", 100, "windows", lo=1, hi=1 << 40),
        retention=_dur(
            w, "retention", max(7 * 86400.0, 2 * size), "windows", lo=2 * size, hi=3.2e7
        ),
    )
    lab = _section(d, "labels", "")
    _check_keys(lab, ("ttl", "max_pending"), "labels")
    labels = LabelOptions(
        ttl=_dur(lab, "ttl", 7 * 86400.0, "labels", lo=1.0, hi=3.2e7),
        max_pending=_int(lab, "max_pending", 1_000_000, "labels", lo=1, hi=1 << 34),
    )
    ing = _section(d, "ingest", "")
    _check_keys(ing, ("queue_size", "retry_after", "submit_timeout", "max_batch_commit"), "ingest")
    ingest = IngestOptions(
        queue_size=_int(ing, "queue_size", 64, "ingest", lo=1, hi=100_000),
        retry_after=_dur(ing, "retry_after", 2.0, "ingest", lo=0.0, hi=3600.0),
        submit_timeout=_dur(ing, "submit_timeout", 10.0, "ingest", lo=0.1, hi=600.0),
        max_batch_commit=_int(ing, "max_batch_commit", 32, "ingest", lo=1, hi=10_000),
    )
    ex = _section(d, "export", "")
    _check_keys(ex, ("otlp", "prometheus"), "export")
    otlp = _section(ex, "otlp", "export")
    _check_keys(otlp, ("endpoint", "protocol", "interval"), "export.otlp")
    proto = _str(otlp, "protocol", "http", "export.otlp")
    if proto not in ("http", "grpc"):
        raise ConfigurationError(f"export.otlp.protocol: expected 'http' or 'grpc', got {proto!r}")
    export = ExportOptions(
        otlp_endpoint=_str(otlp, "endpoint", "", "export.otlp") if "endpoint" in otlp else None,
        otlp_protocol=proto,
        otlp_interval=_dur(otlp, "interval", 60.0, "export.otlp", lo=0.1, hi=86400.0),
        prometheus=_bool(ex, "prometheus", True, "export"),
    )
    drift = _section(d, "drift", "")
    _validate_drift(drift)
    state = d.get("state_dir", "evaluator-state")
    if not isinstance(state, str) or not state:
        raise ConfigurationError(f"state_dir: expected a directory path, got {state!r}")
    return EvaluatorConfig(
        state_dir=_path(state, base),
        receivers=receivers,
        api=api,
        auth=auth,
        tls=tls,
        windows=windows,
        labels=labels,
        ingest=ingest,
        export=export,
        references=_references(d.get("references"), base),
        drift=dict(drift),
        alerts=d.get("alerts"),
        notifiers=d.get("notifiers"),
    )


def _validate_drift(drift: Mapping[str, Any]) -> None:
    """Check the ``drift:`` keys and values against ``DriftPolicy`` (from otel_ml.stats)."""
    if drift:
        from otel_ml.evaluator._policy import drift_policy_from_mapping

        drift_policy_from_mapping(drift)


def load_config(path: str | os.PathLike[str]) -> EvaluatorConfig:
    """Read and parse a YAML configuration file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"--config: cannot read {p} ({exc.strerror}); give the path of a YAML file"
        ) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{p}: not valid YAML: {exc}") from exc
    return parse_config(raw, base_dir=p.resolve().parent)
