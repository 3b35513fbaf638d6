"""The evaluator's configuration: one YAML file parsed once into typed, frozen options.

Every section (``drift:``, ``alerts:`` and ``notifiers:`` included) is parsed here,
once, with the shared readers of :mod:`otel_ml._config`; every mistake stops
start-up with a one-line :class:`~otel_ml.ConfigurationError`
``<file>: <dotted.path>: <problem>; <fix>``: an unknown key (with the closest
valid one), a threshold of the wrong type or out of range, a reference or secret
file that cannot be read. Secrets (bearer tokens) come from an environment
variable or a file, never from the YAML itself, and are never logged or shown in
``repr``.

A complete file::

    state_dir: ./evaluator-state       # SQLite database (WAL) lives here
    receivers:
      http: {host: 127.0.0.1, port: 4318}   # also max_connections: 256, idle_timeout: 30s,
      grpc: {host: 127.0.0.1, port: 4317}   #   read_timeout: 30s (each listener)
      max_body_bytes: 16777216
    api: {host: 127.0.0.1, port: 8080}   # /api/models, /models/{name}, /metrics; 64 connections
    auth: {token_env: OTEL_ML_TOKEN}      # or token_file: path; optional
    tls: {cert_file: cert.pem, key_file: key.pem}   # optional; client_ca_file: for mTLS
    windows: {size: 5m, grace: 30s, min_rows: 100, retention: 7d}
    labels: {ttl: 7d, max_pending: 1000000, max_pending_unknown: 100000}
    ingest: {queue_size: 64, retry_after: 2s, submit_timeout: 10s}
    limits: {models: 1000, features_per_model: 1000, categories_per_feature: 1000,
             max_past: 1d, max_future: 10m}
    drift: {}                             # DriftPolicy fields (thresholds)
    references:
      - {model: churn, version: "3", path: churn-v3.profile.json}
      - {model: credit_risk, path: "models:/credit_risk@champion", poll_interval: 60s}
    export:
      otlp: {endpoint: "http://127.0.0.1:4318", protocol: http, interval: 60s}
    alerts: {}                            # rules: see otel_ml.alerting
    notifiers: {}
    change_detection:                     # on the joined error stream (docs/drift.md)
      enabled: true
      detectors:                          # river's parameters; absent: these two
        page_hinkley: {threshold: 50, delta: 0.005, alpha: 0.9999, min_instances: 30,
                       mode: up}
        adwin: {delta: 0.002, clock: 32, max_buckets: 5, min_window_length: 5,
                grace_period: 10}
      warmup: 100                         # regression: errors scaled by their first mean
      hold: 0s                            # feed errors of predictions at least this old
    sinks:                                # optional: each evaluated window's metrics to
      mlflow: {tracking_uri: "http://127.0.0.1:5000", experiment: otel-ml}   # MLflow

Examples
--------
>>> cfg = parse_config({"windows": {"size": "10m", "min_rows": 50}})
>>> cfg.windows.size, cfg.windows.min_rows, cfg.receivers.http.host
(600.0, 50, '127.0.0.1')
>>> parse_config({"windowz": {}})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
otel_ml._errors.ConfigurationError: windowz: unknown key; did you mean 'windows'? valid keys: ...
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import yaml

from otel_ml._config import (
    TlsOptions,
    check_keys,
    config_error,
    parse_duration,
    read_bool,
    read_duration,
    read_int,
    read_mapping,
    read_path,
    read_str,
    read_str_list,
    secret_from_env,
    secret_from_file,
)
from otel_ml._errors import ConfigurationError, ProfileError
from otel_ml.alerting import AlertingConfig, RetryPolicy, parse_alerting_config, read_retry_policy
from otel_ml.evaluator._auth import BearerAuth
from otel_ml.evaluator._change_detection import parse_change_options
from otel_ml.evaluator._config_options import (
    ApiOptions,
    EvaluatorConfig,
    ExportOptions,
    IngestOptions,
    LabelOptions,
    LimitOptions,
    ListenOptions,
    MlflowSinkOptions,
    ReceiverOptions,
    ReferenceSpec,
    SinkOptions,
    WindowOptions,
)
from otel_ml.evaluator._policy import drift_policy_from_mapping
from otel_ml.mlflow import is_mlflow_uri, parse_uri

__all__ = ["load_config", "parse_config", "parse_duration"]

MIN_WINDOW_S = 60.0
MAX_WINDOW_S = 86400.0

_TOP = (
    "state_dir",
    "receivers",
    "api",
    "auth",
    "tls",
    "windows",
    "labels",
    "ingest",
    "limits",
    "drift",
    "references",
    "export",
    "alerts",
    "notifiers",
    "change_detection",
    "sinks",
)


_L = TypeVar("_L", bound=ListenOptions)


def _listen(value: object, path: str, default: _L) -> _L:
    d = read_mapping(value, path)
    check_keys(d, ("host", "port", "enabled", "max_connections", "idle_timeout",
                   "read_timeout"), path)
    return type(default)(
        host=read_str(d.get("host", default.host), f"{path}.host"),
        port=read_int(d.get("port", default.port), f"{path}.port", maximum=65535),
        enabled=read_bool(d.get("enabled", default.enabled), f"{path}.enabled"),
        max_connections=read_int(d.get("max_connections", default.max_connections),
                                 f"{path}.max_connections", minimum=1, maximum=100_000),
        idle_timeout=read_duration(d.get("idle_timeout", default.idle_timeout),
                                   f"{path}.idle_timeout", minimum=0.1, maximum=86400.0),
        read_timeout=read_duration(d.get("read_timeout", default.read_timeout),
                                   f"{path}.read_timeout", minimum=0.1, maximum=3600.0),
    )


def _auth(value: object, base: Path) -> BearerAuth | None:
    d = read_mapping(value, "auth")
    check_keys(d, ("token_env", "token_file"), "auth")
    if "token_env" in d and "token_file" in d:
        raise config_error("auth", "both token_env and token_file are set", "keep one of them")
    if "token_env" in d:
        token = secret_from_env(read_str(d["token_env"], "auth.token_env"), "auth.token_env")
    elif "token_file" in d:
        file = read_path(d["token_file"], "auth.token_file", base)
        token = secret_from_file(file, "auth.token_file")
    else:
        return None
    return BearerAuth([token], field="auth")


def _tls(value: object, base: Path) -> TlsOptions | None:
    d = read_mapping(value, "tls")
    check_keys(d, ("cert_file", "key_file", "client_ca_file"), "tls")
    if not d:
        return None
    if "cert_file" not in d or "key_file" not in d:
        missing = "key_file" if "cert_file" in d else "cert_file"
        raise config_error(f"tls.{missing}", "missing", "both cert_file and key_file are "
                           "required for TLS")
    files = {k: read_path(d[k], f"tls.{k}", base) for k in d}
    for key, p in files.items():
        if not p.is_file():
            raise config_error(f"tls.{key}", f"{p} does not exist", "fix the path")
    return TlsOptions(files["cert_file"], files["key_file"], files.get("client_ca_file"))


def _references(value: object, base: Path) -> tuple[ReferenceSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise config_error("references", f"expected a list, got {value!r}",
                           "write a list of {model, version, path}")
    out = []
    for i, item in enumerate(value):
        where = f"references[{i}]"
        d = read_mapping(item, where)
        check_keys(d, ("model", "version", "path", "poll_interval", "tracking_uri"), where)
        for key in ("model", "path"):
            if key not in d:
                raise config_error(f"{where}.{key}", "missing", "both model and path are required")
        version = d.get("version")
        model = read_str(d["model"], f"{where}.model")
        version = None if version is None else str(version)
        if is_mlflow_uri(d["path"]):
            uri = read_str(d["path"], f"{where}.path")
            try:
                parse_uri(uri)
            except ProfileError as exc:
                raise ConfigurationError(f"{where}.path: {exc}") from None
            tracking = d.get("tracking_uri")
            out.append(
                ReferenceSpec(
                    model=model,
                    version=version,
                    uri=uri,
                    poll_interval=read_duration(d.get("poll_interval", 60.0),
                                                f"{where}.poll_interval", minimum=1.0,
                                                maximum=86400.0),
                    tracking_uri=None if tracking is None else read_str(
                        tracking, f"{where}.tracking_uri"),
                )
            )
            continue
        for key in ("poll_interval", "tracking_uri"):
            if key in d:
                raise config_error(f"{where}.{key}", "only for an MLflow URI path",
                                   "remove it (a file is checked for changes every 5 s)")
        path = read_path(d["path"], f"{where}.path", base)
        if not path.is_file() or not os.access(path, os.R_OK):
            raise config_error(f"{where}.path", f"reference profile {path} cannot be read",
                               "build it with `otel-ml profile` or fix the path (relative "
                               "paths start at the config file), or give an MLflow URI")
        out.append(ReferenceSpec(model=model, version=version, path=path))
    return tuple(out)


def _windows(value: object) -> WindowOptions:
    w = read_mapping(value, "windows")
    check_keys(w, ("size", "grace", "min_rows", "retention"), "windows")
    size = read_duration(w.get("size", 300.0), "windows.size", minimum=MIN_WINDOW_S,
                         maximum=MAX_WINDOW_S)
    return WindowOptions(
        size=size,
        grace=read_duration(w.get("grace", min(30.0, size)), "windows.grace", maximum=size),
        min_rows=read_int(w.get("min_rows", 100), "windows.min_rows", minimum=1,
                          maximum=1 << 40),
        retention=read_duration(w.get("retention", max(7 * 86400.0, 2 * size)),
                                "windows.retention", minimum=2 * size, maximum=3.2e7),
    )


def _limits(value: object, windows: WindowOptions) -> LimitOptions:
    lim = read_mapping(value, "limits")
    check_keys(
        lim,
        ("models", "features_per_model", "categories_per_feature", "max_past", "max_future"),
        "limits",
    )
    return LimitOptions(
        models=read_int(lim.get("models", 1000), "limits.models", minimum=1,
                        maximum=10_000_000),
        features_per_model=read_int(lim.get("features_per_model", 1000),
                                    "limits.features_per_model", minimum=1, maximum=1_000_000),
        categories_per_feature=read_int(lim.get("categories_per_feature", 1000),
                                        "limits.categories_per_feature", minimum=1,
                                        maximum=1_000_000),
        max_past=read_duration(lim.get("max_past", min(86400.0, windows.retention)),
                               "limits.max_past", minimum=windows.size,
                               maximum=windows.retention),
        max_future=read_duration(lim.get("max_future", 600.0), "limits.max_future",
                                 maximum=86400.0),
    )


def _export(value: object) -> ExportOptions:
    ex = read_mapping(value, "export")
    check_keys(ex, ("otlp", "prometheus"), "export")
    otlp = read_mapping(ex.get("otlp"), "export.otlp")
    check_keys(otlp, ("endpoint", "protocol", "interval"), "export.otlp")
    proto = read_str(otlp.get("protocol", "http"), "export.otlp.protocol")
    if proto not in ("http", "grpc"):
        raise config_error("export.otlp.protocol", f"{proto!r} is not a protocol",
                           "use http or grpc")
    endpoint = otlp.get("endpoint")
    return ExportOptions(
        otlp_endpoint=None if endpoint is None else read_str(endpoint, "export.otlp.endpoint"),
        otlp_protocol=proto,
        otlp_interval=read_duration(otlp.get("interval", 60.0), "export.otlp.interval",
                                    minimum=0.1, maximum=86400.0),
        prometheus=read_bool(ex.get("prometheus", True), "export.prometheus"),
    )


_MLFLOW_KEYS = ("tracking_uri", "experiment", "models", "timeout", "max_backlog", "retry")


def _sinks(value: object) -> SinkOptions:
    sinks = read_mapping(value, "sinks")
    check_keys(sinks, ("mlflow",), "sinks")
    if sinks.get("mlflow") is None:
        return SinkOptions()
    where = "sinks.mlflow"
    m = read_mapping(sinks["mlflow"], where)
    check_keys(m, _MLFLOW_KEYS, where)
    if "tracking_uri" not in m:
        raise config_error(f"{where}.tracking_uri", "missing",
                           "give the MLflow tracking server's URL, e.g. http://mlflow:5000")
    uri = read_str(m["tracking_uri"], f"{where}.tracking_uri").strip()
    if not uri:
        raise config_error(f"{where}.tracking_uri", "is empty",
                           "give the MLflow tracking server's URL, e.g. http://mlflow:5000")
    experiment = read_str(m.get("experiment", "otel-ml"), f"{where}.experiment").strip()
    if not experiment:
        raise config_error(f"{where}.experiment", "is empty", "name an experiment or leave it out")
    base = MlflowSinkOptions(tracking_uri=uri)
    return SinkOptions(
        mlflow=MlflowSinkOptions(
            tracking_uri=uri,
            experiment=experiment,
            models=read_str_list(m.get("models", ["*"]), f"{where}.models"),
            timeout=read_duration(m.get("timeout", base.timeout), f"{where}.timeout",
                                  minimum=1.0, maximum=3600.0),
            max_backlog=read_int(m.get("max_backlog", base.max_backlog), f"{where}.max_backlog",
                                 minimum=1, maximum=10_000_000),
            retry=read_retry_policy(m.get("retry"), f"{where}.retry",
                                    RetryPolicy(max_age=base.retry.max_age)),
        )
    )


def _alerting(d: Mapping[str, object], base: Path) -> AlertingConfig | None:
    if d.get("alerts") is None and d.get("notifiers") is None:
        return None
    return parse_alerting_config(d, base_dir=base)


def parse_config(
    raw: Mapping[str, object] | None, *, base_dir: Path | None = None
) -> EvaluatorConfig:
    """Typed options from the parsed YAML mapping (relative paths start at ``base_dir``)."""
    d = read_mapping(raw, "the evaluator configuration")
    base = base_dir or Path.cwd()
    check_keys(d, _TOP, "")
    rec = read_mapping(d.get("receivers"), "receivers")
    check_keys(rec, ("http", "grpc", "max_body_bytes"), "receivers")
    api = _listen(d.get("api"), "api", ApiOptions())
    lab = read_mapping(d.get("labels"), "labels")
    check_keys(lab, ("ttl", "max_pending", "max_pending_unknown"), "labels")
    ing = read_mapping(d.get("ingest"), "ingest")
    check_keys(ing, ("queue_size", "retry_after", "submit_timeout", "max_batch_commit"), "ingest")
    windows = _windows(d.get("windows"))
    return EvaluatorConfig(
        state_dir=read_path(d.get("state_dir", "evaluator-state"), "state_dir", base),
        receivers=ReceiverOptions(
            http=_listen(rec.get("http"), "receivers.http", ListenOptions(port=4318)),
            grpc=_listen(rec.get("grpc"), "receivers.grpc", ListenOptions(port=4317)),
            max_body_bytes=read_int(rec.get("max_body_bytes", 16 << 20),
                                    "receivers.max_body_bytes", minimum=1024, maximum=1 << 30),
        ),
        api=api,
        auth=_auth(d.get("auth"), base),
        tls=_tls(d.get("tls"), base),
        windows=windows,
        labels=LabelOptions(
            ttl=read_duration(lab.get("ttl", 7 * 86400.0), "labels.ttl", minimum=1.0,
                              maximum=3.2e7),
            max_pending=read_int(lab.get("max_pending", 1_000_000), "labels.max_pending",
                                 minimum=1, maximum=1 << 34),
            max_pending_unknown=read_int(lab.get("max_pending_unknown", 100_000),
                                         "labels.max_pending_unknown", minimum=0,
                                         maximum=1 << 34),
        ),
        ingest=IngestOptions(
            queue_size=read_int(ing.get("queue_size", 64), "ingest.queue_size", minimum=1,
                                maximum=100_000),
            retry_after=read_duration(ing.get("retry_after", 2.0), "ingest.retry_after",
                                      maximum=3600.0),
            submit_timeout=read_duration(ing.get("submit_timeout", 10.0),
                                         "ingest.submit_timeout", minimum=0.1, maximum=600.0),
            max_batch_commit=read_int(ing.get("max_batch_commit", 32),
                                      "ingest.max_batch_commit", minimum=1, maximum=10_000),
        ),
        limits=_limits(d.get("limits"), windows),
        export=_export(d.get("export")),
        references=_references(d.get("references"), base),
        drift=drift_policy_from_mapping(read_mapping(d.get("drift"), "drift")),
        alerting=_alerting(d, base),
        change_detection=parse_change_options(d.get("change_detection")),
        sinks=_sinks(d.get("sinks")),
    )


def load_config(path: str | os.PathLike[str]) -> EvaluatorConfig:
    """Read and parse a YAML configuration file; errors start with the file's name."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise config_error("--config", f"cannot read {p} ({exc.strerror})",
                           "give the path of a YAML file") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise config_error(str(p), f"not valid YAML: {exc}", "fix the syntax") from exc
    try:
        return parse_config(raw, base_dir=p.resolve().parent)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{p.name}: {exc}") from None
