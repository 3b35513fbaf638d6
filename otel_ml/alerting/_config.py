"""The ``alerts:`` and ``notifiers:`` sections of the evaluator configuration.

::

    alerts:
      jaeger_url: http://jaeger:16686      # example traces become links
      defaults: {for_windows: 2, for: 0s, resolve_after_windows: 2,
                 repeat_interval: 4h, min_rows: 0, resolve_if_absent: null}
      rules:                               # override built-in rules, add new ones
        accuracy_low: {threshold: 0.9}
        rmse_high: {kind: performance, metric: rmse, threshold: 3.5, severity: warning}
      models:                              # per-model overrides (same shape as rules)
        churn: {feature_drift: {threshold: 0.25}, label_coverage_low: {enabled: false}}
    notifiers:
      am: {type: alertmanager, url: http://alertmanager:9093}

See ``docs/alerting.md`` for every key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from otel_ml._config import (
    check_keys,
    config_error,
    read_bool,
    read_duration,
    read_float,
    read_int,
    read_mapping,
    read_str,
    read_str_list,
)
from otel_ml.alerting._notifier_config import NotifierConfig, parse_notifier
from otel_ml.alerting._observation import ObservationKind
from otel_ml.alerting._rules import (
    BUILTIN_RULES,
    ESTIMATED_METRIC_NAMES,
    Comparison,
    RuleConfig,
    default_comparison,
)
from otel_ml.alerting._severity import Severity

__all__ = ["AlertingConfig", "parse_alerting_config"]

_ALERTS_KEYS = ("jaeger_url", "defaults", "rules", "models", "builtin_rules")
_DEFAULT_KEYS = (
    "for_windows", "for", "resolve_after_windows", "repeat_interval", "min_rows",
    "resolve_if_absent",
)
_RULE_KEYS = (
    "kind", "metric", "threshold", "comparison", "severity", "features", "enabled",
) + _DEFAULT_KEYS


@dataclass(frozen=True)
class AlertingConfig:
    """Parsed ``alerts:`` + ``notifiers:``: the rules (global and per model) and notifiers.

    Examples
    --------
    >>> cfg = parse_alerting_config({"alerts": {"models": {"churn": {
    ...     "accuracy_low": {"threshold": 0.9}}}}})
    >>> [r.threshold for r in cfg.rules_for("churn") if r.name == "accuracy_low"]
    [0.9]
    >>> [r.threshold for r in cfg.rules_for("fraud") if r.name == "accuracy_low"]
    [0.85]
    """

    rules: tuple[RuleConfig, ...] = BUILTIN_RULES
    model_rules: Mapping[str, tuple[RuleConfig, ...]] = field(default_factory=dict)
    notifiers: tuple[NotifierConfig, ...] = ()
    jaeger_url: str | None = None

    def rules_for(self, model: str) -> tuple[RuleConfig, ...]:
        """The enabled rules that apply to ``model``."""
        rules = self.model_rules.get(model, self.rules)
        return tuple(r for r in rules if r.enabled)

    def rule_named(self, model: str, name: str) -> RuleConfig | None:
        """The rule called ``name`` for ``model`` (enabled or not), if any."""
        for rule in self.model_rules.get(model, self.rules):
            if rule.name == name:
                return rule
        return None


def _timing(raw: Mapping[str, object], path: str) -> dict[str, object]:
    """The hysteresis / repeat / min_rows fields present in ``raw``, as RuleConfig kwargs."""
    out: dict[str, object] = {}
    if "for_windows" in raw:
        out["for_windows"] = read_int(raw["for_windows"], f"{path}.for_windows", minimum=1)
    if "for" in raw:
        out["for_seconds"] = read_duration(raw["for"], f"{path}.for")
    if "resolve_after_windows" in raw:
        out["resolve_after_windows"] = read_int(
            raw["resolve_after_windows"], f"{path}.resolve_after_windows", minimum=1
        )
    if "repeat_interval" in raw:
        value = raw["repeat_interval"]
        out["repeat_interval"] = (
            None if value in (None, "never") else read_duration(value, f"{path}.repeat_interval")
        )
        if out["repeat_interval"] == 0.0:
            raise config_error(f"{path}.repeat_interval", "0 would repeat without pause",
                               "give a duration > 0, or never")
    if "min_rows" in raw:
        out["min_rows"] = read_int(raw["min_rows"], f"{path}.min_rows")
    if "resolve_if_absent" in raw:
        value = raw["resolve_if_absent"]
        out["resolve_if_absent"] = (
            None if value in (None, "never")
            else read_duration(value, f"{path}.resolve_if_absent")
        )
    return out


def _rule(
    name: str, base: RuleConfig | None, value: object, path: str, timing: Mapping[str, object]
) -> RuleConfig:
    raw = read_mapping(value, path)
    check_keys(raw, _RULE_KEYS, path)
    if base is None:
        if "kind" not in raw:
            kinds = ", ".join(k.value for k in ObservationKind)
            raise config_error(
                f"{path}.kind", f"required for a new rule {name!r} (not a built-in one)",
                f"use one of {kinds}",
            )
        if "threshold" not in raw:
            raise config_error(
                f"{path}.threshold", f"required for a new rule {name!r}", "a number, or verdict"
            )
    kwargs: dict[str, object] = {}
    if "kind" in raw:
        try:
            kwargs["kind"] = ObservationKind(raw["kind"])
        except ValueError:
            kinds = ", ".join(k.value for k in ObservationKind)
            raise config_error(
                f"{path}.kind", f"{raw['kind']!r} is not a rule kind", f"use one of {kinds}"
            ) from None
    if "metric" in raw:
        metric = raw["metric"]
        kwargs["metric"] = None if metric is None else read_str(metric, f"{path}.metric")
    if "threshold" in raw:
        threshold = raw["threshold"]
        kwargs["threshold"] = (
            None if threshold == "verdict" else read_float(threshold, f"{path}.threshold")
        )
    if "severity" in raw:
        kwargs["severity"] = Severity.parse(raw["severity"], f"{path}.severity")
    if "features" in raw:
        kwargs["features"] = read_str_list(raw["features"], f"{path}.features")
    if "enabled" in raw:
        kwargs["enabled"] = read_bool(raw["enabled"], f"{path}.enabled")
    if "comparison" in raw:
        try:
            kwargs["comparison"] = Comparison(raw["comparison"])
        except ValueError:
            raise config_error(
                f"{path}.comparison", f"{raw['comparison']!r} is not a comparison",
                "use above or below",
            ) from None
    kwargs.update(_timing(raw, path))
    kind_now = kwargs.get("kind", None if base is None else base.kind)
    metric_now = kwargs["metric"] if "metric" in kwargs else (None if base is None else base.metric)
    if kind_now is ObservationKind.ESTIMATED_PERFORMANCE and (
        metric_now is not None and metric_now not in ESTIMATED_METRIC_NAMES
    ):
        # The estimate has these metrics only: any other name would never fire.
        raise config_error(
            f"{path}.metric",
            f"{metric_now!r} is not estimated from the scores",
            f"use one of {', '.join(ESTIMATED_METRIC_NAMES)}",
        )
    if base is None:
        kwargs = {**timing, **kwargs}
        kind = kwargs["kind"]
        assert isinstance(kind, ObservationKind)
        metric = kwargs.get("metric")
        assert metric is None or isinstance(metric, str)
        kwargs.setdefault("comparison", default_comparison(kind, metric))
        kwargs.setdefault("severity", Severity.WARNING)
        kwargs.setdefault("metric", None)
        return RuleConfig(name=name, **kwargs)  # type: ignore[arg-type]
    rule = dataclasses.replace(base, **kwargs)  # type: ignore[arg-type]
    if rule.kind is not base.kind and "comparison" not in raw:
        rule = dataclasses.replace(rule, comparison=default_comparison(rule.kind, rule.metric))
    return rule


def _apply(
    rules: tuple[RuleConfig, ...],
    section: Mapping[str, object],
    path: str,
    timing: Mapping[str, object],
) -> tuple[RuleConfig, ...]:
    by_name = {r.name: r for r in rules}
    for name, value in section.items():
        by_name[name] = _rule(name, by_name.get(name), value, f"{path}.{name}", timing)
    return tuple(by_name.values())


def parse_alerting_config(
    mapping: Mapping[str, object], *, base_dir: Path | None = None
) -> AlertingConfig:
    """Parse the ``alerts:`` and ``notifiers:`` sections of the evaluator configuration.

    Other top-level keys are left to the evaluator (which rejects the ones it
    does not know). Secrets are read here, so a missing environment variable or
    secret file stops start-up; relative secret files start at ``base_dir`` (the
    directory of the configuration file; the working directory by default).

    Raises
    ------
    ConfigurationError
        Naming the key (``alerts.rules.accuracy_low.threshold``) and the fix.

    Examples
    --------
    >>> cfg = parse_alerting_config({})
    >>> [r.name for r in cfg.rules_for("any")][:4]
    ['accuracy_low', 'precision_low', 'recall_low', 'f1_low']
    >>> parse_alerting_config({"alerts": {"rules": {"accuracy_low": {"treshold": 1}}}})
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    otel_ml._errors.ConfigurationError: alerts.rules.accuracy_low.treshold: unknown key; did ...
    """
    alerts = read_mapping(mapping.get("alerts"), "alerts")
    check_keys(alerts, _ALERTS_KEYS, "alerts")
    jaeger_url = alerts.get("jaeger_url")
    if jaeger_url is not None:
        jaeger_url = read_str(jaeger_url, "alerts.jaeger_url").rstrip("/")
        if not jaeger_url.startswith(("http://", "https://")):
            raise config_error("alerts.jaeger_url", f"{jaeger_url!r} is not an HTTP URL",
                               "start it with http:// or https://")
    defaults = read_mapping(alerts.get("defaults"), "alerts.defaults")
    check_keys(defaults, _DEFAULT_KEYS, "alerts.defaults")
    timing = _timing(defaults, "alerts.defaults")
    builtin = read_bool(alerts.get("builtin_rules", True), "alerts.builtin_rules")
    rules = tuple(dataclasses.replace(r, **timing) for r in BUILTIN_RULES) if builtin else ()  # type: ignore[arg-type]
    rules = _apply(rules, read_mapping(alerts.get("rules"), "alerts.rules"), "alerts.rules", timing)
    model_rules: dict[str, tuple[RuleConfig, ...]] = {}
    for model, section in read_mapping(alerts.get("models"), "alerts.models").items():
        path = f"alerts.models.{model}"
        model_rules[model] = _apply(rules, read_mapping(section, path), path, timing)
    notifiers_raw = read_mapping(mapping.get("notifiers"), "notifiers")
    notifiers = tuple(
        parse_notifier(name, value, f"notifiers.{name}", base=base_dir)
        for name, value in notifiers_raw.items()
    )
    return AlertingConfig(
        rules=rules, model_rules=model_rules, notifiers=notifiers, jaeger_url=jaeger_url
    )
