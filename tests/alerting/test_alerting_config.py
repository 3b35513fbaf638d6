"""parse_alerting_config: defaults, overrides, notifiers, secrets, and errors naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from otel_ml import ConfigurationError
from otel_ml.alerting import (
    BUILTIN_RULES,
    AlertmanagerConfig,
    Comparison,
    EmailConfig,
    ObservationKind,
    PagerDutyConfig,
    Severity,
    SlackConfig,
    WebhookConfig,
    parse_alerting_config,
)


def rule(cfg: Any, model: str, name: str) -> Any:
    found = cfg.rule_named(model, name)
    assert found is not None, name
    return found


def test_builtin_rules_carry_the_seed_thresholds() -> None:
    cfg = parse_alerting_config({})
    expected = {
        "accuracy_low": (0.85, Severity.CRITICAL, Comparison.BELOW),
        "precision_low": (0.80, Severity.WARNING, Comparison.BELOW),
        "recall_low": (0.75, Severity.WARNING, Comparison.BELOW),
        "f1_low": (0.80, Severity.WARNING, Comparison.BELOW),
        "estimated_accuracy_low": (0.85, Severity.CRITICAL, Comparison.BELOW),
        "estimated_precision_low": (0.80, Severity.WARNING, Comparison.BELOW),
        "estimated_recall_low": (0.75, Severity.WARNING, Comparison.BELOW),
        "estimated_f1_low": (0.80, Severity.WARNING, Comparison.BELOW),
        "feature_drift": (0.2, Severity.WARNING, Comparison.ABOVE),
        "prediction_drift": (0.2, Severity.WARNING, Comparison.ABOVE),
        "multivariate_drift": (None, Severity.WARNING, Comparison.ABOVE),  # the verdict
        "latency_p95_high": (0.1, Severity.WARNING, Comparison.ABOVE),
        "error_rate_high": (0.05, Severity.CRITICAL, Comparison.ABOVE),
        "label_coverage_low": (0.5, Severity.INFO, Comparison.BELOW),
        "data_quality": (0.05, Severity.WARNING, Comparison.ABOVE),
        # the change detectors' own verdict (threshold: verdict), firing at the first window
        "performance_change": (None, Severity.WARNING, Comparison.ABOVE),
        "feature_drift_minor": (None, Severity.INFO, Comparison.ABOVE),  # on the verdict
    }
    got = {r.name: (r.threshold, r.severity, r.comparison) for r in cfg.rules}
    assert got == expected
    assert {r.kind for r in BUILTIN_RULES} == set(ObservationKind)
    # label coverage is off by default (delayed labels make fresh windows look uncovered),
    # and so is the rule on minor (certain but small) drift
    assert {r.name for r in cfg.rules} - {r.name for r in cfg.rules_for("m")} == {
        "label_coverage_low", "feature_drift_minor"}
    assert {r.name for r in cfg.rules if r.for_windows == 1} == {"performance_change"}
    assert {r.name: r.min_rows for r in cfg.rules if r.min_rows} == {
        "accuracy_low": 50, "precision_low": 50, "recall_low": 50, "f1_low": 50,
        "estimated_accuracy_low": 50, "estimated_precision_low": 50,
        "estimated_recall_low": 50, "estimated_f1_low": 50}


def test_defaults_rules_and_per_model_overrides() -> None:
    cfg = parse_alerting_config(
        yaml.safe_load(
            """
alerts:
  jaeger_url: http://jaeger:16686/
  defaults: {for_windows: 3, resolve_after_windows: 4, repeat_interval: 2h, min_rows: 50}
  rules:
    accuracy_low: {threshold: 0.9, for_windows: 1}
    rmse_high: {kind: performance, metric: rmse, threshold: 3.5}
    drift_verdict: {kind: feature_drift, threshold: verdict, severity: info, for: 10m}
  models:
    churn:
      feature_drift: {threshold: 0.25, features: [age, income]}
      label_coverage_low: {enabled: false}
      churn_only: {kind: error_rate, threshold: 0.01, severity: critical}
"""
        )
    )
    assert cfg.jaeger_url == "http://jaeger:16686"
    acc = rule(cfg, "fraud", "accuracy_low")
    assert (acc.threshold, acc.for_windows, acc.resolve_after_windows) == (0.9, 1, 4)
    assert acc.repeat_interval == 7200.0 and acc.min_rows == 50
    rmse = rule(cfg, "fraud", "rmse_high")
    assert rmse.comparison is Comparison.ABOVE  # an error metric: larger is worse
    assert (rmse.for_windows, rmse.severity) == (3, Severity.WARNING)
    verdict = rule(cfg, "fraud", "drift_verdict")
    assert verdict.threshold is None and verdict.for_seconds == 600.0
    # per model
    drift = rule(cfg, "churn", "feature_drift")
    assert (drift.threshold, drift.features) == (0.25, ("age", "income"))
    assert rule(cfg, "fraud", "feature_drift").threshold == 0.2
    churn_names = {r.name for r in cfg.rules_for("churn")}
    assert "label_coverage_low" not in churn_names and "churn_only" in churn_names
    assert "churn_only" not in {r.name for r in cfg.rules_for("fraud")}
    assert rule(cfg, "churn", "churn_only").for_windows == 3  # defaults apply to new rules


_BAD = [
    ("alerts.rulez", "alerts: {rulez: {}}"),
    ("alerts.rules.accuracy_low.treshold", "alerts: {rules: {accuracy_low: {treshold: 0.9}}}"),
    ("alerts.rules.accuracy_low.threshold", "alerts: {rules: {accuracy_low: {threshold: high}}}"),
    ("alerts.rules.accuracy_low.severity", "alerts: {rules: {accuracy_low: {severity: urgent}}}"),
    ("alerts.rules.new_rule.kind", "alerts: {rules: {new_rule: {threshold: 1}}}"),
    ("alerts.rules.new_rule.kind", "alerts: {rules: {new_rule: {kind: accuracy, threshold: 1}}}"),
    ("alerts.defaults.for_windows", "alerts: {defaults: {for_windows: 0}}"),
    ("alerts.defaults.repeat_interval", "alerts: {defaults: {repeat_interval: soon}}"),
    ("alerts.models.churn.f1_low.comparison",
     "alerts: {models: {churn: {f1_low: {comparison: under}}}}"),
    ("notifiers.x.type", "notifiers: {x: {url: 'http://a'}}"),
    ("notifiers.x.type", "notifiers: {x: {type: teams}}"),
    ("notifiers.x.url", "notifiers: {x: {type: alertmanager}}"),
    ("notifiers.x.url", "notifiers: {x: {type: alertmanager, url: 'am:9093'}}"),
    ("notifiers.x.verify", "notifiers: {x: {type: webhook, url: 'http://a', verify: 1}}"),
    ("notifiers.x.webhook_url",
     "notifiers: {x: {type: slack, webhook_url: 'https://hooks.slack.com/x'}}"),
    ("notifiers.x.routing_key",
     "notifiers: {x: {type: pagerduty, routing_key: {env: NOPE_NOT_SET}}}"),
    ("notifiers.x",
     "notifiers: {x: {type: email, host: h, from: a@b, to: [c@d], username: u}}"),
    ("notifiers.x.route.severities[0]",
     "notifiers: {x: {type: webhook, url: 'http://a', route: {severities: [high]}}}"),
    ("notifiers.x.retry.jitter",
     "notifiers: {x: {type: webhook, url: 'http://a', retry: {jitter: 2}}}"),
]


@pytest.mark.parametrize(("key", "text"), _BAD)
def test_bad_configuration_names_the_key(key: str, text: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_alerting_config(yaml.safe_load(text))
    assert str(info.value).startswith(key + ":") or str(info.value).startswith(key + " ")


def test_every_notifier_and_secrets_never_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_SLACK", "https://hooks.slack.com/services/T1/B1/verysecretslack")
    monkeypatch.setenv("T_SMTP_PASSWORD", "smtp-pass-xyz")
    monkeypatch.setenv("T_AM_TOKEN", "Bearer am-token-abc")
    key_file = tmp_path / "pd.key"
    key_file.write_text("pdkey0123456789abcdef0123456789ab\n")
    cfg = parse_alerting_config(
        {
            "notifiers": {
                "am": {"type": "alertmanager", "url": "http://am:9093/",
                       "headers": {"Authorization": {"env": "T_AM_TOKEN"}}},
                "hook": {"type": "webhook", "url": "http://hooks.internal/ml",
                         "route": {"models": ["churn*"], "severities": ["critical"]}},
                "slack": {"type": "slack", "webhook_url": {"env": "T_SLACK"}},
                "pd": {"type": "pagerduty", "routing_key": {"file": str(key_file)},
                       "route": {"min_severity": "critical"}, "send_resolved": True,
                       "retry": {"initial_backoff": "2s", "max_backoff": "1m", "max_age": "1h"}},
                "mail": {"type": "email", "host": "smtp.example.org", "from": "a@example.org",
                         "to": "team@example.org", "username": "alerts",
                         "password": {"env": "T_SMTP_PASSWORD"}},
            }
        }
    )
    am, hook, slack, pd, mail = cfg.notifiers
    assert isinstance(am, AlertmanagerConfig) and am.url == "http://am:9093"
    assert am.resend_interval == 60.0
    assert isinstance(hook, WebhookConfig)
    assert hook.route.matches(Severity.CRITICAL, "churn-eu")
    assert not hook.route.matches(Severity.WARNING, "churn-eu")
    assert not hook.route.matches(Severity.CRITICAL, "fraud")
    assert isinstance(slack, SlackConfig)
    assert isinstance(pd, PagerDutyConfig)
    assert pd.routing_key.reveal() == "pdkey0123456789abcdef0123456789ab"
    assert pd.url == "https://events.pagerduty.com/v2/enqueue"
    assert pd.route.severities == frozenset({Severity.CRITICAL})
    assert (pd.retry.initial_backoff, pd.retry.max_backoff) == (2.0, 60.0)
    assert pd.retry.max_age == 3600.0
    assert isinstance(mail, EmailConfig)
    assert (mail.port, mail.starttls, mail.to) == (587, True, ("team@example.org",))
    printed = repr(cfg) + str(cfg)
    for secret in ("verysecretslack", "smtp-pass-xyz", "am-token-abc", "pdkey0123"):
        assert secret not in printed
    assert "Secret(env:T_SLACK)" in printed


def test_missing_secret_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="notifiers.pd.routing_key: cannot read"):
        parse_alerting_config({"notifiers": {"pd": {
            "type": "pagerduty", "routing_key": {"file": str(tmp_path / "missing")}}}})


def test_bad_secret_url_does_not_leak_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_SLACK", "hooks.slack.com/services/T1/B1/verysecretslack")
    with pytest.raises(ConfigurationError) as info:
        parse_alerting_config({"notifiers": {"s": {"type": "slack",
                                                   "webhook_url": {"env": "T_SLACK"}}}})
    assert "verysecretslack" not in str(info.value)
    assert "notifiers.s.webhook_url" in str(info.value)


def test_estimated_rules_judge_the_estimate_not_the_realised_metric() -> None:
    """estimated_accuracy_low reads an estimated-performance observation of its metric
    (50 scored rows at least) and nothing else; accuracy_low never reads the estimate."""
    from otel_ml.alerting import Observation

    cfg = parse_alerting_config({})
    est_rule, real_rule = (rule(cfg, "m", n) for n in ("estimated_accuracy_low", "accuracy_low"))

    def obs(kind: str, metric: str, value: float, n: int = 500) -> Observation:
        return Observation("m", "1", kind, value, 0.0, 60.0, n, metric=metric,
                           details={"lower": value - 0.02, "upper": value + 0.02})

    low = obs("estimated_performance", "accuracy", 0.8)
    assert est_rule.applies_to(low) and est_rule.breached(low)
    assert not est_rule.breached(obs("estimated_performance", "accuracy", 0.9))
    assert not est_rule.applies_to(obs("estimated_performance", "accuracy", 0.8, n=49))
    assert not est_rule.applies_to(obs("estimated_performance", "f1", 0.8))
    assert not est_rule.applies_to(obs("performance", "accuracy", 0.8))
    assert not real_rule.applies_to(low)


@pytest.mark.parametrize(
    "rules",
    [
        {"estimated_accuracy_low": {"metric": "acuracy"}},
        {"est_rmse": {"kind": "estimated_performance", "metric": "rmse", "threshold": 0.1}},
        {"accuracy_low": {"kind": "estimated_performance", "metric": "log_loss"}},
    ],
)
def test_an_estimated_rule_on_a_metric_the_estimate_lacks_is_an_error(
    rules: dict[str, Any],
) -> None:
    """The estimate has accuracy, precision, recall, F1 and ROC AUC only: a rule on any
    other metric would never fire, so it is refused with the field and the names."""
    with pytest.raises(ConfigurationError) as info:
        parse_alerting_config({"alerts": {"rules": rules}})
    text = str(info.value)
    assert text.startswith("alerts.rules.") and ".metric: " in text and "\n" not in text
    assert "use one of accuracy, precision, recall, f1, roc_auc" in text


def test_the_estimated_metric_names_are_the_estimates() -> None:
    from otel_ml.alerting._rules import ESTIMATED_METRIC_NAMES
    from otel_ml.stats import ESTIMATED_METRICS

    assert set(ESTIMATED_METRIC_NAMES) == set(ESTIMATED_METRICS)
    cfg = parse_alerting_config({"alerts": {"rules": {
        "estimated_accuracy_low": {"metric": "roc_auc", "threshold": 0.7},
        "est_all": {"kind": "estimated_performance", "threshold": 0.5},
    }}})
    assert {r.name for r in cfg.rules_for("m")} >= {"estimated_accuracy_low", "est_all"}
