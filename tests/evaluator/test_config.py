"""Evaluator configuration: typed options, and errors that name the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_ml import ConfigurationError
from otel_ml.evaluator._config import load_config, parse_config, parse_duration


def test_full_file_parses_with_paths_relative_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ref.json").write_text("{}")
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    cfg_file = tmp_path / "evaluator.yaml"
    cfg_file.write_text(
        """
state_dir: state
receivers:
  http: {port: 0}
  grpc: {enabled: false}
api: {host: 0.0.0.0, port: 9999}
auth: {token_env: MY_TOKEN}
windows: {size: 2m, grace: 10s, min_rows: 20}
labels: {ttl: 1h, max_pending: 1000}
ingest: {queue_size: 4, retry_after: 3}
references:
  - {model: churn, version: 3, path: ref.json}
export:
  otlp: {endpoint: "http://127.0.0.1:4318", interval: 5s}
"""
    )
    cfg = load_config(cfg_file)
    assert cfg.state_dir == tmp_path / "state"
    assert cfg.receivers.http.port == 0 and not cfg.receivers.grpc.enabled
    assert (cfg.api.host, cfg.api.port) == ("0.0.0.0", 9999)
    assert cfg.auth is not None and cfg.auth.check("Bearer s3cret")
    assert "s3cret" not in repr(cfg)
    assert (cfg.windows.size, cfg.windows.grace, cfg.windows.min_rows) == (120.0, 10.0, 20)
    assert (cfg.labels.ttl, cfg.labels.max_pending) == (3600.0, 1000)
    assert (cfg.ingest.queue_size, cfg.ingest.retry_after) == (4, 3.0)
    assert cfg.references[0].version == "3"
    assert cfg.references[0].path == tmp_path / "ref.json"
    assert cfg.export.otlp_endpoint == "http://127.0.0.1:4318"
    assert cfg.export.otlp_interval == 5.0


def test_token_from_file(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("abc\n")
    cfg = parse_config({"auth": {"token_file": "tok"}}, base_dir=tmp_path)
    assert cfg.auth is not None and cfg.auth.check("Bearer abc")


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"windowz": {}}, ["windowz", "did you mean 'windows'"]),
        ({"windows": {"sise": "5m"}}, ["windows.sise", "did you mean 'size'"]),
        ({"windows": {"size": "10s"}}, ["windows.size", "outside the allowed range"]),
        ({"windows": {"size": "2 weeks"}}, ["windows.size", "not a duration"]),
        ({"windows": {"min_rows": 0}}, ["windows.min_rows", "integer"]),
        ({"windows": {"min_rows": "many"}}, ["windows.min_rows"]),
        ({"receivers": {"http": {"port": 70000}}}, ["receivers.http.port"]),
        ({"ingest": {"queue_size": -1}}, ["ingest.queue_size"]),
        ({"export": {"otlp": {"protocol": "udp"}}}, ["export.otlp.protocol"]),
        (
            {"references": [{"model": "m", "path": "nope.json"}]},
            ["references[0].path", "cannot be read", "otel-ml profile"],
        ),
        ({"references": [{"model": "m"}]}, ["references[0]", "path"]),
        (
            {"auth": {"token_env": "OTEL_ML_SURELY_UNSET_VAR"}},
            ["auth.token_env", "OTEL_ML_SURELY_UNSET_VAR", "not set"],
        ),
        ({"auth": {"token_file": "missing-token"}}, ["auth.token_file", "cannot read"]),
        ({"tls": {"cert_file": "c.pem"}}, ["tls.key_file", "missing"]),
    ],
)
def test_errors_name_the_key(tmp_path: Path, raw: dict[str, object], names: list[str]) -> None:
    with pytest.raises(ConfigurationError) as err:
        parse_config(raw, base_dir=tmp_path)
    for n in names:
        assert n in str(err.value)


def test_unreadable_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="--config"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("windows: [unclosed")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_config(bad)


def test_durations() -> None:
    assert parse_duration("250ms") == 0.25
    assert parse_duration("1d") == 86400.0
    with pytest.raises(ConfigurationError):
        parse_duration(True)


@pytest.mark.parametrize(
    ("drift", "names"),
    [
        ({"numeric_threshold": -1}, ["drift", "numeric_threshold", ">= 0"]),
        ({"numeric_threshold": "high"}, ["drift.numeric_threshold", "number"]),
        ({"alpha": 2}, ["drift", "alpha"]),
        ({"numeric_threshhold": 0.2}, ["drift.numeric_threshhold", "numeric_threshold"]),
    ],
)
def test_bad_drift_thresholds_name_the_key(drift: dict[str, object], names: list[str]) -> None:
    with pytest.raises(ConfigurationError) as err:
        parse_config({"drift": drift})
    for n in names:
        assert n in str(err.value)


def test_drift_policy_alerts_and_notifiers_are_parsed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pd.key").write_text("R" * 32 + "\n")
    cfg = parse_config(
        {
            "drift": {"numeric_threshold": 0.2, "correction": "none"},
            "alerts": {"rules": {"accuracy_low": {"threshold": 0.9}}},
            "notifiers": {"pd": {"type": "pagerduty", "routing_key": {"file": "pd.key"}}},
        },
        base_dir=tmp_path,
    )
    assert cfg.drift.numeric_threshold == 0.2 and cfg.drift.correction.value == "none"
    assert cfg.alerting is not None
    assert cfg.alerting.rule_named("m", "accuracy_low").threshold == 0.9  # type: ignore[union-attr]
    (pd,) = cfg.alerting.notifiers
    assert pd.routing_key.reveal() == "R" * 32  # type: ignore[union-attr]  # relative to base_dir
    assert parse_config({}).alerting is None  # no alerts, no notifiers: no alert engine


def test_tls_section(tmp_path: Path) -> None:
    for name in ("c.pem", "k.pem", "ca.pem"):
        (tmp_path / name).write_text("-")
    cfg = parse_config(
        {"tls": {"cert_file": "c.pem", "key_file": "k.pem", "client_ca_file": "ca.pem"}},
        base_dir=tmp_path,
    )
    assert cfg.tls is not None and cfg.tls.client_ca_file == tmp_path / "ca.pem"
    assert parse_config({}).tls is None


def test_errors_from_a_file_start_with_its_name(tmp_path: Path) -> None:
    bad = tmp_path / "evaluator.yaml"
    bad.write_text("windows: {sise: 5m}\n")
    with pytest.raises(ConfigurationError) as err:
        load_config(bad)
    assert str(err.value).startswith("evaluator.yaml: windows.sise: unknown key; did you mean")
